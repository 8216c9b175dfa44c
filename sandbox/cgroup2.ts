/**
 * cgroup v2 driver: one directory per run under <root>/<parent>, with the
 * memory, pids and cpu controllers enabled on the parent. <root> is the
 * hierarchy's root, or the cgroup systemd delegated to runcell's unit
 * (Delegate=yes), or the root of runcell's own cgroup namespace (a container).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CgroupDriver, CgroupLimits, CgroupOptions, CgroupStats, RunCgroup } from './cgroup-driver.js';
import { V2_CONTROLLERS, listRuns, parseKeyValues, parsePids, removeEmptyTree, tryRmdir, waitUntil } from './cgroup-driver.js';
import { getXattr } from './libc.js';

/**
 * Where a delegated cgroup's own processes go: v2 lets a cgroup that enables
 * controllers for its children hold no process itself (but the root), so runcell
 * moves them into this leaf beside its parent cgroup.
 */
export const SUPERVISOR_LEAF = 'runcell-supervisor';

/** runcell's own cgroup v2 path ("0::/system.slice/x.service" -> "/system.slice/x.service"). */
export function ownCgroup(procSelfCgroup = readFileSync('/proc/self/cgroup', 'utf8')): string {
  const line = procSelfCgroup.split('\n').find((l) => l.startsWith('0::'));
  return line ? line.slice(3).replace(/ \(deleted\)$/, '') || '/' : '/';
}

/** systemd marks the cgroup of a unit with Delegate=yes (v251+; user.delegate for user managers, v254+). */
export function isDelegatedBySystemd(dir: string): boolean {
  return ['trusted.delegate', 'user.delegate'].some((name) => getXattr(dir, name)?.toString() === '1');
}

export interface V2Placement {
  /** The cgroup under which runcell makes its parent cgroup. */
  root: string;
  /** runcell's own cgroup ("/" at the host's root or in a container with its own cgroup namespace). */
  own: string;
  /** hierarchy-root: own is "/"; delegated: root is own's delegated unit cgroup; not-delegated: own is some cgroup nobody handed to runcell. */
  kind: 'hierarchy-root' | 'delegated' | 'not-delegated';
}

/**
 * Chooses the root of runcell's cgroups: the unit's cgroup when systemd delegated
 * it (also seen from the supervisor leaf runcell moved into), else the mount
 * point, as before (works for root on the host, but systemd does not know of it).
 */
export function placeV2(mountPoint: string, own = ownCgroup(), isDelegated = isDelegatedBySystemd): V2Placement {
  const base = basename(own) === SUPERVISOR_LEAF ? dirname(own) : own;
  if (base === '/') return { root: mountPoint, own, kind: 'hierarchy-root' };
  if (isDelegated(join(mountPoint, base))) return { root: join(mountPoint, base), own, kind: 'delegated' };
  return { root: mountPoint, own, kind: 'not-delegated' };
}

/**
 * Moves every process of `dir` into its supervisor leaf (runcell itself, and in a
 * unit or container whatever else runs there), so that `dir` may enable controllers.
 */
export function evacuate(dir: string): void {
  const leaf = join(dir, SUPERVISOR_LEAF);
  if (!existsSync(leaf)) mkdirSync(leaf);
  for (let round = 0; round < 10; round++) {
    const pids = parsePids(readFileSync(join(dir, 'cgroup.procs'), 'utf8'));
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        writeFileSync(join(leaf, 'cgroup.procs'), String(pid));
      } catch (error) {
        // ESRCH: it exited meanwhile; anything else is a real failure.
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    }
  }
  throw new Error(`cannot move the processes of ${dir} into ${leaf}: they keep coming`);
}

export interface CgroupV2Options extends CgroupOptions {
  /** Mount point of the unified hierarchy (or a delegated subtree of it). Default /sys/fs/cgroup. */
  root?: string;
}

const CPU_PERIOD_US = 100_000;

export class CgroupV2Driver implements CgroupDriver {
  readonly version = 2 as const;
  readonly root: string;
  private readonly parent: string;

  constructor(options: CgroupV2Options = {}) {
    this.root = options.root ?? '/sys/fs/cgroup';
    this.parent = join(this.root, options.parentName ?? 'runcell');
  }

  describe(): string {
    return `cgroup v2 at ${this.root}`;
  }

