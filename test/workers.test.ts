/**
 * Workers as separate processes on one queue: sharing work, dying with
 * SIGKILL mid-job, shutting down gracefully; and Redis restarted under
 * queued jobs. Real Redis, real `runcell worker` processes, real sandboxes.
 */
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { detectCgroupDriver } from '../sandbox/cgroup.js';
import { config, http, readEvents, spawnWorker, startApi, startWorker, TestRedis, untilDone, waitFor, type TestApi } from './service-helpers.js';

const redis = new TestRedis();
let api: TestApi;
const children: ReturnType<typeof spawnWorker>[] = [];

beforeAll(async () => {
  await redis.start();
  api = await startApi(redis.url);
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  }
});

afterAll(async () => {
  await api?.close();
  await redis.destroy();
});

const sleepJob = (seconds: number, text = 'done') => ({ command: ['/bin/sh', '-c', `sleep ${seconds}; echo ${text}`], limits: { wall_ms: 60_000 } });

async function worker(env: Record<string, string> = {}) {
  const child = spawnWorker(redis.url, env);
  children.push(child);
  try {
    await waitFor(() => child.output().includes('"worker started"'), 20_000, 'a worker to start');
  } catch (error) {
    // What the worker printed says why it did not start (the v2 lane shows nothing else).
    throw new Error(`${(error as Error).message}; exit code ${child.exitCode}; its output: ${child.output().slice(-3000)}`);
  }
  return child;
}

async function startedBy(id: string): Promise<number> {
  let pid = 0;
  await waitFor(
    async () => {
      const events = (await api.queue.store.events(id)).filter((e) => e.type === 'started');
      if (events.length === 0) return false;
      pid = Number(String(events[events.length - 1].data.worker).split('-').at(-2));
      return true;
    },
    20_000,
    `job ${id} to start`,
  );
  return pid;
}

function leftovers() {
  const workDir = join(config.dataDir, 'work');
  return {
    cgroups: detectCgroupDriver({ parentName: config.cgroupParent }).list(),
    workspaces: existsSync(workDir) ? readdirSync(workDir) : [],
    mounts: readFileSync('/proc/mounts', 'utf8').split('\n').filter((line) => line.includes(workDir)),
  };
}

describe('worker processes', () => {
  it('two workers share the work of one queue', async () => {
    const [a, b] = await Promise.all([worker(), worker()]);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await http(`${api.url}/v1/jobs`, { method: 'POST', json: sleepJob(0.5, `job${i}`) })).body.id);
    const pids = new Set<number>();
    for (const id of ids) {
      const job = await untilDone(api.url, id);
      expect(job.status).toBe('completed');
      pids.add(await startedBy(id));
    }
    expect(pids).toEqual(new Set([a.pid, b.pid]));
  });

  it('a worker killed with SIGKILL mid-job: the job completes on another, and the successor sweeps up', async () => {
    const first = await worker();
    const id = (await http(`${api.url}/v1/jobs`, { method: 'POST', json: sleepJob(3, 'survived') })).body.id;
    expect(await startedBy(id)).toBe(first.pid);
    // Let the sandbox get going, then kill the worker outright.
    await new Promise((resolve) => setTimeout(resolve, 500));
    first.kill('SIGKILL');
    await once(first, 'exit');
    expect(leftovers().cgroups.length + leftovers().workspaces.length).toBeGreaterThan(0);

    const second = await worker();
    const job = await untilDone(api.url, id, 40_000);
    expect(job.status).toBe('completed');
    expect(job.result!.run).toMatchObject({ status: 'ok', stdout: 'survived\n' });
    const starts = (await readEvents(`${api.url}/v1/jobs/${id}/events`)).filter((e) => e.event === 'started');
    expect(starts.map((e) => Number(String(e.data.data.worker).split('-').at(-2)))).toEqual([first.pid, second.pid]);
    // The successor removed what the dead worker left: nothing runs now, so nothing may remain.
    expect(leftovers()).toEqual({ cgroups: [], workspaces: [], mounts: [] });
    expect(second.output()).toMatch(/removed what a dead worker left behind/);
  });

  it('a job whose workers die twice fails with a reason, and is not lost', async () => {
    const id = (await http(`${api.url}/v1/jobs`, { method: 'POST', json: sleepJob(30) })).body.id;
    for (let attempt = 0; attempt < 2; attempt++) {
      const doomed = await worker();
      await waitFor(async () => (await api.queue.store.events(id)).filter((e) => e.type === 'started').length === attempt + 1, 30_000, 'a start');
      doomed.kill('SIGKILL');
      await once(doomed, 'exit');
    }
    await worker(); // its stalled-job check gives up on the job
    const job = await untilDone(api.url, id, 40_000);
    expect(job).toMatchObject({ status: 'failed', error_code: 'worker_died', reason: 'its worker died twice while running it', result: null });
  });

  it('SIGTERM: a running job that finishes within the grace period completes; the worker exits 0', async () => {
    const graceful = await worker({ RUNCELL_SHUTDOWN_TIMEOUT_MS: '20000' });
    const id = (await http(`${api.url}/v1/jobs`, { method: 'POST', json: sleepJob(1.5, 'finished') })).body.id;
    expect(await startedBy(id)).toBe(graceful.pid);
    graceful.kill('SIGTERM');
    const [code] = await once(graceful, 'exit');
    expect(code).toBe(0);
    const job = await untilDone(api.url, id);
    expect(job).toMatchObject({ status: 'completed', result: { run: { stdout: 'finished\n' } } });
    expect(graceful.output()).toMatch(/worker stopped/);
  });

  it('SIGTERM past the grace period: the job is killed, queued again and completed by another worker', async () => {
    const impatient = await worker({ RUNCELL_SHUTDOWN_TIMEOUT_MS: '300' });
    const id = (await http(`${api.url}/v1/jobs`, { method: 'POST', json: sleepJob(2, 'second try') })).body.id;
    expect(await startedBy(id)).toBe(impatient.pid);
    impatient.kill('SIGTERM');
    const [code] = await once(impatient, 'exit');
    expect(code).toBe(0);
    const successor = await worker();
    const job = await untilDone(api.url, id, 30_000);
    expect(job).toMatchObject({ status: 'completed', result: { run: { stdout: 'second try\n' } } });
    expect(await startedBy(id)).toBe(successor.pid);
    expect(leftovers()).toEqual({ cgroups: [], workspaces: [], mounts: [] });
  });
});

describe('Redis restarted', () => {
  it('loses no accepted job (append-only persistence) and the API recovers by itself', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await http(`${api.url}/v1/jobs`, { method: 'POST', json: { command: ['/bin/echo', `kept ${i}`] } })).body.id);
    await redis.stop();
    expect((await http(`${api.url}/v1/jobs/${ids[0]}`)).status).toBe(503);
    await redis.start();
    await waitFor(async () => (await http(`${api.url}/v1/jobs/${ids[0]}`)).status === 200, 15_000, 'the API to recover');
    const inProcess = await startWorker(redis.url);
    try {
      for (const [i, id] of ids.entries()) {
        const job = await untilDone(api.url, id);
        expect(job).toMatchObject({ status: 'completed', result: { run: { stdout: `kept ${i}\n` } } });
      }
    } finally {
      await inProcess.close();
    }
  });
});
