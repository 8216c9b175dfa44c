/**
 * The cgroup v2 driver against a fake cgroup2 tree in a temporary directory
 * (this host has no v2 controllers). What the kernel would do is played by
 * the test: it fills in the files the kernel would create.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CgroupV2Driver } from '../sandbox/cgroup2.js';

let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'runcell-fake-cgroup2-'));
  writeFileSync(join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
  writeFileSync(join(root, 'cgroup.subtree_control'), '');
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('cgroup v2 driver', () => {
  it('reports no problems when memory, pids and cpu are available', () => {
    expect(new CgroupV2Driver({ root }).problems()).toEqual([]);
    writeFileSync(join(root, 'cgroup.controllers'), 'cpu io\n');
    expect(new CgroupV2Driver({ root }).problems()).toEqual([
      `cgroup v2 controller memory is not available at ${root}`,
      `cgroup v2 controller pids is not available at ${root}`,
    ]);
  });

  it('enables the controllers and writes the limits, with swap excluded', async () => {
    const driver = new CgroupV2Driver({ root });
    const run = await driver.create('slot-0/abc', { memoryBytes: 64 << 20, pids: 10, cpuQuota: 0.5 });
    const dir = join(root, 'runcell', 'slot-0', 'abc');
    // Each level hands the controllers down: the root, runcell's parent, the slot's parent.
    for (const level of [root, join(root, 'runcell'), join(root, 'runcell', 'slot-0')]) {
      expect(readFileSync(join(level, 'cgroup.subtree_control'), 'utf8')).toBe('+memory +pids +cpu');
    }
    expect(readFileSync(join(dir, 'memory.max'), 'utf8')).toBe(String(64 << 20));
    expect(readFileSync(join(dir, 'memory.swap.max'), 'utf8')).toBe('0');
    expect(readFileSync(join(dir, 'pids.max'), 'utf8')).toBe('10');
    expect(readFileSync(join(dir, 'cpu.max'), 'utf8')).toBe('50000 100000');
    expect(run.procsFiles).toEqual([join(dir, 'cgroup.procs')]);
    expect(driver.list()).toEqual(['slot-0/abc']);
  });

  it('reads usage, peak, pids and OOM kills from the v2 files', async () => {
    const driver = new CgroupV2Driver({ root });
    const run = await driver.create('slot-1/x', { memoryBytes: 1 << 30, pids: 5 });
    const dir = join(root, 'runcell', 'slot-1', 'x');
    writeFileSync(join(dir, 'cpu.stat'), 'usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n');
    writeFileSync(join(dir, 'memory.current'), '1000\n');
    writeFileSync(join(dir, 'memory.peak'), '5000\n');
    writeFileSync(join(dir, 'pids.current'), '3\n');
    writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n');
    expect(run.stats()).toEqual({ cpuNs: 123_456_000, memoryPeakBytes: 5000, memoryCurrentBytes: 1000, pidsCurrent: 3, oomKills: 1 });
  });

  it('kills through cgroup.kill and removes the cgroup', async () => {
    const driver = new CgroupV2Driver({ root });
    const run = await driver.create('slot-2/y', { memoryBytes: 1 << 30, pids: 5 });
    const dir = join(root, 'runcell', 'slot-2', 'y');
    // A "process" the kernel would remove once killed: the test plays the kernel.
    writeFileSync(join(dir, 'cgroup.procs'), '999999\n');
    writeFileSync(join(dir, 'cgroup.kill'), '');
    const killing = run.killAll();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(readFileSync(join(dir, 'cgroup.kill'), 'utf8')).toBe('1');
    writeFileSync(join(dir, 'cgroup.procs'), '');
    await killing;
    // A real cgroup directory holds only kernel files; the fake one must be emptied to rmdir.
    for (const f of ['cgroup.procs', 'cgroup.kill', 'memory.max', 'memory.swap.max', 'pids.max']) rmSync(join(dir, f), { force: true });
    await run.destroy();
    expect(existsSync(dir)).toBe(false);
    // The slot's parent stays for the next run; removeParentIfEmpty clears the (fake, so emptied by hand) tree.
    expect(driver.list()).toEqual([]);
    for (const level of [join(root, 'runcell', 'slot-2'), join(root, 'runcell')]) rmSync(join(level, 'cgroup.subtree_control'));
    driver.removeParentIfEmpty();
    expect(existsSync(join(root, 'runcell'))).toBe(false);
  });

  it('spares the launcher by freezing instead of cgroup.kill', async () => {
    const driver = new CgroupV2Driver({ root });
    const run = await driver.create('slot-3/z', { memoryBytes: 1 << 30, pids: 5 });
    const dir = join(root, 'runcell', 'slot-3', 'z');
    // The spared launcher (this process) and a job process (a pid that no longer exists).
    writeFileSync(join(dir, 'cgroup.procs'), `${process.pid}\n999999\n`);
    writeFileSync(join(dir, 'cgroup.kill'), '');
    const killing = run.killAll(process.pid);
    await new Promise((resolve) => setTimeout(resolve, 20));
    writeFileSync(join(dir, 'cgroup.procs'), `${process.pid}\n`);
    await killing;
    expect(readFileSync(join(dir, 'cgroup.kill'), 'utf8')).toBe('');
    // Frozen for the kill, thawed after.
    expect(readFileSync(join(dir, 'cgroup.freeze'), 'utf8')).toBe('0');
  });
});
