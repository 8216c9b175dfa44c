/**
 * npm run bench:soak [-- --minutes M | --seconds S] [--concurrency C] [--clients K] [--interval S]
 *
 * Soak: the real service (`runcell api` and `runcell worker` as separate
 * processes, on a private redis-server) at saturation for M minutes (default
 * 10) with a mix of jobs: ok programs (Python, C), OOM, CPU time limit, fork
 * bombs, output floods, wall time limit, compile errors. K clients (default
 * 2 x C) each submit a job with ?wait and check its result, again and again.
 *
 * Prints every S seconds (default 10): jobs/s, statuses, the worker's RSS and
 * open fds, cgroups present. At the end prints the totals and checks:
 * no job lost, failed or with an unexpected status; the worker's RSS and fd
 * count flat (first minute vs last minute; halves for runs under 2 minutes; memory judged
 * only in runs of a minute or more);
 * no cgroup left. Exits 1 when a check fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadConfig } from '../cli/config.js';
import { EmbeddedRedis } from '../queue/embedded-redis.js';
import { detectCgroupDriver } from '../sandbox/cgroup.js';

/** Memory growth is judged only in runs at least this long; shorter ones (the suite's tiny run) print it. */
const MEMORY_JUDGED_MS = 60_000;

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    seconds: { type: 'string' },
    concurrency: { type: 'string', default: String(cpus().length) },
    clients: { type: 'string' },
    interval: { type: 'string', default: '10' },
  },
});
const DURATION_MS = (values.seconds ? Number(values.seconds) : Number(values.minutes) * 60) * 1000;
const CONCURRENCY = Number(values.concurrency);
const CLIENTS = Number(values.clients ?? 2 * CONCURRENCY);
const INTERVAL_MS = Number(values.interval) * 1000;
const BIN = join(import.meta.dirname, '..', 'bin', 'runcell.js');
const MiB = 1024 * 1024;

interface JobKind {
  name: string;
  body: Record<string, unknown>;
  /** The run's statuses that are right for this program (or the compile step's, when `compileFails`). */
  expected: string[];
  compileFails?: boolean;
}

const shell = (script: string, limits: Record<string, number> = {}) => ({ command: ['/bin/sh', '-c', script], limits });

/** The mix, drawn in turn: every kind as often as the others. */
const KINDS: JobKind[] = [
  { name: 'ok-python', body: { language: 'python3', files: [{ path: 'main.py', content: 'print(sum(range(10**5)))' }] }, expected: ['ok'] },
  { name: 'ok-c', body: { language: 'c', files: [{ path: 'main.c', content: '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }' }] }, expected: ['ok'] },
  {
    name: 'oom',
    body: { language: 'python3', files: [{ path: 'main.py', content: 'a = bytearray(96 << 20)' }], limits: { memory_bytes: 32 * MiB } },
    expected: ['memory_limit'],
  },
  { name: 'tle', body: shell('while :; do :; done', { cpu_ms: 200, wall_ms: 10_000 }), expected: ['time_limit'] },
  {
    name: 'fork-bomb',
    body: { language: 'c', files: [{ path: 'main.c', content: '#include <unistd.h>\nint main(void) { for (;;) fork(); }' }], limits: { pids: 32, cpu_ms: 500, wall_ms: 1000 } },
    expected: ['time_limit', 'wall_time_limit'],
  },
  { name: 'flood', body: shell('yes', { output_bytes: MiB }), expected: ['output_limit'] },
  { name: 'sleep', body: shell('sleep 30', { wall_ms: 300 }), expected: ['wall_time_limit'] },
  { name: 'compile-error', body: { language: 'c', files: [{ path: 'main.c', content: 'int main(void) { return undeclared; }' }] }, expected: ['nonzero_exit'], compileFails: true },
];

interface Sample {
  at: number;
  rssBytes: number;
  /** JS heap and buffers still held after a full collection. */
  heldBytes: number;
  fds: number;
  cgroups: number;
}

const stats = {
  submitted: 0,
  ended: 0,
  byStatus: new Map<string, number>(),
  failed: [] as string[],
  unexpected: [] as string[],
  rejected: 0,
};

function count(status: string): void {
  stats.byStatus.set(status, (stats.byStatus.get(status) ?? 0) + 1);
}

