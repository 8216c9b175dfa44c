/**
 * npm run bench:judge [-- --tests 100 --rounds 3]
 *
 * One C++ a+b submission judged against N tests (one compile, then one
 * sandbox run per test), versus N direct sandbox runs of the same binary
 * (the same workspace, limits and stdin, no judging around them), measured
 * side by side in this process, alternating round by round. Also the same
 * submission without the compile cache (compiles) and with it (a hit), for
 * the compile's share of a judged job. Prints tests/s and per-test times.
 * Also the same a+b as an interactive problem (a C interactor hands the
 * solution the two numbers and checks its sum: two sandboxes per test,
 * joined by pipes, and with a relayed transcript), per test against the
 * plain judged test, in the same rounds, and with a testlib checker of the
 * interactor's output file after each test (three sandboxes per test).
 * And the same tests as a stored
 * problem (its files in a private redis-server, fetched into a worker's
 * problem cache, each test read from there when it runs) against the same
 * tests inline, whole jobs alternating round by round, plus the first job of
 * a cold cache; and the interactive a+b as a stored interactive problem (the
 * interactor from the package) against the same job inline.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadConfig } from '../cli/config.js';
import { CompileCache } from '../worker/compile-cache.js';
import { readMarker, verifiedRootfs } from '../rootfs/build.js';
import { resolveLimits } from '../sandbox/limits.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { SlotPool } from '../sandbox/slots.js';
import { runJob, type JobRequest } from '../worker/job.js';
import type { ProblemManifest } from '../contract/problem.js';
import { connect, parseRedisUrl } from '../queue/connection.js';
import { EmbeddedRedis } from '../queue/embedded-redis.js';
import { ProblemStore, revisionOwner } from '../queue/problems.js';
import { ProblemCache } from '../worker/problem-cache.js';
import { runProblemJob } from '../worker/problem-jobs.js';
import { toJobRequest } from '../worker/request.js';

const { values } = parseArgs({ options: { tests: { type: 'string', default: '100' }, rounds: { type: 'string', default: '3' } } });
const TESTS = Number(values.tests);
const ROUNDS = Number(values.rounds);

const config = loadConfig();
const rootfs = verifiedRootfs(config.dataDir, config.languages);
const marker = readMarker(rootfs);
const sandbox = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs });
const pool = new SlotPool({ dataDir: config.dataDir, count: config.slots, uidBase: config.uidBase });
const cacheDir = mkdtempSync(join(config.dataDir, 'bench-compile-cache-'));
const redisDir = mkdtempSync(join(tmpdir(), 'bench-judge-redis-'));
const cache = new CompileCache({ dir: cacheDir, maxBytes: 64 * 1024 * 1024, ttlSeconds: 3600, rootfsHash: marker.hash, versions: marker.languages });
// The key the worker itself computed for the submission's compile (command, flags, env, limits, seccomp profile),
// so that the direct runs below use exactly the binary the judged runs use, whatever the compile plan becomes.
let compileKey: string | undefined;
const workerKey = cache.key.bind(cache);
cache.key = (inputs) => (compileKey = workerKey(inputs));

// As contestants write it: the whole standard library in, iostream out.
const SOURCE = '#include <bits/stdc++.h>\nusing namespace std;\nint main(){ios::sync_with_stdio(false);long long a,b;cin>>a>>b;cout<<a+b<<"\\n";}\n';
const tests = Array.from({ length: TESTS }, (_, i) => ({ stdin: Buffer.from(`${i} ${i * 7}\n`), expected_stdout: `${i * 8}\n` }));
const request: JobRequest = { language: 'cpp', files: [{ path: 'main.cpp', content: Buffer.from(SOURCE) }], tests };

// The interactor (testlib protocol): hands over the input's two numbers, reads the sum, compares it with the
// answer, and writes the sum to its output file (testlib's tout, for a checker).
const INTERACTOR = `#include <stdio.h>
int main(int argc, char **argv) {
  FILE *in = fopen(argv[1], "r"), *out = fopen(argv[2], "w"), *answer = fopen(argv[3], "r");
  long a, b, expected, got;
  if (!in || !out || !answer || fscanf(in, "%ld %ld", &a, &b) != 2 || fscanf(answer, "%ld", &expected) != 1) return 3;
  printf("%ld %ld\\n", a, b);
  fflush(stdout);
  if (scanf("%ld", &got) != 1) return 2;
  fprintf(out, "%ld\\n", got);
  return got == expected ? 0 : 1;
}
`;
// A testlib checker of the interactor's output file: the sum it wrote against the answer.
const CHECKER = `#include <stdio.h>
int main(int argc, char **argv) {
  FILE *out = fopen(argv[2], "r"), *answer = fopen(argv[3], "r");
  long got, expected;
  if (!out || !answer || fscanf(answer, "%ld", &expected) != 1) return 3;
  return fscanf(out, "%ld", &got) == 1 && got == expected ? 0 : 1;
}
`;
const INTERACTOR_FILE = { path: 'interactor.c', content: Buffer.from(INTERACTOR) };
const interactiveRequest = (transcript: boolean, checker = false): JobRequest => ({
  ...request,
  interactor: { language: 'c', protocol: 'testlib', files: [INTERACTOR_FILE], ...(transcript ? { transcript_bytes: 4096 } : {}) },
  ...(checker ? { checker: { language: 'c', files: [{ path: 'checker.c', content: Buffer.from(CHECKER) }] } } : {}),
});

interface JudgedFigures {
  total: number;
  compile: number;
  perTest: number[];
  cached: boolean;
  /** The compile step's own figures (the original compile's on a cache hit). */
  compileCpuMs: number;
}

