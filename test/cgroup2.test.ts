/**
 * The cgroup v2 driver against a fake cgroup2 tree in a temporary directory
 * (this host has no v2 controllers). What the kernel would do is played by
 * the test: it fills in the files the kernel would create.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CgroupV2Driver, diagnoseV2, favordynmodsAdvice, ownCgroup, placeV2, SUPERVISOR_LEAF } from '../sandbox/cgroup2.js';

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
    expect(readFileSync(join(dir, 'memory.oom.group'), 'utf8')).toBe('1');
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
    // pids.peak where the kernel has it.
    writeFileSync(join(dir, 'pids.peak'), '7\n');
    expect(run.stats()).toMatchObject({ pidsCurrent: 3, pidsPeak: 7 });
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
    for (const f of ['cgroup.procs', 'cgroup.kill', 'memory.max', 'memory.swap.max', 'memory.oom.group', 'pids.max']) rmSync(join(dir, f), { force: true });
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

describe('killing a run whose launcher is outside its cgroup (started by clone3)', () => {
  it('uses cgroup.kill: the launcher to spare is not among the cgroup\'s processes', async () => {
    const driver = new CgroupV2Driver({ root });
    const run = await driver.create('slot-4/w', { memoryBytes: 1 << 30, pids: 5 });
    const dir = join(root, 'runcell', 'slot-4', 'w');
    writeFileSync(join(dir, 'cgroup.procs'), '999999\n');
    writeFileSync(join(dir, 'cgroup.kill'), '');
    const killing = run.killAll(process.pid);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(readFileSync(join(dir, 'cgroup.kill'), 'utf8')).toBe('1');
    writeFileSync(join(dir, 'cgroup.procs'), '');
    await killing;
    expect(existsSync(join(dir, 'cgroup.freeze'))).toBe(false);
  });
});

describe('where runcell puts its cgroups on a v2 host', () => {
  const delegated = (dirs: string[]) => (dir: string) => dirs.includes(dir);

  it('reads its own cgroup from /proc/self/cgroup', () => {
    expect(ownCgroup('0::/system.slice/runcell-worker@1.service\n')).toBe('/system.slice/runcell-worker@1.service');
    expect(ownCgroup('12:pids:/x\n0::/\n')).toBe('/');
    expect(ownCgroup('4:memory:/x\n')).toBe('/');
  });

  it('uses the unit cgroup systemd delegated, also once runcell moved into its supervisor leaf', () => {
    const unit = '/system.slice/runcell-worker@1.service';
    const isDelegated = delegated([join(root, unit)]);
    expect(placeV2(root, unit, isDelegated)).toEqual({ root: join(root, unit), own: unit, kind: 'delegated' });
    expect(placeV2(root, `${unit}/${SUPERVISOR_LEAF}`, isDelegated).root).toBe(join(root, unit));
  });

  it('uses the hierarchy root at "/" (the host, or a container with its own cgroup namespace), and when not delegated', () => {
    expect(placeV2(root, '/', delegated([]))).toEqual({ root, own: '/', kind: 'hierarchy-root' });
    expect(placeV2(root, '/user.slice/session-1.scope', delegated([])).kind).toBe('not-delegated');
  });
});

describe('doctor on a cgroup v2 host', () => {
  const mountinfo = (options: string, superOptions = 'rw,nsdelegate,memory_recursiveprot') =>
    `25 30 0:22 / /proc rw,nosuid - proc proc rw\n31 25 0:26 / ${root} ${options} shared:9 - cgroup2 cgroup2 ${superOptions}\n`;

  it('explains a container that shares the host\'s cgroup namespace: a read-only hierarchy, with the fix', () => {
    const verdict = diagnoseV2({ mountinfo: mountinfo('ro,nosuid,nodev,noexec'), procSelfCgroup: '0::/system.slice/docker-abc.scope\n', kernel: '6.1.0-28-amd64', isDelegated: () => false });
    expect(verdict?.problem).toMatch(/read-only to runcell \(it is in cgroup \/system.slice\/docker-abc.scope/);
    expect(verdict?.problem).toMatch(/--cgroupns=private/);
    expect(verdict?.problem).toMatch(/Delegate=yes/);
  });

  it('explains controllers not delegated to runcell\'s cgroup, with the fix', () => {
    writeFileSync(join(root, 'cgroup.controllers'), 'cpu io\n');
    const verdict = diagnoseV2({ mountinfo: mountinfo('rw,nosuid'), procSelfCgroup: '0::/\n', kernel: '6.1.0', isDelegated: () => false });
    expect(verdict?.problem).toBe(
      `the memory, pids controller(s) are not delegated to ${root} (runcell is in the root of its cgroup namespace): ` + verdict?.problem?.split('namespace): ')[1],
    );
    expect(verdict?.problem).toMatch(/podman run --cgroupns=private/);
  });

  it('says when systemd did not delegate runcell\'s cgroup', () => {
    const verdict = diagnoseV2({ procSelfCgroup: '0::/user.slice/session-1.scope\n', isDelegated: () => false, mountinfo: mountinfo('rw'), kernel: '6.1.0-28-amd64' });
    expect(verdict?.problem).toBeUndefined();
    expect(verdict?.detail).toMatch(/did not delegate/);
  });

  it('gives favordynmods advice on Linux 6.0 and later where the mount lacks it (doctor shows it when runs join their cgroups)', () => {
    expect(favordynmodsAdvice(mountinfo('rw'), '6.1.0-28-amd64')).toMatch(/mount -o remount,favordynmods/);
    expect(favordynmodsAdvice(mountinfo('rw'), '5.15.0')).toBeUndefined();
    expect(favordynmodsAdvice(mountinfo('rw', 'rw,nsdelegate,favordynmods'), '6.8.0')).toBeUndefined();
    expect(favordynmodsAdvice('25 30 0:22 / /proc rw - proc proc rw\n', '6.8.0')).toBeUndefined();
  });

  it('has nothing to say without a cgroup2 mount', () => {
    expect(diagnoseV2({ mountinfo: '25 30 0:22 / /proc rw - proc proc rw\n', procSelfCgroup: '0::/\n', kernel: '6.1.0' })).toBeUndefined();
  });
});
