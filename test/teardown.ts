/**
 * Around the whole suite. Before: claim the suite's deployment (its data
 * dir, cgroup parent and slot uids, test/deployment.json unless set), so
 * that it refuses to run on what a live deployment of this host owns, and
 * no other deployment starts on the suite's. After: remove runcell's parent
 * cgroups (kept between runs for speed) once no run uses them, as a worker
 * does when it stops, and let the claim go.
 */
import { loadConfig } from '../cli/config.js';
import { detectCgroupDriver } from '../sandbox/cgroup.js';
import { claimDeployment, type DeploymentClaim } from '../sandbox/deployment.js';

const config = loadConfig();
let claim: DeploymentClaim | undefined;

export function setup(): void {
  const result = claimDeployment({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, uidBase: config.uidBase, slots: config.slots });
  if (!result.ok) throw new Error(`the test suite's deployment: ${result.message}`);
  claim = result.claim;
}

export function teardown(): void {
  detectCgroupDriver({ parentName: config.cgroupParent }).removeParentIfEmpty();
  claim?.release();
}
