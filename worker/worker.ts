/**
 * RuncellWorker: takes jobs from the BullMQ queue and runs each in a sandbox
 * slot, up to `concurrency` at once; writes progress and results to the job
 * store. Several worker processes, on one host or many, share one queue.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { DelayedError, WaitingError, Worker, type Job } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { LIMIT_TABLE, type LimitTable } from '../sandbox/limits.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { Slot, SlotPool } from '../sandbox/slots.js';
import { sweepSlot } from '../sandbox/sweep.js';
import { jobRequestSchema, UNBOUNDED, type JobSubmission } from '../contract/job-request.js';
import type { JobErrorCode, JobOutcome, JobResult } from '../contract/job-record.js';
import type { EventType } from '../contract/events.js';
import { parseQueuedJob, type QueuedJob } from '../contract/queued-job.js';
import { LANGUAGES } from '../rootfs/languages.js';
import { bullConnection, connect, type RedisTarget } from '../queue/connection.js';
import { JobStore, keys, PREFIX, type RetentionOptions } from '../queue/store.js';
import { DEFAULT_POOL, poolQueueName } from '../queue/pools.js';
import { languageLabel, type EndStatus, type RuncellMetrics, type RunningJob } from '../monitoring/metrics.js';
import type { CompileCache } from './compile-cache.js';
import { runJob, type JobContext } from './job.js';
import { problemCacheDir, ProblemCache } from './problem-cache.js';
import { runProblemJob, type Problems } from './problem-jobs.js';
import { ProblemStore } from '../queue/problems.js';
import { ImageRegistry } from '../queue/images.js';
import { imagePuller, localImageCollector, type ImagePuller } from './image.js';
import { brokenRun } from './judge.js';
import { LiveLog } from './live-log.js';
import { PendingEvents } from './pending-events.js';
import { LanguageNotInstalledError } from './plan.js';
import { toJobRequest } from './request.js';
import { openInteractiveStdin } from './stdin-pipe.js';

export interface Logger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export interface RuncellWorkerOptions {
  redis: RedisTarget;
  sandbox: Sandbox;
  slots: SlotPool;
  /** Jobs run at once, without pools. */
  concurrency: number;
  /** The worker pools this worker serves, each with its concurrency (RUNCELL_POOLS, --pool). Default: the one pool at `concurrency`. */
  pools?: Record<string, number>;
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
  /** Bytes of the local cache of stored problems' files (<data dir>/problem-cache). Default 4 GiB. */
  problemCacheBytes?: number;
  /** This host's copies of the fleet's images no job used here for this long are dropped (RUNCELL_IMAGE_UNUSED_SECONDS); 0 = never. Default 0. */
  imageUnusedSeconds?: number;
}

const silent: Logger = { info() {}, warn() {}, error() {} };

/** cancel: asked by a client; shutdown: this worker's own; lost: BullMQ gave the job to another worker (this one's lock expired). */
type StopReason = 'cancel' | 'shutdown' | 'lost';

interface ActiveJob {
  controller: AbortController;
  reason?: StopReason;
  /** For metrics: the language label, when it was queued and started, the slot it runs in. */
  language: string;
  queuedAt: number;
  startedAt?: number;
  slot?: number;
  /** This attempt's owner token in the store, once it started: its events and result count only while it owns the job. */
  owner?: string;
  /** Its progress events not sent yet: the finish takes them. */
  events?: PendingEvents;
}

export class RuncellWorker {
  readonly id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly redis: Redis | Cluster;
  private readonly subscriber: Redis | Cluster;
  private readonly store: JobStore;
  /** Stored problems: their manifests in Redis, their files in the local cache. */
  private readonly problems: Problems;
  /** Image jobs: an image this host lacks is pulled from the fleet's registry, once per name at a time. */
  private readonly pullImage: ImagePuller;
  private readonly active = new Map<string, ActiveJob>();
  private readonly logger: Logger;
  /** One BullMQ worker per pool served, each with the pool's concurrency; the slots are shared. */
  private readonly workers: Worker<QueuedJob>[] = [];
  private readonly pools: Record<string, number>;
  private readonly concurrency: number;
  /** The contract's request schema under this worker's limits: every job taken is parsed with it. */
  private readonly requestSchema: ReturnType<typeof jobRequestSchema>;
  private heartbeat?: NodeJS.Timeout;
  private stopImageSweep?: () => void;
  private readonly images: ImageRegistry;
  private closing?: Promise<void>;

