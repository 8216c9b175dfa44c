/**
 * Worker pools: which queue a job waits in. Without pools (the default) every job goes to the one queue
 * ("jobs"), as before pools existed. With pools (RUNCELL_POOLS), each pool has a queue of its own and its
 * own workers and concurrency, and a job is routed at submission by its kind through one table of routes
 * (RUNCELL_POOL_ROUTES): judged jobs, whose timing must be accurate, need few jobs per CPU; I/O-bound CI
 * jobs many. The API routes; a worker serves the pools it is told to.
 */
import type { JobRequestInput } from '../contract/job-request.js';
import { QUEUE_NAME } from './store.js';

/** The kinds of job the routes name, in the order a job is classified (the first that fits). */
export const JOB_KINDS = ['egress', 'judged', 'program', 'command'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const KIND_MEANINGS: Record<JobKind, string> = {
  egress: 'a job with `"network": "egress"`',
  judged: 'a job with `tests`, an `interactor` or a stored `problem`',
  program: 'a `language` program without tests',
  command: 'a `command` or `steps` job (CI)',
};

/** The pool of every job when no pools are configured: BullMQ's queue "jobs", as before pools. */
export const DEFAULT_POOL = 'default';

/** Where each kind goes when pools are on and RUNCELL_POOL_ROUTES does not say otherwise. */
export const DEFAULT_ROUTES: Record<JobKind, string> = { egress: 'ci', judged: 'judge', program: 'judge', command: 'ci' };

/** A pool's name: it becomes part of Redis keys and a metrics label. */
export const POOL_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

export type Routes = Record<JobKind, string>;

export function jobKind(submission: JobRequestInput): JobKind {
  if (submission.network === 'egress') return 'egress';
  if (submission.tests || submission.interactor || submission.problem) return 'judged';
  if (submission.language) return 'program';
  return 'command';
}

/** The BullMQ queue of a pool: the default pool keeps the name it always had. */
export function poolQueueName(pool: string): string {
  return pool === DEFAULT_POOL ? QUEUE_NAME : `${QUEUE_NAME}-${pool}`;
}

/**
 * The API's routing: `routes` undefined = one pool (every job to the default queue). Answers the pool of a
 * submission, and the pools jobs may go to (each needs a worker: /readyz checks).
 */
export class Routing {
  readonly pools: string[];

  constructor(private readonly routes?: Routes) {
    this.pools = routes ? [...new Set(JOB_KINDS.map((kind) => routes[kind]))] : [DEFAULT_POOL];
  }

  get pooled(): boolean {
    return this.routes !== undefined;
  }

  pool(submission: JobRequestInput): string {
    return this.routes ? this.routes[jobKind(submission)] : DEFAULT_POOL;
  }
}

/**
 * The pools a worker serves with their concurrency: `asked` (`--pool`, may be empty) checked against the
 * configured pools (`configured` undefined = only the default pool). Throws, naming the pool, for one
 * nobody configured: a worker on a pool no job is routed to would sit idle unnoticed.
 */
export function workerPools(configured: Record<string, number> | undefined, asked: string[], concurrency: number, concurrencyGiven: boolean): Record<string, number> {
  const known = configured ?? { [DEFAULT_POOL]: concurrency };
  const names = asked.length > 0 ? asked : Object.keys(known);
  const pools: Record<string, number> = {};
  for (const name of names) {
    if (!(name in known)) {
      const where = configured ? `RUNCELL_POOLS names ${Object.keys(configured).join(', ')}` : `RUNCELL_POOLS is unset: the only pool is "${DEFAULT_POOL}"`;
      throw new Error(`unknown pool ${JSON.stringify(name)} (--pool): ${where}`);
    }
    pools[name] = concurrencyGiven ? concurrency : known[name];
  }
  return pools;
}
