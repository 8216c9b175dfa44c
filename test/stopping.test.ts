/**
 * Stopping (issue 11, section 8): `runcell serve` stops within its shutdown
 * timeout, losing nothing, when SIGTERM and SIGINT reach its whole process
 * group in any order (a terminal's Ctrl-C, systemd's stop), whatever it did
 * before: a cancel, a time limit, a burst of jobs, jobs still running, idling.
 * Each serve runs in a process group of its own, as under a shell or systemd;
 * one data directory for all, so that jobs handed back by one serve must be
 * finished by the next.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { detectCgroupDriver } from '../sandbox/cgroup.js';
import { unmountAll } from '../rootfs/store.js';
import { besideSuite, BIN, config, http, shareRootfs, untilDone, waitFor } from './service-helpers.js';

const SHUTDOWN_TIMEOUT_MS = 2000;
/** The shutdown timeout, cli/service.ts's grace for the rest, and room for a loaded host. */
const EXIT_WITHIN_MS = SHUTDOWN_TIMEOUT_MS + 10_000 + 5_000;
const ITERATIONS = 10;

interface Serve {
  child: ChildProcess;
  url: string;
  output: () => string;
}

let dataDir = '';
let env: NodeJS.ProcessEnv = {};
/** Serves not known to have exited: killed after a failed test, so that none outlives the suite. */
const alive = new Set<ChildProcess>();

async function startServe(): Promise<Serve> {
  // detached: a process group of its own, led by serve, for the signals to go to.
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  alive.add(child);
  child.once('exit', () => alive.delete(child));
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  await waitFor(() => /listening on http/.test(output) || child.exitCode !== null, 30_000, 'serve to listen');
  if (child.exitCode !== null) throw new Error(`serve did not start: ${output}`);
  return { child, url: /listening on (http:\/\/\S+)/.exec(output)![1], output: () => output };
}

/** Sends `signals` to serve's process group, a few milliseconds apart; answers its exit code and how long it took. */
async function stopByGroup(serve: Serve, signals: NodeJS.Signals[]): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  const exited = new Promise<number | null>((resolve) => serve.child.once('exit', (code) => resolve(code)));
  for (const [index, signal] of signals.entries()) {
    try {
      process.kill(-serve.child.pid!, signal);
    } catch (error) {
      // An idle serve can be gone, group and all, before the next signal of the sequence: nothing left to signal.
      if (index === 0 || (error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const timeout = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), EXIT_WITHIN_MS));
  const code = await Promise.race([exited, timeout]);
  if (code === 'late') {
    process.kill(-serve.child.pid!, 'SIGKILL');
    throw new Error(`serve did not exit within ${EXIT_WITHIN_MS} ms of ${signals.join(', ')}:\n${serve.output().slice(-3000)}`);
  }
  return { code, ms: Date.now() - started };
}

