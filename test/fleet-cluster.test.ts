/**
 * A fleet on a real Redis Cluster: three masters and three replicas on test-chosen ports, two worker hosts
 * (each a `runcell worker` in its own network namespace, data dir, cgroup parent and uid range) and two API
 * replicas. Every runcell key, BullMQ's included, carries the {runcell} hash tag: one slot. Under a steady
 * load the master of that slot is SIGKILLed; its replica takes over; every accepted job must complete
 * exactly once.
 *
 * The outage bound: cluster-node-timeout is 1 s; the replica is elected within about 2 s more; clients
 * learn the new slot map from their next error or their 2 s refresh. Submissions refused or slow for longer
 * than OUTAGE_BOUND_MS (scaled by waitScale) fail the test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { account, Fleet, fleetSkipReason, Load, waitUntil } from './fleet-harness.js';
import { waitScale } from './helpers.js';

const skip = fleetSkipReason();
if (skip) console.warn(`fleet-cluster tests skipped: ${skip}`);

const OUTAGE_BOUND_MS = 10_000;

describe.skipIf(skip !== undefined)('a fleet on Redis Cluster', () => {
  const fleet = new Fleet(2);
  let cluster: Awaited<ReturnType<Fleet['startCluster']>>;
  let apis: string[] = [];

  beforeAll(async () => {
    try {
      fleet.setUpNetwork();
      cluster = await fleet.startCluster();
    } catch (error) {
      console.error(fleet.logs());
      throw error;
    }
    apis = await fleet.startFleet(cluster.url);
  }, 600_000);

  afterAll(async () => {
    await fleet.destroy();
  }, 120_000);

  it('the master of the queue\'s slot killed under load: its replica takes over, no accepted job is lost or completed twice', { timeout: 300_000 }, async () => {
    const slot = Number(fleet.cli(cluster.ports[0], 'cluster', 'keyslot', '{runcell}').trim());
    const owner = fleet.slotOwner(cluster.ports[0], slot)!;
    const witness = cluster.ports.find((p) => p !== owner)!;
    const load = new Load(apis, 150);
    load.start();
    await waitUntil(() => load.accepted().length >= 10, 30_000, 'ten jobs accepted before the failover');
    const killedAt = performance.now();
    cluster.procs.get(owner)!.child.kill('SIGKILL');
    await waitUntil(() => {
      const now = fleet.slotOwner(witness, slot);
      return now !== undefined && now !== owner;
    }, 30_000, `a replica to take slot ${slot} over`);
    await waitUntil(() => load.submissions.filter((s) => s.sentAt > killedAt && s.id !== undefined).length >= 15, 60_000, 'submissions accepted after the failover');
    await load.stop();
    const outage = load.outage(killedAt);
    const result = await account(cluster.url, load.accepted(), 120_000);
    console.log(`cluster failover (slot ${slot}, master :${owner} killed): ${load.submissions.length} submitted, ${result.accepted} accepted, ${result.completed} completed, ${result.retried} retried; outage ${outage.ms} ms (${outage.refused} refused, ${outage.slow} slow)`);
    if (result.problems.length) console.error(fleet.logs());
    expect(result.problems).toEqual([]);
    expect(result.endedTwice).toEqual([]);
    expect(outage.ms).toBeLessThan(OUTAGE_BOUND_MS * waitScale);
  });
});
