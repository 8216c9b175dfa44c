/**
 * The job store: one hash per job (status, times, request summary, result)
 * and one Redis stream of its events, beside BullMQ's own keys. BullMQ moves
 * the work; this store is what the API reports and what SSE replays. Status
 * changes are Lua scripts, so a cancel and a start cannot both win.
 */
import type { Cluster, Redis } from 'ioredis';
import { awaitReplica } from './connection.js';
import type { EndEventData, EventType, JobEvent } from '../contract/events.js';
import { TERMINAL_STATUSES, type JobOutcome, type JobRecord, type JobResult, type JobStatus, type RequestSummary, type TerminalStatus } from '../contract/job-record.js';

/** The job record GET /v1/jobs/:id returns. */
export type JobView = JobRecord;

/** The {runcell} hash tag keeps every key in one Cluster slot. */
export const PREFIX = '{runcell}';
export const QUEUE_NAME = 'jobs';

export const keys = {
  job: (id: string) => `${PREFIX}:job:${id}`,
  events: (id: string) => `${PREFIX}:events:${id}`,
  /** Hash of a job's artifacts: path -> content, expired with the job. */
  artifacts: (id: string) => `${PREFIX}:artifacts:${id}`,
  finished: `${PREFIX}:finished`,
  workers: `${PREFIX}:workers`,
  /** The workers serving one pool (sorted set: worker id by last heartbeat), beside `workers` (all of them). */
  poolWorkers: (pool: string) => `${PREFIX}:workers:pool:${pool}`,
  languages: `${PREFIX}:languages`,
  eventsChannel: `${PREFIX}:events`,
  cancelChannel: `${PREFIX}:cancel`,
};

export const TERMINAL: JobStatus[] = [...TERMINAL_STATUSES];

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

/*
  Ends a queued or running job: its status, outcome and terminal event, its expiry, and the finished index
  (trimmed to the most kept: the oldest jobs' keys go).
    Input:
      KEYS[1] job hash
      KEYS[2] job's events stream
      KEYS[3] finished index (sorted set: job id by finish time)
      KEYS[4] job's artifacts hash (may not exist)
      ARGV[1] status (completed | cancelled | failed)
      ARGV[2] now, epoch ms
      ARGV[3] outcome json ({result, reason, error_code})
      ARGV[4] ttl, seconds
      ARGV[5] most finished jobs kept
      ARGV[6] job key prefix (the job hash's key without the id)
      ARGV[7] events key prefix
      ARGV[8] job id
      ARGV[9] events channel
      ARGV[10] terminal event's data json
      ARGV[11] the finishing attempt's owner token ('' = any: the API's cancel, BullMQ's give-up)
      ARGV[12] artifacts key prefix
      ARGV[13] json array of the attempt's progress events not sent yet ({type, at, data}), emitted first
    Output: 'ok', 'finished' (already ended), 'missing', or 'superseded' (another attempt owns the job now)
*/
const FINISH = `${EMIT}
local job_key, events_key, finished_key, artifacts_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local status, now, outcome, ttl, max_finished = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local job_prefix, events_prefix, job_id, channel, event_data = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local owner = ARGV[11]
local current = redis.call('HGET', job_key, 'status')
if not current then return 'missing' end
if current ~= 'queued' and current ~= 'running' then return 'finished' end
if owner ~= '' and redis.call('HGET', job_key, 'owner') ~= owner then return 'superseded' end
redis.call('HSET', job_key, 'status', status, 'finished_at', now, 'outcome', outcome)
for _, event in ipairs(cjson.decode(ARGV[13])) do
  emit(events_key, channel, job_id, event.type, event.at, event.data)
end
emit(events_key, channel, job_id, status, now, event_data)
redis.call('EXPIRE', job_key, ttl)
redis.call('EXPIRE', events_key, ttl)
redis.call('EXPIRE', artifacts_key, ttl)
redis.call('ZADD', finished_key, now, job_id)
local excess = redis.call('ZCARD', finished_key) - max_finished
if excess > 0 then
  local oldest = redis.call('ZRANGE', finished_key, 0, excess - 1)
  for _, old in ipairs(oldest) do
    redis.call('DEL', job_prefix .. old, events_prefix .. old, ARGV[12] .. old)
  end
  redis.call('ZREMRANGEBYRANK', finished_key, 0, excess - 1)
end
return 'ok'
`;

/*
  A new queued job in one call (an ioredis MULTI builds a pipeline object per call: dearer than the script
  at high ingest rates).
    Input: KEYS[1] job hash, KEYS[2] job's events stream;
      ARGV[1] job id, ARGV[2] now (epoch ms), ARGV[3] request summary json, ARGV[4] ttl (seconds)
*/
const CREATE = `
local job_key, events_key = KEYS[1], KEYS[2]
local job_id, now, request, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
redis.call('HSET', job_key, 'id', job_id, 'status', 'queued', 'created_at', now, 'request', request, 'attempts', '0')
redis.call('XADD', events_key, '*', 'type', 'queued', 'at', now, 'data', '{}')
redis.call('EXPIRE', job_key, ttl)
redis.call('EXPIRE', events_key, ttl)
return 'ok'
`;

