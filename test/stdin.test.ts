/**
 * Interactive stdin: POST /v1/jobs/:id/stdin carried through Redis to a
 * `runcell worker` in another process, into a pipe that is the running
 * program's stdin; the caps; and the sandbox's RunSpec.stdinFd itself.
 */
import { fstatSync, closeSync, writeSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STDIN_CAPS } from '../contract/stdin.js';
import { stdinRefusal } from '../api/stdin.js';
import { StdinWriter } from '../queue/stdin.js';
import { pipe } from '../sandbox/libc.js';
import { resolveLimits } from '../sandbox/limits.js';
import { config, sandbox } from './helpers.js';
import { apiFixture, http, spawnWorker, untilDone, waitFor } from './service-helpers.js';

const service = apiFixture();
let worker: ReturnType<typeof spawnWorker>;

beforeAll(async () => {
  worker = spawnWorker(service.redis.url, { RUNCELL_CONCURRENCY: '2' });
  await waitFor(async () => (await http(`${service.api.url}/readyz`)).status === 200, 60_000, 'the worker process');
});
afterAll(async () => {
  worker?.kill('SIGTERM');
  await new Promise((resolve) => worker?.once('exit', resolve));
});

const ECHO_UPPER = 'import sys\nfor line in sys.stdin:\n    print(line.strip().upper(), flush=True)\nprint("eof")\n';

async function submit(request: object): Promise<string> {
  const res = await http(`${service.api.url}/v1/jobs`, { method: 'POST', json: request });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id;
}

const write = (id: string, body: object) => http(`${service.api.url}/v1/jobs/${id}/stdin`, { method: 'POST', json: body });

async function running(id: string): Promise<void> {
  await waitFor(async () => (await http(`${service.api.url}/v1/jobs/${id}`)).body.status === 'running', 30_000, `job ${id} to run`);
}

describe('interactive stdin through Redis', { timeout: 120_000 }, () => {
  it('feeds a running program, across processes, until eof', async () => {
    const id = await submit({ language: 'python3', files: [{ path: 'main.py', content: ECHO_UPPER }], interactive_stdin: true, limits: { wall_ms: 20_000 } });
    // Written while queued: kept in the stream and read from its start.
    expect((await write(id, { data: 'first\n' })).body).toEqual({ written_bytes: 6, total_bytes: 6, eof: false });
    await running(id);
    expect((await write(id, { data: Buffer.from('second\n').toString('base64'), encoding: 'base64' })).status).toBe(202);
    expect((await write(id, { data: 'third\n', eof: true })).body).toMatchObject({ total_bytes: 19, eof: true });
    const job = await untilDone(service.api.url, id);
    expect(job.request.interactive_stdin).toBe(true);
    expect(job.result!.run).toMatchObject({ status: 'ok', stdout: 'FIRST\nSECOND\nTHIRD\neof\n' });
    // Closed: a write after eof, or after the end, is refused.
    expect((await write(id, { data: 'more' })).status).toBe(409);
  });

  it('the program waits for input that does not come until its wall limit; the end of the job closes the pipe', async () => {
    const id = await submit({ language: 'python3', files: [{ path: 'main.py', content: ECHO_UPPER }], interactive_stdin: true, limits: { wall_ms: 1500 } });
    await running(id);
    await write(id, { data: 'only\n' });
    const job = await untilDone(service.api.url, id);
    expect(job.result!.run).toMatchObject({ status: 'wall_time_limit', stdout: 'ONLY\n' });
    const late = await write(id, { data: 'late\n' });
    expect(late.status).toBe(409);
    expect(late.body.error.message).toMatch(/ended/);
  });

  it('a program that never reads its stdin ends normally with writes pending', async () => {
    const id = await submit({ language: 'python3', files: [{ path: 'main.py', content: 'import time\ntime.sleep(0.5)\nprint("done")\n' }], interactive_stdin: true });
    const chunk = 'x'.repeat(STDIN_CAPS.writeBytes);
    for (let i = 0; i < 4; i++) expect((await write(id, { data: chunk })).status).toBe(202);
    const job = await untilDone(service.api.url, id);
    expect(job.result!.run).toMatchObject({ status: 'ok', stdout: 'done\n' });
  });

  it('refuses what it must: not interactive, both stdin kinds, too large a write, too much in all, too many a second, unknown jobs', async () => {
    const plain = await submit({ command: ['/bin/true'] });
    expect((await write(plain, { data: 'x' })).body.error).toMatchObject({ code: 'conflict', message: expect.stringMatching(/interactive_stdin/) });
    const both = await http(`${service.api.url}/v1/jobs`, { method: 'POST', json: { command: ['/bin/cat'], stdin: 'x', interactive_stdin: true } });
    expect(both.status).toBe(422);
    expect(both.body.error.details[0].path).toBe('interactive_stdin');
    expect((await write('0b0e3c3e-0000-4000-8000-000000000000', { data: 'x' })).status).toBe(404);

    // A job that holds its stdin open (sleeps without reading) for the caps.
    const id = await submit({ command: ['/bin/sleep', '30'], interactive_stdin: true, limits: { wall_ms: 30_000 } });
    const tooBig = await write(id, { data: 'x'.repeat(STDIN_CAPS.writeBytes + 1) });
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error.details[0].path).toBe('data');
    expect((await write(id, { data: 'x', extra: 1 })).status).toBe(422);
    // The rate cap counts writes per second in Redis; a fixed second here, so that no boundary falls between.
    const writer = new StdinWriter(service.api.queue.redis);
    const second = Date.now() + 60_000;
    const outcomes = [];
    for (let i = 0; i <= STDIN_CAPS.writesPerSecond; i++) outcomes.push((await writer.write(id, Buffer.alloc(0), false, second)).outcome);
    expect(outcomes.slice(0, -1).every((o) => o === 'ok')).toBe(true);
    expect(outcomes.at(-1)).toBe('rate');
    expect((await writer.write(id, Buffer.alloc(0), false, second + 1000)).outcome).toBe('ok');
    expect(stdinRefusal('rate', id).status).toBe(429);
    const chunk = 'y'.repeat(STDIN_CAPS.writeBytes);
    let total = 0;
    let refused: { status: number; body: any } | undefined;
    for (let i = 0; i < STDIN_CAPS.totalBytes / STDIN_CAPS.writeBytes + 1 && !refused; i++) {
      const res = await write(id, { data: chunk });
      if (res.status === 202) total = res.body.total_bytes;
      else refused = res;
    }
    expect(total).toBe(STDIN_CAPS.totalBytes);
    expect(refused!.status).toBe(413);
    expect((await http(`${service.api.url}/v1/jobs/${id}`, { method: 'DELETE' })).status).toBeLessThan(300);
  });
});

describe('RunSpec.stdinFd', () => {
  it("runs with the caller's fd as stdin and leaves it open", async () => {
    const { sandbox: box, pool } = sandbox();
    const ends = pipe();
    writeSync(ends.write, 'from a pipe\n');
    closeSync(ends.write);
    const result = await pool.withSlot(async (slot) => {
      const workspace = await box.createWorkspace(slot, 1024 * 1024);
      try {
        return await box.run({ slot, workspace, boxWritable: true, argv: ['/bin/cat'], stdinFd: ends.read, limits: resolveLimits({}, { table: config.limits }) });
      } finally {
        await workspace.remove();
      }
    });
    expect(result).toMatchObject({ status: 'ok', stdout: 'from a pipe\n' });
    expect(() => fstatSync(ends.read)).not.toThrow();
    closeSync(ends.read);
  });
});
