/**
 * npm run bench:service [-- --seconds N --concurrency C --ingest-clients K --commands N --pools --ci-concurrency P]
 *
 * 1. Throughput: `runcell serve` in its own process (API, worker with
 *    concurrency C, embedded Redis); 2 x C clients (enough to keep the
 *    worker's C slots busy while answers travel) each submit a trivial job
 *    (/bin/true) with ?wait and wait for its result. Prints jobs/s and the
 *    p50/p95/p99 of submit-to-result latency.
 * 2. The same trivial runs straight through the sandbox (runJob in this
 *    process) at concurrency C, and the ratio. 1 and 2 alternate in rounds
 *    (N seconds each in all), while `runcell serve` stays up.
 * 3. Ingest: `runcell api` alone (no worker, so nothing is taken off the
 *    queue) on a fresh Redis; K clients submit as fast as they can for N
 *    seconds. Prints accepted submissions/s.
 * With --commands N: N trivial jobs through the same `runcell serve`, its
 *    embedded Redis watched with MONITOR meanwhile; prints the Redis commands
 *    per job by name, those sent by clients (round trips) apart from those
 *    scripts ran. Timers (heartbeats, lock renewals, stalled-job checks)
 *    fall in too, amortized over the jobs of that moment.
 * 4. With --pools [--ci-concurrency P]: I/O-bound jobs (`sleep 0.5`, a CI job
 *    waiting on the network or a disk) through `runcell serve` with the
 *    default single pool at concurrency C, then with RUNCELL_POOLS
 *    "judge:C,ci:P", alternating in the same rounds; prints jobs/s of each,
 *    the host's CPU use (from /proc/stat) and load average meanwhile.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadConfig } from '../cli/config.js';
import { verifiedRootfs } from '../rootfs/build.js';
import { Redis } from 'ioredis';
import { EmbeddedRedis } from '../queue/embedded-redis.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { SlotPool } from '../sandbox/slots.js';
import { runJob } from '../worker/job.js';
import { startProcess, stopProcess } from './processes.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: String(cpus().length) },
    clients: { type: 'string' },
    rounds: { type: 'string', default: '2' },
    'ingest-clients': { type: 'string', default: '32' },
    pools: { type: 'boolean', default: false },
    commands: { type: 'string', default: '0' },
    'ci-concurrency': { type: 'string', default: '8' },
    'sleep-ms': { type: 'string', default: '500' },
  },
});
const POOLS = values.pools;
const COMMAND_JOBS = Number(values.commands);
const CI_CONCURRENCY = Number(values['ci-concurrency']);
const SLEEP_SECONDS = Number(values['sleep-ms']) / 1000;
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const CLIENTS = Number(values.clients ?? 2 * CONCURRENCY);
const ROUNDS = Number(values.rounds);
const INGEST_CLIENTS = Number(values['ingest-clients']);
const TRIVIAL = JSON.stringify({ command: ['/bin/true'] });

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** Runs `once` in `clients` loops for SECONDS; answers latencies and completions/s. */
async function load(clients: number, once: () => Promise<boolean>, seconds = SECONDS): Promise<{ perSecond: number; latencies: number[]; failures: number }> {
  const latencies: number[] = [];
  let failures = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        if (await once()) latencies.push(performance.now() - t0);
        else failures++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / elapsed, latencies, failures };
}

interface ServiceFigures {
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  failures: number;
  client: string;
}

/** Each response is checked: a completed job whose run was ok counts; anything else is a failure. */
const WRK_CHECKED = `
wrk.method = "POST"
wrk.body = '${TRIVIAL}'
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0 end
function response(status, headers, body)
  if status == 200 and body:find('"status":"completed"', 1, true) and body:find('"run":{"status":"ok"', 1, true) then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  io.write(string.format("RESULT %d %d %.3f %.3f %.3f %.3f\\n", o, b, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
`;

async function wrkSubmitAndWait(url: string, seconds: number): Promise<ServiceFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'runcell-wrk-'));
  writeFileSync(join(dir, 'checked.lua'), WRK_CHECKED);
  const result = spawnSync('wrk', ['-t1', `-c${CLIENTS}`, `-d${seconds}s`, '--timeout', '60s', '-s', join(dir, 'checked.lua'), url], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  const match = /RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)/.exec(result.stdout);
  if (!match) throw new Error(`wrk said: ${result.stdout}${result.stderr}`);
  const [ok, bad, elapsed, p50, p95, p99] = match.slice(1).map(Number);
  return { perSecond: ok / elapsed, p50, p95, p99, failures: bad, client: 'wrk' };
}

