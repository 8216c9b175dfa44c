/**
 * RuncellWorker: takes jobs from the BullMQ queue and runs each in a sandbox
 * slot, up to `concurrency` at once; writes progress and results to the job
 * store. Several worker processes, on one host or many, share one queue.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { DelayedError, QueueEvents, Worker, type Job } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { LIMIT_TABLE, type LimitTable } from '../sandbox/limits.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { SlotPool } from '../sandbox/slots.js';
import { sweepSlot } from '../sandbox/sweep.js';
import { bullConnection, connect, type RedisTarget } from '../queue/connection.js';
import type { QueuedJobData } from '../queue/queue.js';
import { JobStore, keys, PREFIX, QUEUE_NAME, type RetentionOptions } from '../queue/store.js';
import { toJobRequest } from '../queue/submission.js';
import { languageLabel, sandboxErrorReason, type EndStatus, type RuncellMetrics, type RunningJob } from '../monitoring/metrics.js';
import type { CompileCache } from './compile-cache.js';
import { runJob, type JobResult } from './job.js';
import { brokenRun } from './judge.js';

export interface Logger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export interface RuncellWorkerOptions {
  redis: RedisTarget;
  sandbox: Sandbox;
  slots: SlotPool;
  /** Jobs run at once. Default: the number of CPUs. */
  concurrency: number;
  /** Languages of this worker's rootfs with their versions (published for GET /v1/languages). */
  languages?: Record<string, string>;
  limits?: LimitTable;
  retention?: RetentionOptions;
  /** How long a job's lock lives without renewal; a dead worker's job is retried after it. Default 10 s. */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for. Default 5 s. */
  stalledIntervalMs?: number;
  /** On shutdown, how long running jobs may take before they are killed and queued again. Default 30 s. */
  shutdownTimeoutMs?: number;
  /** How often this worker says it is alive. Default 5 s. */
  heartbeatMs?: number;
  logger?: Logger;
  /** Where this worker records its jobs and reports its slots and running jobs. Default: none. */
  metrics?: RuncellMetrics;
  /** Reuses compiled workspaces of identical compiles (see worker/compile-cache.ts). Default: none. */
  compileCache?: CompileCache;
}

const silent: Logger = { info() {}, warn() {}, error() {} };
const STALLED_MESSAGE = 'job stalled more than allowable limit';

type StopReason = 'cancel' | 'shutdown';

interface ActiveJob {
  controller: AbortController;
  reason?: StopReason;
  /** For metrics: the language label, when it was queued and started, the slot it runs in. */
  language: string;
  queuedAt: number;
  startedAt?: number;
  slot?: number;
}

export class RuncellWorker {
  readonly id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly redis: Redis | Cluster;
  private readonly subscriber: Redis | Cluster;
  private readonly store: JobStore;
  private readonly active = new Map<string, ActiveJob>();
  private readonly logger: Logger;
  private worker?: Worker<QueuedJobData>;
  private queueEvents?: QueueEvents;
  private heartbeat?: NodeJS.Timeout;
  private closing?: Promise<void>;

  constructor(private readonly options: RuncellWorkerOptions) {
    if (options.concurrency > options.slots.count) {
      throw new Error(`RUNCELL_CONCURRENCY (${options.concurrency}) is more than the host's sandbox slots (RUNCELL_SLOTS, ${options.slots.count})`);
    }
    this.logger = options.logger ?? silent;
    this.redis = connect(options.redis, 'worker', 'worker');
    this.subscriber = connect(options.redis, 'worker', 'worker-cancel');
    this.store = new JobStore(this.redis, options.retention);
    for (const client of [this.redis, this.subscriber]) {
      client.on('error', (error: Error) => this.logger.warn({ err: error.message }, 'redis connection error'));
    }
    options.metrics?.watchWorker({ slots: () => this.slotUse(), runningJobs: () => this.runningJobs() });
  }

