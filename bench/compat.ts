/**
 * npm run bench:compat [-- --requests 200 --jobs 20 --rounds 3 --calls 20000]
 *
 * What the Judge0 and Piston layers cost per request, against the same job
 * through /v1 (a Python print; the Judge0 submission gives Judge0's default
 * limits, so the /v1 job is given the same cpu and wall limits):
 * 1. Admission: `runcell api` (no worker: nothing is run) on its own Redis;
 *    N sequential POST /v1/jobs against N POST /submissions (Judge0) and the
 *    same for GET of a queued job, alternating in rounds. The difference is
 *    the layer's cost: its checks, translation, the extra Redis key of a
 *    Judge0 submission and its rendering.
 * 2. End to end: `runcell serve` (a worker, one slot); M sequential jobs with
 *    wait through /v1/jobs?wait, Judge0 ?wait=true and Piston /execute,
 *    alternating. The difference is within the sandbox's noise.
 * 3. In process, no I/O: the translation functions alone, per call (µs).
 *    Piston's WebSocket is compared with the interactive-stdin job its init
 *    becomes, through /v1?wait.
 * Prints medians; the goal (issue 15) is under 1 ms per request.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { judge0Languages } from '../api/judge0/languages.js';
import { selectFields, submissionView, DEFAULT_FIELDS } from '../api/judge0/render.js';
import { checkSubmission, toJobRequest } from '../api/judge0/submission.js';
import { installedRuntimes } from '../api/piston/runtimes.js';
import { executeResponse, translateExecute } from '../api/piston/execute.js';
import type { JobRecord } from '../contract/job-record.js';
import { loadConfig } from '../cli/config.js';
import { EmbeddedRedis } from '../queue/embedded-redis.js';
import WebSocket from 'ws';
import { startProcess, stopProcess } from './processes.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '200' },
    jobs: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    calls: { type: 'string', default: '20000' },
  },
});
const REQUESTS = Number(values.requests);
const JOBS = Number(values.jobs);
const ROUNDS = Number(values.rounds);
const CALLS = Number(values.calls);

const SOURCE = 'print("hello")';
const V1 = { language: 'python3', files: [{ path: 'script.py', content: SOURCE }], limits: { cpu_ms: 6000, wall_ms: 10_000 } };
const JUDGE0 = { source_code: SOURCE, language_id: 71 };
const PISTON = { language: 'python', version: '*', files: [{ content: SOURCE }], stdin: '', args: [] };
/** The job Piston's request becomes: stdin ends in a newline (Piston adds it), runcell's default limits. */
const V1_AS_PISTON = { language: 'python3', files: [{ path: 'main.py', content: SOURCE }], stdin: '\n', args: [] };
/** The job Piston's WebSocket init becomes: interactive stdin (read through Redis), no stdin given. */
const V1_AS_PISTON_WS = { language: 'python3', files: [{ path: 'main.py', content: SOURCE }], interactive_stdin: true, args: [] };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const ms = (x: number) => `${x.toFixed(3)} ms`;

async function post(url: string, body: unknown, expected: number): Promise<any> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const parsed = await response.json();
  if (response.status !== expected) throw new Error(`${url}: ${response.status} ${JSON.stringify(parsed).slice(0, 300)}`);
  return parsed;
}

async function get(url: string): Promise<unknown> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

/** Milliseconds of each of `n` sequential calls of `once`. */
async function timed(n: number, once: (i: number) => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await once(i);
    times.push(performance.now() - t0);
  }
  return times;
}

type Sides = Record<string, number[]>;

/** Each side's calls, side after side within a round, rounds alternating the order: the machine's drift falls on all alike. */
async function alternate(sides: Record<string, (i: number) => Promise<unknown>>, n: number): Promise<Sides> {
  const names = Object.keys(sides);
  const out: Sides = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) out[name].push(...(await timed(Math.ceil(n / ROUNDS), sides[name])));
  }
  return out;
}