/*
  Progress events, in order, in one round trip.
    Input: KEYS[1] job's events stream, KEYS[2] job hash; ARGV[1] events channel, ARGV[2] job id,
      ARGV[3] json array of {type, at (epoch ms), data (json text)}, ARGV[4] the sending attempt's owner token ('' = any)
    Output: 'ok', or 'superseded' (another attempt owns the job now: its events are not this one's)
*/
const EVENT = `${EMIT}
local events_key, job_key = KEYS[1], KEYS[2]
local channel, job_id, events, owner = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if owner ~= '' and redis.call('HGET', job_key, 'owner') ~= owner then return 'superseded' end
for _, event in ipairs(cjson.decode(events)) do
  emit(events_key, channel, job_id, event.type, event.at, event.data)
end
return 'ok'
`;

/*
  queued|running -> running, unless a cancel was asked for. The attempt's owner token fences the attempts:
  once another attempt has started (the job was taken back from a worker cut off from Redis), the earlier
  attempt's events and result are refused.
    Input: KEYS[1] job hash, KEYS[2] job's events stream;
      ARGV[1] now (epoch ms), ARGV[2] worker id, ARGV[3] job id, ARGV[4] events channel, ARGV[5] owner token
    Output: 'ok', 'cancel_requested', 'missing', or the terminal status found
*/
const START = `${EMIT}
local job_key, events_key = KEYS[1], KEYS[2]
local now, worker, job_id, channel, owner = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local status = redis.call('HGET', job_key, 'status')
if not status then return 'missing' end
if status ~= 'queued' and status ~= 'running' then return status end
if redis.call('HGET', job_key, 'cancel_requested') == '1' then return 'cancel_requested' end
redis.call('HSET', job_key, 'status', 'running', 'started_at', now, 'worker', worker, 'owner', owner)
redis.call('HINCRBY', job_key, 'attempts', 1)
emit(events_key, channel, job_id, 'started', now, cjson.encode({worker = worker}))
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

export interface JobStoreOptions {
  /** Wait for a replica to acknowledge each recorded end (Sentinel and Cluster; see awaitReplica). */
  awaitReplica?: boolean;
  logger?: { warn(object: object, message?: string): void };
}

export class JobStore {
  private readonly retention: Required<RetentionOptions>;

  constructor(
    readonly redis: Client,
    retention: RetentionOptions = {},
    private readonly options: JobStoreOptions = {},
  ) {
    this.retention = { ...DEFAULT_RETENTION, ...retention };
    redis.defineCommand('runcellFinish', { numberOfKeys: 4, lua: FINISH });
    redis.defineCommand('runcellStart', { numberOfKeys: 2, lua: START });
    redis.defineCommand('runcellRequestCancel', { numberOfKeys: 1, lua: REQUEST_CANCEL });
    redis.defineCommand('runcellEvent', { numberOfKeys: 2, lua: EVENT });
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
    await this.redis.del(keys.job(id), keys.events(id), keys.artifacts(id));
  }

  /** queued|running -> running. Answers 'ok', or why not ('cancelled', 'cancel_requested', 'missing', ...). */
  start(id: string, worker: string, now = Date.now(), owner = worker): Promise<string> {
    return this.scripts.runcellStart(keys.job(id), keys.events(id), now, worker, id, keys.eventsChannel, owner);
  }

  /**
   * queued|running -> a terminal status, with its result or reason; answers 'ok', 'finished', 'missing',
   * or 'superseded' when `owner` is given and another attempt owns the job now.
   */
  async finish(id: string, status: TerminalStatus, outcome: JobOutcome, now = Date.now(), owner = '', pending: ProgressEvent[] = []): Promise<string> {
    // The event says how it ended; the whole result is in the job, not repeated in the stream.
    const eventData = { ...(outcome.reason ? { reason: outcome.reason } : {}), ...(outcome.error_code ? { error_code: outcome.error_code } : {}), ...summarizeResult(outcome.result) };
    const ttl = status === 'failed' ? this.retention.failedSeconds : this.retention.completedSeconds;
    const answer = await this.scripts.runcellFinish(
      keys.job(id),
      keys.events(id),
      keys.finished,
      keys.artifacts(id),
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
      owner,
      keys.artifacts(''),
      eventsJson(pending),
    );
    if (answer === 'ok' && this.options.awaitReplica) await this.replicated();
    return answer;
  }

  /** Waits until a replica has what this store's connection wrote (see awaitReplica). */
  replicated(): Promise<number> {
    return awaitReplica(this.redis, (message, detail) => this.options.logger?.warn(detail, message));
  }

  /**
   * Keeps a job's artifacts (call before finish(), which gives them the job's retention). Until then they
   * expire like a queued job, so that a worker dying in between leaves nothing for good.
   */
  async putArtifacts(id: string, files: { path: string; content: Buffer }[]): Promise<void> {
    const key = keys.artifacts(id);
    const ttl = Math.max(this.retention.completedSeconds, this.retention.failedSeconds) + 86_400;
    // A second attempt of the job (its first worker died) replaces the first's.
    const multi = this.redis.multi().del(key);
    for (const file of files) multi.hset(key, file.path, file.content);
    await multi.expire(key, ttl).exec();
  }

  /** One artifact's content, or undefined. */
  async artifact(id: string, path: string): Promise<Buffer | undefined> {
    return (await this.redis.hgetBuffer(keys.artifacts(id), path)) ?? undefined;
  }

  /** Every artifact of a job, path -> content. */
  async artifacts(id: string): Promise<Map<string, Buffer>> {
    const all = await this.redis.hgetallBuffer(keys.artifacts(id));
    return new Map(Object.entries(all));
  }

  /** Answers the status found; a queued or running job is marked so that no worker starts it and its worker stops it. */
  requestCancel(id: string): Promise<string> {
    return this.scripts.runcellRequestCancel(keys.job(id));
  }

  /** Appends a progress event (compile_finished, run_finished). */
  event(id: string, type: EventType, data: Record<string, unknown>, now = Date.now(), owner = ''): Promise<string> {
    return this.progress(id, [{ type, at: now, data }], owner);
  }

  /** Appends progress events, in order, in one round trip. */
  progress(id: string, events: ProgressEvent[], owner = ''): Promise<string> {
    return this.scripts.runcellEvent(keys.events(id), keys.job(id), keys.eventsChannel, id, eventsJson(events), owner);
  }

  async get(id: string): Promise<JobView | undefined> {
    const fields = await this.redis.hgetall(keys.job(id));
    if (!fields.status) return undefined;
    const created = Number(fields.created_at);
    const started = fields.started_at ? Number(fields.started_at) : null;
    const finished = fields.finished_at ? Number(fields.finished_at) : null;
    const outcome = fields.outcome ? (JSON.parse(fields.outcome) as JobOutcome) : {};
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
    if (outcome.error_code) view.error_code = outcome.error_code;
    return view;
  }

  /** Events of a job after `afterId` (exclusive; '-' for all). */
  async events(id: string, afterId = '-'): Promise<JobEvent[]> {
    const start = afterId === '-' ? '-' : `(${afterId}`;
    const entries = await this.redis.xrange(keys.events(id), start, '+');
    return entries.map(([entryId, fields]) => toEvent(id, entryId, fields));
  }

  /**
   * Worker registry: each worker process says it is alive every few seconds, in the registry of all
   * workers and in that of each pool it serves.
   */
  async heartbeat(workerId: string, now = Date.now(), pools: string[] = []): Promise<void> {
    for (const key of [keys.workers, ...pools.map(keys.poolWorkers)]) {
      await this.redis.zadd(key, now, workerId);
      await this.redis.zremrangebyscore(key, 0, now - 3_600_000);
    }
  }

  async removeWorker(workerId: string, pools: string[] = []): Promise<void> {
    for (const key of [keys.workers, ...pools.map(keys.poolWorkers)]) await this.redis.zrem(key, workerId);
  }

  /** Workers seen within `withinMs`: all of them, or those serving `pool`. */
  async liveWorkers(withinMs: number, pool?: string, now = Date.now()): Promise<string[]> {
    return this.redis.zrangebyscore(pool === undefined ? keys.workers : keys.poolWorkers(pool), now - withinMs, '+inf');
  }
}

/** A progress event not recorded yet. */
export interface ProgressEvent {
  type: EventType;
  /** Epoch ms. */
  at: number;
  data: Record<string, unknown>;
}

/** The scripts' form: each event's data as JSON text, as the stream keeps it (an empty Lua table would encode as {}, not []). */
function eventsJson(events: ProgressEvent[]): string {
  return events.length === 0 ? '[]' : JSON.stringify(events.map(({ type, at, data }) => ({ type, at: String(at), data: JSON.stringify(data) })));
}

/** The statuses of the steps, for the terminal event. */
function summarizeResult(result: JobResult | null | undefined): EndEventData {
  if (!result) return {};
  const judged = result.verdict ? { verdict: result.verdict, counts: result.counts } : {};
  return { ...(result.compile ? { compile_status: result.compile.status } : {}), run_status: result.run?.status ?? null, ...judged };
}

/** Parses an announcement published by the scripts or by event(). */
export function parseAnnouncement(message: string): JobEvent | undefined {
  try {
    const raw = JSON.parse(message) as { job_id: string; id: string; type: EventType; at: string; data: string };
    // Written by this module's scripts in the contract's shape: cast, not parsed again on every event.
    return { id: raw.id, job_id: raw.job_id, type: raw.type, at: new Date(Number(raw.at)).toISOString(), data: JSON.parse(raw.data) } as JobEvent;
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
    data: JSON.parse(fields.data ?? '{}'),
  } as JobEvent;
}
