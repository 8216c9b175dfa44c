/**
 * Deployments sharing a host (issue 11, section 5): a worker of another
 * deployment must never remove this one's runs, and a deployment refuses to
 * start on a cgroup parent, uid range or data directory a live one owns.
 * The suite's own deployment (config) is deployment A; B is started beside it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimDeployment, type DeploymentClaim } from '../sandbox/deployment.js';
import { runCgroupName } from '../sandbox/slots.js';
import { sweepSlot } from '../sandbox/sweep.js';
import type { JobRequest } from '../worker/job.js';
import { unmountAll } from '../rootfs/store.js';
import { job, sandbox } from './helpers.js';
import { BIN, config, shareRootfs, spawnWorker, TestRedis, waitFor } from './service-helpers.js';

const shell = (script: string, limits = {}): JobRequest => ({ command: ['/bin/sh', '-c', script], limits });

/** A data directory of B's own, sharing the built rootfs (its slot uids must traverse it). */
function otherDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'runcell-other-'));
  chmodSync(dir, 0o711);
  shareRootfs(dir);
  return dir;
}

/** Starts A's long run and waits until its cgroup exists (wrapped: an async function would wait for the run itself). */
async function liveRun(): Promise<{ result: ReturnType<typeof job> }> {
  const before = new Set(sandbox().sandbox.cgroups.list());
  const running = job(shell('sleep 3; echo survived', { wall_ms: 30_000 }));
  await waitFor(() => sandbox().sandbox.cgroups.list().some((name) => !before.has(name)), 10_000, "A's run to start");
  return { result: running };
}

/** Starts `runcell worker` with `env` beside A; answers its exit code (undefined: it started) and output. */
async function startB(redisUrl: string, env: Record<string, string>): Promise<{ code: number | null | undefined; output: string }> {
  const child = spawnWorker(redisUrl, env);
  try {
    await waitFor(() => child.exitCode !== null || /worker started/.test(child.output()), 30_000, 'worker B to start or refuse');
    return { code: child.exitCode === null ? undefined : child.exitCode, output: child.output() };
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await waitFor(() => child.exitCode !== null || child.signalCode !== null, 20_000, 'worker B to stop');
    }
  }
}

