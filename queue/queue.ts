/**
 * JobQueue: the producer side, used by the API. Records a job in the store,
 * hands it to BullMQ, answers for it, cancels it.
 */
import { randomUUID } from 'node:crypto';
import { Queue, type ConnectionOptions } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { JobRequestInput } from '../contract/job-request.js';
import { CONTRACT_VERSION, type QueuedJob } from '../contract/queued-job.js';
import { awaitReplica, connect, type RedisTarget } from './connection.js';
import { EventHub } from './events.js';
import { ImageRegistry } from './images.js';
import { poolQueueName, Routing, type Routes } from './pools.js';
import { DEFAULT_RETENTION, JobStore, keys, PREFIX, TERMINAL, type JobView, type RetentionOptions } from './store.js';
import { summarize } from './submission.js';

/** Where the queue reports what it swallows (errors it answers for itself). */
export interface QueueLogger {
  warn(object: object, message?: string): void;
}

export interface JobQueueOptions {
  redis: RedisTarget;
  /** Jobs waiting (not yet running) beyond which submissions are refused. Default 10,000. */
  maxBacklog?: number;
  retention?: RetentionOptions;
  logger?: QueueLogger;
  /** Worker pools: the pool of each kind of job (RUNCELL_POOL_ROUTES). Default: one pool, one queue. */
  routes?: Routes;
}

export class QueueFullError extends Error {}

export type CancelOutcome = 'cancelled' | 'cancelling' | 'missing' | 'finished';

/** What every queued BullMQ job carries: the submission, whole, and the contract version it was accepted under. */
export type QueuedJobData = QueuedJob;

const BACKLOG_CACHE_MS = 100;

interface BulkJob {
  name: string;
  data: QueuedJobData;
  opts: { jobId: string; removeOnComplete: boolean; removeOnFail: { age: number }; attempts: number };
}

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
}

/** "waiting" counts every job not yet taken: plain, prioritized and those waiting for children. */
async function poolCounts(queue: Queue): Promise<QueueCounts> {
  const counts = await queue.getJobCounts('wait', 'prioritized', 'waiting-children', 'active', 'delayed', 'failed', 'completed');
  return {
    waiting: (counts.wait ?? 0) + (counts.prioritized ?? 0) + (counts['waiting-children'] ?? 0),
    active: counts.active ?? 0,
    delayed: counts.delayed ?? 0,
    failed: counts.failed ?? 0,
    completed: counts.completed ?? 0,
  };
}

export class JobQueue {
  readonly store: JobStore;
  readonly hub: EventHub;
  readonly redis: Redis | Cluster;
  /** Users' images (POST /v1/images): jobs naming one mark it used. */
  readonly images: ImageRegistry;
  readonly routing: Routing;
  /** Each pool's BullMQ queue, by pool name. */
  private readonly queues = new Map<string, Queue>();
  /** BullMQ's connection for adding jobs: runcell's own, so that it can wait on it for a replica (see submit). */
  private readonly queueClient: Redis | Cluster;
  /** Sentinel and Cluster: a submission is answered once a replica has it (a failover then cannot lose it). */
  private readonly awaitReplica: boolean;
  private readonly maxBacklog: number;
  private readonly retention: Required<RetentionOptions>;
  private backlogCache = { value: 0, at: 0 };
  private readonly logger: QueueLogger;

  constructor(options: JobQueueOptions) {
    this.logger = options.logger ?? { warn() {} };
    this.redis = connect(options.redis, 'api', 'api');
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    this.store = new JobStore(this.redis, this.retention);
    this.images = new ImageRegistry(this.redis);
    this.hub = new EventHub(connect(options.redis, 'subscriber', 'api-events'), this.store, this.logger);
    this.awaitReplica = options.redis.kind !== 'single';
    this.queueClient = connect(options.redis, 'api', 'api-queue');
    this.queueClient.on('error', (error: Error) => this.logger.warn({ err: error.message }, 'queue connection error'));
    this.routing = new Routing(options.routes);
    for (const pool of this.routing.pools) {
      const queue = new Queue(poolQueueName(pool), { connection: this.queueClient as unknown as ConnectionOptions, prefix: PREFIX });
      // Callers hear of an unreachable Redis as 503s and ioredis reconnects by itself: a line per error is enough.
      queue.on('error', (error: Error) => this.logger.warn({ err: error.message }, 'queue connection error'));
      this.queues.set(pool, queue);
    }
    this.redis.on('error', (error: Error) => this.logger.warn({ err: error.message }, 'redis connection error'));
    this.maxBacklog = options.maxBacklog ?? 10_000;
  }

