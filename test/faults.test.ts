/**
 * Faults from outside the job: bubblewrap killed mid-run, the sandboxed
 * processes stopped with SIGSTOP, the worker killed with SIGKILL (its
 * sandbox must die with it), Redis stopped while a job runs, the data
 * directory full, the rootfs missing or emptied. Each is answered with a
 * clear status or error; nothing is lost and nothing is left behind.
 * (failures.test.ts covers a cgroup that cannot be created; workers.test.ts
 * a dead worker's job taken over and Redis restarted under queued jobs.)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifiedRootfs } from '../rootfs/build.js';
import { ROOTFS_MOUNT_POINTS } from '../sandbox/mount.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { config, job, pidsInRunCgroups, sandbox, sh } from './helpers.js';
import { apiFixture, BIN, http, spawnWorker, startWorker, untilDone, waitFor } from './service-helpers.js';
import { CLEAN_HOST, hostState } from './security/attack.js';

const service = apiFixture();
const { redis } = service;

const shell = (script: string, limits = {}) => ({ command: ['/bin/sh', '-c', script], limits });

/** Processes of the one run in progress (launcher, bubblewrap, init, the job), with their names. */
async function runProcesses(minimum: number): Promise<{ pid: number; comm: string }[]> {
  let found: { pid: number; comm: string }[] = [];
  await waitFor(
    () => {
      found = pidsInRunCgroups().flatMap((pid) => {
        try {
          return [{ pid, comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim() }];
        } catch {
          return [];
        }
      });
      return found.length >= minimum;
    },
    10_000,
    'the run to start',
  );
  return found;
}

async function expectCleanAndWorking(): Promise<void> {
  await waitFor(() => hostState().slotProcesses.length === 0, 5000, 'slot processes to end');
  expect(hostState()).toEqual(CLEAN_HOST);
  expect(await sh('echo next')).toMatchObject({ status: 'ok', stdout: 'next\n' });
}

describe('the sandbox under outside faults', () => {
  it('bubblewrap killed mid-run: sandbox_error saying so, the job is gone, nothing left', async () => {
    const running = job(shell('echo started; sleep 30', { wall_ms: 60_000 }));
    const processes = await runProcesses(4);
    const bwraps = processes.filter((p) => p.comm === 'bwrap');
    expect(bwraps.length).toBeGreaterThan(0);
    for (const { pid } of bwraps) process.kill(pid, 'SIGKILL');
    const started = Date.now();
    const result = (await running).run!;
    // Not the program's doing: the run reports the sandbox broke, long before its 60 s wall limit.
    expect(result).toMatchObject({ status: 'sandbox_error', message: "the sandbox's supervisor ended without the program's status (bubblewrap killed by SIGKILL)" });
    expect(Date.now() - started).toBeLessThan(10_000);
    await expectCleanAndWorking();
  });

  it('every process of a run stopped with SIGSTOP from outside: the wall limit still ends it, and all is removed', async () => {
    const running = job(shell('while :; do sleep 0.1; done', { wall_ms: 1500 }));
    const processes = await runProcesses(4);
    for (const { pid } of processes) process.kill(pid, 'SIGSTOP');
    const result = (await running).run!;
    expect(result.status).toBe('wall_time_limit');
    expect(result.wall_ms).toBeLessThan(10_000);
    await expectCleanAndWorking();
  });

  it('only the job stopped from outside (its supervisor not): wall_time_limit, nothing left', async () => {
    const running = job(shell('exec sleep 30', { wall_ms: 1000 }));
    // Four processes (launcher, bubblewrap, init, the shell) exist before the shell execs sleep: on a loaded
    // host the first sighting may precede the exec, so wait for the sleep itself.
    let sleeper: { pid: number; comm: string } | undefined;
    await waitFor(async () => (sleeper = (await runProcesses(4)).find((p) => p.comm === 'sleep')) !== undefined, 900, 'the job to exec sleep');
    process.kill(sleeper!.pid, 'SIGSTOP');
    expect((await running).run).toMatchObject({ status: 'wall_time_limit' });
    await expectCleanAndWorking();
  });
});

