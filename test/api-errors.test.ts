/**
 * Bad input: each answered with the right code and a message that names
 * what is wrong. Never a 500, never a stack trace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREFIX, QUEUE_NAME } from '../queue/store.js';
import { http, readEvents, startApi, TestRedis, type TestApi } from './service-helpers.js';

const redis = new TestRedis();
let api: TestApi;

beforeAll(async () => {
  await redis.start();
  api = await startApi(redis.url, { maxBodyBytes: 64 * 1024, bounds: { maxFiles: 4, maxBatch: 3 } });
});

afterAll(async () => {
  await api?.close();
  await redis.destroy();
});

const ok = { command: ['/bin/true'] };
const file = (path: string, content = 'x', encoding?: string) => ({ path, content, ...(encoding ? { encoding } : {}) });
const lang = (extra: Record<string, unknown>) => ({ language: 'c', files: [file('main.c')], ...extra });

type Case = [name: string, request: { path?: string; method?: string; body?: unknown; raw?: string; contentType?: string }, status: number, field: string | RegExp];

const CASES: Case[] = [
  ['malformed JSON', { raw: '{"command": [' }, 400, /not valid JSON/],
  ['JSON that is not an object', { raw: '"just a string"' }, 400, /not valid JSON/],
  ['body too large', { body: { command: ['/bin/echo', 'x'.repeat(70 * 1024)] } }, 413, /larger than 65536 bytes/],
  ['not JSON content type', { raw: 'command=/bin/true', contentType: 'application/x-www-form-urlencoded' }, 415, /Content-Type: application\/json/],
  ['neither language nor command', { body: {} }, 422, 'language'],
  ['both language and command', { body: lang({ command: ['/bin/true'] }) }, 422, 'language'],
  ['unknown language', { body: lang({ language: 'brainfuck' }) }, 422, 'language'],
  ['language of the wrong type', { body: lang({ language: 42 }) }, 422, 'language'],
  ['language without files', { body: { language: 'python3' } }, 422, 'files'],
  ['empty command', { body: { command: [] } }, 422, 'command'],
  ['command not strings', { body: { command: ['/bin/echo', 3] } }, 422, 'command.1'],
  ['argument with a NUL byte', { body: { command: ['/bin/echo', 'a\u0000b'] } }, 422, 'command.1'],
  ['argument too long', { body: { command: ['/bin/echo', 'x'.repeat(5000)] } }, 422, 'command.1'],
  ['unknown field', { body: { ...ok, priority: 'high' } }, 422, /unknown field\(s\): priority/],
  ['too many files', { body: { ...ok, files: [file('a'), file('b'), file('c'), file('d'), file('e')] } }, 422, 'files'],
  ['absolute file path', { body: lang({ files: [file('/etc/passwd')] }) }, 422, 'files.0.path'],
  ['file path with ..', { body: lang({ files: [file('../escape.c')] }) }, 422, 'files.0.path'],
  ['empty file path', { body: lang({ files: [file('')] }) }, 422, 'files.0.path'],
  ['duplicate file path', { body: lang({ files: [file('main.c'), file('main.c')] }) }, 422, 'files.1.path'],
  ['bad file encoding', { body: lang({ files: [file('main.c', 'x', 'utf16')] }) }, 422, 'files.0.encoding'],
  ['bad base64 content', { body: lang({ files: [file('main.c', 'not base64!', 'base64')] }) }, 422, 'files.0.content'],
  ['bad base64 stdin', { body: { ...ok, stdin: '***', stdin_encoding: 'base64' } }, 422, 'stdin'],
  ['file content not a string', { body: lang({ files: [{ path: 'main.c', content: 7 }] }) }, 422, 'files.0.content'],
  ['negative cpu_ms', { body: { ...ok, limits: { cpu_ms: -1 } } }, 422, 'limits.cpu_ms'],
  ['cpu_ms over the maximum', { body: { ...ok, limits: { cpu_ms: 10_000_000 } } }, 422, 'limits.cpu_ms'],
  ['memory over the maximum', { body: { ...ok, limits: { memory_bytes: 1e12 } } }, 422, 'limits.memory_bytes'],
  ['fractional pids', { body: { ...ok, limits: { pids: 2.5 } } }, 422, 'limits.pids'],
  ['limit as a string', { body: { ...ok, limits: { wall_ms: '1000' } } }, 422, 'limits.wall_ms'],
  ['unknown limit', { body: { ...ok, limits: { gpu: 1 } } }, 422, /unknown field\(s\): gpu/],
  ['bad compile limit', { body: lang({ compile_limits: { output_bytes: -5 } }) }, 422, 'compile_limits.output_bytes'],
  ['unknown seccomp profile', { body: { ...ok, seccomp_profile: 'none' } }, 422, 'seccomp_profile'],
  ['seccomp profile not a string', { body: { ...ok, seccomp_profile: 1 } }, 422, 'seccomp_profile'],
  ['bad environment name', { body: { ...ok, env: { 'BAD-NAME': 'x' } } }, 422, 'env.BAD-NAME'],
  ['environment value not a string', { body: { ...ok, env: { A: 1 } } }, 422, 'env.A'],
  ['environment name too long for execve', { body: { ...ok, env: { ['A'.repeat(5000)]: 'x' } } }, 422, `env.${'A'.repeat(5000)}`],
  ['args not an array', { body: { ...ok, args: 'a b' } }, 422, 'args'],
  ['wait not a number', { path: '/v1/jobs?wait=soon', body: ok }, 422, 'wait'],
  ['wait over 60', { path: '/v1/jobs?wait=61', body: ok }, 422, 'wait'],
  ['batch too large', { path: '/v1/jobs/batch', body: { jobs: [ok, ok, ok, ok] } }, 422, 'jobs'],
  ['batch empty', { path: '/v1/jobs/batch', body: { jobs: [] } }, 422, 'jobs'],
  ['batch not a list', { path: '/v1/jobs/batch', body: { jobs: ok } }, 422, 'jobs'],
  ['batch of only bad jobs', { path: '/v1/jobs/batch', body: { jobs: [{}] } }, 422, /jobs\.0/],
  ['unknown job', { path: '/v1/jobs/6f1b7c2e-0000-4000-8000-000000000000', method: 'GET' }, 404, /no job/],
  ['job id that is not a uuid', { path: '/v1/jobs/..%2F..%2Fetc', method: 'GET' }, 404, /no job/],
  ['unknown route', { path: '/v2/jobs', method: 'GET' }, 404, /no route/],
];

describe('bad requests', () => {
  it.each(CASES)('%s -> %i', async (_name, request, status, field) => {
    const headers: Record<string, string> = {};
    let body: string | undefined;
    if (request.raw !== undefined) {
      body = request.raw;
      headers['content-type'] = request.contentType ?? 'application/json';
    } else if (request.body !== undefined) {
      body = JSON.stringify(request.body);
      headers['content-type'] = 'application/json';
    }
    const response = await http(`${api.url}${request.path ?? '/v1/jobs'}`, { method: request.method ?? 'POST', headers, body });
    expect(response.status).toBe(status);
    const error = response.body.error ?? response.body.jobs?.[0]?.error;
    expect(error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    expect(JSON.stringify(response.body)).not.toMatch(/\n\s+at |node_modules/);
    if (typeof field === 'string') {
      const paths = (error.details ?? []).map((d: { path: string }) => d.path);
      expect(paths).toContain(field);
      expect(error.message).toContain(field);
    } else {
      expect(JSON.stringify(response.body)).toMatch(field);
    }
  });

  it(`covers at least 30 cases`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
  });
});

describe('API keys', () => {
  let secured: TestApi;
  beforeAll(async () => {
    secured = await startApi(redis.url, { apiKeys: ['key-one', 'key-two'] });
  });
  afterAll(() => secured.close());

  it('every endpoint but /healthz needs a valid Bearer key', async () => {
    expect((await http(`${secured.url}/healthz`)).status).toBe(200);
    for (const path of ['/v1/languages', '/openapi.json', '/readyz', '/v1/jobs/6f1b7c2e-0000-4000-8000-000000000000']) {
      const missing = await http(`${secured.url}${path}`);
      expect({ path, status: missing.status }).toEqual({ path, status: 401 });
      expect(missing.body.error.code).toBe('unauthorized');
      expect((await http(`${secured.url}${path}`, { headers: { authorization: 'Bearer key-three' } })).status).toBe(401);
      expect((await http(`${secured.url}${path}`, { headers: { authorization: 'key-one' } })).status).toBe(401);
    }
    expect((await http(`${secured.url}/v1/languages`, { headers: { authorization: 'Bearer key-two' } })).status).toBe(200);
    const post = await http(`${secured.url}/v1/jobs`, { method: 'POST', json: ok, headers: { authorization: 'Bearer key-one' } });
    expect(post.status).toBe(202);
  });
});

describe('queue limits', () => {
  it('answers 429 once the backlog is full (no worker is running here)', async () => {
    const own = new TestRedis();
    await own.start();
    const small = await startApi(own.url, {}, 5);
    try {
      const first = await http(`${small.url}/v1/jobs/batch`, { method: 'POST', json: { jobs: [ok, ok, ok, ok] } });
      expect(first.status).toBe(202);
      // 4 waiting + 2 > 5: the whole batch is refused, nothing of it queued.
      const refusedBatch = await http(`${small.url}/v1/jobs/batch`, { method: 'POST', json: { jobs: [ok, ok] } });
      expect(refusedBatch.status).toBe(429);
      expect((await http(`${small.url}/v1/jobs`, { method: 'POST', json: ok })).status).toBe(202);
      const full = await http(`${small.url}/v1/jobs`, { method: 'POST', json: ok });
      expect(full.status).toBe(429);
      expect(full.body.error).toMatchObject({ code: 'queue_full', message: expect.stringMatching(/5 or more waiting jobs/) });
    } finally {
      await small.close();
      await own.destroy();
    }
  });

  it('rate limit: 429 past the configured requests per minute', async () => {
    const limited = await startApi(redis.url, { rateLimitPerMinute: 3 });
    try {
      const codes = [];
      for (let i = 0; i < 5; i++) codes.push((await http(`${limited.url}/v1/languages`)).status);
      expect(codes).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await limited.close();
    }
  });
});

describe('readiness', () => {
  it('/readyz answers 503 with the reason while no worker has been seen', async () => {
    const response = await http(`${api.url}/readyz`);
    expect(response.status).toBe(503);
    expect(response.body.error).toMatchObject({ code: 'unavailable', message: expect.stringMatching(/no worker seen in the last 30 s/) });
  });
});

describe('cancelling a queued job', () => {
  it('is cancelled at once, leaves the queue, and its events end with cancelled', async () => {
    const own = new TestRedis();
    await own.start();
    const lone = await startApi(own.url);
    try {
      const id = (await http(`${lone.url}/v1/jobs`, { method: 'POST', json: ok })).body.id;
      // BullMQ's own keys for the job, there before the cancel (so their absence after it means something).
      const bull = `${PREFIX}:${QUEUE_NAME}`;
      expect(await lone.queue.redis.exists(`${bull}:${id}`)).toBe(1);
      expect(await lone.queue.redis.lrange(`${bull}:wait`, 0, -1)).toContain(id);
      const cancelled = await http(`${lone.url}/v1/jobs/${id}`, { method: 'DELETE' });
      expect(cancelled.status).toBe(200);
      expect(cancelled.body).toMatchObject({ id, status: 'cancelled', reason: 'cancelled while queued', started_at: null, result: null });
      // Gone from BullMQ: no job hash, not in the wait list (backlog() is cached, so it cannot tell).
      expect(await lone.queue.redis.exists(`${bull}:${id}`)).toBe(0);
      expect(await lone.queue.redis.lrange(`${bull}:wait`, 0, -1)).not.toContain(id);
      const events = await readEvents(`${lone.url}/v1/jobs/${id}/events`);
      expect(events.map((e) => e.event)).toEqual(['queued', 'cancelled']);
      expect((await http(`${lone.url}/v1/jobs/${id}`, { method: 'DELETE' })).status).toBe(409);
    } finally {
      await lone.close();
      await own.destroy();
    }
  });
});

describe('Redis unreachable', () => {
  it('answers 503 while Redis is down, and recovers by itself', async () => {
    await redis.stop();
    const down = await http(`${api.url}/v1/jobs`, { method: 'POST', json: ok });
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('unavailable');
    expect((await http(`${api.url}/readyz`)).status).toBe(503);
    expect((await http(`${api.url}/healthz`)).status).toBe(200);
    await redis.start();
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline && status !== 202) {
      status = (await http(`${api.url}/v1/jobs`, { method: 'POST', json: ok })).status;
      if (status !== 202) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(status).toBe(202);
  });
});