/** A whole judged job; the compile share is up to the compile step's end, each test's time is between test ends. */
async function judged(compileCache: CompileCache | undefined, job: JobRequest = request): Promise<JudgedFigures> {
  const start = performance.now();
  let last = start;
  let compile = 0;
  const perTest: number[] = [];
  const result = await pool.withSlot((slot) =>
    runJob(
      {
        sandbox,
        slot,
        companion: pool.companion(slot),
        compileCache,
        onStep: (step) => {
          // The last compile step (the interactor's, when there is one) ends the compile share.
          if (step !== 'compile' && step !== 'interactor_compile') return;
          last = performance.now();
          compile = last - start;
        },
        onTest: () => {
          const now = performance.now();
          perTest.push(now - last);
          last = now;
        },
      },
      job,
    ),
  );
  if (result.verdict !== 'accepted') throw new Error(`the benchmark's submission was not accepted: ${JSON.stringify(result).slice(0, 500)}`);
  return { total: performance.now() - start, compile, perTest, cached: result.compile!.cached, compileCpuMs: result.compile!.cpu_ms };
}

/** N direct sandbox runs of the compiled binary: a workspace with it, then run after run, nothing else. */
async function direct(): Promise<number[]> {
  const hit = compileKey === undefined ? undefined : await cache.get(compileKey);
  if (!hit) throw new Error('the compiled binary is not in the compile cache (the judged warm-up should have stored it)');
  const limits = resolveLimits({});
  return pool.withSlot(async (slot) => {
    const workspace = await sandbox.createWorkspace(slot, limits.workspace_bytes);
    try {
      workspace.writeFiles(hit.files);
      const times: number[] = [];
      for (const test of tests) {
        const start = performance.now();
        const run = await sandbox.run({ slot, workspace, argv: ['./main'], limits, boxWritable: false, stdin: test.stdin });
        times.push(performance.now() - start);
        if (run.stdout !== test.expected_stdout) throw new Error(`direct run: ${JSON.stringify(run)}`);
      }
      return times;
    } finally {
      await workspace.remove();
    }
  });
}

/**
 * The same tests stored as problem `bench` in a private Redis, and as `bench-interactive` with the
 * interactor from the package (testlib); a fresh problem cache per call of `cold`.
 */
