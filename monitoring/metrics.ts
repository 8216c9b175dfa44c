/**
 * Every Prometheus series runcell exports, defined in one place (catalogue:
 * docs/metrics.md). One RuncellMetrics per process: the API, a worker, or
 * both in `runcell serve`, which then serves one combined endpoint.
 *
 * Gauges that describe shared state (the queue, the running jobs) are read
 * when Prometheus scrapes, from sources the API and the worker attach, never
 * refreshed per request. Labels carry only bounded values: a job id appears
 * only on the live per-running-job series, at most one per sandbox slot.
 */
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { findLanguage } from '../rootfs/languages.js';
import type { JobErrorCode } from '../contract/job-record.js';
import type { RunResult } from '../contract/run-result.js';
import type { CgroupStats } from '../sandbox/cgroup.js';
import type { RunPhases } from '../sandbox/sandbox.js';

export const PREFIX = 'runcell_';

/** Seconds, from a millisecond to half an hour: runs, setup, queue waits, API calls. */
export const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
const KiB = 1024;
const MiB = 1024 * KiB;
/** Bytes, from 16 KiB to 4 GiB: a tiny C program to the largest memory limit. */
export const BYTES_BUCKETS = [16 * KiB, 64 * KiB, 256 * KiB, MiB, 2 * MiB, 4 * MiB, 8 * MiB, 16 * MiB, 32 * MiB, 64 * MiB, 128 * MiB, 256 * MiB, 512 * MiB, 1024 * MiB, 2048 * MiB, 4096 * MiB];

/** BullMQ job states reported by runcell_queue_jobs. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** What the API process knows of the queue, read at scrape time. */
export interface QueueSource {
  /** By worker pool ("default" when there are no pools), then by state. */
  jobCounts(): Promise<Record<string, Record<QueueState, number>>>;
  /** Workers that said they are alive recently. */
  liveWorkers(): Promise<number>;
}

/** A job running now in a worker of this process. */
export interface RunningJob {
  jobId: string;
  slot: number;
  language: string;
  /** The figures of its current sandbox run's cgroup; undefined between steps. */
  stats(): CgroupStats | undefined;
}

/** What a worker process knows of its own jobs, read at scrape time. */
export interface WorkerSource {
  slots(): { busy: number; idle: number };
  runningJobs(): RunningJob[];
}

export type EndStatus = 'completed' | 'cancelled' | 'failed';

/** A job that has ended, as the worker (or the API, for one cancelled while queued) saw it. */
export interface EndedJob {
  /** The language id, or "command" for a command job. */
  language: string;
  status: EndStatus;
  /** The steps' results, when it ran. */
  compile?: RunResult & { cached?: boolean };
  run?: RunResult | null;
  /** Judged jobs: each test's run (phase "run"), and the job's overall verdict. */
  tests?: RunResult[];
  verdict?: string;
  /** Epoch milliseconds. */
  queuedAt: number;
  startedAt?: number;
  finishedAt: number;
}

/** prom-client default metrics that are gauges ending in _total. */
const LINT_BREAKING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** The three running-job gauges of one scrape share one read of the cgroups. */
const LIVE_SNAPSHOT_MS = 200;

/** The label of a job without a language (a plain command). */
export const COMMAND_LANGUAGE = 'command';

/**
 * The language label of a job: its catalog id, "command", or "unknown" for
 * an id not in the catalog (the API refuses those; a job put on the queue by
 * other means must not mint label values).
 */
export function languageLabel(language: string | undefined): string {
  if (language === undefined) return COMMAND_LANGUAGE;
  return findLanguage(language) ? language : 'unknown';
}

export interface MetricsOptions {
  /** Also export Node's default process metrics (CPU, memory, event loop, GC), prefixed. Default true. */
  defaultMetrics?: boolean;
}

export class RuncellMetrics {
  readonly registry = new Registry();
  private readonly queues: QueueSource[] = [];
  private readonly workers: WorkerSource[] = [];
  private liveSnapshot?: { at: number; rows: { job: RunningJob; stats: CgroupStats }[] };

