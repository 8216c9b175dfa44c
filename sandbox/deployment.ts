/**
 * Deployments sharing a host. A deployment is a data directory, a cgroup
 * parent and a range of slot uids; its workers and `runcell serve` may run in
 * several processes. Two deployments must never share any of the three: a
 * worker's start-up sweep would remove the other's live runs (same cgroup
 * parent), their jobs would share host uids, or their slot locks would mix.
 *
 * Each process that uses a deployment records it in a registry on the host,
 * one file per claim in /run/runcell/deployments (root's, on a tmpfs: gone at
 * reboot with the processes it names). A claim is live while its process is:
 * the file names the pid and the process's start time (a reused pid does not
 * keep a dead claim alive). Write first, then check: of two claims racing, at
 * least the later one sees the other, and at worst both refuse (fail closed).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { UIDS_PER_SLOT } from './slots.js';

export const DEFAULT_REGISTRY_DIR = '/run/runcell/deployments';

export const DeploymentSchema = z.object({
  /** RUNCELL_DATA_DIR, symlink-free (the sandbox refuses any other). */
  dataDir: z.string().min(1),
  /** RUNCELL_CGROUP_PARENT. */
  cgroupParent: z.string().min(1),
  /** RUNCELL_UID_BASE and RUNCELL_SLOTS: the slot uids (companions included) are uidBase .. uidBase + UIDS_PER_SLOT * slots - 1. */
  uidBase: z.number().int(),
  slots: z.number().int().positive(),
});
export type Deployment = z.infer<typeof DeploymentSchema>;

const ClaimRecordSchema = DeploymentSchema.extend({
  pid: z.number().int().positive(),
  /** Field 22 of /proc/<pid>/stat: tells the claimant from a later process given the same pid. */
  startTime: z.string(),
});
type ClaimRecord = z.infer<typeof ClaimRecordSchema>;

export type ClaimConflict = 'data_dir_in_use' | 'cgroup_parent_in_use' | 'uid_range_in_use';

export type ClaimResult =
  | { ok: true; claim: DeploymentClaim }
  | { ok: false; code: ClaimConflict; holder: ClaimRecord; message: string };

export class DeploymentClaim {
  private released = false;
  private readonly onExit = () => this.release();

  constructor(private readonly path: string) {
    // A claim outlives no process: also dropped on a plain exit (a SIGKILL leaves a dead claim, ignored).
    process.once('exit', this.onExit);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    process.removeListener('exit', this.onExit);
    try {
      unlinkSync(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/**
 * Claims `deployment` for this process, or says which live deployment owns
 * its data directory, cgroup parent or uids, and what to set instead.
 */
export function claimDeployment(deployment: Deployment, registryDir = DEFAULT_REGISTRY_DIR): ClaimResult {
  mkdirSync(registryDir, { recursive: true, mode: 0o700 });
  const own: ClaimRecord = { ...DeploymentSchema.parse(deployment), pid: process.pid, startTime: startTimeOf(process.pid)! };
  const name = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const path = join(registryDir, `${name}.json`);
  // Whole or not at all: a reader takes an unreadable claim for a dead one.
  writeFileSync(join(registryDir, `${name}.tmp`), JSON.stringify(own), { mode: 0o600 });
  renameSync(join(registryDir, `${name}.tmp`), path);
  const others = liveClaims(registryDir, path);
  for (const other of others) {
    const code = conflict(own, other);
    if (!code) continue;
    unlinkSync(path);
    const freeUidBase = Math.max(...others.map((d) => d.uidBase + uidSpan(d)));
    return { ok: false, code, holder: other, message: describeConflict(code, own, other, { registryDir, freeUidBase }) };
  }
  return { ok: true, claim: new DeploymentClaim(path) };
}

/** The other claims whose process lives; dead ones are removed on the way. */
function liveClaims(registryDir: string, ownPath: string): ClaimRecord[] {
  const claims: ClaimRecord[] = [];
  for (const name of readdirSync(registryDir)) {
    const path = join(registryDir, name);
    if (path === ownPath || !name.endsWith('.json')) continue;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      // Released meanwhile.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    const record = ClaimRecordSchema.safeParse(safeJson(text));
    // Unreadable (claims are written whole) or its process gone: not a live claim.
    if (record.success && startTimeOf(record.data.pid) === record.data.startTime) claims.push(record.data);
    else removeDead(path);
  }
  return claims;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function removeDead(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** The start time of process `pid` (clock ticks since boot), undefined when it does not exist. */
function startTimeOf(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function sameDeployment(a: Deployment, b: Deployment): boolean {
  return a.dataDir === b.dataDir && a.cgroupParent === b.cgroupParent && a.uidBase === b.uidBase;
}

function conflict(own: Deployment, other: Deployment): ClaimConflict | undefined {
  // Workers of one deployment share it all (their slot counts may differ): that is no conflict.
  if (sameDeployment(own, other)) return undefined;
  if (own.dataDir === other.dataDir) return 'data_dir_in_use';
  if (own.cgroupParent === other.cgroupParent) return 'cgroup_parent_in_use';
  if (own.uidBase < other.uidBase + uidSpan(other) && other.uidBase < own.uidBase + uidSpan(own)) return 'uid_range_in_use';
  return undefined;
}

/** How many host uids a deployment's slots take: each slot's and its companion's (slots.ts). */
const uidSpan = (d: Deployment) => UIDS_PER_SLOT * d.slots;
const uids = (d: Deployment) => `${d.uidBase}-${d.uidBase + uidSpan(d) - 1}`;

function describeConflict(
  code: ClaimConflict,
  own: Deployment,
  other: ClaimRecord,
  { registryDir, freeUidBase }: { registryDir: string; freeUidBase: number },
): string {
  const holder =
    `another live runcell deployment (pid ${other.pid}: RUNCELL_DATA_DIR=${other.dataDir}, ` +
    `RUNCELL_CGROUP_PARENT=${other.cgroupParent}, RUNCELL_UID_BASE=${other.uidBase}, slot uids ${uids(other)}; ${registryDir})`;
  switch (code) {
    case 'data_dir_in_use':
      return (
        `RUNCELL_DATA_DIR=${own.dataDir} belongs to ${holder}: to add a worker to it, use its RUNCELL_CGROUP_PARENT and ` +
        `RUNCELL_UID_BASE; for a deployment of its own, give this one a data directory of its own`
      );
    case 'cgroup_parent_in_use':
      return (
        `RUNCELL_CGROUP_PARENT=${own.cgroupParent} belongs to ${holder}: its runs live there, and a sweep from here would kill them; ` +
        `set RUNCELL_CGROUP_PARENT to a name of its own for this deployment (e.g. ${own.cgroupParent}-2)`
      );
    case 'uid_range_in_use':
      return (
        `the slot uids ${uids(own)} (RUNCELL_UID_BASE=${own.uidBase}, RUNCELL_SLOTS=${own.slots}) overlap those of ${holder}: ` +
        `jobs of both would share host uids; set RUNCELL_UID_BASE to ${freeUidBase} or more ` +
        `(above every live deployment's slot uids)`
      );
  }
}
