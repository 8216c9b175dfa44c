/**
 * How a run's bubblewrap enters its cgroup (runcell-exec launch): on cgroup v2, started in it with
 * clone3(CLONE_INTO_CGROUP), the launcher left outside; elsewhere (cgroup v1 here, or asked), the launcher
 * joins the cgroup first. And on v2, memory.oom.group: an OOM kill takes the whole run. The v2 cases run in
 * the v2 lane (npm run test:v2); the v1 ones on a host where runcell drives cgroup v1.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifiedRootfs } from '../rootfs/build.js';
import { waitUntil } from '../sandbox/cgroup-driver.js';
import { parseCgroupEntry } from '../sandbox/process.js';
import { cloneFallbackReason, Sandbox } from '../sandbox/sandbox.js';
import { runJob } from '../worker/job.js';
import { config, MiB, pidsInRunCgroups, sandbox, waitScale } from './helpers.js';

const shared = sandbox();
const v2 = shared.sandbox.cgroups.version === 2;
const joining = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs: verifiedRootfs(config.dataDir, config.languages), cloneIntoCgroup: false });
afterAll(() => joining.close());

/** argv of a host process ([] once it is gone). */
function argvOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
  } catch {
    return [];
  }
}

/**
 * Runs a job that sleeps and looks from the host at which processes its cgroup holds while it runs:
 * whether a launcher (runcell-exec launch) is among them, beside bubblewrap.
 */
async function launcherInRunCgroup(box: Sandbox): Promise<{ launcherInside: boolean; entry: unknown }> {
  const done = shIn(box, 'sleep 2');
  let seen: string[][] = [];
  await waitUntil(() => {
    seen = pidsInRunCgroups().map(argvOf);
    return seen.some((argv) => argv[0]?.endsWith('bwrap'));
  }, 60_000 * waitScale);
  const { run, entry } = await done;
  expect(run.status).toBe('ok');
  expect(seen.some((argv) => argv[0]?.endsWith('bwrap'))).toBe(true);
  return { launcherInside: seen.some((argv) => argv[0]?.endsWith('runcell-exec') && argv[1] === 'launch'), entry };
}

/** Runs `script` in `box`; returns the run and how its bubblewrap entered the cgroup. */
async function shIn(box: Sandbox, script: string, limits = {}) {
  const result = await shared.pool.withSlot((slot) => runJob({ sandbox: box, slot, table: config.limits }, { command: ['/bin/sh', '-c', script], limits }));
  return { run: result.run!, entry: box.lastCgroupEntry };
}

describe('the launcher\'s report of how bubblewrap entered the cgroup', () => {
  it('parses the launcher\'s line and ignores init\'s records', () => {
    expect(parseCgroupEntry('cgroup clone3\nstarted 2\nexit 0\n')).toEqual({ via: 'clone3' });
    expect(parseCgroupEntry('cgroup joined 38\nstarted 2\n')).toEqual({ via: 'joined', errno: 38 });
    expect(parseCgroupEntry('started 2\nexit 0\n')).toBeUndefined();
  });

  it('says why clone3 was not used, by errno', () => {
    expect(cloneFallbackReason(38)).toMatch(/ENOSYS.*seccomp/);
    expect(cloneFallbackReason(7)).toMatch(/E2BIG.*5\.7/);
    expect(cloneFallbackReason(0)).toMatch(/not on a cgroup2 mount/);
  });
});

describe.skipIf(v2)('cgroup v1: the launcher joins the run\'s cgroups', () => {
  it('a run says "joined", clone3 not tried, and runs', async () => {
    const { run, entry } = await shIn(shared.sandbox, 'echo ok');
    expect(run).toMatchObject({ status: 'ok', stdout: 'ok\n' });
    expect(entry).toEqual({ via: 'joined', errno: 0 });
  });

  it('the launcher is in the run\'s cgroups beside bubblewrap', async () => {
    expect(await launcherInRunCgroup(shared.sandbox)).toEqual({ launcherInside: true, entry: { via: 'joined', errno: 0 } });
  });
});

describe.skipIf(!v2)('cgroup v2: clone3(CLONE_INTO_CGROUP)', () => {
  it('bubblewrap starts in the run\'s cgroup, the launcher stays outside it', async () => {
    expect(await launcherInRunCgroup(shared.sandbox)).toEqual({ launcherInside: false, entry: { via: 'clone3' } });
  });

  it('without it (cloneIntoCgroup: false), the launcher joins the cgroup, and runs work the same', async () => {
    expect(await launcherInRunCgroup(joining)).toEqual({ launcherInside: true, entry: { via: 'joined', errno: 0 } });
  });

  it('where clone3 is refused (ENOSYS, as a container runtime\'s seccomp profile does), the launcher joins, runs work, and the worker says why once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runcell-no-clone3-'));
    try {
      execFileSync('gcc', ['-O2', '-o', join(dir, 'no-clone3'), join(import.meta.dirname, 'fixtures/no-clone3.c')]);
      const tsx = join(import.meta.dirname, '../node_modules/tsx/dist/cli.mjs');
      const child = spawnSync(join(dir, 'no-clone3'), [process.execPath, tsx, join(import.meta.dirname, 'fixtures/one-run.ts')], { encoding: 'utf8', timeout: 600_000 * waitScale });
      // Everything it said, should it end otherwise (the v2 lane once saw node end by SIGSEGV, status 139, with nothing on stderr).
      expect(child.status, `signal ${child.signal}; stdout: ${child.stdout}; stderr: ${child.stderr}`).toBe(0);
      expect(JSON.parse(child.stdout)).toEqual({ entry: { via: 'joined', errno: constants.errno.ENOSYS }, statuses: ['ok', 'ok'] });
      // Two runs, one warning.
      expect(child.stderr.match(/clone3 is refused here \(ENOSYS/g)).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['started in its cgroup (clone3)', () => shared.sandbox],
    ['joined by its launcher', () => joining],
  ])('memory.oom.group: a child over the memory limit takes its parent with it, %s', async (_name, box) => {
    // The parent waits for the child and would print; with oom.group both go, and the launcher
    // (outside, or exempt at oom_score_adj -1000) still reports the run's end.
    const script = 'python3 -c "a = b\'x\' * (200 * 1024 * 1024)" & wait; echo parent survived';
    const { run } = await shIn(box(), script, { memory_bytes: 64 * MiB });
    expect(run.status).toBe('memory_limit');
    expect(run.oom_killed).toBe(true);
    expect(run.stdout).not.toContain('parent survived');
  });
});
