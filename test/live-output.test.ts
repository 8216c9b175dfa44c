/**
 * Live output from the real sandbox: RunSpec.onOutput hears stdout and stderr while the program still runs,
 * and exactly the bytes the result keeps (the output cap included).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveLimits } from '../sandbox/limits.js';
import type { RunSpec } from '../sandbox/sandbox.js';
import type { OutputEventData } from '../contract/events.js';
import { LiveLog } from '../worker/live-log.js';
import { config, sandbox } from './helpers.js';

type Chunk = { stream: 'stdout' | 'stderr'; chunk: Buffer };

/** Runs `script` in a fresh workspace; `onOutput` gets the box's host path to answer the program through it. */
async function runWithOutput(script: string, limits: Parameters<typeof resolveLimits>[0], onOutput: (chunk: Chunk, boxPath: string) => void) {
  const { sandbox: box, pool } = sandbox();
  return pool.withSlot(async (slot) => {
    const workspace = await box.createWorkspace(slot, 16 * 1024 * 1024);
    try {
      const spec: RunSpec = {
        slot,
        workspace,
        boxWritable: true,
        argv: ['/bin/sh', '-c', script],
        limits: resolveLimits(limits, { table: config.limits }),
        onOutput: (stream, chunk) => onOutput({ stream, chunk: Buffer.from(chunk) }, workspace.boxPath),
      };
      return await box.run(spec);
    } finally {
      await workspace.remove();
    }
  });
}

describe('RunSpec.onOutput', () => {
  it('hears output while the program runs: the program waits for a file the listener writes when it hears "ready"', async () => {
    const chunks: Chunk[] = [];
    let answered = false;
    // Without live output the program would wait until its wall limit.
    const result = await runWithOutput('echo ready; while [ ! -e go ]; do sleep 0.02; done; echo done; echo warn >&2', { wall_ms: 10_000 }, (chunk, boxPath) => {
      chunks.push(chunk);
      if (!answered && Buffer.concat(chunks.filter((c) => c.stream === 'stdout').map((c) => c.chunk)).toString().includes('ready\n')) {
        answered = true;
        writeFileSync(join(boxPath, 'go'), '');
      }
    });
    expect(result.status).toBe('ok');
    expect(answered).toBe(true);
    const joined = (stream: 'stdout' | 'stderr') => Buffer.concat(chunks.filter((c) => c.stream === stream).map((c) => c.chunk)).toString();
    expect(joined('stdout')).toBe('ready\ndone\n');
    expect(joined('stderr')).toBe('warn\n');
    expect(result.stdout).toBe('ready\ndone\n');
  });

  it('gets exactly the bytes kept within the output cap, each stream', async () => {
    const chunks: Chunk[] = [];
    const result = await runWithOutput("head -c 20000 /dev/zero | tr '\\0' o; head -c 300 /dev/zero | tr '\\0' e >&2", { output_bytes: 5000, wall_ms: 10_000 }, (chunk) => chunks.push(chunk));
    const joined = (stream: 'stdout' | 'stderr') => Buffer.concat(chunks.filter((c) => c.stream === stream).map((c) => c.chunk)).toString();
    expect(result.status).toBe('output_limit');
    expect(result.stdout_truncated).toBe(true);
    expect(joined('stdout')).toBe(result.stdout);
    expect(joined('stdout')).toBe('o'.repeat(5000));
    expect(joined('stderr')).toBe(result.stderr);
  });

  it('a listener that throws does not change the run', async () => {
    const result = await runWithOutput('echo a; echo b >&2', {}, () => {
      throw new Error('listener broke');
    });
    expect(result).toMatchObject({ status: 'ok', stdout: 'a\n', stderr: 'b\n' });
  });
});

describe('LiveLog (the worker\'s coalescing of output into events)', () => {
  const collect = (options: Partial<ConstructorParameters<typeof LiveLog>[0]> = {}) => {
    const events: OutputEventData[] = [];
    const log = new LiveLog({ emit: (data) => events.push(data), flushMs: 5, ...options });
    return { events, log };
  };

  it('never splits a character between events within a run, and offsets count bytes', async () => {
    const { events, log } = collect();
    const text = Buffer.from('h€llo');
    log.push('stdout', text.subarray(0, 2)); // "h" and the first byte of "€"
    await new Promise((resolve) => setTimeout(resolve, 30));
    log.push('stdout', text.subarray(2));
    log.endRun();
    expect(events).toEqual([
      { stream: 'stdout', offset: 0, data: 'h' },
      { stream: 'stdout', offset: 1, data: '€llo' },
    ]);
  });

  it('coalesces many chunks into one event per stream per interval, and starts offsets again on a new step', () => {
    const { events, log } = collect({ flushMs: 10_000 });
    for (let i = 0; i < 100; i++) log.push('stdout', Buffer.from('x'), 0);
    log.push('stderr', Buffer.from('e'), 0);
    log.push('stdout', Buffer.from('y'), 1);
    log.endRun();
    expect(events).toEqual([
      { stream: 'stdout', offset: 0, data: 'x'.repeat(100), step: 0 },
      { stream: 'stderr', offset: 0, data: 'e', step: 0 },
      { stream: 'stdout', offset: 0, data: 'y', step: 1 },
    ]);
  });

  it('stops at the job cap, says so once, and splits at the event cap', () => {
    const { events, log } = collect({ flushMs: 10_000, maxEventBytes: 40, maxJobBytes: 100 });
    log.push('stdout', Buffer.alloc(150, 'a'));
    log.endRun();
    log.push('stderr', Buffer.from('late'));
    log.endRun();
    expect(events.map((e) => [e.offset, e.data.length, e.capped])).toEqual([
      [0, 40, undefined],
      [40, 40, undefined],
      [80, 20, true],
    ]);
  });
});
