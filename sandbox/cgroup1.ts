/**
 * cgroup v1 driver: one directory per run in each of the memory, pids,
 * cpuacct, freezer (and, for a CPU cap, cpu) hierarchies.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupDriver, CgroupLimits, CgroupOptions, CgroupStats, RunCgroup } from './cgroup-driver.js';
import { listRuns, parseKeyValues, parsePids, removeEmptyTree, tryRmdir, waitUntil } from './cgroup-driver.js';
import { FIXED_LIMITS } from './limits.js';

export interface CgroupV1Options extends CgroupOptions {
  /** Mount point of each controller's hierarchy, e.g. { memory: '/sys/fs/cgroup/memory' }. */
  mounts: Record<string, string>;
}

const CFS_PERIOD_US = 100_000;
const TCP_LIMIT = 'memory.kmem.tcp.limit_in_bytes';

export class CgroupV1Driver implements CgroupDriver {
  readonly version = 1 as const;
  private readonly mounts: Record<string, string>;
  private readonly parentName: string;

  constructor(options: CgroupV1Options) {
    this.mounts = options.mounts;
    this.parentName = options.parentName ?? 'runcell';
  }

  describe(): string {
    return `cgroup v1 (${Object.entries(this.mounts)
      .map(([c, m]) => `${c} at ${m}`)
      .join(', ')})`;
  }

  problems(): string[] {
    const problems = ['memory', 'pids', 'cpuacct', 'freezer'].filter((c) => !this.mounts[c]).map((c) => `cgroup v1 controller ${c} is not mounted`);
    if (this.mounts.memory && !existsSync(join(this.mounts.memory, TCP_LIMIT))) {
      problems.push(`cgroup v1 memory has no ${TCP_LIMIT} (booted with cgroup.memory=nokmem?): socket buffers would escape the memory limit`);
    }
    return problems;
  }

  /** Distinct hierarchies needed for a run (cpu and cpuacct are often co-mounted). */
  private hierarchies(withCpu: boolean): Map<string, string> {
    const wanted = ['memory', 'pids', 'cpuacct', 'freezer', ...(withCpu ? ['cpu'] : [])];
    const byMount = new Map<string, string>();
    for (const controller of wanted) {
      const mount = this.mounts[controller];
      if (!mount) throw new Error(`cgroup v1 controller ${controller} is not mounted`);
      if (![...byMount.values()].includes(mount)) byMount.set(controller, mount);
    }
    return byMount;
  }

  private dir(controller: string, name: string): string {
    return join(this.mounts[controller], this.parentName, name);
  }