  constructor(private readonly options: RuncellWorkerOptions) {
    this.pools = options.pools ?? { [DEFAULT_POOL]: options.concurrency };
    this.concurrency = Object.values(this.pools).reduce((a, b) => a + b, 0);
    if (this.concurrency > options.slots.count) {
      const what = Object.keys(this.pools).join() !== DEFAULT_POOL ? `The pools' concurrency (${Object.entries(this.pools).map(([p, c]) => `${p}:${c}`).join(', ')}: ${this.concurrency} in all)` : `RUNCELL_CONCURRENCY (${this.concurrency})`;
      throw new Error(`${what} is more than the host's sandbox slots (RUNCELL_SLOTS, ${options.slots.count})`);
    }
    this.logger = options.logger ?? silent;
    this.redis = connect(options.redis, 'worker', 'worker');
    this.subscriber = connect(options.redis, 'worker', 'worker-cancel');
    this.store = new JobStore(this.redis, options.retention, { awaitReplica: options.redis.kind !== 'single', logger: this.logger });
    const problemStore = new ProblemStore(this.redis);
    this.images = new ImageRegistry(this.redis);
    this.pullImage = imagePuller(options.sandbox.dataDir, this.images);
    this.problems = { store: problemStore, cache: new ProblemCache(problemCacheDir(options.sandbox.dataDir), options.problemCacheBytes ?? 4 * 1024 ** 3, problemStore, this.logger) };
    // Bounds are the API's admission policy (its configuration, not ours): the worker checks the shape and the limits.
    this.requestSchema = jobRequestSchema({ limits: options.limits ?? LIMIT_TABLE, languages: LANGUAGES.map((l) => l.id), bounds: UNBOUNDED });
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
    const pools = Object.keys(this.pools);
    await this.store.heartbeat(this.id, Date.now(), pools);
    this.stopImageSweep = localImageCollector(this.options.sandbox.dataDir, this.options.imageUnusedSeconds ?? 0, this.logger, this.images);
    this.heartbeat = setInterval(() => {
      // A missed beat is made up by the next; /readyz notices only a run of them.
      this.store.heartbeat(this.id, Date.now(), pools).catch((error: Error) => this.logger.warn({ err: error.message }, 'heartbeat failed'));
    }, this.options.heartbeatMs ?? 5000);
    for (const [pool, concurrency] of Object.entries(this.pools)) this.serve(pool, concurrency);
    this.logger.info({ worker: this.id, concurrency: this.concurrency, pools: this.pools }, 'worker started');
  }

  /** Takes the jobs of one pool's queue, `concurrency` at a time. */
  private serve(pool: string, concurrency: number): void {
    const queueName = poolQueueName(pool);
    const worker = new Worker<QueuedJob>(queueName, (job, token) => this.process(job, token), {
      connection: bullConnection(this.options.redis, 'worker', 'worker-bull'),
      prefix: PREFIX,
      concurrency,
      // BullMQ renews the lock of every running job while it runs (every lockRenewTime), however long the job
      // takes: the lock duration bounds how long a dead worker's job waits, not how long a job may run. A third of
      // it leaves two renewals' slack for a busy event loop.
      lockDuration: this.options.lockDurationMs ?? 10_000,
      lockRenewTime: (this.options.lockDurationMs ?? 10_000) / 3,
      stalledInterval: this.options.stalledIntervalMs ?? 5_000,
      // A job whose worker died is run once more; a second death fails it.
      maxStalledCount: 1,
    });
    this.workers.push(worker);
    worker.on('error', (error) => this.logger.warn({ err: error.message, pool }, 'queue error'));
    // A job whose workers died too often is put back in the queue marked to fail (BullMQ's deferred failure):
    // the next worker to take it fails it without running it, and says so here. No reader of the queue's
    // event stream (every job's events, in every worker process) is needed for it: two round trips a job less.
    worker.on('failed', (job) => {
      if (!job?.id) return;
      const jobId = job.id;
      void this.failed(jobId).catch((error: Error) => this.logger.error({ job: jobId, err: error.message }, 'cannot record that a job failed'));
    });
    // Cut off from Redis longer than the lock: the job went back to the queue and another worker has it. Its
    // result here would be refused (see the store's owner token): stop running it.
    worker.on('lockRenewalFailed', (jobIds: string[]) => {
      this.logger.warn({ jobs: jobIds }, 'lost the lock of running jobs (another worker runs them now): stopping them here');
      for (const jobId of jobIds) this.stop(jobId, 'lost');
    });
  }

