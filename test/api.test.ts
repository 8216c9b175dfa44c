/**
 * The HTTP API against a real Redis (a private redis-server) and a real
 * worker running real sandboxes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { http, readEvents, serviceFixture, untilDone, waitFor } from './service-helpers.js';

const service = serviceFixture();

const command = (script: string, limits: Record<string, number> = {}) => ({ command: ['/bin/sh', '-c', script], limits });
const submit = (body: unknown, query = '') => http(`${service.api.url}/v1/jobs${query}`, { method: 'POST', json: body });

describe('submitting jobs', () => {
  it('answers 202 with an id, and the job completes with its result', async () => {
    const accepted = await submit({ language: 'python3', files: [{ path: 'main.py', content: 'print(input()[::-1])' }], stdin: 'runcell\n' });
    expect(accepted.status).toBe(202);
    expect(accepted.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), status: 'queued' });
    expect(accepted.headers.get('location')).toBe(`/v1/jobs/${accepted.body.id}`);
    const job = await untilDone(service.api.url, accepted.body.id);
    expect(job).toMatchObject({ status: 'completed', result: { run: { status: 'ok', stdout: 'llecnur\n' } } });
    expect(job.request).toEqual({ language: 'python3', files: [{ path: 'main.py', encoding: 'utf8', size_bytes: 20 }], stdin_bytes: 8 });
    expect(job.queue_wait_ms).toBeGreaterThanOrEqual(0);
    expect(Date.parse(job.finished_at!)).toBeGreaterThanOrEqual(Date.parse(job.started_at!));
    // BullMQ's copy of the job, with its files, goes once it completed (just after the store has the result).
    await waitFor(async () => (await service.api.queue.redis.exists(`{runcell}:jobs:${accepted.body.id}`)) === 0, 5000, "BullMQ's copy to go");
  });

  it.each([
    ['ok', command('echo fine'), { status: 'ok', exit_code: 0 }],
    ['nonzero_exit', command('exit 7'), { status: 'nonzero_exit', exit_code: 7 }],
    ['signalled', command('kill -ABRT $$'), { status: 'signalled', signal: 'SIGABRT' }],
    ['time_limit', command('while :; do :; done', { cpu_ms: 300 }), { status: 'time_limit' }],
    ['wall_time_limit', command('sleep 5', { wall_ms: 300 }), { status: 'wall_time_limit' }],
    ['memory_limit', { language: 'python3', files: [{ path: 'm.py', content: 'x = bytearray(200 << 20)' }], limits: { memory_bytes: 64 << 20 } }, { status: 'memory_limit', oom_killed: true }],
    ['output_limit', command('yes', { output_bytes: 5000 }), { status: 'output_limit', stdout_truncated: true }],
  ])('a %s run comes back completed, with that status', async (_name, body, expected) => {
    const response = await submit(body, '?wait=30');
    expect(response.status).toBe(200);
    expect(response.body.status).toBe('completed');
    expect(response.body.result.run).toMatchObject(expected);
  });

  it('a compile error: completed, with compile failed and run null', async () => {
    const response = await submit({ language: 'cpp', files: [{ path: 'a.cpp', content: 'int main() { return undefined_name; }' }] }, '?wait=30');
    expect(response.body.status).toBe('completed');
    expect(response.body.result.compile.status).toBe('nonzero_exit');
    expect(response.body.result.run).toBeNull();
  });

  it('base64 files and stdin are decoded', async () => {
    const response = await submit(
      { command: ['/bin/sh', '-c', 'cat data.bin | od -An -tx1 | tr -d " \\n"; cat'], files: [{ path: 'data.bin', content: Buffer.from([0, 255, 16]).toString('base64'), encoding: 'base64' }], stdin: Buffer.from('hi').toString('base64'), stdin_encoding: 'base64' },
      '?wait=30',
    );
    expect(response.body.result.run.stdout).toBe('00ff10hi');
  });

  it('?wait answers 202 when the job has not finished in time', async () => {
    const response = await submit(command('sleep 3', { wall_ms: 10_000 }), '?wait=1');
    expect(response.status).toBe(202);
    expect(response.body.status).toBe('queued');
    expect((await untilDone(service.api.url, response.body.id)).status).toBe('completed');
  });

  it('batch: each item validated on its own, valid ones queued', async () => {
    const response = await http(`${service.api.url}/v1/jobs/batch`, {
      method: 'POST',
      json: { jobs: [command('echo one'), { language: 'cobol', files: [{ path: 'x', content: '' }] }, command('echo three'), { command: [] }] },
    });
    expect(response.status).toBe(202);
    const [one, two, three, four] = response.body.jobs;
    expect(one).toEqual({ id: expect.any(String), status: 'queued' });
    expect(two.error).toMatchObject({ code: 'invalid_request', details: [{ path: 'jobs.1.language', message: expect.stringMatching(/unknown language/) }] });
    expect(three).toEqual({ id: expect.any(String), status: 'queued' });
    expect(four.error.details[0].path).toBe('jobs.3.command');
    expect((await untilDone(service.api.url, one.id)).result!.run!.stdout).toBe('one\n');
    expect((await untilDone(service.api.url, three.id)).result!.run!.stdout).toBe('three\n');
  });

  it('GET /v1/languages lists the rootfs languages with versions', async () => {
    const response = await http(`${service.api.url}/v1/languages`);
    expect(response.status).toBe(200);
    const byId = Object.fromEntries(response.body.languages.map((l: { id: string }) => [l.id, l]));
    expect(byId.c).toMatchObject({ name: expect.any(String), compiled: true, version: expect.stringMatching(/^\d+\.\d+/) });
    expect(byId.python3).toMatchObject({ compiled: false, version: expect.stringMatching(/^3\./) });
  });
});

describe('cancelling', () => {
  it('a running job is killed at once and ends cancelled', async () => {
    const accepted = await submit(command('sleep 60', { wall_ms: 120_000 }));
    const id = accepted.body.id;
    await readUntil(id, 'started');
    const started = Date.now();
    const response = await http(`${service.api.url}/v1/jobs/${id}`, { method: 'DELETE' });
    // 200 (not 202) means the worker confirmed the kill within the API's wait; the bound is loose
    // on purpose (a busy machine must not fail this): the 60 s sleep is far from over.
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(response.body.status).toBe('cancelled');
    expect(response.body.reason).toBe('cancelled while running');
    // Finished: a second cancel is a conflict.
    expect((await http(`${service.api.url}/v1/jobs/${id}`, { method: 'DELETE' })).status).toBe(409);
  });

  it('unknown job: 404', async () => {
    expect((await http(`${service.api.url}/v1/jobs/00000000-0000-0000-0000-000000000000`, { method: 'DELETE' })).status).toBe(404);
    expect((await http(`${service.api.url}/v1/jobs/not-a-uuid`)).status).toBe(404);
  });
});

async function readUntil(id: string, type: string): Promise<void> {
  const response = await fetch(`${service.api.url}/v1/jobs/${id}/events`);
  const reader = response.body!.getReader();
  let text = '';
  while (!text.includes(`event: ${type}`)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  await reader.cancel();
}

describe('events', () => {
  it('streams queued, started, compile_finished, run_finished, completed in order', async () => {
    const accepted = await submit({ language: 'c', files: [{ path: 'm.c', content: 'int main(void){return 0;}' }] });
    const events = await readEvents(`${service.api.url}/v1/jobs/${accepted.body.id}/events`);
    expect(events.map((e) => e.event)).toEqual(['queued', 'started', 'compile_finished', 'run_finished', 'completed']);
    expect(events.every((e) => e.data.job_id === accepted.body.id)).toBe(true);
    expect(events[3].data.data).toEqual({ status: 'ok' });
  });

  it('a late subscriber gets the whole history; Last-Event-ID resumes after it', async () => {
    const accepted = await submit(command('echo late'), '?wait=30');
    const events = await readEvents(`${service.api.url}/v1/jobs/${accepted.body.id}/events`);
    expect(events.map((e) => e.event)).toEqual(['queued', 'started', 'output', 'run_finished', 'completed']);
    expect(events[2].data.data).toEqual({ stream: 'stdout', offset: 0, data: 'late\n' });
    const resumed = await readEvents(`${service.api.url}/v1/jobs/${accepted.body.id}/events`, { 'Last-Event-ID': events[1].id });
    expect(resumed.map((e) => e.event)).toEqual(['output', 'run_finished', 'completed']);
  });
});

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document describing the endpoints', async () => {
    const response = await http(`${service.api.url}/openapi.json`);
    expect(response.status).toBe(200);
    const validator = new Validator();
    const result = await validator.validate(response.body);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(response.body.openapi).toBe('3.1.0');
    expect(Object.keys(response.body.paths)).toEqual(
      expect.arrayContaining(['/v1/jobs', '/v1/jobs/batch', '/v1/jobs/{id}', '/v1/jobs/{id}/events', '/v1/languages', '/healthz', '/readyz']),
    );
    expect(response.body.components.schemas.JobRequest.properties.limits).toBeDefined();
  });

  it('docs/openapi.json is the document the code generates (npm run openapi)', async () => {
    const { buildOpenApi } = await import('../contract/openapi.js');
    const { DEFAULT_BOUNDS } = await import('../contract/job-request.js');
    const { LANGUAGES } = await import('../rootfs/languages.js');
    const { LIMIT_TABLE } = await import('../sandbox/limits.js');
    const committed = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'docs', 'openapi.json'), 'utf8'));
    const generated = buildOpenApi({ limits: LIMIT_TABLE, languages: LANGUAGES.map((l) => l.id) }, DEFAULT_BOUNDS);
    expect(committed).toEqual(JSON.parse(JSON.stringify(generated)));
  });
});

describe('health', () => {
  it('/healthz and /readyz answer', async () => {
    expect((await http(`${service.api.url}/healthz`)).body).toEqual({ status: 'ok' });
    expect((await http(`${service.api.url}/readyz`)).body).toEqual({ status: 'ready', workers: 1 });
  });
});
