/**
 * The job store: one hash per job (status, times, request summary, result)
 * and one Redis stream of its events, beside BullMQ's own keys. BullMQ moves
 * the work; this store is what the API reports and what SSE replays. Status
 * changes are Lua scripts, so a cancel and a start cannot both win.
 */
import type { Cluster, Redis } from 'ioredis';
import type { JobResult } from '../worker/job.js';

/** The {runcell} hash tag keeps every key in one Cluster slot. */
export const PREFIX = '{runcell}';
export const QUEUE_NAME = 'jobs';

export const keys = {
  job: (id: string) => `${PREFIX}:job:${id}`,
  events: (id: string) => `${PREFIX}:events:${id}`,
  finished: `${PREFIX}:finished`,
  workers: `${PREFIX}:workers`,
  languages: `${PREFIX}:languages`,
  eventsChannel: `${PREFIX}:events`,
  cancelChannel: `${PREFIX}:cancel`,
};

export const JOB_STATUSES = ['queued', 'running', 'completed', 'cancelled', 'failed'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL: JobStatus[] = ['completed', 'cancelled', 'failed'];

export const EVENT_TYPES = ['queued', 'started', 'compile_finished', 'run_finished', 'test_finished', 'completed', 'cancelled', 'failed'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface JobEvent {
  /** Stream entry id: increases, usable as an SSE id. */
  id: string;
  job_id: string;
  type: EventType;
  at: string;
  data: Record<string, unknown>;
}

/** The request as accepted, without file contents. */
export interface RequestSummary {
  language?: string;
  command?: string[];
  files: { path: string; encoding: string; size_bytes: number }[];
  stdin_bytes: number;
  args?: string[];
  env_names?: string[];
  limits?: Record<string, number>;
  compile_limits?: Record<string, number>;
  seccomp_profile?: string;
  /** Judged jobs: how many tests and their ids (not their contents). */
  tests?: { count: number; ids: string[] };
  comparison?: { mode: string; absolute?: number; relative?: number };
  checker?: { language: string; files: string[] };
  stop_on_first_failure?: boolean;
}

export interface JobView {
  id: string;
  status: JobStatus;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  queue_wait_ms: number | null;
  request: RequestSummary;
  result: JobResult | null;
  reason?: string;
}

export interface RetentionOptions {
  /** Seconds a completed or cancelled job is kept. Default 3600. */
  completedSeconds?: number;
  /** Most finished jobs kept; the oldest go first. Default 100,000. */
  maxFinished?: number;
  /** Seconds a failed job is kept. Default 86,400. */
  failedSeconds?: number;
}

export const DEFAULT_RETENTION: Required<RetentionOptions> = { completedSeconds: 3600, maxFinished: 100_000, failedSeconds: 86_400 };

// Appends an event and announces it; shared by the scripts below.
const EMIT = `
local function emit(events_key, channel, job_id, type, at, data)
  local entry = redis.call('XADD', events_key, '*', 'type', type, 'at', at, 'data', data)
  redis.call('PUBLISH', channel, cjson.encode({job_id = job_id, id = entry, type = type, at = at, data = data}))
end
`;

// KEYS[1] job, KEYS[2] events, KEYS[3] finished index
// ARGV: status, now(ms), outcome json, ttl, max finished, job key prefix, events key prefix, id, channel, event data json
const FINISH = `${EMIT}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status ~= 'queued' and status ~= 'running' then return 'finished' end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2], 'outcome', ARGV[3])
emit(KEYS[2], ARGV[9], ARGV[8], ARGV[1], ARGV[2], ARGV[10])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[8])
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[5])
if excess > 0 then
  local oldest = redis.call('ZRANGE', KEYS[3], 0, excess - 1)
  for _, old in ipairs(oldest) do
    redis.call('DEL', ARGV[6] .. old, ARGV[7] .. old)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, excess - 1)
end
return 'ok'
`;

// KEYS[1] job, KEYS[2] events; ARGV: id, now, request json, ttl. A new queued job in one call
// (an ioredis MULTI builds a pipeline object per call: dearer than the script at high ingest rates).
const CREATE = `
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'status', 'queued', 'created_at', ARGV[2], 'request', ARGV[3], 'attempts', '0')
redis.call('XADD', KEYS[2], '*', 'type', 'queued', 'at', ARGV[2], 'data', '{}')
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 'ok'
`;

// KEYS[1] events; ARGV: channel, id, type, now, data json. One round trip for a progress event.
const EVENT = `${EMIT}
emit(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 'ok'
`;

// KEYS[1] job, KEYS[2] events; ARGV: now, worker, id, channel
const START = `${EMIT}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status ~= 'queued' and status ~= 'running' then return status end
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then return 'cancel_requested' end
redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[1], 'worker', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
emit(KEYS[2], ARGV[4], ARGV[3], 'started', ARGV[1], cjson.encode({worker = ARGV[2]}))
return 'ok'
`;

// KEYS[1] job. Answers the status it found; marks a queued or running job, so that
// START refuses it and its worker stops it.
const REQUEST_CANCEL = `
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status == 'queued' or status == 'running' then redis.call('HSET', KEYS[1], 'cancel_requested', '1') end
return status
`;

type Client = Redis | Cluster;

interface Scripted {
  runcellFinish(...args: (string | number)[]): Promise<string>;
  runcellStart(...args: (string | number)[]): Promise<string>;
  runcellRequestCancel(...args: (string | number)[]): Promise<string>;
  runcellEvent(...args: (string | number)[]): Promise<string>;
  runcellCreate(...args: (string | number)[]): Promise<string>;
}

export class JobStore {
  private readonly retention: Required<RetentionOptions>;

  constructor(
    readonly redis: Client,
    retention: RetentionOptions = {},
  ) {
    this.retention = { ...DEFAULT_RETENTION, ...retention };
    redis.defineCommand('runcellFinish', { numberOfKeys: 3, lua: FINISH });
    redis.defineCommand('runcellStart', { numberOfKeys: 2, lua: START });
    redis.defineCommand('runcellRequestCancel', { numberOfKeys: 1, lua: REQUEST_CANCEL });
    redis.defineCommand('runcellEvent', { numberOfKeys: 1, lua: EVENT });
    redis.defineCommand('runcellCreate', { numberOfKeys: 2, lua: CREATE });
  }

  private get scripts(): Scripted {
    return this.redis as unknown as Scripted;
  }

  /** Records a new queued job (call before handing it to BullMQ); returns the queued event. */
  async create(id: string, request: RequestSummary, now = Date.now()): Promise<void> {
    // A queued job that never finishes still expires, a day after the longest retention.
    const ttl = Math.max(this.retention.completedSeconds, this.retention.failedSeconds) + 86_400;
    await this.scripts.runcellCreate(keys.job(id), keys.events(id), id, now, JSON.stringify(request), ttl);
  }

  /** Undoes create() when the queue refused the job. */
  async discard(id: string): Promise<void> {
    await this.redis.del(keys.job(id), keys.events(id));
  }

  /** queued|running -> running. Answers 'ok', or why not ('cancelled', 'cancel_requested', 'missing', ...). */
  start(id: string, worker: string, now = Date.now()): Promise<string> {
    return this.scripts.runcellStart(keys.job(id), keys.events(id), now, worker, id, keys.eventsChannel);
  }

  /** queued|running -> a terminal status, with its result or reason; answers 'ok', 'finished' or 'missing'. */
  finish(id: string, status: 'completed' | 'cancelled' | 'failed', outcome: { result?: JobResult | null; reason?: string }, now = Date.now()): Promise<string> {
    // The event says how it ended; the whole result is in the job, not repeated in the stream.
    const eventData = { ...(outcome.reason ? { reason: outcome.reason } : {}), ...summarizeResult(outcome.result) };
    const ttl = status === 'failed' ? this.retention.failedSeconds : this.retention.completedSeconds;
    return this.scripts.runcellFinish(
      keys.job(id),
      keys.events(id),
      keys.finished,
      status,
      now,
      JSON.stringify(outcome),
      ttl,
      this.retention.maxFinished,
      keys.job(''),
      keys.events(''),
      id,
      keys.eventsChannel,
      JSON.stringify(eventData),
    );
  }

  /** Answers the status found; a queued or running job is marked so that no worker starts it and its worker stops it. */
  requestCancel(id: string): Promise<string> {
    return this.scripts.runcellRequestCancel(keys.job(id));
  }

  /** Appends a progress event (compile_finished, run_finished). */
  async event(id: string, type: EventType, data: Record<string, unknown>, now = Date.now()): Promise<void> {
    await this.scripts.runcellEvent(keys.events(id), keys.eventsChannel, id, type, now, JSON.stringify(data));
  }

  async get(id: string): Promise<JobView | undefined> {
    const fields = await this.redis.hgetall(keys.job(id));
    if (!fields.status) return undefined;
    const created = Number(fields.created_at);
    const started = fields.started_at ? Number(fields.started_at) : null;
    const finished = fields.finished_at ? Number(fields.finished_at) : null;
    const outcome = fields.outcome ? (JSON.parse(fields.outcome) as { result?: JobResult | null; reason?: string }) : {};
    const view: JobView = {
      id,
      status: fields.status as JobStatus,
      created_at: new Date(created).toISOString(),
      started_at: started === null ? null : new Date(started).toISOString(),
      finished_at: finished === null ? null : new Date(finished).toISOString(),
      queue_wait_ms: started === null ? null : started - created,
      request: JSON.parse(fields.request) as RequestSummary,
      result: outcome.result ?? null,
    };
    if (outcome.reason) view.reason = outcome.reason;
    return view;
  }

  /** Events of a job after `afterId` (exclusive; '-' for all). */
  async events(id: string, afterId = '-'): Promise<JobEvent[]> {
    const start = afterId === '-' ? '-' : `(${afterId}`;
    const entries = await this.redis.xrange(keys.events(id), start, '+');
    return entries.map(([entryId, fields]) => toEvent(id, entryId, fields));
  }

  /** Worker registry: each worker process says it is alive every few seconds. */
  async heartbeat(workerId: string, now = Date.now()): Promise<void> {
    await this.redis.zadd(keys.workers, now, workerId);
    await this.redis.zremrangebyscore(keys.workers, 0, now - 3_600_000);
  }

  async removeWorker(workerId: string): Promise<void> {
    await this.redis.zrem(keys.workers, workerId);
  }

  /** Workers seen within `withinMs`. */
  async liveWorkers(withinMs: number, now = Date.now()): Promise<string[]> {
    return this.redis.zrangebyscore(keys.workers, now - withinMs, '+inf');
  }
}

/** The statuses of the steps, for the terminal event. */
function summarizeResult(result: JobResult | null | undefined): Record<string, unknown> {
  if (!result) return {};
  const judged = result.verdict ? { verdict: result.verdict, counts: result.counts } : {};
  return { ...(result.compile ? { compile_status: result.compile.status } : {}), run_status: result.run?.status ?? null, ...judged };
}

/** Parses an announcement published by the scripts or by event(). */
export function parseAnnouncement(message: string): JobEvent | undefined {
  try {
    const raw = JSON.parse(message) as { job_id: string; id: string; type: EventType; at: string; data: string };
    return { id: raw.id, job_id: raw.job_id, type: raw.type, at: new Date(Number(raw.at)).toISOString(), data: JSON.parse(raw.data) as Record<string, unknown> };
  } catch {
    return undefined;
  }
}

function toEvent(jobId: string, entryId: string, flat: string[]): JobEvent {
  const fields: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
  return {
    id: entryId,
    job_id: jobId,
    type: fields.type as EventType,
    at: new Date(Number(fields.at)).toISOString(),
    data: JSON.parse(fields.data ?? '{}') as Record<string, unknown>,
  };
}