describe('a host so loaded that the sandbox starts slower than the wall limit', () => {
  it('is still wall_time_limit (the limit counts from the launch), not a sandbox failure', async () => {
    // 1 ms: runcell's kill always lands while bubblewrap is still setting up.
    for (let i = 0; i < 5; i++) {
      const result = await sh('echo never', { wall_ms: 1 });
      expect(result).toMatchObject({ status: 'wall_time_limit', message: 'wall time limit of 1 ms exceeded' });
    }
    await expectCleanAndWorking();
  });
});

describe('the worker killed with SIGKILL mid-run', () => {
  it("takes its sandbox with it at once: no process of the job outlives the worker; the job completes on the next", async () => {
    const child = spawnWorker(redis.url);
    const accepted = await http(`${service.api.url}/v1/jobs`, { method: 'POST', json: shell('sleep 2; echo second run', { wall_ms: 60_000 }) });
    try {
      await waitFor(() => child.output().includes('"worker started"'), 20_000, 'the worker to start');
      await waitFor(async () => (await http(`${service.api.url}/v1/jobs/${accepted.body.id}`)).body.status === 'running', 20_000, 'the job to run');
      await waitFor(() => hostState().slotProcesses.length >= 2, 10_000, 'the sandbox to start');
      child.kill('SIGKILL');
      await once(child, 'exit');
      // bubblewrap and its init die with their parent: nothing of the job runs on.
      await waitFor(() => hostState().slotProcesses.length === 0, 3000, 'the sandbox to die with its worker');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    // What the dead worker left (cgroups, mounts) is the next worker's to sweep; the job is not lost.
    const next = spawnWorker(redis.url);
    try {
      const done = await untilDone(service.api.url, accepted.body.id, 40_000);
      expect(done).toMatchObject({ status: 'completed', result: { run: { status: 'ok', stdout: 'second run\n' } } });
      expect(hostState()).toEqual(CLEAN_HOST);
    } finally {
      next.kill('SIGKILL');
      await once(next, 'exit');
    }
  });
});

describe('Redis stopped while a job runs', () => {
  it('the job finishes in its sandbox meanwhile; once Redis is back its result is stored: nothing lost', async () => {
    const worker = await startWorker(redis.url, { concurrency: 1 });
    try {
      const accepted = await http(`${service.api.url}/v1/jobs`, { method: 'POST', json: shell('sleep 1.5; echo outlived redis', { wall_ms: 30_000 }) });
      await waitFor(async () => (await http(`${service.api.url}/v1/jobs/${accepted.body.id}`)).body.status === 'running', 20_000, 'the job to run');
      await redis.stop();
      // The run ends while Redis is away.
      await waitFor(() => hostState().slotProcesses.length === 0, 10_000, 'the run to end');
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await redis.start();
      const done = await untilDone(service.api.url, accepted.body.id, 40_000);
      expect(done).toMatchObject({ status: 'completed', result: { run: { status: 'ok', stdout: 'outlived redis\n' } } });
      expect(hostState()).toEqual(CLEAN_HOST);
    } finally {
      await worker.close();
    }
  });
});

describe('the data directory full', () => {
  let dir = '';
  let full: Sandbox;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'runcell-full-'));
    // A small tmpfs of its own as the data directory: few bytes, few inodes.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,nr_inodes=512,mode=0711', 'runcell-full', dir]);
    full = Sandbox.create({ dataDir: dir, cgroupParent: config.cgroupParent, rootfs: verifiedRootfs(config.dataDir) });
    mkdirSync(join(dir, 'work'), { mode: 0o711 });
    // Fill it: bytes, then inodes.
    const fd = openSync(join(dir, 'filler'), 'w');
    const block = Buffer.alloc(64 * 1024);
    try {
      for (;;) writeSync(fd, block);
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      closeSync(fd);
    }
    try {
      for (let i = 0; ; i++) writeFileSync(join(dir, `inode-${i}`), '');
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
  });

  afterAll(() => {
    if (!dir) return;
    spawnSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a job there fails with ENOSPC as its reason, is not lost, and leaves no mount or cgroup', async () => {
    const worker = await startWorker(redis.url, { sandbox: full, concurrency: 1 });
    try {
      const accepted = await http(`${service.api.url}/v1/jobs`, { method: 'POST', json: shell('echo never') });
      const done = await untilDone(service.api.url, accepted.body.id, 30_000);
      expect(done.status).toBe('failed');
      expect(done.reason).toMatch(/ENOSPC|no space/i);
      expect(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(`${dir}/`))).toEqual([]);
      expect(readdirSync(join(dir, 'work'))).toEqual([]);
      expect(hostState()).toEqual(CLEAN_HOST);

      // Room again: the same worker runs the next job normally.
      rmSync(join(dir, 'filler'));
      for (const entry of readdirSync(dir).filter((e) => e.startsWith('inode-'))) rmSync(join(dir, entry));
      const next = await http(`${service.api.url}/v1/jobs?wait=30`, { method: 'POST', json: shell('echo room again') });
      expect(next.body).toMatchObject({ status: 'completed', result: { run: { stdout: 'room again\n' } } });
    } finally {
      await worker.close();
    }
  });
});

