/**
 * A fleet on one Redis behind Sentinel, with real processes: a master, a replica and three redis-sentinel
 * processes; three worker hosts (each a `runcell worker` in its own network namespace, data dir, cgroup
 * parent and uid range); two API replicas (`runcell api`, separate processes). Under a steady load the
 * master is SIGKILLed; every accepted job must complete exactly once. Then a host is cut off from Redis
 * mid-job (its job is retried elsewhere, its late result refused), and a host dies mid-load (its jobs
 * complete on the others). Rate limits are shared by the API replicas.
 *
 * The outage bound: Sentinel declares the master down after 1 s (down-after-milliseconds), elects and
 * promotes within about 2 s more; clients reconnect with a back-off of at most 2 s. Submissions refused or
 * slow for longer than OUTAGE_BOUND_MS (scaled by waitScale) fail the test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, parseRedisUrl } from '../queue/connection.js';
import { JobStore } from '../queue/store.js';
import { account, Fleet, fleetJob, fleetSkipReason, Load, pidsInParent, sleep, waitUntil, type HostHandle } from './fleet-harness.js';
import { waitScale } from './helpers.js';
import { http } from './service-helpers.js';

const skip = fleetSkipReason();
if (skip) console.warn(`fleet-sentinel tests skipped: ${skip}`);

export const OUTAGE_BOUND_MS = 10_000;

describe.skipIf(skip !== undefined)('a fleet on Redis Sentinel', () => {
  const fleet = new Fleet(3);
  let sentinel: Awaited<ReturnType<Fleet['startSentinel']>>;
  let apis: string[] = [];

  beforeAll(async () => {
    try {
      fleet.setUpNetwork();
      sentinel = await fleet.startSentinel();
    } catch (error) {
      console.error(fleet.logs());
      throw error;
    }
    apis = await fleet.startFleet(sentinel.url);
  }, 600_000);

  afterAll(async () => {
    await fleet.destroy();
  }, 120_000);

  it('API replicas share each client\'s rate limit through Redis', async () => {
    const limited = [await fleet.startApi(sentinel.url, 'api-limited-1', { RUNCELL_RATE_LIMIT: '6' }), await fleet.startApi(sentinel.url, 'api-limited-2', { RUNCELL_RATE_LIMIT: '6' })];
    const codes: number[] = [];
    for (let i = 0; i < 12; i++) codes.push((await http(`${limited[i % 2]}/v1/languages`, { headers: { authorization: 'Bearer fleet-client' } })).status);
    // Each replica alone would have let 6 through: together they let 6 through in all.
    expect(codes.filter((c) => c === 200)).toHaveLength(6);
    expect(codes.slice(6)).toEqual([429, 429, 429, 429, 429, 429]);
    // Another client has its own count.
    expect((await http(`${limited[0]}/v1/languages`, { headers: { authorization: 'Bearer other-client' } })).status).toBe(200);
  });

  it('the master killed under load: Sentinel promotes the replica, no accepted job is lost or completed twice', { timeout: 300_000 }, async () => {
    const load = new Load(apis, 150);
    load.start();
    await waitUntil(() => load.accepted().length >= 10, 30_000, 'ten jobs accepted before the failover');
    const killedAt = performance.now();
    sentinel.master.child.kill('SIGKILL');
    await waitUntil(() => fleet.sentinelMaster(sentinel.sentinelPorts[0]) === sentinel.replicaPort, 30_000, 'Sentinel to promote the replica');
    // The load goes on until clients have been served again for a while.
    await waitUntil(() => load.submissions.filter((s) => s.sentAt > killedAt && s.id !== undefined).length >= 15, 60_000, 'submissions accepted after the failover');
    await load.stop();
    const outage = load.outage(killedAt);
    const result = await account(sentinel.url, load.accepted(), 120_000);
    console.log(`sentinel failover: ${load.submissions.length} submitted, ${result.accepted} accepted, ${result.completed} completed, ${result.retried} retried; outage ${outage.ms} ms (${outage.refused} refused, ${outage.slow} slow)`);
    if (result.problems.length) console.error(fleet.logs());
    expect(result.problems).toEqual([]);
    expect(result.endedTwice).toEqual([]);
    expect(outage.ms).toBeLessThan(OUTAGE_BOUND_MS * waitScale);
    // The old master comes back as a replica of the new one (Sentinel reconfigures it): the fleet has a replica again.
    sentinel.master = fleet.redisServer(sentinel.masterPort, ['--replicaof', fleet.redisIp, String(sentinel.replicaPort), '--replica-announce-ip', fleet.redisIp]);
    await waitUntil(() => /connected_slaves:1/.test(fleet.cli(sentinel.replicaPort, 'info', 'replication')), 30_000, 'the old master to rejoin as a replica');
  });

  it('a host cut off from Redis mid-job: the job is retried on another host once, the cut host\'s late result is refused', { timeout: 300_000 }, async () => {
    const redis = connect(parseRedisUrl(sentinel.url), 'worker', 'fleet-test');
    redis.on('error', () => undefined);
    const store = new JobStore(redis);
    let cut: HostHandle | undefined;
    try {
      const submitted = await http(`${apis[0]}/v1/jobs`, { method: 'POST', json: fleetJob(9001, 6) });
      expect(submitted.status).toBe(202);
      const id = submitted.body.id as string;
      let firstWorker = '';
      await waitUntil(async () => (firstWorker = (await redis.hget(`{runcell}:job:${id}`, 'worker')) ?? '') !== '', 30_000, 'the job to start');
      cut = hostOf(fleet, firstWorker);
      fleet.cut(cut, true);
      // The cut host's lock expires; another host takes the job and completes it.
      await waitUntil(async () => (await store.get(id))?.status === 'completed', 60_000, 'the job to complete elsewhere');
      const record = await redis.hgetall(`{runcell}:job:${id}`);
      expect(record.worker).not.toBe(firstWorker);
      expect(record.attempts).toBe('2');
      fleet.cut(cut, false);
      // Back on the network, the cut host learns it lost the job: its run is stopped or its result refused.
      await waitUntil(() => fleet.log(cut!.worker!).split('\n').some((line) => line.includes(id) && /result refused|lost the lock/.test(line)), 90_000, 'the cut host to hear it lost the job');
      await sleep(1000);
      const events = await store.events(id);
      expect(events.filter((e) => e.type === 'started')).toHaveLength(2);
      expect(events.filter((e) => e.type === 'completed')).toHaveLength(1);
      // Only the second attempt's progress is recorded.
      expect(events.filter((e) => e.type === 'run_finished')).toHaveLength(1);
      expect((await store.get(id))?.result?.run?.stdout).toBe('fleet-9001\n');
      expect((await redis.hget(`{runcell}:job:${id}`, 'worker'))).toBe(record.worker);
      // And it takes jobs again: its heartbeat is fresh.
      await waitUntil(async () => (await store.liveWorkers(2000)).some((w) => w.includes(`-${cut!.worker!.child.pid}-`)), 60_000, 'the cut host to beat again');
    } finally {
      if (cut) fleet.cut(cut, false);
      redis.disconnect();
    }
  });

  it('a host SIGKILLed mid-load: its jobs complete on the other hosts', { timeout: 300_000 }, async () => {
    const load = new Load(apis, 250, 1);
    load.start();
    let victim: HostHandle | undefined;
    await waitUntil(() => (victim = fleet.hosts.find((h) => pidsInParent(h.cgroupParent).length > 0)) !== undefined, 60_000, 'a host running a sandbox');
    fleet.killHost(victim!);
    await sleep(3000);
    await load.stop();
    const result = await account(sentinel.url, load.accepted(), 120_000);
    console.log(`host killed: ${result.accepted} accepted, ${result.completed} completed, ${result.retried} retried on the other hosts`);
    if (result.problems.length) console.error(fleet.logs());
    expect(result.problems).toEqual([]);
    expect(result.endedTwice).toEqual([]);
    expect(result.retried).toBeGreaterThan(0);
  });
});

/** The host whose worker process recorded itself as `workerId` (<hostname>-<pid>-<random>). */
function hostOf(fleet: Fleet, workerId: string): HostHandle {
  const host = fleet.hosts.find((h) => workerId.includes(`-${h.worker?.child.pid}-`));
  if (!host) throw new Error(`no host runs worker ${workerId}`);
  return host;
}
