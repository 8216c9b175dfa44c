/**
 * After the whole suite: remove runcell's parent cgroups (kept between runs
 * for speed) once no run uses them, as a worker does when it stops.
 */
import { loadConfig } from '../cli/config.js';
import { detectCgroupDriver } from '../sandbox/cgroup.js';

const config = loadConfig();

export function teardown(): void {
  detectCgroupDriver({ parentName: config.cgroupParent }).removeParentIfEmpty();
}
