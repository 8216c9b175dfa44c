/**
 * Worker pools (RUNCELL_POOLS, RUNCELL_POOL_ROUTES, --pool): jobs routed at submission to their pool's
 * queue, each pool served by its own workers and concurrency, so that a CI job sleeping does not hold up
 * judged jobs. Real Redis, real workers (in this process and a `runcell worker --pool` process).
 */
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../cli/config.js';
import { DEFAULT_ROUTES, jobKind, Routing } from '../queue/pools.js';
import { PREFIX } from '../queue/store.js';
import { http, spawnWorker, startApi, startWorker, TestRedis, untilDone, waitFor, type TestApi } from './service-helpers.js';

const sleeper = (seconds: number) => ({ command: ['/bin/sh', '-c', `sleep ${seconds}; echo slept`], limits: { wall_ms: 60_000 } });
const judged = { language: 'python3', files: [{ path: 'main.py', content: 'print(int(input()) * 2)' }], tests: [{ stdin: '2', expected_stdout: '4' }] };

describe('routing and settings', () => {
  it('classifies jobs by kind, and routes them to the default pool without pools', () => {
    expect(jobKind(judged)).toBe('judged');
    expect(jobKind({ command: ['true'] })).toBe('command');
    expect(jobKind({ command: ['true'], network: 'egress' })).toBe('egress');
    expect(jobKind({ language: 'python3', files: [{ path: 'a.py', content: '' }] })).toBe('program');
    expect(new Routing().pool(judged)).toBe('default');
    expect(new Routing(DEFAULT_ROUTES).pool({ command: ['true'] })).toBe('ci');
  });

  it('refuses malformed pools and routes to pools RUNCELL_POOLS does not name, naming the variable', () => {
    expect(() => loadConfig({ RUNCELL_POOLS: 'judge' })).toThrow(/RUNCELL_POOLS must list name:concurrency/);
    expect(() => loadConfig({ RUNCELL_POOLS: 'judge:0' })).toThrow(/RUNCELL_POOLS/);
    expect(() => loadConfig({ RUNCELL_POOLS: 'judge:1,judge:2' })).toThrow(/twice/);
    expect(() => loadConfig({ RUNCELL_POOLS: 'judge:2' })).toThrow(/RUNCELL_POOL_ROUTES sends egress jobs to the pool "ci", which RUNCELL_POOLS does not name/);
    expect(() => loadConfig({ RUNCELL_POOLS: 'judge:2,ci:8', RUNCELL_POOL_ROUTES: 'batch=ci' })).toThrow(/RUNCELL_POOL_ROUTES must list kind=pool/);
    const config = loadConfig({ RUNCELL_POOLS: 'judge:2,build:8', RUNCELL_POOL_ROUTES: 'command=build,egress=build' });
    expect(config.pools).toEqual({ judge: 2, build: 8 });
    expect(config.routes).toEqual({ egress: 'build', judged: 'judge', program: 'judge', command: 'build' });
    expect(loadConfig({}).routes).toBeUndefined();
  });

  it('refuses an unknown --pool at start, before anything starts', async () => {
    const unknown = spawnWorkerArgs(['--pool', 'gpu'], { RUNCELL_POOLS: 'judge:1,ci:1' });
    const [unknownCode] = await once(unknown, 'exit');
    expect(unknownCode).toBe(1);
    expect(unknown.output()).toMatch(/unknown pool "gpu" \(--pool\): RUNCELL_POOLS names judge, ci/);
    const unpooled = spawnWorkerArgs(['--pool', 'ci'], {});
    await once(unpooled, 'exit');
    expect(unpooled.output()).toMatch(/unknown pool "ci" \(--pool\): RUNCELL_POOLS is unset/);
  });
});

/** `runcell worker` with extra arguments. */
function spawnWorkerArgs(args: string[], env: Record<string, string>) {
  return spawnWorker('redis://127.0.0.1:1', env, args);
}

