/**
 * npm run bench:fleet [-- --hosts H (0: the ceiling only)] [--jobs N] [--seconds S] [--clients K] [--shards 1,2]
 *
 * 1. One queue's ceiling on one Redis, the worker side stubbed out: K clients submit through JobQueue for
 *    S seconds (submissions accepted/s), then stub workers (BullMQ workers that only mark each job started
 *    and completed in the store) drain what was queued (jobs dispatched/s). Side by side with the same load
 *    spread over several Redis processes (one queue each: sharded by hash tag on a Cluster), to show what
 *    sharding buys here. Redis's own CPU (INFO cpu) says whether Redis or the client was the limit.
 * 2. The fleet of test/fleet-harness.ts on Sentinel: H worker hosts (network namespaces, veth pairs) and two
 *    API replicas; N trivial jobs, completed jobs/s across the hosts; then a steady load, the master
 *    SIGKILLed, the outage clients saw, and the accounting (lost, completed twice).
 * The machine is shared: compare figures within one run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { bullConnection, parseRedisUrl } from '../queue/connection.js';
import { JobQueue } from '../queue/queue.js';
import { JobStore, PREFIX, QUEUE_NAME } from '../queue/store.js';
import { account, Fleet, fleetJob, fleetSkipReason, Load, waitUntil } from '../test/fleet-harness.js';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '3' },
    jobs: { type: 'string', default: '120' },
    seconds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '32' },
    shards: { type: 'string', default: '1,2' },
  },
});
const HOSTS = Number(values.hosts);
const JOBS = Number(values.jobs);
const SECONDS = Number(values.seconds);
const CLIENTS = Number(values.clients);
const SHARDS = values.shards.split(',').map(Number);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function startRedis(): Promise<{ url: string; child: ChildProcess; admin: Redis }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], { stdio: 'ignore' });
  const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 50 });
  admin.on('error', () => undefined);
  await waitUntil(async () => (await admin.ping().catch(() => '')) === 'PONG', 10_000, 'redis-server');
  return { url: `redis://127.0.0.1:${port}`, child, admin };
}

/** Seconds of CPU redis-server has used. */
async function redisCpu(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return field('used_cpu_user') + field('used_cpu_sys');
}

interface Ceiling {
  shards: number;
  acceptedPerSecond: number;
  dispatchedPerSecond: number;
  /** Busiest Redis's CPU while submitting and while dispatching, as a share of one core. */
  redisCoreSubmit: number;
  redisCoreDispatch: number;
  /** Redis CPU per job (all shards), microseconds: submitting, dispatching (start, finish, BullMQ's moves). */
  redisMicrosSubmit: number;
  redisMicrosDispatch: number;
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

async function ceiling(shards: number): Promise<Ceiling> {
  const servers = await Promise.all(Array.from({ length: shards }, startRedis));
  const queues = servers.map((s) => new JobQueue({ redis: parseRedisUrl(s.url), maxBacklog: 10_000_000 }));
  try {
    await waitUntil(() => queues.every((q) => q.connected), 10_000, 'the queues to connect');
    // Submissions: K clients, each on the shard of its number (a fleet would pick by hash of the job id).
    let accepted = 0;
    const cpu0 = await Promise.all(servers.map((s) => redisCpu(s.admin)));
    const started = performance.now();
    const end = started + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, client) => {
        const queue = queues[client % shards];
        while (performance.now() < end) {
          await queue.submit([{ command: ['/bin/true'] }]);
          accepted++;
        }
      }),
    );
    const submitSeconds = (performance.now() - started) / 1000;
    const cpu1 = await Promise.all(servers.map((s) => redisCpu(s.admin)));
    // Dispatch: stub workers take every queued job, mark it started and completed, nothing else.
    const storeClients: Redis[] = [];
    const workers = servers.flatMap((s) => {
      const redis = parseRedisUrl(s.url);
      const client = new Redis(s.url, { maxRetriesPerRequest: null });
      client.on('error', () => undefined);
      storeClients.push(client);
      const store = new JobStore(client);
      return [0, 1].map(
        () =>
          new Worker(
            QUEUE_NAME,
            async (job, token) => {
              const owner = `stub:${token}`;
              await store.start(job.id!, 'stub', Date.now(), owner);
              await store.finish(job.id!, 'completed', { result: null }, Date.now(), owner);
            },
            { connection: bullConnection(redis, 'worker', 'stub'), prefix: PREFIX, concurrency: 50, autorun: false },
          ),
      );
    });
    const dispatchStarted = performance.now();
    for (const worker of workers) void worker.run();
    await waitUntil(async () => (await Promise.all(queues.map((q) => q.jobTotals()))).every((c) => c.waiting + c.active === 0), 600_000, 'the stub workers to drain the queues');
    const dispatchSeconds = (performance.now() - dispatchStarted) / 1000;
    const cpu2 = await Promise.all(servers.map((s) => redisCpu(s.admin)));
    await Promise.all(workers.map((w) => w.close()));
    for (const client of storeClients) client.disconnect();
    return {
      shards,
      acceptedPerSecond: accepted / submitSeconds,
      dispatchedPerSecond: accepted / dispatchSeconds,
      redisCoreSubmit: Math.max(...cpu1.map((c, i) => c - cpu0[i])) / submitSeconds,
      redisCoreDispatch: Math.max(...cpu2.map((c, i) => c - cpu1[i])) / dispatchSeconds,
      redisMicrosSubmit: (sum(cpu1) - sum(cpu0)) * 1e6 / accepted,
      redisMicrosDispatch: (sum(cpu2) - sum(cpu1)) * 1e6 / accepted,
    };
  } finally {
    await Promise.all(queues.map((q) => q.close()));
    for (const s of servers) {
      s.admin.disconnect();
      s.child.kill('SIGKILL');
    }
  }
}