  async create(name: string, limits: CgroupLimits): Promise<RunCgroup> {
    const hierarchies = this.hierarchies(limits.cpuQuota !== undefined);
    const dirs: string[] = [];
    try {
      // On the thread pool, side by side: cgroup v1 makes mkdir wait behind other cgroup operations.
      const wanted = [...hierarchies.values()].map((mount) => join(mount, this.parentName, name));
      const made = await Promise.allSettled(wanted.map((dir) => mkdir(dir, { recursive: true })));
      made.forEach((outcome, i) => outcome.status === 'fulfilled' && dirs.push(wanted[i]));
      const failed = made.find((outcome) => outcome.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      const memory = this.dir('memory', name);
      writeFileSync(join(memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      // Swap is excluded: cap memory+swap at the same figure when the kernel accounts swap...
      if (existsSync(join(memory, 'memory.memsw.limit_in_bytes'))) {
        writeFileSync(join(memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
      }
      // ...and keep the run's pages out of swap when it does not.
      tryWrite(join(memory, 'memory.swappiness'), '0');
      // Socket buffers (UDP's, and TCP's where a profile allows it) are charged to a v1 cgroup only once
      // this is written, and to a counter of their own: without it a job held 1.6 GiB of loopback buffers
      // under a 32 MiB limit. That counter comes on top of the memory limit, so it gets a small cap of its
      // own, the margin a v1 job has past its limit. Written before any process joins, so every socket of
      // the run is charged. Fail closed.
      writeFileSync(join(memory, TCP_LIMIT), String(Math.min(limits.memoryBytes, FIXED_LIMITS.v1SocketBufferBytes)));
      writeFileSync(join(this.dir('pids', name), 'pids.max'), String(limits.pids));
      if (limits.cpuQuota !== undefined) {
        const cpu = this.dir('cpu', name);
        writeFileSync(join(cpu, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
        writeFileSync(join(cpu, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(limits.cpuQuota * CFS_PERIOD_US))));
      }
    } catch (error) {
      for (const dir of dirs) await tryRmdir(dir);
      throw error;
    }
    return this.run(name, dirs);
  }

  private run(name: string, dirs: string[]): CgroupV1Run {
    const [memory, pids, cpuacct, freezer] = (['memory', 'pids', 'cpuacct', 'freezer'] as const).map((c) => this.dir(c, name));
    return new CgroupV1Run(name, dirs, { memory, pids, cpuacct, freezer });
  }

  list(): string[] {
    return listRuns(join(this.mounts.memory, this.parentName));
  }

  async remove(name: string): Promise<void> {
    const dirs = [...new Set(Object.values(this.mounts))].map((mount) => join(mount, this.parentName, name)).filter((dir) => existsSync(dir));
    if (dirs.length === 0) return;
    await this.run(name, dirs).destroy();
  }

  removeParentIfEmpty(): void {
    for (const mount of new Set(Object.values(this.mounts))) removeEmptyTree(join(mount, this.parentName));
  }
}

class CgroupV1Run implements RunCgroup {
  private destroyed = false;
  readonly procsFiles: string[];

  constructor(
    readonly name: string,
    private readonly dirs: string[],
    private readonly paths: { memory: string; pids: string; cpuacct: string; freezer: string },
  ) {
    this.procsFiles = dirs.map((dir) => join(dir, 'cgroup.procs'));
  }

  cpuNs(): number {
    return Number(readFileSync(join(this.paths.cpuacct, 'cpuacct.usage'), 'utf8'));
  }

  stats(): CgroupStats {
    const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8');
    // Socket buffers have a counter of their own on v1: the run's memory is both (v2 counts them in memory.current).
    const socketPeak = Number(read(this.paths.memory, 'memory.kmem.tcp.max_usage_in_bytes'));
    const socketCurrent = Number(read(this.paths.memory, 'memory.kmem.tcp.usage_in_bytes'));
    return {
      cpuNs: this.cpuNs(),
      memoryPeakBytes: Number(read(this.paths.memory, 'memory.max_usage_in_bytes')) + socketPeak,
      memoryCurrentBytes: Number(read(this.paths.memory, 'memory.usage_in_bytes')) + socketCurrent,
      pidsCurrent: Number(read(this.paths.pids, 'pids.current')),
      oomKills: parseKeyValues(read(this.paths.memory, 'memory.oom_control')).oom_kill ?? 0,
    };
  }

  pids(): number[] {
    try {
      return parsePids(readFileSync(join(this.paths.freezer, 'cgroup.procs'), 'utf8'));
    } catch {
      return [];
    }
  }

  /**
   * Freeze, kill, thaw: a frozen process cannot fork, so no child escapes
   * between reading the list and the kill.
   */
  async killAll(spare?: number): Promise<void> {
    const victims = () => this.pids().filter((pid) => pid !== spare);
    const state = join(this.paths.freezer, 'freezer.state');
    for (let attempt = 0; attempt < 50 && victims().length > 0; attempt++) {
      writeFileSync(state, 'FROZEN');
      await waitUntil(() => readFileSync(state, 'utf8').trim() === 'FROZEN', 200);
      for (const pid of victims()) killQuietly(pid);
      writeFileSync(state, 'THAWED');
      await waitUntil(() => victims().length === 0, 100);
    }
    if (victims().length > 0) throw new Error(`cgroup ${this.name}: processes survive SIGKILL`);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await this.killAll();
    // The kernel may take a moment to release an emptied cgroup.
    const removed = await Promise.all(this.dirs.map((dir) => waitUntil(() => tryRmdir(dir), 2000)));
    const stuck = this.dirs.filter((_, i) => !removed[i]);
    if (stuck.length > 0) throw new Error(`cannot remove cgroup ${stuck.join(', ')}`);
    this.destroyed = true;
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

function tryWrite(path: string, value: string): void {
  try {
    writeFileSync(path, value);
  } catch {
    /* optional knob */
  }
}

