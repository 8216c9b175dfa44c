/**
 * Adversarial suite, kernel surface (issue 11): socket protocols, netlink,
 * kernel TLS, huge pages, page-cache residency; each attack runs as a real
 * job and the host is checked after each.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROC_MASKS } from '../../sandbox/mount.js';
import { runProgramAttack } from './attack.js';
import { KERNEL_ATTACKS } from './attacks/kernel.js';

describe('kernel surface', () => {
  for (const attack of KERNEL_ATTACKS) {
    it(`${attack.id}: ${attack.does}`, async () => {
      await runProgramAttack(attack);
    });
  }
});

describe('docs/security.md', () => {
  it('names every /proc path a job does not see', () => {
    const page = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
    for (const mask of PROC_MASKS) expect(page).toContain(`\`${mask.path}\``);
  });
});
