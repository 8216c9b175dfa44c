/**
 * Adversarial suite, resources (docs/threats.md lines 1-11): each attack runs as
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
    // The test process is the worker here: measure what it holds after each of 20 floods at a 4 MiB cap.
    const held: number[] = [];
    for (let i = 0; i < 20; i++) {
      const { status } = await sh(i % 2 ? 'yes' : 'yes >&2', { output_bytes: 4 << 20 });
      expect(status).toBe('output_limit');
      held.push(heldBytes());
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    // Kept, each flood would add 4 MiB of buffer (and as much again as a string): 60 MiB from the first
    // five to the last five. Freed, the worker stays where it was.
    expect(median(held.slice(-5)) - median(held.slice(0, 5))).toBeLessThan(8 << 20);
    await expectHostUnaffected(RESOURCE_SCENARIOS.floodMemory.id);
  });
});