async function storedProblem(redisDir: string) {
  const embedded = new EmbeddedRedis({ dir: redisDir });
  await embedded.start();
  const redis = connect(parseRedisUrl(embedded.url), 'worker', 'bench-problems');
  const store = new ProblemStore(redis);
  const owner = revisionOwner('bench', 1);
  const stored = await Promise.all(
    tests.map(async (test, i) => ({
      id: `secret/${String(i).padStart(4, '0')}`,
      group: 'secret' as const,
      input: await store.putBlob(owner, Readable.from([test.stdin])),
      answer: await store.putBlob(owner, Readable.from([Buffer.from(test.expected_stdout)])),
    })),
  );
  const limits = resolveLimits({});
  const manifest: ProblemManifest = {
    id: 'bench', revision: 1, name: 'bench', status: 'ready', created_at: new Date().toISOString(),
    limits: { cpu_ms: limits.cpu_ms, wall_ms: limits.wall_ms, memory_bytes: limits.memory_bytes, output_bytes: limits.output_bytes },
    comparison: { mode: 'trailing_whitespace' }, input_validators: [], tests: stored, bytes: 0,
  };
  await store.saveManifest(manifest);
  const interactorOwner = revisionOwner('bench-interactive', 1);
  const interactorBlob = await store.putBlob(interactorOwner, Readable.from([INTERACTOR_FILE.content]));
  const { comparison: _comparison, ...plain } = manifest;
  await store.saveManifest({
    ...plain, id: 'bench-interactive', name: 'bench-interactive', interactive: { protocol: 'testlib' },
    output_validator: { name: 'interactor', language: 'c', flags: [], files: [{ path: INTERACTOR_FILE.path, ...interactorBlob, executable: false }] },
  });
  const submission = (problem: string) => ({ problem, problem_revision: 1, language: 'cpp', files: [{ path: 'main.cpp', content: SOURCE, encoding: 'utf8' as const }], stdin_encoding: 'utf8' as const });
  let cacheDir = mkdtempSync(join(config.dataDir, 'bench-problem-cache-'));
  let problemCache = new ProblemCache(cacheDir, 1024 ** 3, store);
  const run = async (problem = 'bench'): Promise<number> => {
    const start = performance.now();
    const job = submission(problem);
    const result = await pool.withSlot((slot) => runProblemJob({ sandbox, slot, companion: pool.companion(slot), compileCache: cache }, job, toJobRequest(job), { store, cache: problemCache }));
    if (result.verdict !== 'accepted') throw new Error(`the stored problem's job was not accepted: ${JSON.stringify(result).slice(0, 500)}`);
    return performance.now() - start;
  };
  return {
    run,
    /** A job on an empty cache: every file fetched from Redis first. */
    cold: async () => {
      rmSync(cacheDir, { recursive: true, force: true });
      cacheDir = mkdtempSync(join(config.dataDir, 'bench-problem-cache-'));
      problemCache = new ProblemCache(cacheDir, 1024 ** 3, store);
      return run();
    },
    close: async () => {
      rmSync(cacheDir, { recursive: true, force: true });
      redis.disconnect();
      await embedded.stop();
    },
  };
}