  // Per-job resources.
  private readonly jobCpu: Histogram<'language' | 'phase' | 'status'>;
  private readonly jobWall: Histogram<'language' | 'phase' | 'status'>;
  private readonly jobMemory: Histogram<'language' | 'phase' | 'status'>;
  private readonly networkBytes: Counter<'direction'>;
  private readonly queueWait: Histogram<'language'>;
  private readonly jobTotal: Histogram<'language' | 'status'>;
  private readonly sandboxSetup: Histogram;
  // Counters.
  private readonly jobs: Counter<'language' | 'status'>;
  private readonly verdicts: Counter<'language' | 'verdict'>;
  private readonly oomKills: Counter<'language'>;
  private readonly sandboxErrors: Counter<'reason'>;
  private readonly apiRequests: Counter<'route' | 'code'>;
  private readonly apiDuration: Histogram<'route'>;

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    const perStep = (name: string, help: string, buckets: number[]) =>
      new Histogram({ name: PREFIX + name, help, labelNames: ['language', 'phase', 'status'] as const, buckets, registers });
    this.jobCpu = perStep('job_cpu_seconds', 'CPU time of one job step (all its processes), by language, phase (compile|run) and run status.', SECONDS_BUCKETS);
    this.jobWall = perStep('job_wall_seconds', 'Wall time of one job step, by language, phase and run status.', SECONDS_BUCKETS);
    this.jobMemory = perStep('job_memory_peak_bytes', 'Peak memory of one job step (its cgroup), by language, phase and run status.', BYTES_BUCKETS);
    this.queueWait = new Histogram({ name: `${PREFIX}job_queue_wait_seconds`, help: 'Time from submission until a worker started the job.', labelNames: ['language'] as const, buckets: SECONDS_BUCKETS, registers });
    this.jobTotal = new Histogram({ name: `${PREFIX}job_total_seconds`, help: 'Time from submission until the job ended, by job status.', labelNames: ['language', 'status'] as const, buckets: SECONDS_BUCKETS, registers });
    this.sandboxSetup = new Histogram({ name: `${PREFIX}sandbox_setup_seconds`, help: 'Launch overhead of one sandbox run: /tmp and cgroup set-up plus starting the launcher.', buckets: SECONDS_BUCKETS, registers });

    this.jobs = new Counter({ name: `${PREFIX}jobs_total`, help: 'Jobs ended, by language and job status (completed|cancelled|failed).', labelNames: ['language', 'status'] as const, registers });
    this.verdicts = new Counter({ name: `${PREFIX}job_verdicts_total`, help: 'Completed jobs by verdict: the run status, or compile_error.', labelNames: ['language', 'verdict'] as const, registers });
    this.networkBytes = new Counter({ name: `${PREFIX}network_bytes_total`, help: 'Bytes through egress jobs\' interfaces (network "egress"), by direction (in = received by the job, out = sent).', labelNames: ['direction'] as const, registers });
    this.oomKills = new Counter({ name: `${PREFIX}oom_kills_total`, help: 'Job steps killed by the OOM killer at their memory limit.', labelNames: ['language'] as const, registers });
    this.sandboxErrors = new Counter({ name: `${PREFIX}sandbox_errors_total`, help: 'Jobs runcell failed to run, by error code (setup_failed, start_failed, exception, ...).', labelNames: ['reason'] as const, registers });
    this.apiRequests = new Counter({ name: `${PREFIX}api_requests_total`, help: 'HTTP requests answered by the API, by route ("METHOD /path") and status code.', labelNames: ['route', 'code'] as const, registers });
    this.apiDuration = new Histogram({ name: `${PREFIX}api_request_duration_seconds`, help: 'HTTP request latency of the API, by route.', labelNames: ['route'] as const, buckets: SECONDS_BUCKETS, registers });

    const queues = this.queues;
    const workers = this.workers;
    new Gauge({
      name: `${PREFIX}queue_jobs`,
      help: 'Jobs in the BullMQ queue of each worker pool ("default" without pools) by state, read at scrape time (exported by the API).',
      labelNames: ['pool', 'state'] as const,
      registers,
      async collect() {
        this.reset();
        for (const queue of queues) {
          // A scrape while Redis is down shows no queue series (and /readyz says why) rather than failing whole.
          const counts = await queue.jobCounts().catch((error: Error) => scrapeWarning('queue counts', error));
          for (const [pool, byState] of Object.entries(counts ?? {})) {
            for (const state of QUEUE_STATES) this.set({ pool, state }, byState[state]);
          }
        }
      },
    });
    new Gauge({
      name: `${PREFIX}workers`,
      help: 'Live worker processes seen by the queue (heartbeat within the readiness window; exported by the API).',
      registers,
      async collect() {
        this.reset();
        for (const queue of queues) {
          const live = await queue.liveWorkers().catch((error: Error) => scrapeWarning('live workers', error));
          if (live !== undefined) this.set(live);
        }
      },
    });
    new Gauge({
      name: `${PREFIX}worker_slots`,
      help: "This worker process's job slots (its concurrency), busy or idle.",
      labelNames: ['state'] as const,
      registers,
      collect() {
        this.reset();
        if (workers.length === 0) return;
        const total = { busy: 0, idle: 0 };
        for (const worker of workers) {
          const slots = worker.slots();
          total.busy += slots.busy;
          total.idle += slots.idle;
        }
        this.set({ state: 'busy' }, total.busy);
        this.set({ state: 'idle' }, total.idle);
      },
    });
    this.liveGauge('running_job_cpu_seconds', 'CPU time used so far by a running job step, from its cgroup (removed when the job ends).', (s) => s.cpuNs / 1e9);
    this.liveGauge('running_job_memory_bytes', 'Memory used now by a running job step, from its cgroup (removed when the job ends).', (s) => s.memoryCurrentBytes);
    this.liveGauge('running_job_pids', 'Processes and threads of a running job step, from its cgroup (removed when the job ends).', (s) => s.pidsCurrent);