/** Drives a running `runcell serve` for `seconds`. */
async function serviceRound(url: string, seconds: number): Promise<ServiceFigures> {
  if (wrkAvailable()) return wrkSubmitAndWait(`${url}/v1/jobs?wait=30`, seconds);
  const { perSecond, latencies, failures } = await load(CLIENTS, () => submitAndWait(url), seconds);
  return { perSecond, p50: percentile(latencies, 0.5), p95: percentile(latencies, 0.95), p99: percentile(latencies, 0.99), failures, client: 'node fetch' };
}

async function submitAndWait(url: string): Promise<boolean> {
  const response = await fetch(`${url}/v1/jobs?wait=30`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: TRIVIAL });
  const job = (await response.json()) as { status?: string; result?: { run?: { status: string } } };
  return response.status === 200 && job.status === 'completed' && job.result?.run?.status === 'ok';
}

/** The same trivial job straight through the sandbox, at the worker's concurrency, for `seconds`. */
async function directRound(sandbox: Sandbox, pool: SlotPool, seconds: number): Promise<number> {
  const once = async () => {
    const result = await pool.withSlot((slot) => runJob({ sandbox, slot }, { command: ['/bin/true'] }));
    return result.run?.status === 'ok';
  };
  return (await load(CONCURRENCY, once, seconds)).perSecond;
}

/** wrk (Debian package wrk), when installed, generates load without eating the API's CPU the way a Node client does. */
function wrkAvailable(): boolean {
  return spawnSync('wrk', ['--version']).error === undefined;
}

async function wrkPost(url: string, clients: number): Promise<{ perSecond: number; refused: number }> {
  const script = join(mkdtempSync(join(tmpdir(), 'runcell-wrk-')), 'post.lua');
  writeFileSync(script, `wrk.method = "POST"\nwrk.body = '${TRIVIAL}'\nwrk.headers["Content-Type"] = "application/json"\n`);
  const result = spawnSync('wrk', ['-t1', `-c${clients}`, `-d${SECONDS}s`, '-s', script, url], { encoding: 'utf8' });
  rmSync(dirname(script), { recursive: true, force: true });
  const total = Number(/(\d+) requests in/.exec(result.stdout)?.[1] ?? 0);
  const seconds = Number(/requests in ([\d.]+)s/.exec(result.stdout)?.[1] ?? SECONDS);
  const refused = Number(/Non-2xx or 3xx responses: (\d+)/.exec(result.stdout)?.[1] ?? 0);
  return { perSecond: (total - refused) / seconds, refused };
}

async function ingest(): Promise<{ perSecond: number; refused: number; client: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'runcell-bench-redis-'));
  const redis = new EmbeddedRedis({ dir });
  await redis.start();
  const { child, url } = await startProcess(['api', '--port', '0'], { REDIS_URL: redis.url, RUNCELL_MAX_BACKLOG: '100000000' });
  try {
    const submit = async () => (await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: TRIVIAL }).then((r) => r.arrayBuffer().then(() => r.status))) === 202;
    for (let i = 0; i < 50; i++) await submit();
    if (wrkAvailable()) return { ...(await wrkPost(`${url}/v1/jobs`, INGEST_CLIENTS)), client: 'wrk' };
    const { perSecond, failures } = await load(INGEST_CLIENTS, submit);
    return { perSecond, refused: failures, client: 'node fetch (apt-get install wrk for a lighter client)' };
  } finally {
    await stopProcess(child);
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface CommandCounts {
  jobs: number;
  /** Commands sent by clients (round trips, pipelined or not) per job, by name. */
  sent: Record<string, number>;
  /** Commands run by Lua scripts per job, by name. */
  scripted: Record<string, number>;
}

/** `jobs` trivial jobs through the service at `url`, every Redis command counted with MONITOR meanwhile. */
async function commandsPerJob(url: string, socket: string, jobs: number): Promise<CommandCounts> {
  const admin = new Redis({ path: socket });
  const monitor = await admin.monitor();
  const sent: Record<string, number> = {};
  const scripted: Record<string, number> = {};
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    const name = String(args[0]).toLowerCase();
    const tally = source.includes('lua') ? scripted : sent;
    tally[name] = (tally[name] ?? 0) + 1;
  });
  let left = jobs;
  await Promise.all(
    Array.from({ length: 2 * CONCURRENCY }, async () => {
      while (left-- > 0) await submitAndWait(url);
    }),
  );
  // MONITOR's last lines may trail the answers.
  await new Promise((resolve) => setTimeout(resolve, 200));
  monitor.disconnect();
  admin.disconnect();
  const perJob = (tally: Record<string, number>) => Object.fromEntries(Object.entries(tally).sort(([, a], [, b]) => b - a).map(([name, count]) => [name, count / jobs]));
  return { jobs, sent: perJob(sent), scripted: perJob(scripted) };
}