describe('the rootfs missing or corrupt', () => {
  let dir = '';

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'runcell-rootfs-'));
    // The slot uid (bubblewrap) must traverse it to reach the stand-in image.
    chmodSync(dir, 0o711);
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('`runcell worker` refuses to start on a data dir whose rootfs has no marker, saying what to do', () => {
    // An emptied image: the directory is there, nothing in it.
    const location = spawnSync(process.execPath, [BIN, 'rootfs', 'path'], { env: { ...process.env, RUNCELL_DATA_DIR: dir }, encoding: 'utf8' }).stdout.trim();
    mkdirSync(location, { recursive: true });
    const result = spawnSync(process.execPath, [BIN, 'worker'], {
      env: { ...process.env, RUNCELL_DATA_DIR: dir, REDIS_URL: redis.url },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/incomplete \(no .*\): rebuild it with `runcell rootfs build`/);
    expect(hostState()).toEqual(CLEAN_HOST);
  });

  it('a rootfs emptied under a running worker: its jobs fail with bubblewrap\'s reason, nothing left', async () => {
    // A stand-in image with just the mount points (the real one is shared by the suite).
    const rootfs = join(dir, 'image');
    for (const point of ROOTFS_MOUNT_POINTS) mkdirSync(join(rootfs, point), { recursive: true });
    const broken = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs });
    // No /bin/sh in it: the program cannot start, which is the job's status, with the reason.
    const missing = await sandbox().pool.withSlot(async (slot) => {
      const { runJob } = await import('../worker/job.js');
      return runJob({ sandbox: broken, slot }, shell('echo never'));
    });

    expect(missing.run).toMatchObject({ status: 'nonzero_exit', exit_code: 127, message: expect.stringMatching(/ENOENT/) });
    expect(hostState()).toEqual(CLEAN_HOST);

    // Now emptied altogether under a running worker.
    rmSync(rootfs, { recursive: true, force: true });
    mkdirSync(rootfs);
    const worker = await startWorker(redis.url, { sandbox: broken, concurrency: 1 });
    try {
      const accepted = await http(`${service.api.url}/v1/jobs`, { method: 'POST', json: shell('echo never') });
      const done = await untilDone(service.api.url, accepted.body.id, 30_000);
      expect(done.status).toBe('failed');
      expect(done.reason).toMatch(/sandbox failed before the program started: bwrap: /);
      expect(hostState()).toEqual(CLEAN_HOST);
    } finally {
      await worker.close();
    }
    expect(existsSync(rootfs)).toBe(true);
  });
});