/** Processes whose working directory is `dir` (redis-server runs in its --dir). */
function processesIn(dir: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/cwd`) === dir;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** What a stopped serve may not leave: run cgroups, slot-uid processes, mounts, its Redis, members of its group. */
function leftovers(serve: Serve) {
  const uidBase = Number(env.RUNCELL_UID_BASE);
  const procs = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  const field = (pid: string, index: number) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[index - 3]);
    } catch {
      return -1;
    }
  };
  const uidOf = (pid: string) => {
    try {
      return statSync(`/proc/${pid}`).uid;
    } catch {
      return -1;
    }
  };
  return {
    cgroups: detectCgroupDriver({ parentName: env.RUNCELL_CGROUP_PARENT }).list(),
    slotProcesses: procs.filter((pid) => uidOf(pid) >= uidBase && uidOf(pid) < uidBase + config.slots),
    group: procs.filter((pid) => field(pid, 5) === serve.child.pid),
    mounts: readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .filter((line) => line.includes(join(dataDir, 'work'))),
    redis: processesIn(join(dataDir, 'redis')),
  };
}

const CLEAN = { cgroups: [], slotProcesses: [], group: [], mounts: [], redis: [] };

const sleepJob = (seconds: number, wallMs = 60_000) => ({ command: ['sleep', String(seconds)], limits: { wall_ms: wallMs } });

/** What serve did before the signal; answers the ids of jobs it must not lose. */
const STATES: Record<string, (url: string) => Promise<string[]>> = {
  async cancel(url) {
    const { body } = await http(`${url}/v1/jobs`, { method: 'POST', json: sleepJob(30) });
    await waitFor(async () => (await http(`${url}/v1/jobs/${body.id}`)).body.status === 'running', 20_000, 'the job to run');
    expect((await http(`${url}/v1/jobs/${body.id}`, { method: 'DELETE' })).body.status).toBe('cancelled');
    return [];
  },
  async timeLimit(url) {
    const { status, body } = await http(`${url}/v1/jobs?wait=20`, { method: 'POST', json: sleepJob(10, 300) });
    expect({ status, run: body.result?.run.status }, JSON.stringify(body)).toEqual({ status: 200, run: 'wall_time_limit' });
    return [];
  },
  async burst(url) {
    const jobs = Array.from({ length: 8 }, (_, i) => ({ command: ['sh', '-c', `sleep 0.1; echo ${i}`] }));
    const { body } = await http(`${url}/v1/jobs/batch`, { method: 'POST', json: { jobs } });
    for (const { id } of body.jobs) expect((await untilDone(url, id)).status).toBe('completed');
    return [];
  },
  async running(url) {
    // Signalled while these run: each finishes within the shutdown timeout or goes back to the queue.
    const jobs = [sleepJob(0.5), sleepJob(1), sleepJob(5), sleepJob(8)];
    const { body } = await http(`${url}/v1/jobs/batch`, { method: 'POST', json: { jobs } });
    await waitFor(async () => (await http(`${url}/v1/jobs/${body.jobs[0].id}`)).body.status === 'running', 20_000, 'a job to run');
    return body.jobs.map((job: { id: string }) => job.id);
  },
  async all(url) {
    await STATES.cancel(url);
    await STATES.timeLimit(url);
    await STATES.burst(url);
    return [];
  },
};

/** A job handed back by a stopped serve completes on the next: nothing lost (the record says why if not). */
async function expectCompleted(url: string, id: string): Promise<void> {
  const job = await untilDone(url, id, 60_000);
  expect(job.status, `job ${id}: ${JSON.stringify(job).slice(0, 1500)}`).toBe('completed');
}

const SIGNALS: NodeJS.Signals[][] = [['SIGTERM'], ['SIGINT'], ['SIGINT', 'SIGTERM'], ['SIGTERM', 'SIGINT'], ['SIGINT', 'SIGINT', 'SIGTERM']];

describe('runcell serve stopped through its process group', () => {
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'runcell-stop-'));
    chmodSync(dataDir, 0o711);
    shareRootfs(dataDir);
    env = { ...process.env, ...besideSuite(dataDir, 'stop'), RUNCELL_LOG_LEVEL: 'warn', RUNCELL_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS), RUNCELL_CONCURRENCY: '4' };
    delete env.REDIS_URL;
  });

  afterEach(() => {
    for (const child of alive) process.kill(-child.pid!, 'SIGKILL');
  });

  afterAll(() => {
    if (dataDir && processesIn(join(dataDir, 'redis')).length === 0) {
      unmountAll(dataDir);
      rmSync(dataDir, { recursive: true, force: true });
    }
    // The serves' parent cgroup (and its slots), once no run uses it, as the suite's teardown does for its own.
    try {
      if (env.RUNCELL_CGROUP_PARENT) detectCgroupDriver({ parentName: env.RUNCELL_CGROUP_PARENT }).removeParentIfEmpty();
    } catch (error) {
      console.warn(`stopping test: its parent cgroup stays: ${(error as Error).message}`);
    }
  });

  it(`stops within its shutdown timeout, loses no job and leaves nothing, ${ITERATIONS} times over`, async () => {
    const states = Object.keys(STATES);
    let owed: string[] = [];
    const figures: string[] = [];
    for (let i = 0; i < ITERATIONS; i++) {
      const state = states[i % states.length];
      const signals = SIGNALS[i % SIGNALS.length];
      const serve = await startServe();
      // Jobs the previous serve handed back are finished by this one: nothing was lost.
      for (const id of owed) await expectCompleted(serve.url, id);
      owed = await STATES[state](serve.url);
      if (state !== 'running') await new Promise((resolve) => setTimeout(resolve, 3000));
      const { code, ms } = await stopByGroup(serve, signals);
      figures.push(`${state}/${signals.join('+')}: ${ms} ms`);
      expect(code, `${state}, ${signals.join(' then ')}:\n${serve.output().slice(-2000)}`).toBe(0);
      await waitFor(() => leftovers(serve).redis.length === 0, 5000, 'the embedded Redis to stop');
      expect(leftovers(serve), `${state}, ${signals.join(' then ')}`).toEqual(CLEAN);
    }
    const last = await startServe();
    for (const id of owed) await expectCompleted(last.url, id);
    expect((await stopByGroup(last, ['SIGTERM'])).code).toBe(0);
    console.log(`exit after the group signal: ${figures.join('; ')}`);
  }, 600_000);

  it('stops in time when its Redis dies during the shutdown, and leaves nothing', async () => {
    const serve = await startServe();
    const { body } = await http(`${serve.url}/v1/jobs`, { method: 'POST', json: sleepJob(30) });
    await waitFor(async () => (await http(`${serve.url}/v1/jobs/${body.id}`)).body.status === 'running', 20_000, 'the job to run');
    const redis = processesIn(join(dataDir, 'redis'));
    expect(redis).toHaveLength(1);
    const stopping = stopByGroup(serve, ['SIGTERM']);
    process.kill(redis[0], 'SIGKILL');
    await stopping;
    expect(leftovers(serve)).toEqual(CLEAN);
    expect(existsSync(join(dataDir, 'redis'))).toBe(true);
  }, 120_000);
});
