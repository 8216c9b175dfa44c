/**
 * The cgroup v2 driver on the real kernel. Runs in the v2 lane (npm run test:v2: a guest
 * with pure cgroup v2, systemd as init, the tests in a unit with Delegate=yes); skipped on a
 * host where runcell drives cgroup v1 (test/cgroup2.test.ts covers it there on a fake tree).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectCgroupDriver, type CgroupDriver } from '../sandbox/cgroup.js';
import { waitUntil } from '../sandbox/cgroup-driver.js';
import { CgroupV2Run, ownCgroup, placeV2, SUPERVISOR_LEAF } from '../sandbox/cgroup2.js';
import { config, MiB, python } from './helpers.js';

function v2Driver(): CgroupDriver | undefined {
  try {
    const driver = detectCgroupDriver({ parentName: config.cgroupParent });
    return driver.version === 2 ? driver : undefined;
  } catch {
    return undefined; // no usable cgroups: test/cgroup2.test.ts and doctor cover that
  }
}

const driver = v2Driver();
const made: CgroupV2Run[] = [];

async function runCgroup(limits = { memoryBytes: 256 * MiB, pids: 32 }): Promise<CgroupV2Run> {
  const run = (await driver!.create(`slot-kernel-test/${randomUUID()}`, limits)) as CgroupV2Run;
  made.push(run);
  return run;
}

/** A shell moved into `run` before it runs `script` (it waits for a line on stdin). */
async function shellIn(run: CgroupV2Run, script: string) {
  const child = spawn('/bin/sh', ['-c', `read go; ${script}`], { stdio: ['pipe', 'ignore', 'inherit'] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  writeFileSync(join(run.dir, 'cgroup.procs'), String(child.pid));
  child.stdin.write('go\n');
  return { child, exited };
}

afterAll(async () => {
  for (const run of made) await run.destroy();
});

describe.skipIf(!driver)('cgroup v2 on the kernel', () => {
  it('a run cgroup gets its limits, memory.swap.max 0 and memory.oom.group 1', async () => {
    const run = await runCgroup({ memoryBytes: 64 * MiB, pids: 10 });
    const read = (file: string) => readFileSync(join(run.dir, file), 'utf8').trim();
    expect(read('memory.max')).toBe(String(64 * MiB));
    expect(read('pids.max')).toBe('10');
    expect(read('memory.oom.group')).toBe('1');
    if (existsSync(join(run.dir, 'memory.swap.max'))) expect(read('memory.swap.max')).toBe('0');
  });

  it('cgroup.kill kills every process of a run at once, forks included', async () => {
    const run = await runCgroup();
    expect(existsSync(join(run.dir, 'cgroup.kill'))).toBe(true);
    const { exited } = await shellIn(run, 'sleep 1000 & sleep 1000 & wait');
    expect(await waitUntil(() => run.pids().length === 3, 30_000)).toBe(true);
    await run.killAll();
    expect(run.pids()).toEqual([]);
    expect(await exited).toBe('SIGKILL');
  });

  it('memory.peak and pids.peak give the most a run used, not what it uses at the end', async () => {
    const run = await runCgroup();
    const { exited } = await shellIn(run, 'for i in 1 2 3 4 5; do sleep 2 & done; wait; head -c 40000000 /dev/zero | tail -c 1 >/dev/null');
    await exited;
    const stats = run.stats();
    expect(stats.pidsCurrent).toBe(0);
    if (existsSync(join(run.dir, 'pids.peak'))) expect(stats.pidsPeak).toBeGreaterThanOrEqual(6);
    expect(existsSync(join(run.dir, 'memory.peak'))).toBe(true);
    expect(stats.memoryPeakBytes).toBeGreaterThan(stats.memoryCurrentBytes);
  });

  it('a sandbox run reports the peak memory of a program that freed it before exiting', async () => {
    // b'x' * n writes every page (a bytearray(n) of zeros would not touch them, and nothing would be charged).
    const result = await python('a = b"x" * (48 * 1024 * 1024)\ndel a\nprint("freed")', { memory_bytes: 128 * MiB });
    expect(result).toMatchObject({ status: 'ok', stdout: 'freed\n' });
    expect(result.memory_peak_bytes).toBeGreaterThan(48 * MiB);
  });
});

describe.skipIf(!driver || process.env.RUNCELL_V2_LANE !== '1')('cgroup v2 delegated by systemd (the v2 lane\'s unit has Delegate=yes)', () => {
  it('runcell makes its cgroups under its unit\'s cgroup and moves itself into the supervisor leaf', async () => {
    await runCgroup();
    const placement = placeV2('/sys/fs/cgroup');
    expect(placement.kind).toBe('delegated');
    expect(placement.root).toMatch(/^\/sys\/fs\/cgroup\/system\.slice\/[^/]+\.service$/);
    expect(ownCgroup()).toBe(`${placement.root.slice('/sys/fs/cgroup'.length)}/${SUPERVISOR_LEAF}`);
    expect(readFileSync(join(placement.root, 'cgroup.procs'), 'utf8')).toBe('');
    expect(readFileSync(join(placement.root, 'cgroup.subtree_control'), 'utf8').trim().split(' ')).toEqual(expect.arrayContaining(['memory', 'pids', 'cpu']));
    expect(existsSync(join(placement.root, config.cgroupParent, 'slot-kernel-test'))).toBe(true);
  });
});
