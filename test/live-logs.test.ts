/**
 * Live logs through the service: worker -> Redis -> API, as SSE `output` events and as
 * GET /v1/jobs/:id/log?follow=1, with a real worker, a real Redis and real sandboxes.
 */
import { describe, expect, it } from 'vitest';
import { http, readEvents, serviceFixture, untilDone } from './service-helpers.js';

const service = serviceFixture();

const submit = async (json: unknown): Promise<string> => {
  const response = await http<{ id: string }>(`${service.api.url}/v1/jobs`, { method: 'POST', json });
  expect(response.status).toBe(202);
  return response.body.id;
};

describe('live logs', () => {
  it('log?follow=1 shows output while the job runs: the test cancels the job once it has read "ready"', async () => {
    // Without live output the test would only read "ready" after the 30 s wall limit (past the test's timeout).
    const id = await submit({ command: ['/bin/sh', '-c', 'echo ready; sleep 60'], limits: { wall_ms: 30_000 } });
    const response = await fetch(`${service.api.url}/v1/jobs/${id}/log?follow=1`, { signal: AbortSignal.timeout(20_000) });
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('ready\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    expect(text).toBe('ready\n');
    expect((await http(`${service.api.url}/v1/jobs/${id}`, { method: 'DELETE' })).status).toBeLessThan(300);
    // The stream ends with the job.
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    expect(text).toBe('ready\n');
    const job = await untilDone(service.api.url, id);
    expect(job.status).toBe('cancelled');
    expect(job.result?.run?.stdout).toBe('ready\n');
  }, 30_000);

  it('SSE output events carry both streams, in order, exactly the result, before run_finished', async () => {
    const script = "for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.15; done; head -c 300000 /dev/zero | tr '\\0' z";
    const id = await submit({ command: ['/bin/sh', '-c', script], limits: { output_bytes: 200_000 } });
    const events = await readEvents(`${service.api.url}/v1/jobs/${id}/events`);
    const job = await untilDone(service.api.url, id);
    const outputs = events.filter((e) => e.event === 'output').map((e) => e.data.data as { stream: string; offset: number; data: string });
    for (const stream of ['stdout', 'stderr'] as const) {
      const mine = outputs.filter((o) => o.stream === stream);
      // Contiguous offsets: nothing lost, nothing twice.
      let offset = 0;
      for (const o of mine) {
        expect(o.offset).toBe(offset);
        offset += Buffer.byteLength(o.data);
      }
      expect(mine.map((o) => o.data).join('')).toBe(job.result!.run![stream]);
    }
    expect(job.result!.run!.status).toBe('output_limit');
    // Coalesced: 200 kB of output is a handful of events, not one per pipe read.
    expect(outputs.length).toBeLessThan(20);
    const types = events.map((e) => e.event);
    expect(types.lastIndexOf('output')).toBeLessThan(types.indexOf('run_finished'));
    // Without follow: what has arrived, as text.
    const log = await http<string>(`${service.api.url}/v1/jobs/${id}/log`);
    expect(log.body).toBe(outputs.map((o) => o.data).join(''));
  }, 30_000);

  it('log refuses a bad follow value with 422 naming it', async () => {
    const id = await submit({ command: ['/bin/true'] });
    const response = await http(`${service.api.url}/v1/jobs/${id}/log?follow=yes`);
    expect(response.status).toBe(422);
    expect(response.body.error.details[0].path).toBe('follow');
  });
});