    if (options.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
      // Gauges named like counters (promtool's lint refuses them); the same totals are sum() of the per-type gauges kept.
      for (const name of LINT_BREAKING_DEFAULTS) this.registry.removeSingleMetric(PREFIX + name);
    }
  }

  /** One series per running job, read from its cgroup when scraped; a job that ended is not listed, so its series goes. */
  private liveGauge(name: string, help: string, value: (stats: CgroupStats) => number): void {
    const live = () => this.liveJobs();
    new Gauge({
      name: PREFIX + name,
      help,
      labelNames: ['job_id', 'slot', 'language'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { job, stats } of live()) this.set({ job_id: job.jobId, slot: String(job.slot), language: job.language }, value(stats));
      },
    });
  }

  /** The running jobs with their cgroup figures, read once per scrape for the three live gauges. */
  private liveJobs(): { job: RunningJob; stats: CgroupStats }[] {
    const now = performance.now();
    if (this.liveSnapshot && now - this.liveSnapshot.at < LIVE_SNAPSHOT_MS) return this.liveSnapshot.rows;
    const rows: { job: RunningJob; stats: CgroupStats }[] = [];
    for (const job of this.workers.flatMap((worker) => worker.runningJobs())) {
      try {
        const stats = job.stats();
        if (stats) rows.push({ job, stats });
      } catch {
        // Its cgroup is being removed: the step just ended.
      }
    }
    this.liveSnapshot = { at: now, rows };
    return rows;
  }

  /** The API attaches its queue: runcell_queue_jobs and runcell_workers come from it. */
  watchQueue(source: QueueSource): void {
    this.queues.push(source);
  }

  /** A worker attaches itself: runcell_worker_slots and the running-job series come from it. */
  watchWorker(source: WorkerSource): void {
    this.workers.push(source);
  }

  /** Records a job that has ended: its count, verdict, steps' resources and times. */
  observeJob(job: EndedJob): void {
    const { language } = job;
    this.jobs.inc({ language, status: job.status });
    if (job.startedAt !== undefined) this.queueWait.observe({ language }, seconds(job.startedAt - job.queuedAt));
    this.jobTotal.observe({ language, status: job.status }, seconds(job.finishedAt - job.queuedAt));
    // A compile served from the cache cost nothing now: its figures are the original compile's.
    const compile = job.compile?.cached ? undefined : job.compile;
    const steps = [['compile', compile], ['run', job.run], ...(job.tests ?? []).map((test) => ['run', test] as const)] as const;
    for (const [phase, step] of steps) {
      if (!step) continue;
      const labels = { language, phase, status: step.status };
      this.jobCpu.observe(labels, step.cpu_ms / 1000);
      this.jobWall.observe(labels, step.wall_ms / 1000);
      this.jobMemory.observe(labels, step.memory_peak_bytes);
      if (step.oom_killed) this.oomKills.inc({ language });
      if ('network' in step && step.network) {
        this.networkBytes.inc({ direction: 'in' }, step.network.bytes_in);
        this.networkBytes.inc({ direction: 'out' }, step.network.bytes_out);
      }
    }
    if (job.status === 'completed') {
      const verdict = job.verdict ?? (job.compile && job.compile.status !== 'ok' ? 'compile_error' : job.run?.status);
      if (verdict) this.verdicts.inc({ language, verdict });
    }
  }

  /** Records where a sandbox run's time went (Sandbox's onPhases). */
  observeSandboxPhases(phases: RunPhases): void {
    // A run that failed before launching has no spawn phase: that is not launch overhead.
    if (phases.spawn === undefined) return;
    this.sandboxSetup.observe((phases.prepare + phases.spawn) / 1000);
  }

  /** A job runcell failed to run, labelled by its error code (a closed set: bounded label values). */
  observeSandboxError(reason: JobErrorCode): void {
    this.sandboxErrors.inc({ reason });
  }

  observeRequest(route: string, code: number, durationSeconds: number): void {
    this.apiRequests.inc({ route, code: String(code) });
    this.apiDuration.observe({ route }, durationSeconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

function seconds(ms: number): number {
  return Math.max(0, ms) / 1000;
}

/** A series left out of a scrape because Redis did not answer: said once per scrape, on stderr. */
function scrapeWarning(what: string, error: Error): undefined {
  process.emitWarning(`runcell metrics: ${what} left out of this scrape: ${error.message}`, { code: 'runcell-scrape-partial' });
  return undefined;
}