interface FleetFigures {
  hosts: number;
  jobs: number;
  jobsPerSecond: number;
  outageMs: number;
  refused: number;
  slow: number;
  accepted: number;
  lost: number;
  endedTwice: number;
}

async function fleetRun(): Promise<FleetFigures> {
  const fleet = new Fleet(HOSTS);
  try {
    fleet.setUpNetwork();
    const sentinel = await fleet.startSentinel();
    for (const host of fleet.hosts) fleet.startHost(host, sentinel.url);
    const apis = [await fleet.startApi(sentinel.url, 'api-1'), await fleet.startApi(sentinel.url, 'api-2')];
    for (const api of apis) {
      await waitUntil(async () => ((await (await fetch(`${api}/readyz`)).json()) as { workers?: number }).workers === HOSTS, 180_000, 'every host seen');
    }
    // Throughput: N jobs in batches of 10, alternately to both replicas; completed jobs/s until the last ends.
    const started = performance.now();
    const submitted: { n: number; id: string }[] = [];
    for (let n = 0; n < JOBS; n += 10) {
      const batch = Array.from({ length: Math.min(10, JOBS - n) }, (_, i) => fleetJob(n + i));
      const response = await fetch(`${apis[(n / 10) % 2]}/v1/jobs/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jobs: batch }) });
      const body = (await response.json()) as { jobs: { id: string }[] };
      body.jobs.forEach((job, i) => submitted.push({ n: n + i, id: job.id }));
    }
    const throughput = await account(sentinel.url, submitted.map((s) => ({ ...s, api: '', sentAt: 0, endedAt: 0, status: 202 })), 600_000);
    const jobsPerSecond = throughput.completed / ((performance.now() - started) / 1000);
    // Failover: a steady load, the master SIGKILLed, served again for a while, then the accounting.
    const load = new Load(apis, 150);
    load.start();
    await waitUntil(() => load.accepted().length >= 5, 30_000, 'jobs accepted before the failover');
    const killedAt = performance.now();
    sentinel.master.child.kill('SIGKILL');
    await waitUntil(() => load.submissions.filter((s) => s.sentAt > killedAt && s.id !== undefined).length >= 10, 60_000, 'submissions accepted after the failover');
    await load.stop();
    const outage = load.outage(killedAt);
    const result = await account(sentinel.url, load.accepted(), 120_000);
    return {
      hosts: HOSTS,
      jobs: JOBS,
      jobsPerSecond,
      outageMs: outage.ms,
      refused: outage.refused,
      slow: outage.slow,
      accepted: result.accepted,
      lost: result.problems.length + (throughput.accepted - throughput.completed),
      endedTwice: result.endedTwice.length,
    };
  } catch (error) {
    console.error(fleet.logs());
    throw error;
  } finally {
    await fleet.destroy();
  }
}

async function main(): Promise<void> {
  const skip = fleetSkipReason();
  if (skip) throw new Error(`bench:fleet cannot run: ${skip}`);
  console.log(`One queue's ceiling, worker side stubbed (${CLIENTS} clients, ${SECONDS} s of submissions; a shared 2-core machine: compare rows of one run)`);
  console.log('(Redis CPU per job is what bounds a queue: one Redis core is 1,000,000 µs/s, so 1e6 / (µs per job) is the ceiling of one queue once the clients are not the limit.)');
  console.log('| Redis processes (shards) | submissions accepted/s | jobs dispatched/s | busiest Redis core, submitting | dispatching | Redis µs per submission | per dispatch | one-core ceiling, submissions/s | dispatches/s |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const shards of SHARDS) {
    const c = await ceiling(shards);
    console.log(
      `| ${c.shards} | ${c.acceptedPerSecond.toFixed(0)} | ${c.dispatchedPerSecond.toFixed(0)} | ${(c.redisCoreSubmit * 100).toFixed(0)} % | ${(c.redisCoreDispatch * 100).toFixed(0)} % | ` +
        `${c.redisMicrosSubmit.toFixed(0)} | ${c.redisMicrosDispatch.toFixed(0)} | ${(1e6 / c.redisMicrosSubmit).toFixed(0)} | ${(1e6 / c.redisMicrosDispatch).toFixed(0)} |`,
    );
  }
  if (HOSTS === 0) return; // --hosts 0: the ceiling only
  const f = await fleetRun();
  console.log(`\nFleet on Sentinel: ${f.hosts} worker hosts (network namespaces), 2 API replicas`);
  console.log('| jobs | completed jobs/s across hosts | failover outage (ms) | refused | slow | accepted during failover | lost | completed twice |');
  console.log('|---|---|---|---|---|---|---|---|');
  console.log(`| ${f.jobs} | ${f.jobsPerSecond.toFixed(1)} | ${f.outageMs} | ${f.refused} | ${f.slow} | ${f.accepted} | ${f.lost} | ${f.endedTwice} |`);
  if (f.lost > 0 || f.endedTwice > 0) process.exitCode = 1;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: Error) => {
    console.error(error.stack ?? error.message);
    process.exit(1);
  },
);
