/**
 * Interactive stdin carried through Redis: the API appends each write to a
 * stream of the job's own (one Lua script checks the job, its opt-in and the
 * caps, and appends, atomically); the worker running the job reads that
 * stream with XREAD BLOCK on a connection of its own and writes into the
 * pipe that is the program's stdin. The API and the worker may be on
 * different hosts: Redis is all they share.
 */
import type { Cluster, Redis } from 'ioredis';
import { STDIN_CAPS } from '../contract/stdin.js';
import { connect, type RedisTarget } from './connection.js';
import { keys, PREFIX } from './store.js';

/** The job's stdin stream: beside its hash, in the same Cluster slot. */
export const stdinKey = (id: string) => `${PREFIX}:stdin:${id}`;

/*
  One write to a job's stdin.
    Input: KEYS[1] job hash, KEYS[2] the job's stdin stream;
      ARGV[1] data (bytes), ARGV[2] eof ('1' or '0'), ARGV[3] most bytes in all, ARGV[4] most writes a second,
      ARGV[5] the current second (epoch)
    Output: {outcome, total bytes so far}; outcome ok | missing | finished | not_interactive | closed | too_large | rate
*/
const STDIN_WRITE = `
local job_key, stream_key = KEYS[1], KEYS[2]
local data, eof, max_total, per_second, second = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local status = redis.call('HGET', job_key, 'status')
if not status then return {'missing', '0'} end
local total = tonumber(redis.call('HGET', job_key, 'stdin_total') or '0')
if status ~= 'queued' and status ~= 'running' then return {'finished', tostring(total)} end
local request = cjson.decode(redis.call('HGET', job_key, 'request') or '{}')
if request['interactive_stdin'] ~= true then return {'not_interactive', '0'} end
if redis.call('HGET', job_key, 'stdin_closed') == '1' then return {'closed', tostring(total)} end
if total + string.len(data) > max_total then return {'too_large', tostring(total)} end
local writes = 0
if redis.call('HGET', job_key, 'stdin_second') == second then writes = tonumber(redis.call('HGET', job_key, 'stdin_writes') or '0') end
if writes >= per_second then return {'rate', tostring(total)} end
total = total + string.len(data)
redis.call('HSET', job_key, 'stdin_second', second, 'stdin_writes', writes + 1, 'stdin_total', total)
if eof == '1' then redis.call('HSET', job_key, 'stdin_closed', '1') end
redis.call('XADD', stream_key, '*', 'd', data, 'e', eof)
local ttl = redis.call('TTL', job_key)
if ttl > 0 then redis.call('EXPIRE', stream_key, ttl) end
return {'ok', tostring(total)}
`;

export type StdinOutcome = 'ok' | 'missing' | 'finished' | 'not_interactive' | 'closed' | 'too_large' | 'rate';

export interface StdinCaps {
  totalBytes: number;
  writesPerSecond: number;
}

/** The API's side: appends writes to jobs' stdin streams. */
export class StdinWriter {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly caps: StdinCaps = STDIN_CAPS,
  ) {
    redis.defineCommand('runcellStdinWrite', { numberOfKeys: 2, lua: STDIN_WRITE });
  }

  async write(id: string, data: Buffer, eof: boolean, now = Date.now()): Promise<{ outcome: StdinOutcome; totalBytes: number }> {
    const script = (this.redis as unknown as { runcellStdinWrite(...args: (string | Buffer | number)[]): Promise<[string, string]> }).runcellStdinWrite;
    const [outcome, total] = await script.call(this.redis, keys.job(id), stdinKey(id), data, eof ? '1' : '0', this.caps.totalBytes, this.caps.writesPerSecond, Math.floor(now / 1000));
    return { outcome: outcome as StdinOutcome, totalBytes: Number(total) };
  }
}

export interface StdinSink {
  /** Takes a chunk; a promise when the sink is full, resolved when it can take more. */
  write(chunk: Buffer): void | Promise<void>;
  /** The writer said eof. */
  end(): void;
}

/** How long one XREAD blocks before the loop looks again whether it was stopped. */
const BLOCK_MS = 1000;

/** The worker's side for one running job: follows its stdin stream into a sink, until eof or stop(). */
export class StdinReader {
  private readonly redis: Redis | Cluster;
  private stopped = false;

  /** `commands`: a connection of the caller's for the final DEL (this one may be blocked in XREAD then). */
  constructor(
    target: RedisTarget,
    private readonly jobId: string,
    private readonly commands: Redis | Cluster,
    private readonly logger: { warn(object: object, message?: string): void },
  ) {
    // Its own connection: XREAD BLOCK holds the connection it is sent on.
    this.redis = connect(target, 'worker', `worker-stdin-${jobId.slice(0, 8)}`);
    this.redis.on('error', (error: Error) => logger.warn({ job: jobId, err: error.message }, 'stdin connection error'));
  }

  /** Feeds the sink from the start of the stream; resolves at eof, or when stopped. */
  async run(sink: StdinSink): Promise<void> {
    let last = '0-0';
    while (!this.stopped) {
      let reply: [Buffer, [Buffer, Buffer[]][]][] | null;
      try {
        reply = (await this.redis.xreadBuffer('BLOCK', BLOCK_MS, 'STREAMS', stdinKey(this.jobId), last)) as typeof reply;
      } catch (error) {
        if (this.stopped) return; // stop() closed the connection under the blocked read
        throw error;
      }
      for (const [, entries] of reply ?? []) {
        for (const [id, flat] of entries) {
          last = id.toString();
          const fields = fieldsOf(flat);
          if (fields.d && fields.d.length > 0) await sink.write(fields.d);
          if (fields.e?.toString() === '1') {
            sink.end();
            return;
          }
        }
      }
    }
  }

  /** Ends the loop and the connection, and drops the stream: nobody reads it after the run. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.redis.disconnect();
    await this.commands.del(stdinKey(this.jobId)).catch((error: Error) => this.logger.warn({ job: this.jobId, err: error.message }, 'cannot remove the stdin stream (it expires with the job)'));
  }
}

function fieldsOf(flat: Buffer[]): Record<string, Buffer> {
  const fields: Record<string, Buffer> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i].toString()] = flat[i + 1];
  return fields;
}
