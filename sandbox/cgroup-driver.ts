/**
 * cgroups: the driver interface both drivers implement, and what they share.
 * Detection (which driver this host needs) is in cgroup.ts, which imports the
 * drivers; the drivers import only this file, so no import goes in a circle.
 */
import { readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { rmdir } from 'node:fs/promises';

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
  /** Kills whatever is in the run cgroup `name` and removes it (a leftover of a dead worker). */
  remove(name: string): Promise<void>;
  /** Removes the slot parents and runcell's parent cgroup(s) where no run uses them. */
  removeParentIfEmpty(): void;
}

export interface CgroupOptions {
  /** Name of runcell's parent cgroup under each hierarchy root. Default "runcell". */
  parentName?: string;
}

/** Controllers a cgroup2 hierarchy must offer for the v2 driver. */
export const V2_CONTROLLERS = ['memory', 'pids', 'cpu'] as const;

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
