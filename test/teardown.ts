/**
 * After the whole suite: remove runcell's parent cgroups (kept between runs
 * for speed) once no run uses them, as a worker does when it stops.
 */
import { detectCgroupDriver } from '../sandbox/cgroup.js';

export function teardown(): void {
  detectCgroupDriver().removeParentIfEmpty();
}
