/**
 * Adversarial suite, resources (attacks.md lines 1-11): each attack runs as
 * a real job and must meet its safe outcome; the host is checked after each.
 */
import { spawnSync } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { sh } from '../helpers.js';
import { expectHostUnaffected, runProgramAttack } from './attack.js';
import { RESOURCE_ATTACKS } from './attacks/resources.js';
import { RESOURCE_SCENARIOS } from './attacks/scenarios.js';

// A full collection on demand, so that memory figures show what is kept, not garbage not yet collected.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** What the process holds: JS heap and the memory outside it (buffers, where the output lands). */
function heldBytes(): number {
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

describe('attacks on resources', () => {
  for (const attack of RESOURCE_ATTACKS) {
    it(`${attack.id}: ${attack.does}`, async () => {
      await runProgramAttack(attack);
      if (attack.line === 7) {
        // The host can still start processes.
        expect(spawnSync('/bin/true').status).toBe(0);
      }
    });
  }

  it(`${RESOURCE_SCENARIOS.floodMemory.id}: ${RESOURCE_SCENARIOS.floodMemory.does}`, async () => {
    // Warm up, then measure the test process (the worker here) across many floods at a 4 MiB cap.
    for (let i = 0; i < 4; i++) await sh('yes', { output_bytes: 4 << 20 });
    const before = heldBytes();
    for (let i = 0; i < 20; i++) {
      const run = await sh(i % 2 ? 'yes' : 'yes >&2', { output_bytes: 4 << 20 });
      expect(run.status).toBe('output_limit');
    }
    const growth = heldBytes() - before;
    // Kept, 20 floods would hold 80 MiB of buffers (and as much again as strings); freed, the worker
    // stays where it was, give or take the last result or two still referenced.
    expect(growth).toBeLessThan(16 << 20);
    await expectHostUnaffected(RESOURCE_SCENARIOS.floodMemory.id);
  });
});