async function startProcess(args: string[], env: Record<string, string>, ready: RegExp, nodeArgs: string[] = []): Promise<{ child: ChildProcess; output: () => string }> {
  let out = '';
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], { env: { ...process.env, RUNCELL_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (chunk) => (out += chunk));
  child.stderr!.on('data', (chunk) => (out += chunk));
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (ready.test(out)) {
        clearInterval(timer);
        resolve();
      }
    }, 50);
    child.once('exit', (code) => {
      clearInterval(timer);
      reject(new Error(`runcell ${args[0]} exited with ${code}: ${out}`));
    });
  });
  return { child, output: () => out };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Asks the worker's memory probe for a full collection and what survives it. */
async function heldAfterGc(worker: { child: ChildProcess; output: () => string }): Promise<number> {
  const seen = worker.output().length;
  worker.child.kill('SIGUSR2');
  for (let i = 0; i < 100; i++) {
    const match = /memory-probe heapUsed=(\d+) external=(\d+)/.exec(worker.output().slice(seen));
    if (match) return Number(match[1]) + Number(match[2]);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the worker did not answer its memory probe');
}

async function sample(worker: { child: ChildProcess; output: () => string }, cgroupParent: string): Promise<Sample> {
  const workerPid = worker.child.pid!;
  const heldBytes = await heldAfterGc(worker);
  const status = readFileSync(`/proc/${workerPid}/status`, 'utf8');
  return {
    at: performance.now(),
    heldBytes,
    rssBytes: Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024,
    fds: readdirSync(`/proc/${workerPid}/fd`).length,
    cgroups: detectCgroupDriver({ parentName: cgroupParent }).list().length,
  };
}

/** One job through the API: submit with ?wait, poll if it has not ended by then, check the result. */
async function oneJob(api: string, kind: JobKind): Promise<void> {
  stats.submitted++;
  const response = await fetch(`${api}/v1/jobs?wait=60`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(kind.body) });
  let job = (await response.json()) as { id: string; status: string; reason?: string; result?: { compile?: { status: string }; run: { status: string } | null } };
  if (response.status !== 200 && response.status !== 202) {
    stats.rejected++;
    stats.failed.push(`${kind.name}: HTTP ${response.status} ${JSON.stringify(job)}`);
    return;
  }
  while (!['completed', 'failed', 'cancelled'].includes(job.status)) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    job = (await (await fetch(`${api}/v1/jobs/${job.id}`)).json()) as typeof job;
  }
  stats.ended++;
  if (job.status !== 'completed') {
    count(`job ${job.status}`);
    stats.failed.push(`${kind.name} ${job.id}: ${job.status} (${job.reason})`);
    return;
  }
  const step = kind.compileFails ? job.result!.compile! : job.result!.run!;
  count(`${kind.name}:${step.status}`);
  if (!kind.expected.includes(step.status) || (kind.compileFails && job.result!.run !== null)) {
    stats.unexpected.push(`${kind.name} ${job.id}: ${step.status}`);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const redisDir = mkdtempSync(join(tmpdir(), 'runcell-soak-'));
  const redis = new EmbeddedRedis({ dir: redisDir });
  await redis.start();
  const env = { REDIS_URL: redis.url, RUNCELL_CONCURRENCY: String(CONCURRENCY), RUNCELL_MAX_BACKLOG: String(10 * CLIENTS) };
  const api = await startProcess(['api', '--port', '0'], env, /listening on http:\/\/\S+/);
  const apiUrl = /listening on (http:\/\/\S+)/.exec(api.output())![1];
  // The memory probe (scripts/memory-probe.mjs) collects garbage fully on each sample, so that the
  // figures show what the worker keeps, not what it has not collected yet.
  const probe = ['--expose-gc', '--import', join(import.meta.dirname, '..', 'scripts', 'memory-probe.mjs')];
  const worker = await startProcess(['worker'], { ...env, RUNCELL_LOG_LEVEL: 'error' }, /taking jobs/, probe);
  console.log(`soak: ${DURATION_MS / 1000} s, worker concurrency ${CONCURRENCY}, ${CLIENTS} clients, ${KINDS.length} kinds of job; data dir ${config.dataDir}, cgroup parent ${config.cgroupParent}`);

  const samples: Sample[] = [await sample(worker, config.cgroupParent)];
  const started = performance.now();
  const end = started + DURATION_MS;
  let lastEnded = 0;
  let lastPrint = started;
  const printer = setInterval(async () => {
    const s = await sample(worker, config.cgroupParent);
    const now = performance.now();
    samples.push(s);
    const rate = (stats.ended - lastEnded) / ((now - lastPrint) / 1000);
    lastEnded = stats.ended;
    lastPrint = now;
    const statuses = [...stats.byStatus].sort().map(([k, v]) => `${k}=${v}`).join(' ');
    console.log(
      `[${Math.round((now - started) / 1000)} s] ${rate.toFixed(1)} jobs/s, ${stats.ended} ended, ${stats.failed.length} failed, ${stats.unexpected.length} unexpected | worker RSS ${(s.rssBytes / MiB).toFixed(1)} MiB, held after GC ${(s.heldBytes / MiB).toFixed(1)} MiB, fds ${s.fds}, cgroups ${s.cgroups} | ${statuses}`,
    );
  }, INTERVAL_MS);

  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < end) {
        const kind = KINDS[next++ % KINDS.length];
        try {
          await oneJob(apiUrl, kind);
        } catch (error) {
          stats.failed.push(`${kind.name}: ${(error as Error).message}`);
        }
      }
    }),
  );
  clearInterval(printer);
  const elapsed = (performance.now() - started) / 1000;
  // Every run has ended: nothing of runcell may remain under its parent cgroup.
  const final = await sample(worker, config.cgroupParent);
  samples.push(final);

  const window = Math.min(60_000, (DURATION_MS / 2));
  const first = samples.filter((s) => s.at - started <= window);
  const last = samples.filter((s) => s.at >= started + elapsed * 1000 - window);
  const rssFirst = median(first.map((s) => s.rssBytes));
  const rssLast = median(last.map((s) => s.rssBytes));
  // What survives a collection moves in a band of a few MiB (buffers of the runs in flight): the last
  // window's median against the top of the first window's band.
  const heldFirst = Math.max(...first.map((s) => s.heldBytes));
  const heldLast = median(last.map((s) => s.heldBytes));
  const fdsFirst = Math.max(...first.map((s) => s.fds));
  const fdsLast = Math.max(...last.map((s) => s.fds));

  await stopProcess(worker.child);
  await stopProcess(api.child);
  await redis.stop();
  rmSync(redisDir, { recursive: true, force: true });

  const lost = stats.submitted - stats.ended - stats.rejected;
  const memoryJudged = elapsed * 1000 >= MEMORY_JUDGED_MS;
  const notJudged = memoryJudged ? '' : ` (not judged: a run under ${MEMORY_JUDGED_MS / 1000} s)`;
  const checks = [
    { what: 'no job lost', ok: lost === 0, figure: `${lost} lost of ${stats.submitted}` },
    { what: 'no job failed', ok: stats.failed.length === 0, figure: `${stats.failed.length} failed${stats.failed.length ? `: ${stats.failed.slice(0, 5).join('; ')}` : ''}` },
    { what: 'every status as expected', ok: stats.unexpected.length === 0, figure: `${stats.unexpected.length} unexpected${stats.unexpected.length ? `: ${stats.unexpected.slice(0, 5).join('; ')}` : ''}` },
    // Flat: within 10 % plus 16 MiB of where the first window was (garbage collection moves it about).
    // A run under MEMORY_JUDGED_MS cannot tell a leak from the JIT and heap warming up: its figures are printed, not judged.
    { what: 'worker RSS flat', ok: !memoryJudged || rssLast <= rssFirst * 1.1 + 16 * MiB, figure: `${(rssFirst / MiB).toFixed(1)} -> ${(rssLast / MiB).toFixed(1)} MiB (medians, first vs last ${window / 1000} s)${notJudged}` },
    { what: 'worker memory held after GC flat', ok: !memoryJudged || heldLast <= heldFirst + 8 * MiB, figure: `${(heldFirst / MiB).toFixed(1)} -> ${(heldLast / MiB).toFixed(1)} MiB (first window's max, last window's median)${notJudged}` },
    { what: 'worker fds flat', ok: fdsLast <= fdsFirst + 4, figure: `${fdsFirst} -> ${fdsLast} (max, first vs last ${window / 1000} s)` },
    { what: 'no cgroup left', ok: final.cgroups === 0, figure: `${final.cgroups} cgroups under ${config.cgroupParent}` },
  ];
  console.log(`\nsoak: ${stats.ended} jobs in ${elapsed.toFixed(0)} s = ${(stats.ended / elapsed).toFixed(1)} jobs/s`);
  console.log(`statuses: ${[...stats.byStatus].sort().map(([k, v]) => `${k}=${v}`).join(' ')}`);
  for (const check of checks) console.log(`${check.ok ? 'ok  ' : 'FAIL'} ${check.what}: ${check.figure}`);
  process.exitCode = checks.every((c) => c.ok) ? 0 : 1;
}

await main();