/** A whole inline judged job (compile cache hit), timed. */
async function inlineJob(job: JobRequest = request): Promise<number> {
  return (await judged(cache, job)).total;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const ms = (x: number) => `${x.toFixed(1)} ms`;

try {
  // Warm-up (and fills the cache).
  await judged(cache);
  await direct();
  await judged(cache, interactiveRequest(false));
  await judged(cache, interactiveRequest(false, true));

  const judgedTests: number[] = [];
  const directRuns: number[] = [];
  const cachedJobs: JudgedFigures[] = [];
  const interactiveTests: number[] = [];
  const relayedTests: number[] = [];
  const checkedTests: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const job = await judged(cache);
    if (!job.cached) throw new Error('expected a compile cache hit');
    cachedJobs.push(job);
    judgedTests.push(...job.perTest);
    directRuns.push(...(await direct()));
    interactiveTests.push(...(await judged(cache, interactiveRequest(false))).perTest);
    relayedTests.push(...(await judged(cache, interactiveRequest(true))).perTest);
    checkedTests.push(...(await judged(cache, interactiveRequest(false, true))).perTest);
  }
  const uncachedJobs: JudgedFigures[] = [];
  for (let round = 0; round < ROUNDS; round++) uncachedJobs.push(await judged(undefined));

  const perTestMean = mean(judgedTests);
  const directMean = mean(directRuns);
  console.log(`bench:judge — C++ a+b, ${TESTS} tests, ${ROUNDS} rounds, sequential (one slot)\n`);
  console.log('| | mean | p50 |');
  console.log('|---|---|---|');
  console.log(`| judged, per test | ${ms(perTestMean)} | ${ms(median(judgedTests))} |`);
  console.log(`| direct sandbox run | ${ms(directMean)} | ${ms(median(directRuns))} |`);
  console.log(`| ratio | **${(perTestMean / directMean).toFixed(2)}** | **${(median(judgedTests) / median(directRuns)).toFixed(2)}** |`);
  console.log('');
  console.log('| whole job | total (median) | compile step (median) | compile share | tests/s |');
  console.log('|---|---|---|---|---|');
  for (const [name, jobs] of [['compile cache hit', cachedJobs], ['no cache (compiles)', uncachedJobs]] as const) {
    const total = median(jobs.map((j) => j.total));
    const compile = median(jobs.map((j) => j.compile));
    console.log(`| ${name} | ${ms(total)} | ${ms(compile)} | ${((compile / total) * 100).toFixed(0)} % | ${((TESTS / total) * 1000).toFixed(0)} |`);
  }
  console.log(`\ng++ CPU time of the compile (median): ${ms(median(uncachedJobs.map((j) => j.compileCpuMs)))}`);
  console.log('\n| interactive a+b (solution + C interactor, two sandboxes per test) | mean | p50 | × plain judged test (mean) |');
  console.log('|---|---|---|---|');
  console.log(`| plain judged test | ${ms(perTestMean)} | ${ms(median(judgedTests))} | 1.00 |`);
  const interactiveRows = [
    ['interactive, pipes', interactiveTests],
    ['interactive, relayed with a transcript', relayedTests],
    ["interactive, then a checker of the interactor's output file", checkedTests],
  ] as const;
  for (const [name, times] of interactiveRows) {
    console.log(`| ${name} | ${ms(mean(times))} | ${ms(median(times))} | **${(mean(times) / perTestMean).toFixed(2)}** |`);
  }

  const problem = await storedProblem(redisDir);
  try {
    const coldJobs: number[] = [];
    const storedJobs: number[] = [];
    const inlineJobs: number[] = [];
    const storedInteractive: number[] = [];
    const inlineInteractive: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      coldJobs.push(await problem.cold());
      storedJobs.push(await problem.run());
      inlineJobs.push(await inlineJob());
      storedInteractive.push(await problem.run('bench-interactive'));
      inlineInteractive.push(await inlineJob(interactiveRequest(false)));
    }
    console.log(`\n| same ${TESTS} tests, whole job (compile cache hit) | median | tests/s |`);
    console.log('|---|---|---|');
    console.log(`| inline tests | ${ms(median(inlineJobs))} | ${((TESTS / median(inlineJobs)) * 1000).toFixed(0)} |`);
    console.log(`| stored problem, warm cache | ${ms(median(storedJobs))} | ${((TESTS / median(storedJobs)) * 1000).toFixed(0)} |`);
    console.log(`| stored problem, cold cache (fetched from Redis) | ${ms(median(coldJobs))} | ${((TESTS / median(coldJobs)) * 1000).toFixed(0)} |`);
    console.log(`| ratio stored (warm) / inline | **${(median(storedJobs) / median(inlineJobs)).toFixed(2)}** | |`);
    console.log(`| interactive, inline tests and interactor | ${ms(median(inlineInteractive))} | ${((TESTS / median(inlineInteractive)) * 1000).toFixed(0)} |`);
    console.log(`| interactive, stored problem (interactor from the package), warm cache | ${ms(median(storedInteractive))} | ${((TESTS / median(storedInteractive)) * 1000).toFixed(0)} |`);
    console.log(`| ratio stored interactive / inline interactive | **${(median(storedInteractive) / median(inlineInteractive)).toFixed(2)}** | |`);
  } finally {
    await problem.close();
  }
} finally {
  rmSync(redisDir, { recursive: true, force: true });
  rmSync(cacheDir, { recursive: true, force: true });
  sandbox.close();
}
