/**
 * Sandbox slots: each concurrent run holds a slot, and each slot has a host
 * uid/gid of its own (uidBase + index), so that files, signals and rlimits
 * of two runs never mix. A slot is held across processes through a lock file
 * <dataDir>/slots/<index>.lock naming the holder's pid; a lock whose holder
 * has died is taken over. Each slot i also has a companion (index count + i,
 * its own uid) for an interactor running beside the job: the uids of a pool
 * are uidBase .. uidBase + 2 * count - 1 (UIDS_PER_SLOT).
 */
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface Slot {
  index: number;
  uid: number;
  gid: number;
}

export interface SlotPoolOptions {
  dataDir: string;
  /** Number of slots this host offers. Default 16. */
  count?: number;
  /** Host uid (and gid) of slot 0; slot i gets uidBase + i. Default 61000. */
  uidBase?: number;
}

export const DEFAULT_UID_BASE = 61_000;
/** Host uids a slot takes: its own and its companion's (SlotPool.companion). */
export const UIDS_PER_SLOT = 2;

/**
 * What a slot owns is named after it: its cgroup parent "slot-<i>" (each run a
 * child of it) and its workspaces "slot-<i>-<id>", so that what a dead worker
 * left in a slot can be found and removed.
 */
export function slotName(index: number): string {
  return `slot-${index}`;
}

/**
 * The name of a run's cgroup: "slot-<i>/<owner>-<run id>", where <owner> is a
 * tag of the data directory whose sandbox made it. Deployments must not share
 * a cgroup parent (sandbox/deployment.ts refuses it), but should one that did
 * not record itself share it anyway, its runs are still not ours to sweep.
 */
export function runCgroupName(slotIndex: number, dataDir: string, runId: string): string {
  return `${ownedRunPrefix(slotIndex, dataDir)}${runId}`;
}

/** What the names of the run cgroups of slot `slotIndex` made from `dataDir` start with. */
export function ownedRunPrefix(slotIndex: number, dataDir: string): string {
  const owner = createHash('sha256').update(dataDir).digest('hex').slice(0, 8);
  return `${slotName(slotIndex)}/${owner}-`;
}
export const DEFAULT_SLOT_COUNT = 16;

export class SlotPool {
  readonly count: number;
  readonly uidBase: number;
  private readonly dir: string;
  private readonly held = new Set<number>();

  constructor(options: SlotPoolOptions) {
    this.count = options.count ?? DEFAULT_SLOT_COUNT;
    this.uidBase = options.uidBase ?? DEFAULT_UID_BASE;
    if (!Number.isInteger(this.uidBase) || this.uidBase < 1000) throw new Error('the slot uid base must be an integer >= 1000');
    this.dir = join(options.dataDir, 'slots');
  }

  slot(index: number): Slot {
    return { index, uid: this.uidBase + index, gid: this.uidBase + index };
  }

  /**
   * The companion of `slot`: a second sandbox identity (index count + i, uid uidBase + count + i) held with
   * it, for a program that runs beside the job's own (an interactive problem's interactor). It needs no lock:
   * whoever holds slot i holds its companion, so a job never waits for a second slot (no deadlock at any
   * concurrency), and the two never share a uid, a cgroup or a workspace.
   */
  companion(slot: Slot): Slot {
    if (slot.index >= this.count) throw new Error(`slot ${slot.index} is itself a companion`);
    return this.slot(this.count + slot.index);
  }

  /** Takes a free slot; throws when all are busy. */
  acquire(): Slot {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (let index = 0; index < this.count; index++) {
      if (this.held.has(index)) continue;
      if (this.tryLock(index)) {
        this.held.add(index);
        return this.slot(index);
      }
    }
    throw new Error(`all ${this.count} sandbox slots are busy`);
  }

  /**
   * Takes slot `index` if nobody alive holds it (to clean up after a dead
   * holder); undefined when it is in use.
   */
  tryAcquire(index: number): Slot | undefined {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (this.held.has(index) || !this.tryLock(index)) return undefined;
    this.held.add(index);
    return this.slot(index);
  }

  release(slot: Slot): void {
    if (!this.held.delete(slot.index)) return;
    try {
      unlinkSync(this.lockPath(slot.index));
    } catch {
      /* already gone */
    }
  }

  /** Runs `work` in a slot and always gives the slot back. */
  async withSlot<T>(work: (slot: Slot) => Promise<T>): Promise<T> {
    const slot = this.acquire();
    try {
      return await work(slot);
    } finally {
      this.release(slot);
    }
  }

  private lockPath(index: number): string {
    return join(this.dir, `${index}.lock`);
  }

  private tryLock(index: number): boolean {
    const path = this.lockPath(index);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      if (!holderIsDead(path)) return false;
      try {
        unlinkSync(path);
      } catch {
        /* someone else took it over first */
      }
    }
    return false;
  }
}

function holderIsDead(path: string): boolean {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return false;
  }
  // Empty: its holder is between creating and writing it.
  if (text === '') return false;
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
