/**
 * Sweeping up after a dead worker: the cgroups and workspace mounts of a
 * slot nobody holds any more, made from this data directory (another
 * deployment's runs in the same slot of a shared cgroup parent are not ours). Processes died with their worker (every
 * launcher has a parent-death signal), and any survivor dies with its
 * cgroup. Mounts are detached without following links; only the empty
 * mount-point directories runcell made are removed.
 */
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupDriver } from './cgroup.js';
import type { EgressNetwork } from './network.js';
import { unmount } from './mount.js';
import { ownedRunPrefix, slotName } from './slots.js';

export interface SweepReport {
  cgroups: string[];
  workspaces: string[];
  /** The slot's egress namespace, veth pair and conntrack entries (network.ts), when the deployment has egress. */
  network: string[];
  problems: string[];
}

export async function sweepSlot(options: { cgroups: CgroupDriver; dataDir: string; slot: number; network?: EgressNetwork }): Promise<SweepReport> {
  const report: SweepReport = { cgroups: [], workspaces: [], network: [], problems: [] };
  const name = slotName(options.slot);
  const owned = ownedRunPrefix(options.slot, options.dataDir);
  for (const run of options.cgroups.list().filter((n) => n.startsWith(owned))) {
    try {
      await options.cgroups.remove(run);
      report.cgroups.push(run);
    } catch (error) {
      report.problems.push(`cgroup ${run}: ${(error as Error).message}`);
    }
  }
  if (options.network) {
    try {
      // Named after this deployment's data directory: another deployment's are never touched.
      report.network.push(...(await options.network.removeSlot(options.slot)));
    } catch (error) {
      report.problems.push(`network of slot ${options.slot}: ${(error as Error).message}`);
    }
  }
  const workDir = join(options.dataDir, 'work');
  if (!existsSync(workDir)) return report;
  for (const id of readdirSync(workDir).filter((n) => n.startsWith(`${name}-`))) {
    const root = join(workDir, id);
    try {
      // Deepest first, in case something was mounted inside another mount.
      for (const mountPoint of mountsUnder(root).sort((a, b) => b.length - a.length)) await unmount(mountPoint);
      for (const entry of readdirSync(root)) rmdirSync(join(root, entry));
      rmdirSync(root);
      report.workspaces.push(id);
    } catch (error) {
      report.problems.push(`workspace ${id}: ${(error as Error).message}`);
    }
  }
  return report;
}

function mountsUnder(root: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mountPoint): mountPoint is string => !!mountPoint && (mountPoint === root || mountPoint.startsWith(`${root}/`)));
}
