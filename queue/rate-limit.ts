/**
 * The API's rate-limit counters in Redis, so that every API replica counts the same client's requests
 * together (a counter in each replica's memory would let a client through N times the limit behind N
 * replicas). Fixed windows: a counter per client and window, created with the window's expiry. Shaped as
 * express-rate-limit's Store (structurally: queue/ does not import the API's libraries).
 */
import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { PREFIX } from './store.js';

/*
  One hit: the count, and how long the window has left (its expiry is set by the first hit).
    Input: KEYS[1] the client's counter; ARGV[1] window, ms
    Output: {hits, milliseconds left}
*/
const HIT = `
local hits = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {hits, left}
`;

/* Takes a hit back (express-rate-limit's skip of failed or successful requests), never below zero. KEYS[1] the counter. */
const UNHIT = `
if (tonumber(redis.call('GET', KEYS[1]) or '0')) > 0 then redis.call('DECR', KEYS[1]) end
return 'ok'
`;

interface Scripted {
  runcellRateHit(key: string, windowMs: number): Promise<[number, number]>;
  runcellRateUnhit(key: string): Promise<string>;
}

export class RedisRateLimitStore {
  /** Counters are shared: express-rate-limit's check against two limiters on one store does not apply. */
  readonly localKeys = false;
  private windowMs = 60_000;

  constructor(private readonly redis: Redis | Cluster) {
    redis.defineCommand('runcellRateHit', { numberOfKeys: 1, lua: HIT });
    redis.defineCommand('runcellRateUnhit', { numberOfKeys: 1, lua: UNHIT });
  }

  init(options: { windowMs: number }): void {
    this.windowMs = options.windowMs;
  }

  /**
   * The client's key (an API key, or an address) is hashed: API keys are not written to Redis. Every
   * counter carries the {runcell} hash tag, in runcell's Cluster slot.
   */
  private counter(key: string): string {
    return `${PREFIX}:ratelimit:${createHash('sha256').update(key).digest('hex')}`;
  }

  async increment(key: string): Promise<{ totalHits: number; resetTime: Date }> {
    const [hits, left] = await (this.redis as unknown as Scripted).runcellRateHit(this.counter(key), this.windowMs);
    return { totalHits: Number(hits), resetTime: new Date(Date.now() + Number(left)) };
  }

  async decrement(key: string): Promise<void> {
    await (this.redis as unknown as Scripted).runcellRateUnhit(this.counter(key));
  }

  async resetKey(key: string): Promise<void> {
    await this.redis.del(this.counter(key));
  }
}