  /** Cleans up after dead workers of this host, then starts taking jobs. */
  async start(): Promise<void> {
    await this.sweep();
    this.subscriber.on('message', (_channel: string, jobId: string) => this.stop(jobId, 'cancel'));
    await this.subscriber.subscribe(keys.cancelChannel);
    if (this.options.languages) await this.redis.set(keys.languages, JSON.stringify(this.options.languages));
    await this.store.heartbeat(this.id);
    this.heartbeat = setInterval(() => {
      this.store.heartbeat(this.id).catch(() => undefined);
    }, this.options.heartbeatMs ?? 5000);
    // Failures are read from the queue's event stream: a job failed by the stalled-job check
    // (its workers died) is announced there, not by any worker object. Listening starts from
    // the stream's current end, before this worker's own check runs, so none falls between.
    const [[tail] = ['0-0']] = (await this.redis.xrevrange(`${PREFIX}:${QUEUE_NAME}:events`, '+', '-', 'COUNT', 1)) as [string, string[]][];
    this.queueEvents = new QueueEvents(QUEUE_NAME, {
      connection: bullConnection(this.options.redis, 'worker', 'worker-events'),
      prefix: PREFIX,
      lastEventId: tail,
    });
    this.queueEvents.on('failed', ({ jobId, failedReason }) => {
      void this.failed(jobId, failedReason).catch(() => undefined);
    });
    this.queueEvents.on('error', () => undefined);
    this.worker = new Worker<QueuedJobData>(QUEUE_NAME, (job, token) => this.process(job, token), {
      connection: bullConnection(this.options.redis, 'worker', 'worker-bull'),
      prefix: PREFIX,
      concurrency: this.options.concurrency,
      lockDuration: this.options.lockDurationMs ?? 10_000,
      stalledInterval: this.options.stalledIntervalMs ?? 5_000,
      // A job whose worker died is run once more; a second death fails it.
      maxStalledCount: 1,
    });
    this.worker.on('error', (error) => this.logger.warn({ err: error.message }, 'queue error'));
    this.logger.info({ worker: this.id, concurrency: this.options.concurrency }, 'worker started');
  }

  /** Removes what workers that died on this host left in slots nobody holds now. */
  private async sweep(): Promise<void> {
    const { slots, sandbox } = this.options;
    for (let index = 0; index < slots.count; index++) {
      const slot = slots.tryAcquire(index);
      if (!slot) continue;
      try {
        const report = await sweepSlot({ cgroups: sandbox.cgroups, dataDir: sandbox.dataDir, slot: index });
        if (report.cgroups.length || report.workspaces.length || report.problems.length) {
          this.logger.warn({ slot: index, ...report }, 'removed what a dead worker left behind');
        }
      } finally {
        slots.release(slot);
      }
    }
  }

  private stop(jobId: string, reason: StopReason): void {
    const job = this.active.get(jobId);
    if (!job || job.controller.signal.aborted) return;
    job.reason = reason;
    job.controller.abort();
  }