function showCommands(counts: CommandCounts): string {
  const total = (tally: Record<string, number>) => Object.values(tally).reduce((a, b) => a + b, 0);
  const list = (tally: Record<string, number>) => Object.entries(tally).map(([name, count]) => `${name} ${count.toFixed(2)}`).join(', ');
  return `redis commands per job (${counts.jobs} jobs): ${total(counts.sent).toFixed(1)} sent by clients (${list(counts.sent)}); ${total(counts.scripted).toFixed(1)} run by scripts (${list(counts.scripted)})\n`;
}

/** The host's busy CPU time and total CPU time so far (jiffies, all CPUs), from /proc/stat. */
function cpuTimes(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  // idle and iowait are not busy.
  return { busy: total - fields[3] - (fields[4] ?? 0), total };
}

interface IoFigures {
  perSecond: number;
  p50: number;
  failures: number;
  /** Fraction of the host's CPUs busy meanwhile (everything on the host, the clients too). */
  cpuBusy: number;
  load1: number;
}

/** I/O-bound jobs (sleep) through a fresh `runcell serve` with `env`, `clients` at a time, for `seconds`. */
async function ioRound(env: Record<string, string>, clients: number, seconds: number, dataDir: string): Promise<IoFigures> {
  const body = JSON.stringify({ command: ['/bin/sleep', String(SLEEP_SECONDS)] });
  const { child, url } = await startProcess(['serve', '--port', '0'], { RUNCELL_DATA_DIR: dataDir, ...env });
  try {
    const once = async () => {
      const response = await fetch(`${url}/v1/jobs?wait=60`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const job = (await response.json()) as { status?: string; result?: { run?: { status: string } } };
      return response.status === 200 && job.status === 'completed' && job.result?.run?.status === 'ok';
    };
    await once(); // warm-up
    const before = cpuTimes();
    const { perSecond, latencies, failures } = await load(clients, once, seconds);
    const after = cpuTimes();
    return { perSecond, p50: percentile(latencies, 0.5), failures, cpuBusy: (after.busy - before.busy) / (after.total - before.total), load1: loadavg()[0] };
  } finally {
    await stopProcess(child);
  }
}

/** The single default pool at CONCURRENCY against a ci pool of CI_CONCURRENCY, alternating. */
async function poolsComparison(dataDir: string): Promise<{ single: IoFigures[]; pooled: IoFigures[] }> {
  // Enough clients to keep the larger pool full while answers travel.
  const clients = 2 * Math.max(CONCURRENCY, CI_CONCURRENCY);
  const half = SECONDS / ROUNDS;
  const single: IoFigures[] = [];
  const pooled: IoFigures[] = [];
  const show = (f: IoFigures) => `${f.perSecond.toFixed(1)} jobs/s, p50 ${f.p50.toFixed(0)} ms, ${f.failures} failed, CPU ${(100 * f.cpuBusy).toFixed(0)} %, load ${f.load1.toFixed(2)}`;
  process.stdout.write(`pools: \`sleep ${SLEEP_SECONDS}\` command jobs, ${clients} HTTP clients, ${half} s each, alternating in ${ROUNDS} rounds\n`);
  for (let round = 0; round < ROUNDS; round++) {
    single.push(await ioRound({ RUNCELL_CONCURRENCY: String(CONCURRENCY) }, clients, half, dataDir));
    const pools = `judge:${CONCURRENCY},ci:${CI_CONCURRENCY}`;
    pooled.push(await ioRound({ RUNCELL_POOLS: pools, RUNCELL_SLOTS: String(Math.max(16, 2 * (CONCURRENCY + CI_CONCURRENCY))) }, clients, half, dataDir));
    process.stdout.write(`round ${round + 1}: one pool (concurrency ${CONCURRENCY}) ${show(single.at(-1)!)} | RUNCELL_POOLS=${pools} ${show(pooled.at(-1)!)}\n`);
  }
  return { single, pooled };
}

async function main() {
  const config = loadConfig();
  const half = SECONDS / ROUNDS;
  process.stdout.write(
    `bench:service — ${SECONDS} s each for the service and the direct sandbox, alternating in ${ROUNDS} rounds; worker concurrency ${CONCURRENCY}, ${CLIENTS} HTTP clients, ${cpus().length} CPUs\n`,
  );
  const { child, url } = await startProcess(['serve', '--port', '0'], { RUNCELL_CONCURRENCY: String(CONCURRENCY), RUNCELL_DATA_DIR: config.dataDir });
  const sandbox = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs: verifiedRootfs(config.dataDir, config.languages) });
  const pool = new SlotPool({ dataDir: config.dataDir });
  const rounds: { service: ServiceFigures; direct: number }[] = [];
  let commands: CommandCounts | undefined;
  try {
    for (let i = 0; i < 5; i++) await submitAndWait(url); // warm-up
    await directRound(sandbox, pool, 1);
    // Alternating, so that the machine's ups and downs fall on both sides alike.
    for (let round = 0; round < ROUNDS; round++) {
      const service = await serviceRound(url, half);
      const direct = await directRound(sandbox, pool, half);
      rounds.push({ service, direct });
      process.stdout.write(
        `round ${round + 1}: service (HTTP submit ?wait -> result, ${service.client}) ${service.perSecond.toFixed(1)} jobs/s, p50 ${service.p50.toFixed(1)} ms, p95 ${service.p95.toFixed(1)} ms, p99 ${service.p99.toFixed(1)} ms, ${service.failures} failed | direct runJob ${direct.toFixed(1)} runs/s | ratio ${(service.perSecond / direct).toFixed(2)}\n`,
      );
    }
    if (COMMAND_JOBS > 0) {
      commands = await commandsPerJob(url, join(config.dataDir, 'redis', 'redis.sock'), COMMAND_JOBS);
      process.stdout.write(showCommands(commands));
    }
  } finally {
    sandbox.close();
    await stopProcess(child);
  }
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const service = mean(rounds.map((r) => r.service.perSecond));
  const direct = mean(rounds.map((r) => r.direct));
  process.stdout.write(`service ${service.toFixed(1)} jobs/s, direct ${direct.toFixed(1)} runs/s, ratio service / direct: ${(service / direct).toFixed(2)}\n`);
  const pools = POOLS ? await poolsComparison(config.dataDir) : undefined;
  const io = pools && { single: mean(pools.single.map((f) => f.perSecond)), pooled: mean(pools.pooled.map((f) => f.perSecond)) };
  if (io) process.stdout.write(`pools: one pool ${io.single.toFixed(1)} jobs/s, ci pool of ${CI_CONCURRENCY} ${io.pooled.toFixed(1)} jobs/s (x${(io.pooled / io.single).toFixed(2)})\n`);
  const accepted = await ingest();
  process.stdout.write(`ingest (workers absent, ${INGEST_CLIENTS} clients, ${accepted.client}): ${accepted.perSecond.toFixed(0)} submissions/s accepted, ${accepted.refused} refused\n`);
  process.stdout.write(
    `${JSON.stringify({ bench: 'service', seconds: SECONDS, rounds, concurrency: CONCURRENCY, clients: CLIENTS, service_jobs_per_second: service, direct_runs_per_second: direct, ratio: service / direct, ingest_per_second: accepted.perSecond, ...(commands ? { redis_commands_per_job: commands } : {}), ...(pools ? { pools: { sleep_seconds: SLEEP_SECONDS, ci_concurrency: CI_CONCURRENCY, ...pools, single_jobs_per_second: io!.single, pooled_jobs_per_second: io!.pooled } } : {}) })}\n`,
  );
}

await main();