describe('deployments sharing a host', () => {
  const redis = new TestRedis();
  let claim: DeploymentClaim | undefined;
  let dirB = '';

  beforeAll(async () => {
    await redis.start();
    // A: the suite's deployment, claimed as a worker claims it (the suite's global set-up holds the same claim).
    const result = claimDeployment({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, uidBase: config.uidBase, slots: config.slots });
    if (!result.ok) throw new Error(result.message);
    claim = result.claim;
    dirB = otherDataDir();
  });

  afterAll(async () => {
    claim?.release();
    await redis.destroy();
    if (dirB) unmountAll(dirB);
    if (dirB) rmSync(dirB, { recursive: true, force: true });
  });

  it("a worker with its own data dir on the same cgroup parent is refused, and A's live run survives", async () => {
    const { result: running } = await liveRun();
    const b = await startB(redis.url, { RUNCELL_DATA_DIR: dirB, RUNCELL_UID_BASE: String(config.uidBase + 1000) });
    const result = await running;
    expect(result.run).toMatchObject({ status: 'ok', stdout: 'survived\n' });
    expect(b.code).not.toBe(0);
    expect(b.code).toBeDefined();
    expect(b.output).toContain(`RUNCELL_CGROUP_PARENT=${config.cgroupParent} belongs to another live runcell deployment`);
    expect(b.output).toContain(`RUNCELL_DATA_DIR=${config.dataDir}`);
    expect(b.output).toMatch(/set RUNCELL_CGROUP_PARENT to a name of its own/);
  }, 60_000);

  it("the sweep of another data directory leaves A's live run alone, and removes its own leftovers", async () => {
    const cgroups = sandbox().sandbox.cgroups;
    const { result: running } = await liveRun();
    const leftover = runCgroupName(0, dirB, 'leftover');
    await cgroups.create(leftover, { memoryBytes: 64 << 20, pids: 8 });
    const swept: string[] = [];
    for (let slot = 0; slot < config.slots; slot++) swept.push(...(await sweepSlot({ cgroups, dataDir: dirB, slot })).cgroups);
    expect(swept).toEqual([leftover]);
    expect((await running).run).toMatchObject({ status: 'ok', stdout: 'survived\n' });
  }, 60_000);

  it('refuses an overlapping uid range, saying whose it is and what to set', async () => {
    const parent = `${config.cgroupParent}-b`;
    const b = await startB(redis.url, { RUNCELL_DATA_DIR: dirB, RUNCELL_CGROUP_PARENT: parent, RUNCELL_UID_BASE: String(config.uidBase + 3) });
    expect(b.code).not.toBe(0);
    expect(b.code).toBeDefined();
    expect(b.output).toContain(`the slot uids ${config.uidBase + 3}-`);
    expect(b.output).toContain(`RUNCELL_UID_BASE=${config.uidBase}`);
    expect(b.output).toMatch(/set RUNCELL_UID_BASE to \d+ or more/);
  }, 60_000);

  it('refuses a data directory another live deployment uses with other settings', async () => {
    const b = await startB(redis.url, { RUNCELL_CGROUP_PARENT: `${config.cgroupParent}-b`, RUNCELL_UID_BASE: String(config.uidBase + 1000) });
    expect(b.code).not.toBe(0);
    expect(b.code).toBeDefined();
    expect(b.output).toContain(`RUNCELL_DATA_DIR=${config.dataDir} belongs to another live runcell deployment`);
    expect(b.output).toMatch(/give this one a data directory of its own/);
  }, 60_000);

  it('`runcell run` is refused the same way, and runs within its own deployment', () => {
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, [BIN, 'run', '--', 'echo', 'ran'], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
    const refused = run({ RUNCELL_DATA_DIR: dirB, RUNCELL_UID_BASE: String(config.uidBase + 1000) });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain(`RUNCELL_CGROUP_PARENT=${config.cgroupParent} belongs to another live runcell deployment`);
    const ran = run({});
    expect(ran.stdout).toContain('ran');
    expect(ran.status).toBe(0);
  }, 60_000);

  it('a worker of the same deployment starts beside it', async () => {
    const b = await startB(redis.url, {});
    expect(b.code).toBeUndefined();
  }, 60_000);

  it('a claim whose process is gone, or whose pid now belongs to another process, does not count', () => {
    const registry = mkdtempSync(join(tmpdir(), 'runcell-registry-'));
    try {
      const deployment = { dataDir: config.dataDir, cgroupParent: config.cgroupParent, uidBase: config.uidBase, slots: config.slots };
      const exited = spawnSync('true').pid!;
      writeFileSync(join(registry, `${exited}-dead.json`), JSON.stringify({ ...deployment, dataDir: '/elsewhere', pid: exited, startTime: '1' }));
      // pid 1 lives, but was not started at this time: its pid was reused.
      writeFileSync(join(registry, '1-reused.json'), JSON.stringify({ ...deployment, dataDir: '/elsewhere', pid: 1, startTime: '999999999999' }));
      writeFileSync(join(registry, '2-garbage.json'), '{"half');
      const result = claimDeployment(deployment, registry);
      expect(result.ok).toBe(true);
      expect(readdirSync(registry)).toHaveLength(1);
      // A live claim of this process with other settings on the same cgroup parent: refused, by code.
      const second = claimDeployment({ ...deployment, dataDir: '/elsewhere', uidBase: config.uidBase + 1000 }, registry);
      expect(second.ok || second.code).toBe('cgroup_parent_in_use');
      // The slots' companions (interactors) take the next RUNCELL_SLOTS uids: a base just past the slots overlaps them.
      const companions = claimDeployment({ ...deployment, dataDir: '/elsewhere', cgroupParent: `${config.cgroupParent}-c`, uidBase: config.uidBase + config.slots }, registry);
      expect(companions.ok || companions.code).toBe('uid_range_in_use');
      const past = claimDeployment({ ...deployment, dataDir: '/elsewhere', cgroupParent: `${config.cgroupParent}-c`, uidBase: config.uidBase + 2 * config.slots }, registry);
      expect(past.ok).toBe(true);
      if (past.ok) past.claim.release();
      if (result.ok) result.claim.release();
      expect(readdirSync(registry)).toEqual([]);
    } finally {
      rmSync(registry, { recursive: true, force: true });
    }
  });
});
