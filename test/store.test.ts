/**
 * The job store against a real Redis: status changes are atomic, finished
 * jobs expire, and no more than the configured number is kept, so Redis
 * memory stays bounded.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobStore, keys } from '../queue/store.js';
import { TestRedis } from './service-helpers.js';

const server = new TestRedis();
let redis: Redis;

beforeAll(async () => {
  await server.start();
  redis = new Redis({ path: server.server.socket });
});

afterAll(async () => {
  redis?.disconnect();
  await server.destroy();
});

const summary = { files: [], stdin_bytes: 0, command: ['/bin/true'] };

describe('job store', () => {
  it('finished jobs expire after their retention: completed and cancelled 1 h, failed 24 h by default', async () => {
    const store = new JobStore(redis);
    for (const [id, status] of [['a1', 'completed'], ['a2', 'cancelled'], ['a3', 'failed']] as const) {
      await store.create(id, summary);
      expect(await store.finish(id, status, { result: null })).toBe('ok');
      const ttl = await redis.ttl(keys.job(id));
      const expected = status === 'failed' ? 86_400 : 3600;
      expect({ id, ttl: ttl > expected - 5 && ttl <= expected }).toEqual({ id, ttl: true });
      expect(await redis.ttl(keys.events(id))).toBeGreaterThan(expected - 5);
    }
  });

  it('keeps at most maxFinished finished jobs, dropping the oldest', async () => {
    const store = new JobStore(redis, { maxFinished: 3 });
    await redis.del(keys.finished);
    for (let i = 0; i < 5; i++) {
      await store.create(`b${i}`, summary);
      await store.finish(`b${i}`, 'completed', { result: null }, 1_000 + i);
    }
    expect(await redis.zcard(keys.finished)).toBe(3);
    expect(await store.get('b0')).toBeUndefined();
    expect(await store.get('b1')).toBeUndefined();
    expect((await store.get('b4'))?.status).toBe('completed');
    expect(await redis.exists(keys.events('b0'))).toBe(0);
  });

  it('a job ends once: a second finish, or a start after the end, changes nothing', async () => {
    const store = new JobStore(redis);
    await store.create('c1', summary);
    expect(await store.start('c1', 'w1')).toBe('ok');
    expect(await store.finish('c1', 'completed', { result: null })).toBe('ok');
    expect(await store.finish('c1', 'failed', { reason: 'late' })).toBe('finished');
    expect(await store.start('c1', 'w2')).toBe('completed');
    expect((await store.get('c1'))?.status).toBe('completed');
  });

  it('a later attempt fences the earlier one: its events and its result are refused, the later one\'s recorded', async () => {
    const store = new JobStore(redis);
    await store.create('e1', summary);
    expect(await store.start('e1', 'w1', Date.now(), 'w1:token-1')).toBe('ok');
    // w1 was cut off; its lock lapsed and w2 took the job.
    expect(await store.start('e1', 'w2', Date.now(), 'w2:token-2')).toBe('ok');
    expect(await store.event('e1', 'run_finished', { status: 'ok' }, Date.now(), 'w1:token-1')).toBe('superseded');
    expect(await store.finish('e1', 'completed', { result: null, reason: 'w1' }, Date.now(), 'w1:token-1')).toBe('superseded');
    expect((await store.get('e1'))?.status).toBe('running');
    expect(await store.finish('e1', 'completed', { result: null }, Date.now(), 'w2:token-2')).toBe('ok');
    expect((await store.events('e1')).map((e) => e.type)).toEqual(['queued', 'started', 'started', 'completed']);
    // Without an owner (the API's cancel, BullMQ's give-up), a finish is not fenced.
    await store.create('e2', summary);
    expect(await store.start('e2', 'w1', Date.now(), 'w1:token-3')).toBe('ok');
    expect(await store.finish('e2', 'failed', { result: null, reason: 'worker died' })).toBe('ok');
  });

  it('progress events go in order, several in one call, and those held at the end with the finish, before its terminal event', async () => {
    const store = new JobStore(redis);
    await store.create('f1', summary);
    expect(await store.start('f1', 'w1', Date.now(), 'w1:t')).toBe('ok');
    const at = Date.now();
    expect(await store.progress('f1', [{ type: 'output', at, data: { stream: 'stdout', text: 'a' } }, { type: 'run_finished', at, data: { status: 'ok' } }], 'w1:t')).toBe('ok');
    expect(await store.finish('f1', 'completed', { result: null }, at + 1, 'w1:t', [{ type: 'step_finished', at, data: { index: 0, total: 1, status: 'ok' } }])).toBe('ok');
    const events = await store.events('f1');
    expect(events.map((e) => e.type)).toEqual(['queued', 'started', 'output', 'run_finished', 'step_finished', 'completed']);
    expect(events[2].data).toEqual({ stream: 'stdout', text: 'a' });
    expect(events[4].at).toBe(new Date(at).toISOString());
    // A superseded finish records none of what it carried.
    await store.create('f2', summary);
    await store.start('f2', 'w1', Date.now(), 'w1:t');
    await store.start('f2', 'w2', Date.now(), 'w2:t');
    expect(await store.finish('f2', 'completed', { result: null }, Date.now(), 'w1:t', [{ type: 'run_finished', at, data: {} }])).toBe('superseded');
    expect((await store.events('f2')).map((e) => e.type)).toEqual(['queued', 'started', 'started']);
  });

  it('a cancel requested before the start wins: the start is refused', async () => {
    const store = new JobStore(redis);
    await store.create('d1', summary);
    expect(await store.requestCancel('d1')).toBe('queued');
    expect(await store.start('d1', 'w1')).toBe('cancel_requested');
    expect(await store.requestCancel('missing-job')).toBe('missing');
  });
});
