/**
 * Adversarial suite, kernel surface (issue 11): socket protocols, netlink,
 * kernel TLS, huge pages, page-cache residency; each attack runs as a real
 * job and the host is checked after each.
 */
import { describe, it } from 'vitest';
import { runProgramAttack } from './attack.js';
import { KERNEL_ATTACKS } from './attacks/kernel.js';

describe('kernel surface', () => {
  for (const attack of KERNEL_ATTACKS) {
    it(`${attack.id}: ${attack.does}`, async () => {
      await runProgramAttack(attack);
    });
  }
});