describe('pools on one Redis', () => {
  const redis = new TestRedis();
  let api: TestApi;

  beforeAll(async () => {
    await redis.start();
    api = await startApi(redis.url, { workerWindowMs: 2000 }, 1000, DEFAULT_ROUTES);
  });
  afterAll(async () => {
    await api?.close();
    await redis.destroy();
  });

  it("puts each job in its pool's queue, counts them by pool, and cancels a queued one from its pool", async () => {
    const ci = await http<{ id: string }>(`${api.url}/v1/jobs`, { method: 'POST', json: sleeper(1) });
    const judge = await http<{ id: string }>(`${api.url}/v1/jobs`, { method: 'POST', json: judged });
    expect(await api.queue.redis.exists(`${PREFIX}:jobs-ci:${ci.body.id}`)).toBe(1);
    expect(await api.queue.redis.exists(`${PREFIX}:jobs-judge:${judge.body.id}`)).toBe(1);
    expect(await api.queue.redis.exists(`${PREFIX}:jobs:${ci.body.id}`)).toBe(0);
    const counts = await api.queue.jobCounts();
    expect(counts.ci.waiting).toBe(1);
    expect(counts.judge.waiting).toBe(1);
    // No worker serves either pool yet.
    expect((await http(`${api.url}/readyz`)).status).toBe(503);
    for (const id of [ci.body.id, judge.body.id]) {
      expect((await http<{ status: string }>(`${api.url}/v1/jobs/${id}`, { method: 'DELETE' })).body.status).toBe('cancelled');
    }
    expect((await api.queue.jobTotals()).waiting).toBe(0);
  });

  it('a sleeping CI job does not delay a judged job; /readyz wants a worker in every pool', async () => {
    // A `runcell worker` process serving the ci pool only, and one in this process serving the judge pool.
    const ciWorker = spawnWorker(redis.url, { RUNCELL_POOLS: 'judge:1,ci:1' }, ['--pool', 'ci']);
    try {
      await waitFor(() => ciWorker.output().includes('"worker started"'), 20_000, 'the ci worker to start');
      expect(ciWorker.output()).toMatch(/"pools":\{"ci":1\}/);
      const notReady = await http<{ error: { message: string } }>(`${api.url}/readyz`);
      expect(notReady.status).toBe(503);
      expect(notReady.body.error.message).toMatch(/no worker of the pool\(s\) judge/);
      const judgeWorker = await startWorker(redis.url, { pools: { judge: 1 } });
      try {
        await waitFor(async () => (await http(`${api.url}/readyz`)).status === 200, 5000, '/readyz to see both pools');
        expect((await http<{ pools: Record<string, number> }>(`${api.url}/readyz`)).body.pools).toEqual({ judge: 1, ci: 1 });
        const slow = await http<{ id: string }>(`${api.url}/v1/jobs`, { method: 'POST', json: sleeper(8) });
        await waitFor(async () => (await api.queue.get(slow.body.id))?.status === 'running', 20_000, 'the CI job to start');
        // A second CI job waits behind the first (the ci pool runs one at a time)...
        const waiting = await http<{ id: string }>(`${api.url}/v1/jobs`, { method: 'POST', json: sleeper(0) });
        // ...and the judged job does not.
        const started = Date.now();
        const verdict = await http<{ status: string; result: { verdict: string } }>(`${api.url}/v1/jobs?wait=30`, { method: 'POST', json: judged });
        expect(verdict.body.status).toBe('completed');
        expect(verdict.body.result.verdict).toBe('accepted');
        expect((await api.queue.get(slow.body.id))?.status).toBe('running');
        expect((await api.queue.get(waiting.body.id))?.status).toBe('queued');
        expect(Date.now() - started).toBeLessThan(8000);
        const ended = await untilDone(api.url, waiting.body.id, 40_000);
        expect(ended.status).toBe('completed');
        expect(ended.started_at! >= (await api.queue.get(slow.body.id))!.finished_at!).toBe(true);
      } finally {
        await judgeWorker.close();
      }
    } finally {
      ciWorker.kill('SIGTERM');
      await once(ciWorker, 'exit');
    }
  });
});
