/**
 * cgroups: the driver interface, and detection of which driver this host
 * needs. The v1 and v2 drivers live in cgroup1.ts and cgroup2.ts.
 */
import { readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { rmdir } from 'node:fs/promises';
import { CgroupV1Driver } from './cgroup1.js';
import { CgroupV2Driver, placeV2 } from './cgroup2.js';

export interface CgroupLimits {
  memoryBytes: number;
  pids: number;
  /** Optional CPU bandwidth cap, in CPUs (0.5 = half a core). Undefined = no cap. */
  cpuQuota?: number;
}

export interface CgroupStats {
  cpuNs: number;
  memoryPeakBytes: number;
  memoryCurrentBytes: number;
  pidsCurrent: number;
  /** Most processes at once (cgroup v2 with pids.peak only). */
  pidsPeak?: number;
  oomKills: number;
}

/** The cgroup of one run. */
export interface RunCgroup {
  readonly name: string;
  /** cgroup.procs files the launcher writes its pid into, one per hierarchy. */
  readonly procsFiles: string[];
  /** CPU time used so far, in nanoseconds (cheap: read on every poll). */
  cpuNs(): number;
  stats(): CgroupStats;
  pids(): number[];
  /**
   * Kills every process in the cgroup and waits until it is empty. `spare`
   * (runcell-exec launch, runcell's own child and the sandbox's subreaper)
   * is left to reap the rest and exit by itself, so that no zombie falls to
   * a host init that may never reap it.
   */
  killAll(spare?: number): Promise<void>;
  /** killAll, then removes the cgroup. Safe to call twice. */
  destroy(): Promise<void>;
}

export interface CgroupDriver {
  readonly version: 1 | 2;
  /** Human-readable description for `runcell doctor`. */
  describe(): string;
  /** Problems that make the driver unusable (missing controllers...), empty when fine. */
  problems(): string[];
  /** A run's cgroup `name` ("<slot parent>/<run>"), its slot parent created when missing. */
  create(name: string, limits: CgroupLimits): Promise<RunCgroup>;
  /** Names ("<slot parent>/<run>") of run cgroups that exist now (leftovers, when nothing runs). */
  list(): string[];
  /** Host pids in the run cgroup `name` (empty when it does not exist). */
  pidsOf(name: string): number[];
  /** Kills whatever is in the run cgroup `name` and removes it (a leftover of a dead worker). */
  remove(name: string): Promise<void>;
  /** Removes the slot parents and runcell's parent cgroup(s) where no run uses them. */
  removeParentIfEmpty(): void;
}

export interface CgroupOptions {
  /** Name of runcell's parent cgroup under each hierarchy root. Default "runcell". */
  parentName?: string;
}

interface Mount {
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** "<slot>/<run>" names of the run cgroups under `parent` (two levels of directories). */
export function listRuns(parent: string): string[] {
  const subdirs = (dir: string) => {
    try {
      return readdirSync(dir, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name);
    } catch {
      return [];
    }
  };
  return subdirs(parent).flatMap((slot) => subdirs(join(parent, slot)).map((run) => `${slot}/${run}`));
}

/** Removes the empty slot parents under `parent`, then `parent` itself if empty. */
export function removeEmptyTree(parent: string): void {
  const quietly = (dir: string) => {
    try {
      rmdirSync(dir);
    } catch {
      /* in use, or gone */
    }
  };
  try {
    for (const entry of readdirSync(parent, { withFileTypes: true })) if (entry.isDirectory()) quietly(join(parent, entry.name));
  } catch {
    return;
  }
  quietly(parent);
}

/** Parses /proc/self/mountinfo for cgroup and cgroup2 mounts. */
export function cgroupMounts(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): Mount[] {
  const mounts: Mount[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const [fsType, , superOptions] = right.split(' ');
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    mounts.push({ mountPoint: unescapeMountPath(fields[4]), fsType, superOptions: (superOptions ?? '').split(',') });
  }
  return mounts;
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export const V1_CONTROLLERS = ['memory', 'pids', 'cpuacct', 'cpu', 'freezer'] as const;
export const V2_CONTROLLERS = ['memory', 'pids', 'cpu'] as const;

/**
 * Picks the driver: v2 when a cgroup2 hierarchy offers memory, pids and cpu
 * (a modern host), else v1 when its controllers are mounted (a hybrid host
 * like this one). Throws with what is missing when neither works.
 */
export function detectCgroupDriver(options: CgroupOptions = {}): CgroupDriver {
  const mounts = cgroupMounts();
  const unified = mounts.find((m) => m.fsType === 'cgroup2');
  if (unified) {
    let available: string[] = [];
    try {
      available = readFileSync(`${unified.mountPoint}/cgroup.controllers`, 'utf8').trim().split(/\s+/);
    } catch {
      /* unreadable: treat as no controllers */
    }
    if (V2_CONTROLLERS.every((c) => available.includes(c))) {
      return new CgroupV2Driver({ root: placeV2(unified.mountPoint).root, ...options });
    }
  }
  const v1Mounts: Record<string, string> = {};
  for (const mount of mounts.filter((m) => m.fsType === 'cgroup')) {
    for (const controller of V1_CONTROLLERS) {
      if (mount.superOptions.includes(controller) && !v1Mounts[controller]) v1Mounts[controller] = mount.mountPoint;
    }
  }
  const missing = V1_CONTROLLERS.filter((c) => c !== 'cpu' && !v1Mounts[c]);
  if (missing.length === 0) return new CgroupV1Driver({ mounts: v1Mounts, ...options });
  throw new Error(
    unified
      ? `no usable cgroups: the cgroup2 hierarchy at ${unified.mountPoint} lacks memory, pids or cpu, and cgroup v1 lacks ${missing.join(', ')}`
      : `no usable cgroups: cgroup v1 controllers missing: ${missing.join(', ')} (mount them, or boot with cgroup v2)`,
  );
}

/** Polls `check` every few milliseconds until it is true or `timeoutMs` passes. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 20);
  }
  return true;
}

/**
 * rmdir that answers whether the directory is gone; on the thread pool, since
 * cgroup v1 makes it wait for other cgroup operations.
 */
export async function tryRmdir(dir: string): Promise<boolean> {
  try {
    await rmdir(dir);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

export function parsePids(text: string): number[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(Number);
}

/** Reads "key value" lines (cpu.stat, memory.events, memory.oom_control). */
export function parseKeyValues(text: string): Record<string, number> {
  const values: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined) values[key] = Number(value);
  }
  return values;
}
