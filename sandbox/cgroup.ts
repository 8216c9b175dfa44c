/**
 * cgroups: detection of which driver this host needs. The interface is in
 * cgroup-driver.ts, the v1 and v2 drivers in cgroup1.ts and cgroup2.ts.
 */
import { readFileSync } from 'node:fs';
import { CgroupV1Driver } from './cgroup1.js';
import { CgroupV2Driver, placeV2 } from './cgroup2.js';
import { V2_CONTROLLERS, type CgroupDriver, type CgroupOptions } from './cgroup-driver.js';

export type { CgroupDriver, CgroupLimits, CgroupOptions, CgroupStats, RunCgroup } from './cgroup-driver.js';

interface Mount {
  mountPoint: string;
  fsType: string;
  superOptions: string[];
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