  /** Whether Redis answers now. */
  async ping(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  get connected(): boolean {
    return this.redis.status === 'ready';
  }

  /** Jobs waiting in all pools together: RUNCELL_MAX_BACKLOG bounds what Redis holds, whichever pool. */
  async backlog(): Promise<number> {
    const now = Date.now();
    if (now - this.backlogCache.at > BACKLOG_CACHE_MS) {
      const counts = await Promise.all([...this.queues.values()].map((queue) => queue.getJobCounts('wait', 'delayed', 'prioritized')));
      this.backlogCache = { value: counts.flatMap((c) => Object.values(c)).reduce((a, b) => a + b, 0), at: now };
    }
    return this.backlogCache.value;
  }

  /** An accepted job's image was used now (GET /v1/images' last_used, the unused-image sweep); no round trip for jobs without one. */
  private async markImagesUsed(submissions: JobRequestInput[]): Promise<void> {
    const names = new Set(submissions.map((submission) => submission.image).filter((name): name is string => name !== undefined));
    for (const name of names) await this.images.use(name);
  }

  /** Queues jobs (all or none); answers their ids. Throws QueueFullError past the backlog limit. */
  async submit(submissions: JobRequestInput[]): Promise<string[]> {
    if ((await this.backlog()) + submissions.length > this.maxBacklog) {
      throw new QueueFullError(`the queue holds ${this.maxBacklog} or more waiting jobs; try again later`);
    }
    this.backlogCache.value += submissions.length;
    const ids = submissions.map(() => randomUUID());
    const now = Date.now();
    await Promise.all(ids.map((id, i) => this.store.create(id, summarize(submissions[i]), now)));
    try {
      await Promise.all([...this.byPool(ids, submissions)].map(([pool, jobs]) => this.add(this.queues.get(pool)!, jobs)));
      if (this.awaitReplica) await awaitReplica(this.queueClient, (message, detail) => this.logger.warn(detail, message));
    } catch (error) {
      // The refusal is what the caller hears; a record left behind expires with its TTL.
      await Promise.all(ids.map((id) => this.store.discard(id).catch((discardError: Error) => this.logger.warn({ job: id, err: discardError.message }, 'cannot discard a job the queue refused'))));
      throw error;
    }
    // Best effort: the jobs are queued whatever; a missed mark is made up by the worker's when it runs them.
    await this.markImagesUsed(submissions).catch((error: Error) => this.logger.warn({ err: error.message }, "cannot mark a job's image used"));
    return ids;
  }

  /** The BullMQ jobs of a submission, grouped by the pool the routing sends each to. */
  private byPool(ids: string[], submissions: JobRequestInput[]): Map<string, BulkJob[]> {
    const pools = new Map<string, BulkJob[]>();
    ids.forEach((id, i) => {
      const pool = this.routing.pool(submissions[i]);
      const job: BulkJob = {
        name: 'job',
        data: { version: CONTRACT_VERSION, submission: submissions[i] } satisfies QueuedJobData,
        // The store keeps the result; BullMQ's copy (with the files) goes at once.
        opts: { jobId: id, removeOnComplete: true, removeOnFail: { age: this.retention.failedSeconds }, attempts: 1 },
      };
      pools.set(pool, [...(pools.get(pool) ?? []), job]);
    });
    return pools;
  }

  private async add(queue: Queue, jobs: BulkJob[]): Promise<void> {
    // One job: a single script call; addBulk goes through a MULTI, dearer per call.
    if (jobs.length === 1) await queue.add(jobs[0].name, jobs[0].data, jobs[0].opts);
    else await queue.addBulk(jobs);
  }

  get(id: string): Promise<JobView | undefined> {
    return this.store.get(id);
  }

  /**
   * Cancels a queued job at once; asks the worker of a running one to kill
   * it. 'finished' for a job that had already ended.
   */
  async cancel(id: string): Promise<CancelOutcome> {
    const found = await this.store.requestCancel(id);
    if (found === 'missing') return 'missing';
    if ((TERMINAL as string[]).includes(found)) return 'finished';
    if (found === 'queued') {
      // Removed from the queue: nobody will run it. If a worker got it first, it sees the request and stops.
      if (await this.removeQueued(id)) {
        await this.store.finish(id, 'cancelled', { result: null, reason: 'cancelled while queued' });
        return 'cancelled';
      }
    }
    await this.redis.publish(keys.cancelChannel, id);
    return 'cancelling';
  }

  /**
   * Removes a job still waiting from its pool's queue; answers whether it did. The record does not say
   * which pool holds it, and pools are few: the one whose queue has the job is looked for (BullMQ's remove
   * answers 1 for a job its queue never had).
   */
  private async removeQueued(id: string): Promise<boolean> {
    for (const [pool, queue] of this.queues) {
      if (this.routing.pooled && !(await this.redis.exists(`${PREFIX}:${poolQueueName(pool)}:${id}`))) continue;
      const removed = await queue.remove(id).catch((error: Error) => {
        // Then the worker that holds it (or takes it) sees the cancel request and stops it.
        this.logger.warn({ job: id, err: error.message }, 'cannot remove a cancelled job from the queue');
        return 0;
      });
      return removed === 1;
    }
    return false;
  }

  /** Jobs in BullMQ by pool and state (for monitoring). */
  async jobCounts(): Promise<Record<string, QueueCounts>> {
    const pools = [...this.queues.entries()];
    const counts = await Promise.all(pools.map(([, queue]) => poolCounts(queue)));
    return Object.fromEntries(pools.map(([pool], i) => [pool, counts[i]]));
  }

  /** Jobs in BullMQ by state, all pools together. */
  async jobTotals(): Promise<QueueCounts> {
    const totals: QueueCounts = { waiting: 0, active: 0, delayed: 0, failed: 0, completed: 0 };
    for (const counts of Object.values(await this.jobCounts())) {
      for (const state of Object.keys(totals) as (keyof QueueCounts)[]) totals[state] += counts[state];
    }
    return totals;
  }

  /** Workers seen in the last `withinMs`, of every pool (`pool` undefined) or serving `pool`. */
  liveWorkers(withinMs: number, pool?: string): Promise<string[]> {
    return this.store.liveWorkers(withinMs, pool);
  }

  /** The languages
  /** The languages the workers' rootfs offers, with versions (as the workers published them). */
  async languages(): Promise<Record<string, string> | undefined> {
    const raw = await this.redis.get(keys.languages);
    return raw ? (JSON.parse(raw) as Record<string, string>) : undefined;
  }

  async close(): Promise<void> {
    await this.hub.close();
    for (const queue of this.queues.values()) {
      await queue.close().catch((error: Error) => this.logger.warn({ err: error.message }, 'error while closing the queue'));
    }
    // BullMQ leaves a connection it was given open.
    this.queueClient.disconnect();
    this.redis.disconnect();
  }
}
