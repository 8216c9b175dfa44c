/**
 * Long jobs and the queue lock, with a real Redis, a real worker and real sandboxes: the worker's lock
 * (1 s here) is renewed for as long as a job runs, so a job several lock durations long runs once; a lock
 * that is lost (taken away in Redis here) stops the run on that worker, and the queue runs it again.
 */
import { describe, expect, it } from 'vitest';
import { PREFIX, QUEUE_NAME, keys } from '../queue/store.js';
import { http, readEvents, serviceFixture, untilDone, waitFor } from './service-helpers.js';

const LOCK_MS = 1000;
const service = serviceFixture(() => ({ lockDurationMs: LOCK_MS, stalledIntervalMs: 300 }));

async function submit(script: string): Promise<string> {
  const response = await http<{ id: string }>(`${service.api.url}/v1/jobs`, { method: 'POST', json: { command: ['/bin/sh', '-c', script], limits: { wall_ms: 30_000 } } });
  expect(response.status).toBe(202);
  return response.body.id;
}

describe('long jobs', () => {
  it('a job five lock durations long completes exactly once', async () => {
    const id = await submit(`sleep ${(5 * LOCK_MS) / 1000}; echo done`);
    const job = await untilDone(service.api.url, id, 30_000);
    expect(job.status).toBe('completed');
    expect(job.result!.run).toMatchObject({ status: 'ok', stdout: 'done\n' });
    const events = await readEvents(`${service.api.url}/v1/jobs/${id}/events`);
    expect(events.filter((e) => e.event === 'started')).toHaveLength(1);
    expect(await service.api.queue.redis.hget(keys.job(id), 'attempts')).toBe('1');
  }, 40_000);

  it("a lost lock stops the run on its worker; the queue runs the job again, which completes once", async () => {
    const id = await submit('echo attempt; sleep 3; echo done');
    await waitFor(async () => (await http(`${service.api.url}/v1/jobs/${id}`)).body.status === 'running', 10_000, 'the job to run');
    // What a worker cut off from Redis past the lock duration finds: its lock gone.
    await service.api.queue.redis.del(`${PREFIX}:${QUEUE_NAME}:${id}:lock`);
    const job = await untilDone(service.api.url, id, 30_000);
    expect(job.status, JSON.stringify(job)).toBe('completed');
    expect(job.result!.run).toMatchObject({ status: 'ok', stdout: 'attempt\ndone\n' });
    const events = await readEvents(`${service.api.url}/v1/jobs/${id}/events`);
    const types = events.map((e) => e.event);
    expect(types.filter((t) => t === 'started')).toHaveLength(2);
    // The first attempt's run was stopped (its progress event says so), and it recorded no end of its own.
    expect(events.filter((e) => e.event === 'run_finished').map((e) => e.data.data.status)).toEqual(['cancelled', 'ok']);
    expect(types.filter((t) => t === 'completed')).toHaveLength(1);
  }, 40_000);
});