  private async process(job: Job<QueuedJobData>, token?: string): Promise<void> {
    const id = job.id!;
    const entry: ActiveJob = { controller: new AbortController(), language: languageLabel(job.data.submission?.language), queuedAt: job.timestamp };
    // Registered before the job is marked running, so that a cancel in between is not missed.
    this.active.set(id, entry);
    try {
      const started = await this.store.start(id, this.id);
      if (started === 'cancel_requested') {
        await this.finish(id, entry, 'cancelled', { result: null, reason: 'cancelled before it started' });
        return;
      }
      if (started !== 'ok') return; // cancelled, finished or expired meanwhile: nothing to run
      entry.startedAt = Date.now();
      const result = await this.options.slots.withSlot(async (slot) => {
        entry.slot = slot.index;
        // Cleared with the slot: another job may take it while this one is still being stored.
        try {
          return await runJob(
            {
              sandbox: this.options.sandbox,
              slot,
              table: this.options.limits ?? LIMIT_TABLE,
              signal: entry.controller.signal,
              installed: this.options.languages,
              // Not awaited: the connection keeps commands in order, so the event still lands before the finish.
              onStep: (step, run) => {
                const cached = 'cached' in run ? { cached: run.cached } : {};
                const checker = step === 'checker_compile' ? { checker: true } : {};
                this.store.event(id, step === 'run' ? 'run_finished' : 'compile_finished', { status: run.status, ...cached, ...checker }).catch(() => undefined);
              },
              onTest: (test, index, total) => {
                const data = { index, total, id: test.id, verdict: test.verdict, status: test.status, cpu_ms: test.cpu_ms, wall_ms: test.wall_ms, memory_peak_bytes: test.memory_peak_bytes };
                this.store.event(id, 'test_finished', data).catch(() => undefined);
              },
              compileCache: this.options.compileCache,
            },
            toJobRequest(job.data.submission),
          );
        } finally {
          entry.slot = undefined;
        }
      });
      if (entry.reason === 'shutdown') {
        // Killed by our own shutdown: give it back to the queue for another worker.
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      if (entry.reason === 'cancel') {
        await this.finish(id, entry, 'cancelled', { result, reason: 'cancelled while running' });
        return;
      }
      // The program's doing is `completed` whatever it did; a sandbox that broke is runcell's failure.
      const broken = brokenRun(result);
      if (broken) {
        await this.finish(id, entry, 'failed', { result, reason: broken.message ?? 'the sandbox failed' });
        this.options.metrics?.observeSandboxError(sandboxErrorReason(broken.message));
        this.logger.error({ job: id, reason: broken.message }, 'sandbox error');
        return;
      }
      await this.finish(id, entry, 'completed', { result });
    } finally {
      this.active.delete(id);
    }
  }

  /** Records the end in the store and, when this call ended it, in the metrics. */
  private async finish(id: string, entry: ActiveJob, status: EndStatus, outcome: { result: JobResult | null; reason?: string }): Promise<void> {
    if ((await this.store.finish(id, status, outcome)) !== 'ok') return;
    this.options.metrics?.observeJob({
      language: entry.language,
      status,
      compile: outcome.result?.compile,
      run: outcome.result?.run,
      tests: outcome.result?.tests,
      verdict: outcome.result?.verdict,
      queuedAt: entry.queuedAt,
      startedAt: entry.startedAt,
      finishedAt: Date.now(),
    });
  }

  private slotUse(): { busy: number; idle: number } {
    const busy = [...this.active.values()].filter((job) => job.slot !== undefined).length;
    return { busy, idle: Math.max(0, this.options.concurrency - busy) };
  }

  /** Jobs holding a slot now, with a way to read their current run's cgroup. */
  private runningJobs(): RunningJob[] {
    const { sandbox } = this.options;
    return [...this.active.entries()].flatMap(([jobId, job]) =>
      job.slot === undefined ? [] : [{ jobId, slot: job.slot, language: job.language, stats: () => sandbox.liveStats(job.slot!) }],
    );
  }

  /** BullMQ gave up on a job (our processor threw, or its workers died twice). Every worker hears it; the first one records it. */
  private async failed(jobId: string, failedReason: string): Promise<void> {
    const reason = failedReason === STALLED_MESSAGE ? 'its worker died twice while running it' : `runcell could not run the job: ${failedReason}`;
    if ((await this.store.finish(jobId, 'failed', { result: null, reason })) !== 'ok') return;
    this.logger.warn({ job: jobId, reason }, 'job failed');
    const { metrics } = this.options;
    if (!metrics) return;
    if (failedReason !== STALLED_MESSAGE) metrics.observeSandboxError('exception');
    const view = await this.store.get(jobId);
    if (view) {
      metrics.observeJob({
        language: languageLabel(view.request.language),
        status: 'failed',
        queuedAt: Date.parse(view.created_at),
        startedAt: view.started_at ? Date.parse(view.started_at) : undefined,
        finishedAt: Date.now(),
      });
    }
  }

  /** How many jobs this worker is running now. */
  get running(): number {
    return this.active.size;
  }

  /**
   * Stops taking jobs, lets running ones finish within the shutdown timeout,
   * then kills the rest and gives them back to the queue.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.heartbeat);
      const deadline = setTimeout(() => {
        for (const jobId of this.active.keys()) this.stop(jobId, 'shutdown');
      }, this.options.shutdownTimeoutMs ?? 30_000);
      try {
        await this.worker?.close();
      } finally {
        clearTimeout(deadline);
      }
      await this.queueEvents?.close().catch(() => undefined);
      await this.store.removeWorker(this.id).catch(() => undefined);
      this.subscriber.disconnect();
      this.redis.disconnect();
      this.options.sandbox.close();
      this.logger.info({ worker: this.id }, 'worker stopped');
    })();
    return this.closing;
  }
}