function table(title: string, sides: Sides, base: string): void {
  process.stdout.write(`\n${title}\n| path | requests | median | vs ${base} |\n|---|---|---|---|\n`);
  for (const [name, times] of Object.entries(sides)) {
    const extra = median(times) - median(sides[base]);
    process.stdout.write(`| ${name} | ${times.length} | ${ms(median(times))} | ${name === base ? '-' : `${extra >= 0 ? '+' : ''}${ms(extra)}`} |\n`);
  }
}

async function admission(redisUrl: string): Promise<void> {
  const { child, url } = await startProcess(['api', '--port', '0'], { REDIS_URL: redisUrl, RUNCELL_MAX_BACKLOG: '100000000' });
  try {
    // "listening" comes before the queue's connection: wait for it (GET /v1/languages answers 503 until then).
    for (let tries = 0; (await fetch(`${url}/v1/languages`)).status !== 200; tries++) {
      if (tries > 100) throw new Error('the API never reached Redis');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const v1Ids = [(await post(`${url}/v1/jobs`, V1, 202)).id as string];
    const tokens = [(await post(`${url}/submissions`, JUDGE0, 201)).token as string];
    const submit = await alternate(
      {
        'POST /v1/jobs': async () => v1Ids.push((await post(`${url}/v1/jobs`, V1, 202)).id),
        'POST /submissions (Judge0)': async () => tokens.push((await post(`${url}/submissions`, JUDGE0, 201)).token),
      },
      REQUESTS,
    );
    table('1. admission, no worker (submit only: checks, translation, Redis)', submit, 'POST /v1/jobs');
    const read = await alternate(
      {
        'GET /v1/jobs/:id': (i) => get(`${url}/v1/jobs/${v1Ids[i % v1Ids.length]}`),
        'GET /submissions/:token (Judge0)': (i) => get(`${url}/submissions/${tokens[i % tokens.length]}`),
      },
      REQUESTS,
    );
    table('   reading a queued job', read, 'GET /v1/jobs/:id');
  } finally {
    await stopProcess(child);
  }
}

async function endToEnd(redisUrl: string, dataDir: string): Promise<void> {
  const { child, url } = await startProcess(['serve', '--port', '0'], { REDIS_URL: redisUrl, RUNCELL_CONCURRENCY: '1', RUNCELL_DATA_DIR: dataDir });
  try {
    const v1Of = (body: unknown) => async () => {
      const job = await post(`${url}/v1/jobs?wait=30`, body, 200);
      if (job.result?.run?.stdout !== 'hello\n') throw new Error(`/v1: ${JSON.stringify(job).slice(0, 300)}`);
    };
    const [v1, v1AsPiston] = [v1Of(V1), v1Of(V1_AS_PISTON)];
    const judge0 = async () => {
      const s = await post(`${url}/submissions?wait=true`, JUDGE0, 201);
      if (s.stdout !== 'hello\n') throw new Error(`judge0: ${JSON.stringify(s).slice(0, 300)}`);
    };
    const piston = async () => {
      const r = await post(`${url}/api/v2/execute`, PISTON, 200);
      if (r.run?.stdout !== 'hello\n') throw new Error(`piston: ${JSON.stringify(r).slice(0, 300)}`);
    };
    const v1AsSocket = v1Of(V1_AS_PISTON_WS);
    const socket = () => pistonSocket(url);
    for (const warm of [v1, judge0, v1AsPiston, piston, v1AsSocket, socket, v1, judge0, v1AsPiston, piston, v1AsSocket, socket]) await warm();
    const sides = await alternate(
      {
        'POST /v1/jobs?wait': v1,
        'POST /submissions?wait=true (Judge0)': judge0,
        'POST /v1/jobs?wait (as Piston\'s job)': v1AsPiston,
        'POST /api/v2/execute (Piston)': piston,
        'POST /v1/jobs?wait (interactive, as the WebSocket\'s job)': v1AsSocket,
        'WebSocket /api/v2/connect (Piston)': socket,
      },
      JOBS,
    );
    const pick = (...names: string[]) => Object.fromEntries(names.map((name) => [name, sides[name]]));
    table('2. end to end, one worker slot (a sandbox run each)', pick('POST /v1/jobs?wait', 'POST /submissions?wait=true (Judge0)'), 'POST /v1/jobs?wait');
    table('   the same for Piston, against the job its request becomes', pick("POST /v1/jobs?wait (as Piston's job)", 'POST /api/v2/execute (Piston)'), "POST /v1/jobs?wait (as Piston's job)");
    table("   Piston's WebSocket (connect, init, live events, close 4999), against its job through /v1", pick("POST /v1/jobs?wait (interactive, as the WebSocket's job)", 'WebSocket /api/v2/connect (Piston)'), "POST /v1/jobs?wait (interactive, as the WebSocket's job)");
  } finally {
    await stopProcess(child);
  }
}

/** One program through Piston's WebSocket: connect, init, read until the server closes with 4999. */
async function pistonSocket(url: string): Promise<void> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/api/v2/connect`);
  let stdout = '';
  ws.on('message', (data) => {
    const message = JSON.parse(data.toString()) as { type: string; stream?: string; data?: string };
    if (message.type === 'data' && message.stream === 'stdout') stdout += message.data;
  });
  ws.on('open', () => ws.send(JSON.stringify({ type: 'init', ...PISTON })));
  const [code] = (await once(ws, 'close')) as [number];
  if (code !== 4999 || stdout !== 'hello\n') throw new Error(`websocket: closed ${code}, stdout ${JSON.stringify(stdout)}`);
}

/** The translations alone, per call, in this process. */
function inProcess(): void {
  const installed = { python3: '3.11.2', c: '12.2.0' };
  const languages = judge0Languages(installed);
  const runtimes = installedRuntimes(installed);
  const limits = loadConfig().limits;
  const run = { status: 'ok', exit_code: 0, signal: null, stdout: 'hello\n', stderr: '', stdout_truncated: false, stderr_truncated: false, cpu_ms: 10, wall_ms: 20, memory_peak_bytes: 4_000_000, oom_killed: false, message: null, error_code: null } as const;
  const job: JobRecord = { id: '00000000-0000-4000-8000-000000000000', status: 'completed', created_at: '', started_at: '', finished_at: '', queue_wait_ms: 1, request: { files: [], stdin_bytes: 0 }, result: { run } };
  const perCall = (fn: () => unknown) => {
    for (let i = 0; i < 1000; i++) fn();
    const t0 = performance.now();
    for (let i = 0; i < CALLS; i++) fn();
    return ((performance.now() - t0) / CALLS) * 1000;
  };
  const judge0 = perCall(() => {
    const checked = checkSubmission(JUDGE0, languages, false);
    if ('errors' in checked) throw new Error('refused');
    toJobRequest(checked);
    selectFields(submissionView(job, checked.stored, languages[0]), DEFAULT_FIELDS, false);
  });
  const piston = perCall(() => {
    const translated = translateExecute(PISTON, runtimes, limits);
    if ('message' in translated) throw new Error(translated.message);
    executeResponse(translated.runtime, job.result);
  });
  process.stdout.write(`\n3. translation alone, in process (${CALLS} calls): Judge0 check + translate + render ${judge0.toFixed(1)} µs/call; Piston ${piston.toFixed(1)} µs/call\n`);
}

async function main(): Promise<void> {
  const config = loadConfig();
  process.stdout.write(`bench:compat — ${REQUESTS} admission requests and ${JOBS} end-to-end jobs per path, ${ROUNDS} alternating rounds\n`);
  const dir = mkdtempSync(join(tmpdir(), 'runcell-bench-redis-'));
  const redis = new EmbeddedRedis({ dir });
  await redis.start();
  try {
    // serve first: its worker publishes the languages the API (and Judge0's language ids) go by.
    await endToEnd(redis.url, config.dataDir);
    await admission(redis.url);
  } finally {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  inProcess();
}

await main();