  problems(): string[] {
    let available: string[] = [];
    try {
      available = readFileSync(join(this.root, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
    } catch {
      return [`cannot read ${join(this.root, 'cgroup.controllers')}`];
    }
    return V2_CONTROLLERS.filter((c) => !available.includes(c)).map((c) => `cgroup v2 controller ${c} is not available at ${this.root}`);
  }

  /**
   * Makes runcell's parent and the slot's parent, with the controllers enabled
   * for the children of each level (v2 hands a controller down only when the
   * level above enables it). Neither holds a process, as v2 requires.
   */
  private ensureParents(slotParent: string): void {
    const enable = V2_CONTROLLERS.map((c) => `+${c}`).join(' ');
    for (const dir of [this.root, this.parent, join(this.parent, slotParent)]) {
      if (!existsSync(dir)) mkdirSync(dir);
      const file = join(dir, 'cgroup.subtree_control');
      const enabled = existsSync(file) ? readFileSync(file, 'utf8').trim().split(/\s+/) : [];
      if (V2_CONTROLLERS.every((c) => enabled.includes(c))) continue;
      try {
        writeFileSync(file, enable);
      } catch (error) {
        // EBUSY: processes in a delegated cgroup or a namespace's root (not the real root).
        if ((error as NodeJS.ErrnoException).code !== 'EBUSY' || dir !== this.root) throw error;
        evacuate(dir);
        writeFileSync(file, enable);
      }
    }
  }

  async create(name: string, limits: CgroupLimits): Promise<RunCgroup> {
    this.ensureParents(dirname(name));
    const dir = join(this.parent, name);
    await mkdir(dir);
    try {
      writeFileSync(join(dir, 'memory.max'), String(limits.memoryBytes));
      // Swap excluded: the job may not push its pages to swap to dodge the limit.
      // Without swap accounting the file is absent and there is no swap to exclude.
      try {
        writeFileSync(join(dir, 'memory.swap.max'), '0');
      } catch (error) {
        if (existsSync(join(dir, 'memory.swap.max'))) throw error;
      }
      // An OOM kill takes the whole run, not one process of it (a parent left waiting for its killed child,
      // a half-dead pipeline). The launcher is spared: it starts bubblewrap in this cgroup from outside
      // (clone3), or where it must join, it is exempt (oom_score_adj -1000; runcell-exec.c join_cgroups).
      writeFileSync(join(dir, 'memory.oom.group'), '1');
      writeFileSync(join(dir, 'pids.max'), String(limits.pids));
      if (limits.cpuQuota !== undefined) {
        const quota = Math.max(1000, Math.round(limits.cpuQuota * CPU_PERIOD_US));
        writeFileSync(join(dir, 'cpu.max'), `${quota} ${CPU_PERIOD_US}`);
      }
    } catch (error) {
      await tryRmdir(dir);
      throw error;
    }
    return new CgroupV2Run(name, dir);
  }

  list(): string[] {
    return listRuns(this.parent);
  }

  async remove(name: string): Promise<void> {
    const dir = join(this.parent, name);
    if (existsSync(dir)) await new CgroupV2Run(name, dir).destroy();
  }

  removeParentIfEmpty(): void {
    removeEmptyTree(this.parent);
  }
}

export class CgroupV2Run implements RunCgroup {
  private destroyed = false;
  readonly procsFiles: string[];

  constructor(
    readonly name: string,
    readonly dir: string,
  ) {
    this.procsFiles = [join(dir, 'cgroup.procs')];
  }

  private read(file: string): string {
    return readFileSync(join(this.dir, file), 'utf8');
  }

  cpuNs(): number {
    return (parseKeyValues(this.read('cpu.stat')).usage_usec ?? 0) * 1000;
  }

  stats(): CgroupStats {
    const current = Number(this.read('memory.current'));
    return {
      cpuNs: this.cpuNs(),
      // memory.peak appeared in Linux 5.19; before that the best figure is the current one.
      memoryPeakBytes: existsSync(join(this.dir, 'memory.peak')) ? Number(this.read('memory.peak')) : current,
      memoryCurrentBytes: current,
      pidsCurrent: Number(this.read('pids.current')),
      // pids.peak: recent kernels (Debian 12's 6.1 has it), absent on older ones.
      ...(existsSync(join(this.dir, 'pids.peak')) ? { pidsPeak: Number(this.read('pids.peak')) } : {}),
      oomKills: parseKeyValues(this.read('memory.events')).oom_kill ?? 0,
    };
  }

  pids(): number[] {
    try {
      return parsePids(this.read('cgroup.procs'));
    } catch {
      return [];
    }
  }

  /**
   * cgroup.kill (Linux 5.14+) kills the whole tree atomically; to spare one
   * process, or on older kernels: freeze, kill, thaw (a frozen process cannot fork).
   */
  async killAll(spare?: number): Promise<void> {
    const victims = () => this.pids().filter((pid) => pid !== spare);
    const current = this.pids();
    if (current.every((pid) => pid === spare)) return;
    // A launcher started outside the cgroup (clone3) is not in it: nothing to spare, cgroup.kill does.
    const spareInside = spare !== undefined && current.includes(spare);
    if (!spareInside && existsSync(join(this.dir, 'cgroup.kill'))) {
      writeFileSync(join(this.dir, 'cgroup.kill'), '1');
    } else {
      writeFileSync(join(this.dir, 'cgroup.freeze'), '1');
      for (const pid of victims()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      writeFileSync(join(this.dir, 'cgroup.freeze'), '0');
    }
    if (!(await waitUntil(() => victims().length === 0, 5000))) {
      throw new Error(`cgroup ${this.name}: processes survive SIGKILL`);
    }
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await this.killAll();
    if (!(await waitUntil(() => tryRmdir(this.dir), 2000))) throw new Error(`cannot remove cgroup ${this.dir}`);
    this.destroyed = true;
  }
}

export interface V2HostFacts {
  /** /proc/self/mountinfo */
  mountinfo: string;
  /** /proc/self/cgroup */
  procSelfCgroup: string;
  /** os.release() */
  kernel: string;
  isDelegated?: (dir: string) => boolean;
}

const CONTAINER_FIX =
  'in a container, give it its own cgroup namespace with a writable cgroup2 mount (podman run --cgroupns=private, the default on cgroup v2; ' +
  'docker run --cgroupns=private) on a host whose runtime delegates the controllers (docs/deploy.md); on a systemd host, run runcell as ' +
  'deploy/systemd/runcell-worker@.service (Delegate=yes)';

/**
 * What `runcell doctor` says of a cgroup v2 host: a problem with its fix when
 * runcell cannot make its cgroups there (a read-only hierarchy, controllers not
 * delegated to it), else where it makes them, with recommendations.
 * Undefined when runcell does not use cgroup v2 here.
 */
function cgroup2Mount(mountinfo: string): { mountPoint: string; options: string[]; superOptions: string[] } | undefined {
  const fields = mountinfo
    .split('\n')
    .map((line) => line.split(' - '))
    .find(([, right]) => right?.startsWith('cgroup2 '));
  if (!fields) return undefined;
  const left = fields[0].split(' ');
  const mountPoint = left[4].replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  return { mountPoint, options: (left[5] ?? '').split(','), superOptions: fields[1].split(' ')[2]?.split(',') ?? [] };
}

/**
 * `favordynmods` (Linux 6.0+) makes moving a process between cgroups skip a wait for the kernel's cgroup
 * lock (an RCU grace period), at a small cost to every fork and exit. It helps where runs' launchers join
 * their cgroups (no clone3(CLONE_INTO_CGROUP): a container's seccomp profile, kernels before 5.7); where
 * bubblewrap starts in its cgroup nothing moves, and it would only add that cost. The advice, or undefined.
 */
export function favordynmodsAdvice(mountinfo: string, kernel: string): string | undefined {
  const mount = cgroup2Mount(mountinfo);
  const [major] = kernel.split('.').map(Number);
  if (!mount || major < 6 || mount.superOptions.includes('favordynmods')) return undefined;
  return `recommended: mount -o remount,favordynmods ${mount.mountPoint} (each run's launcher joins its cgroup here: a move, which then skips a wait for the kernel's cgroup lock, at a small cost to fork and exit)`;
}

export function diagnoseV2(facts: V2HostFacts): { problem?: string; detail?: string } | undefined {
  const mount = cgroup2Mount(facts.mountinfo);
  if (!mount) return undefined;
  const mountPoint = mount.mountPoint;
  const placement = placeV2(mountPoint, ownCgroup(facts.procSelfCgroup), facts.isDelegated);
  const where = placement.own === '/' ? 'the root of its cgroup namespace' : `cgroup ${placement.own}`;
  if (mount.options.includes('ro')) {
    return { problem: `${mountPoint} is read-only to runcell (it is in ${where}, with no cgroup of its own to write): ${CONTAINER_FIX}` };
  }
  let controllers: string[] = [];
  try {
    controllers = readFileSync(join(placement.root, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
  } catch {
    return { problem: `cannot read ${join(placement.root, 'cgroup.controllers')}: ${CONTAINER_FIX}` };
  }
  const missing = V2_CONTROLLERS.filter((c) => !controllers.includes(c));
  if (missing.length > 0) {
    return { problem: `the ${missing.join(', ')} controller(s) are not delegated to ${placement.root} (runcell is in ${where}): ${CONTAINER_FIX}` };
  }
  const notes = [`runcell's cgroups go under ${placement.root}`];
  if (placement.kind === 'not-delegated') {
    notes.push(`runcell is in ${placement.own}, which systemd did not delegate to it: it works as root, beside systemd's slices; run it as runcell-worker@.service (Delegate=yes) so that systemd knows`);
  }
  return { detail: notes.join('; ') };
}
