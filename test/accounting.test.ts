/**
 * Accounting: the CPU and memory figures a run reports match what the
 * program really did.
 */
import { describe, expect, it } from 'vitest';
import { c, MiB, python } from './helpers.js';

describe('accounting', () => {
  it('a 500 ms busy loop reports cpu_ms within 10 %', async () => {
    // Spin on the process's own CPU clock, so the work is 500 ms whatever the machine's load.
    const result = await c(`
#include <time.h>
int main(void) {
  struct timespec t;
  do clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); while (t.tv_sec * 1000 + t.tv_nsec / 1000000 < 500);
  return 0;
}`);
    expect(result.status).toBe('ok');
    expect(result.cpu_ms).toBeGreaterThanOrEqual(500);
    expect(result.cpu_ms).toBeLessThanOrEqual(550);
  });

  it('touching 100 MiB reports memory_peak_bytes within 10 % of 100 MiB plus the interpreter baseline', async () => {
    const baseline = await python('pass', { memory_bytes: 512 * MiB });
    const result = await python('a = bytearray(100 * 1024 * 1024)\nfor i in range(0, len(a), 4096): a[i] = 1', { memory_bytes: 512 * MiB });
    expect(baseline.status).toBe('ok');
    expect(result.status).toBe('ok');
    const expected = 100 * MiB + baseline.memory_peak_bytes;
    expect(result.memory_peak_bytes).toBeGreaterThanOrEqual(expected * 0.9);
    expect(result.memory_peak_bytes).toBeLessThanOrEqual(expected * 1.1);
  });

  it('wall time covers a sleep', async () => {
    const result = await python('import time\ntime.sleep(0.3)');
    expect(result.wall_ms).toBeGreaterThanOrEqual(300);
    expect(result.cpu_ms).toBeLessThan(200);
  });
});
