/**
 * Judge0's callback_url: when a submission's job has ended, PUT the
 * submission (the eight default fields, as GET /submissions/:token shows
 * them, always base64, as Judge0 sends it whatever the submission asked) to its URL.
 *
 * Who sends it: any API process. A callback is a Redis entry (a sorted set
 * of tokens by when each is next due, and a hash per token), written with
 * the submission; every API process polls the set, claims a due entry for a
 * lease (a Lua script: one process at a time), and sends it once the job has
 * ended. So a callback survives the death of the API process that accepted
 * the submission (another claims it when the lease runs out: at least once,
 * as Judge0's), and needs no worker change (workers stay without egress).
 *
 * Where it may go: resolved once, checked (callback-address.ts), and sent to
 * that very address (the Host header and TLS name keep the URL's host): a
 * DNS answer cannot change between the check and the connection. Redirects
 * are not followed.
 */
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { JobQueue } from '../../queue/queue.js';
import { PREFIX, TERMINAL } from '../../queue/store.js';
import { forbiddenAddress } from './callback-address.js';
import type { Judge0Language } from './languages.js';
import { DEFAULT_FIELDS, selectFields, submissionView } from './render.js';
import { loadSubmissions } from './store.js';

export interface CallbackOptions {
  /** Send to loopback, private, link-local... addresses too (RUNCELL_JUDGE0_CALLBACK_PRIVATE). Default false. */
  allowPrivate?: boolean;
  /** Attempts in all (Judge0's CALLBACKS_MAX_TRIES: 3). */
  tries?: number;
  /** Wait before the 2nd attempt; doubled for each next one. */
  backoffMs?: number;
  /** One attempt's time (Judge0's CALLBACKS_TIMEOUT: 5 s). */
  timeoutMs?: number;
  /** How often each API process looks for due callbacks. */
  pollMs?: number;
}

const DUE = `${PREFIX}:judge0:callbacks`;
const entryKey = (token: string) => `${PREFIX}:judge0:callback:${token}`;
/** A claimed entry is not due again before this: longer than one attempt, so two processes never send at once. */
const LEASE_MS = 60_000;
/** An entry outlives any job record (queue/store.ts retention), and is removed when sent or given up. */
const ENTRY_TTL_SECONDS = 2 * 86_400;
const BATCH = 20;

const CLAIM = `
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1`;

/** Records a callback for a submission just accepted (its job is queued). */
export async function scheduleCallback(queue: JobQueue, token: string, url: string): Promise<void> {
  await queue.redis.multi().hset(entryKey(token), { url, tries: '0' }).expire(entryKey(token), ENTRY_TTL_SECONDS).zadd(DUE, Date.now(), token).exec();
}

export type DeliveryOutcome = { sent: number } | { refused: string } | { failed: string };

/** One PUT to the URL, to the address its host resolves to now, if that is allowed. */
export async function putJson(rawUrl: string, body: unknown, options: { allowPrivate: boolean; timeoutMs: number }): Promise<DeliveryOutcome> {
  const url = new URL(rawUrl);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let address: { address: string; family: number };
  try {
    address = await lookup(host, { verbatim: true });
  } catch (error) {
    return { failed: `cannot resolve ${host}: ${(error as Error).message}` };
  }
  const why = options.allowPrivate ? undefined : forbiddenAddress(address.address);
  if (why) return { refused: `${host} resolves to ${address.address}, ${why}` };
  const payload = Buffer.from(JSON.stringify(body));
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const request = client.request({
      host: address.address,
      family: address.family,
      port: url.port || (url.protocol === 'https:' ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      method: 'PUT',
      servername: host,
      headers: { host: url.host, 'content-type': 'application/json', 'content-length': payload.length, 'user-agent': 'runcell (Judge0 callback)' },
      timeout: options.timeoutMs,
    });
    request.on('response', (response) => {
      response.resume();
      resolve({ sent: response.statusCode ?? 0 });
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    request.on('error', (error) => resolve({ failed: error.message }));
    request.end(payload);
  });
}

/** Polls for due callbacks in this API process until the queue's Redis is closed. */
export function startCallbackDelivery(queue: JobQueue, languages: () => Promise<Judge0Language[]>, options: CallbackOptions, log: (error: unknown) => void): () => void {
  const settings = { allowPrivate: options.allowPrivate ?? false, tries: options.tries ?? 3, backoffMs: options.backoffMs ?? 2000, timeoutMs: options.timeoutMs ?? 5000 };
  let busy = false;
  const tick = async () => {
    if (busy || !queue.connected) return;
    busy = true;
    try {
      const now = Date.now();
      const due = await queue.redis.zrangebyscore(DUE, '-inf', now, 'LIMIT', 0, BATCH);
      await Promise.all(due.map(async (token) => ((await queue.redis.eval(CLAIM, 1, DUE, token, now, now + LEASE_MS)) === 1 ? deliver(token) : undefined)));
    } catch (error) {
      log(error);
    } finally {
      busy = false;
    }
  };
  const deliver = async (token: string) => {
    const [entry, job, [stored]] = await Promise.all([queue.redis.hgetall(entryKey(token)), queue.get(token), loadSubmissions(queue, [token])]);
    if (!entry.url || !job || !stored) return forget(token);
    if (!TERMINAL.includes(job.status)) return void (await queue.redis.zadd(DUE, Date.now() + (options.pollMs ?? 500), token));
    const view = submissionView(job, stored, (await languages()).find((l) => l.id === stored.language_id));
    const outcome = await putJson(entry.url, selectFields(view, DEFAULT_FIELDS, true), settings);
    // Sent (whatever the status: the receiver has it), or refused for its address: done. Retried on errors and 5xx.
    const tries = Number(entry.tries ?? 0) + 1;
    const delivered = 'sent' in outcome && outcome.sent < 500;
    const retry = 'failed' in outcome || ('sent' in outcome && outcome.sent >= 500);
    if (!retry || tries >= settings.tries) {
      if (!delivered) log(new Error(`Judge0 callback for ${token} given up after ${tries} attempt(s): ${JSON.stringify(outcome)}`));
      return forget(token);
    }
    await queue.redis.multi().hset(entryKey(token), 'tries', String(tries)).zadd(DUE, Date.now() + settings.backoffMs * 2 ** (tries - 1), token).exec();
  };
  const forget = async (token: string) => void (await queue.redis.multi().zrem(DUE, token).del(entryKey(token)).exec());
  const timer = setInterval(() => {
    // The API's queue closed (the process is stopping): stop with it.
    if (queue.redis.status === 'end') return clearInterval(timer);
    void tick();
  }, options.pollMs ?? 500);
  timer.unref();
  return () => clearInterval(timer);
}
