/**
 * cgroup v2 driver: one directory per run under <root>/<parent>, with the
 * memory, pids and cpu controllers enabled on the parent.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CgroupDriver, CgroupLimits, CgroupOptions, CgroupStats, RunCgroup } from './cgroup-driver.js';
import { V2_CONTROLLERS, listRuns, parseKeyValues, parsePids, removeEmptyTree, tryRmdir, waitUntil } from './cgroup-driver.js';

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
      if (!V2_CONTROLLERS.every((c) => enabled.includes(c))) writeFileSync(file, enable);
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
    if (victims().length === 0) return;
    if (spare === undefined && existsSync(join(this.dir, 'cgroup.kill'))) {
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