  /** Removes what workers that died on this host left in slots nobody holds now. */
  private async sweep(): Promise<void> {
    const { slots, sandbox } = this.options;
    for (let index = 0; index < slots.count; index++) {
      const slot = slots.tryAcquire(index);
      if (!slot) continue;
      try {
        // The slot's companion (an interactor's runs) is held with it: swept with it.
        for (const swept of [index, slots.companion(slot).index]) {
          const report = await sweepSlot({ cgroups: sandbox.cgroups, dataDir: sandbox.dataDir, slot: swept, network: sandbox.network });
          if (report.cgroups.length || report.workspaces.length || report.network.length || report.problems.length) {
            this.logger.warn({ slot: swept, ...report }, 'removed what a dead worker left behind');
          }
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

  private async process(job: Job<QueuedJob>, token?: string): Promise<void> {
    const id = job.id!;
    const parsed = parseQueuedJob(job.data, this.requestSchema);
    const entry: ActiveJob = { controller: new AbortController(), language: parsed.ok ? languageLabel(parsed.submission.language) : 'unknown', queuedAt: job.timestamp };
    // Registered before the job is marked running, so that a cancel in between is not missed.
    this.active.set(id, entry);
    try {
      const owner = `${this.id}:${token ?? ''}`;
      const started = await this.store.start(id, this.id, Date.now(), owner);
      if (started === 'cancel_requested') {
        await this.finish(id, entry, 'cancelled', { result: null, reason: 'cancelled before it started' });
        return;
      }
      if (started !== 'ok') return; // cancelled, finished or expired meanwhile: nothing to run
      entry.owner = owner;
      if (!parsed.ok) {
        await this.fail(id, entry, null, parsed.problem.code, parsed.problem.message);
        return;
      }
      entry.startedAt = Date.now();
      const result = await this.options.slots.withSlot((slot) => this.runInSlot(id, entry, slot, parsed.submission));
      if (entry.reason === 'shutdown') {
        // Killed by our own shutdown: give it back to the queue for another worker.
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      if (entry.reason === 'lost') {
        this.logger.warn({ job: id }, 'stopped a job another worker took over: nothing recorded here');
        // The queue must not hear an end from us either (completing it without its lock fails the job): BullMQ
        // leaves a job that throws WaitingError alone, and its stalled-job check queues it again (or fails it,
        // the second time), as for a dead worker.
        throw new WaitingError('lost the queue lock');
      }
      if (entry.reason === 'cancel') {
        await this.finish(id, entry, 'cancelled', { result, reason: 'cancelled while running' });
        return;
      }
      // The program's doing is `completed` whatever it did; a sandbox that broke is runcell's failure.
      const broken = brokenRun(result);
      if (broken) await this.fail(id, entry, result, broken.error_code ?? 'exception', broken.message ?? 'the sandbox failed');
      else await this.finish(id, entry, 'completed', { result });
    } catch (error) {
      if (error instanceof DelayedError || error instanceof WaitingError) throw error;
      // Recorded here, with its code: BullMQ's own `failed` event then finds the job ended (see failed()).
      const code: JobErrorCode = error instanceof LanguageNotInstalledError ? 'language_not_installed' : 'exception';
      await this.fail(id, entry, null, code, `runcell could not run the job: ${(error as Error).message}`).catch((recordError: Error) =>
        this.logger.error({ job: id, err: recordError.message }, 'cannot record that a job failed'),
      );
      throw error;
    } finally {
      // A job retried here after a lost lock has a new entry already: leave it.
      if (this.active.get(id) === entry) this.active.delete(id);
    }
  }

  /** Runs the job in `slot`, sending its progress events. */
  private async runInSlot(id: string, entry: ActiveJob, slot: Slot, submission: JobSubmission): Promise<JobResult> {
    entry.slot = slot.index;
    // Progress events are not awaited: the connection keeps commands in order, so each still lands before the finish.
    const lostEvent = (error: Error) => this.logger.warn({ job: id, err: error.message }, 'cannot record a progress event');
    const events = (entry.events = new PendingEvents((batch) => void this.store.progress(id, batch, entry.owner).catch(lostEvent)));
    const event = (type: EventType, data: Record<string, unknown>) => events.push({ type, at: Date.now(), data });
    const live = new LiveLog({ emit: (data) => event('output', data) });
    try {
      const request = toJobRequest(submission);
      const context: JobContext = {
        sandbox: this.options.sandbox,
        slot,
        companion: this.options.slots.companion(slot),
        table: this.options.limits ?? LIMIT_TABLE,
        signal: entry.controller.signal,
        installed: this.options.languages,
        onOutput: (stream, chunk, step) => live.push(stream, chunk, step),
        onStep: (step, run) => {
          // The run's last output goes before the event that says it finished.
          live.endRun();
          const cached = 'cached' in run ? { cached: run.cached } : {};
          const checker = step === 'checker_compile' ? { checker: true } : step === 'interactor_compile' ? { interactor: true } : {};
          event(step === 'run' ? 'run_finished' : 'compile_finished', { status: run.status, ...cached, ...checker });
        },
        onArtifacts: (files) => this.store.putArtifacts(id, files),
        onStepFinished: (index, total, run) => {
          live.endRun();
          event('step_finished', { index, total, status: run.status });
        },
        onTest: (test, index, total) => {
          const data = { index, total, id: test.id, verdict: test.verdict, status: test.status, cpu_ms: test.cpu_ms, wall_ms: test.wall_ms, memory_peak_bytes: test.memory_peak_bytes };
          event('test_finished', data);
        },
        compileCache: this.options.compileCache,
        pullImage: this.pullImage,
        interactiveStdin: () => openInteractiveStdin({ redis: this.options.redis, commands: this.redis, jobId: id, slot, logger: this.logger }),
      };
      return submission.problem === undefined ? await runJob(context, request) : await runProblemJob(context, submission, request, this.problems);
    } finally {
      live.endRun();
      // Cleared with the slot: another job may take it while this one is still being stored.
      entry.slot = undefined;
    }
  }

  /** Records a job runcell could not run: failed, with its code, counted and logged. */
  private async fail(id: string, entry: ActiveJob, result: JobResult | null, code: JobErrorCode, reason: string): Promise<void> {
    await this.finish(id, entry, 'failed', { result, reason, error_code: code });
    this.options.metrics?.observeSandboxError(code);
    this.logger.error({ job: id, code, reason }, 'job failed');
  }

  /** Records the end in the store and, when this call ended it, in the metrics. */
  private async finish(id: string, entry: ActiveJob, status: EndStatus, outcome: JobOutcome & { result: JobResult | null }): Promise<void> {
    // The events still held go with the finish, before its terminal event.
    const recorded = await this.store.finish(id, status, outcome, Date.now(), entry.owner, entry.events?.take());
    if (recorded === 'superseded') this.logger.warn({ job: id, status }, 'result refused: another worker took the job over while this one was cut off');
    if (recorded !== 'ok') return;
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
    return { busy, idle: Math.max(0, this.concurrency - busy) };
  }

  /** Jobs holding a slot now, with a way to read their current run's cgroup. */
  private runningJobs(): RunningJob[] {
    const { sandbox } = this.options;
    return [...this.active.entries()].flatMap(([jobId, job]) =>
      job.slot === undefined ? [] : [{ jobId, slot: job.slot, language: job.language, stats: () => sandbox.liveStats(job.slot!) }],
    );
  }

  /**
   * BullMQ failed a job in this worker. A job whose processor threw was recorded by that processor (with its
   * code), so one still running or queued here is one whose workers died while running it, twice (BullMQ's
   * stalled-job check marked it to fail, and this worker took it): no need to read its reason.
   */
  private async failed(jobId: string): Promise<void> {
    const reason = 'its worker died twice while running it';
    if ((await this.store.finish(jobId, 'failed', { result: null, reason, error_code: 'worker_died' })) !== 'ok') return;
    this.logger.warn({ job: jobId, reason }, 'job failed');
    const { metrics } = this.options;
    if (!metrics) return;
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

  /**
   * Stops taking jobs, lets running ones finish within the shutdown timeout,
   * then kills the rest and gives them back to the queue.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.heartbeat);
      this.stopImageSweep?.();
      const deadline = setTimeout(() => {
        for (const jobId of this.active.keys()) this.stop(jobId, 'shutdown');
      }, this.options.shutdownTimeoutMs ?? 30_000);
      try {
        await Promise.all(this.workers.map((worker) => worker.close()));
      } finally {
        clearTimeout(deadline);
      }
      // Left in the registry, this worker drops out of /readyz's count once its heartbeats are old.
      await this.store.removeWorker(this.id, Object.keys(this.pools)).catch((error: Error) => this.logger.warn({ err: error.message }, 'cannot remove this worker from the registry'));
      this.subscriber.disconnect();
      this.redis.disconnect();
      this.options.sandbox.close();
      this.logger.info({ worker: this.id }, 'worker stopped');
    })();
    return this.closing;
  }
}
