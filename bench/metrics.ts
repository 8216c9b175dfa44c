/**
 * npm run bench:metrics [-- --jobs N --running R]
 *
 * What monitoring costs a process: the time to record one ended job
 * (observeJob: counters and the step histograms), and the time to answer a
 * scrape (render) once every language × status × phase series exists and R
 * jobs are running (their stats read from an in-memory figure, so this is
 * prom-client's cost, not the cgroup reads). Prints microseconds and
 * milliseconds; no assertion.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LANGUAGES } from '../rootfs/languages.js';
import { RUN_STATUSES, type RunResult } from '../sandbox/accounting.js';
import { RuncellMetrics, type RunningJob } from '../monitoring/metrics.js';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '200000' }, running: { type: 'string', default: '32' } } });
const JOBS = Number(values.jobs);
const RUNNING = Number(values.running);

function step(status: RunResult['status'], i: number): RunResult {
  return { status, exit_code: 0, signal: null, stdout: '', stderr: '', stdout_truncated: false, stderr_truncated: false, cpu_ms: i % 5000, wall_ms: i % 9000, memory_peak_bytes: (i % 512) * 1024 * 1024, oom_killed: status === 'memory_limit', message: null, error_code: null };
}

const metrics = new RuncellMetrics();
const running: RunningJob[] = Array.from({ length: RUNNING }, (_, i) => ({
  jobId: crypto.randomUUID(),
  slot: i,
  language: LANGUAGES[i % LANGUAGES.length].id,
  stats: () => ({ cpuNs: 1e9, memoryPeakBytes: 2 ** 26, memoryCurrentBytes: 2 ** 25, pidsCurrent: 3, oomKills: 0 }),
}));
metrics.watchWorker({ slots: () => ({ busy: RUNNING, idle: 0 }), runningJobs: () => running });
metrics.watchQueue({ jobCounts: async () => ({ default: { waiting: 5, active: RUNNING, delayed: 0, failed: 1, completed: 0 } }), liveWorkers: async () => 4 });

const languages = [...LANGUAGES.map((l) => l.id), 'command'];
const now = Date.now();
const started = performance.now();
for (let i = 0; i < JOBS; i++) {
  const status = RUN_STATUSES[i % RUN_STATUSES.length];
  metrics.observeJob({ language: languages[i % languages.length], status: 'completed', compile: step('ok', i), run: step(status, i), queuedAt: now - 50, startedAt: now - 40, finishedAt: now });
}
const perJobUs = ((performance.now() - started) * 1000) / JOBS;

const scrapes: number[] = [];
let bytes = 0;
for (let i = 0; i < 50; i++) {
  const t = performance.now();
  bytes = (await metrics.render()).length;
  scrapes.push(performance.now() - t);
}
scrapes.sort((a, b) => a - b);
const series = (await metrics.render()).split('\n').filter((line) => line && !line.startsWith('#')).length;
console.log(`observeJob: ${perJobUs.toFixed(2)} µs per ended job (compile + run steps), ${JOBS} jobs`);
console.log(`scrape: ${series} series, ${(bytes / 1024).toFixed(0)} KiB, render p50 ${scrapes[25].toFixed(2)} ms, max ${scrapes[49].toFixed(2)} ms (${languages.length} languages, ${RUNNING} running jobs)`);
