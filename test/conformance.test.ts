/**
 * Conformance: every endpoint's real responses, from a real server (Redis,
 * the API, a worker and real sandboxes), checked against the OpenAPI
 * document the server itself serves, which is generated from the contract.
 * Every status code the document lists must have been seen by the end, so a
 * documented response nobody produces, or a produced one nobody documents,
 * fails this file.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { CONTRACT_VERSION } from '../contract/queued-job.js';
import { RuncellMetrics } from '../monitoring/metrics.js';
import { bullConnection, parseRedisUrl } from '../queue/connection.js';
import { PREFIX, QUEUE_NAME } from '../queue/store.js';
import { summarize } from '../queue/submission.js';
import { imageImporter } from '../cli/worker-role.js';
import { craftZip } from './archive/craft.js';
import { config } from './helpers.js';
import { forgetImages, ociArchive, tarOf } from './oci-archives.js';
import { http, readEvents, serviceFixture, startApi, TestRedis, waitFor, type HttpResult, type TestApi } from './service-helpers.js';

const KEY = 'conformance-key';
const auth = { authorization: `Bearer ${KEY}` };
const service = serviceFixture(() => ({}), {
  apiKeys: [KEY],
  metrics: new RuncellMetrics({ defaultMetrics: false }),
  maxBodyBytes: 256 * 1024,
  bounds: { maxTestsBytes: 1024 },
  maxProblemBytes: 64 * 1024,
});

type Method = 'get' | 'post' | 'put' | 'delete';
interface Documented {
  paths: Record<string, Partial<Record<Method, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>>>;
  components: { schemas: Record<string, object> };
}

let doc: Documented;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
const compiled = new Map<string, ValidateFunction>();
const seen = new Set<string>();

/** Checks a response against the document: its status documented for the route, its body valid for the media type. */
function conforms(method: Method, route: string, status: number, contentType: string | null, body: unknown): void {
  const what = `${method.toUpperCase()} ${route} ${status}`;
  const response = doc.paths[route]?.[method]?.responses[String(status)];
  expect(response, `${what} is documented`).toBeDefined();
  const media = (contentType ?? '').split(';')[0].trim();
  const schema = response!.content?.[media]?.schema;
  expect(schema, `${what} documents a ${media} body`).toBeDefined();
  const key = `${what} ${media}`;
  let validate = compiled.get(key);
  // The document's refs are '#/components/schemas/X': compiled under a root that holds the components.
  if (!validate) compiled.set(key, (validate = ajv.compile({ allOf: [schema], components: doc.components })));
  const bodies = media === 'text/event-stream' ? (body as unknown[]) : [body];
  for (const one of bodies) expect(validate(one) ? [] : validate.errors, `${what}: ${JSON.stringify(one).slice(0, 300)}`).toEqual([]);
  seen.add(`${method} ${route} ${status}`);
}

/** One request, checked. `route` is the document's path template. */
async function call(api: TestApi, method: Method, route: string, path: string, init: RequestInit & { json?: unknown } = {}, key = true): Promise<HttpResult> {
  const headers = { ...(key ? auth : {}), ...(init.headers as Record<string, string> | undefined) };
  const response = await http(`${api.url}${path}`, { ...init, method: method.toUpperCase(), headers });
  conforms(method, route, response.status, response.headers.get('content-type'), response.body);
  return response;
}

const command = (script: string) => ({ command: ['/bin/sh', '-c', script] });
const judged = {
  language: 'python3',
  files: [{ path: 'main.py', content: 'print(int(input()) * 2)\n' }],
  tests: [
    { id: 'two', stdin: '2\n', expected_stdout: '4\n' },
    { id: 'three', stdin: '3\n', expected_stdout: '7\n' },
  ],
};

beforeAll(async () => {
  const response = await http(`${service.api.url}/openapi.json`, { headers: auth });
  doc = response.body;
  const result = await new Validator().validate(response.body);
  expect(result.errors ?? []).toEqual([]);
  conforms('get', '/openapi.json', response.status, response.headers.get('content-type'), response.body);
});

describe('conformance: the service as it runs', () => {
  it('health, readiness, languages, metrics', async () => {
    await call(service.api, 'get', '/healthz', '/healthz', {}, false);
    await waitFor(async () => (await http(`${service.api.url}/readyz`, { headers: auth })).status === 200, 10_000, 'the worker');
    await call(service.api, 'get', '/readyz', '/readyz');
    expect((await call(service.api, 'get', '/v1/languages', '/v1/languages')).body.languages.length).toBeGreaterThan(0);
    const metrics = await call(service.api, 'get', '/metrics', '/metrics');
    expect(typeof metrics.body).toBe('string');
  });

  it('a command job: 202, then the job, its events, and 409 for cancelling it after', async () => {
    const accepted = await call(service.api, 'post', '/v1/jobs', '/v1/jobs', { json: command('echo hi; echo err >&2; exit 3') });
    expect(accepted.status).toBe(202);
    const id = accepted.body.id as string;
    await waitFor(async () => (await http(`${service.api.url}/v1/jobs/${id}`, { headers: auth })).body.status === 'completed', 20_000, 'the job to end');
    const job = await call(service.api, 'get', '/v1/jobs/{id}', `/v1/jobs/${id}`);
    expect(job.body).toMatchObject({ status: 'completed', result: { run: { status: 'nonzero_exit', exit_code: 3, error_code: null } } });
    const events = await readEvents(`${service.api.url}/v1/jobs/${id}/events`, auth);
    // stdout and stderr may come in one flush or two: one output event per stream each time.
    expect(events.map((e) => e.event)).toEqual(['queued', 'started', 'output', 'output', 'run_finished', 'completed']);
    conforms('get', '/v1/jobs/{id}/events', 200, 'text/event-stream', events.map((e) => e.data));
    expect((await call(service.api, 'get', '/v1/jobs/{id}/log', `/v1/jobs/${id}/log`)).body).toMatch(/hi\n/);
    expect((await call(service.api, 'get', '/v1/jobs/{id}/log', `/v1/jobs/${id}/log?follow=yes`)).status).toBe(422);
    expect((await call(service.api, 'get', '/v1/jobs/{id}/artifacts', `/v1/jobs/${id}/artifacts`)).body).toEqual({ artifacts: [], rejected: [] });
    expect((await call(service.api, 'get', '/v1/jobs/{id}/artifacts/{path}', `/v1/jobs/${id}/artifacts/none/such`)).status).toBe(404);
    expect((await call(service.api, 'delete', '/v1/jobs/{id}', `/v1/jobs/${id}`)).status).toBe(409);
  });

  it('a judged job with ?wait: 200 with the tests, and test_finished events', async () => {
    const done = await call(service.api, 'post', '/v1/jobs', '/v1/jobs?wait=30', { json: judged });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'completed', result: { verdict: 'wrong_answer', counts: { total: 2, accepted: 1, wrong_answer: 1 } } });
    const events = await readEvents(`${service.api.url}/v1/jobs/${done.body.id}/events`, auth);
    expect(events.filter((e) => e.event === 'test_finished').map((e) => e.data.data.id)).toEqual(['two', 'three']);
    conforms('get', '/v1/jobs/{id}/events', 200, 'text/event-stream', events.map((e) => e.data));
  });

  it('interactive stdin: 202 while the job lives, 409 after; 400, 404, 413, 415, 422 for bad writes', async () => {
    const id = (await call(service.api, 'post', '/v1/jobs', '/v1/jobs', { json: { command: ['/bin/cat'], interactive_stdin: true } })).body.id as string;
    const route = '/v1/jobs/{id}/stdin';
    const path = `/v1/jobs/${id}/stdin`;
    expect((await call(service.api, 'post', route, path, { json: { data: 'hi\n', eof: true } })).body).toEqual({ written_bytes: 3, total_bytes: 3, eof: true });
    await waitFor(async () => (await http(`${service.api.url}/v1/jobs/${id}`, { headers: auth })).body.status === 'completed', 20_000, 'the job to end');
    expect((await http(`${service.api.url}/v1/jobs/${id}`, { headers: auth })).body.result.run.stdout).toBe('hi\n');
    expect((await call(service.api, 'post', route, path, { json: { data: 'late' } })).status).toBe(409);
    expect((await call(service.api, 'post', route, `/v1/jobs/${randomUUID()}/stdin`, { json: { data: 'x' } })).status).toBe(404);
    expect((await call(service.api, 'post', route, path, { body: '{', headers: { 'content-type': 'application/json' } })).status).toBe(400);
    expect((await call(service.api, 'post', route, path, { body: 'x', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    expect((await call(service.api, 'post', route, path, { json: { data: 'x'.repeat(64 * 1024 + 1) } })).status).toBe(413);
    expect((await call(service.api, 'post', route, path, { json: { data: 1 } })).status).toBe(422);
  });

  it('a running job cancelled: 200, the run cancelled, not a sandbox error', async () => {
    const id = (await call(service.api, 'post', '/v1/jobs', '/v1/jobs', { json: command('sleep 30') })).body.id as string;
    await waitFor(async () => (await http(`${service.api.url}/v1/jobs/${id}`, { headers: auth })).body.status === 'running', 10_000, 'the job to run');
    expect((await call(service.api, 'get', '/v1/jobs/{id}/artifacts', `/v1/jobs/${id}/artifacts`)).status).toBe(409);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const cancelled = await call(service.api, 'delete', '/v1/jobs/{id}', `/v1/jobs/${id}`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', result: { run: { status: 'cancelled', error_code: 'cancelled' } } });
  });

  it('a job with steps and artifacts: the job, one artifact, the tar', async () => {
    const json = { steps: [command('mkdir -p out && echo r > out/r.txt'), command('true')], artifacts: ['out/*.txt'] };
    const id = (await call(service.api, 'post', '/v1/jobs', '/v1/jobs', { json })).body.id as string;
    await waitFor(async () => (await http(`${service.api.url}/v1/jobs/${id}`, { headers: auth })).body.status === 'completed', 20_000, 'the job to end');
    const job = await call(service.api, 'get', '/v1/jobs/{id}', `/v1/jobs/${id}`);
    expect(job.body.result).toMatchObject({ run: null, steps: [{ name: '1', status: 'ok' }, { name: '2', status: 'ok' }], artifacts: [{ path: 'out/r.txt', size_bytes: 2 }] });
    expect((await call(service.api, 'get', '/v1/jobs/{id}/artifacts/{path}', `/v1/jobs/${id}/artifacts/out/r.txt`)).body).toBe('r\n');
    expect((await call(service.api, 'get', '/v1/jobs/{id}/artifacts.tar', `/v1/jobs/${id}/artifacts.tar`)).status).toBe(200);
  });

  it('batches: 202 with per-item results, 422 when none is valid', async () => {
    const mixed = await call(service.api, 'post', '/v1/jobs/batch', '/v1/jobs/batch', { json: { jobs: [command('true'), { command: [] }] } });
    expect(mixed.status).toBe(202);
    expect(mixed.body.jobs[1].error.code).toBe('invalid_request');
    expect((await call(service.api, 'post', '/v1/jobs/batch', '/v1/jobs/batch', { json: { jobs: [{ language: 'cobol' }] } })).status).toBe(422);
    expect((await call(service.api, 'post', '/v1/jobs/batch', '/v1/jobs/batch', { json: { jobs: [] } })).body.error.code).toBe('invalid_request');
  });

  it('problems: stored, listed, shown, judged against, replaced, deleted; 404, 409, 413, 415, 422', async () => {
    const api = service.api;
    const pkg = (answer: string) => craftZip([{ name: 'problem.yaml', data: 'name: Double\n' }, { name: 'data/sample/1.in', data: '2\n' }, { name: 'data/sample/1.ans', data: answer }]);
    const body = (bytes: Buffer) => ({ body: new Uint8Array(bytes), headers: { 'content-type': 'application/zip' } });
    const id = `conf-${randomUUID().slice(0, 8)}`;
    expect((await call(api, 'post', '/v1/problems', `/v1/problems?id=${id}`, body(pkg('4\n')))).body).toMatchObject({ id, status: 'ready' });
    expect((await call(api, 'post', '/v1/problems', `/v1/problems?id=${id}`, body(pkg('4\n')))).body.error.code).toBe('conflict');
    expect((await call(api, 'post', '/v1/problems', '/v1/problems', body(Buffer.alloc(100 * 1024)))).body.error.code).toBe('payload_too_large');
    expect((await call(api, 'post', '/v1/problems', '/v1/problems', { json: {} })).body.error.code).toBe('unsupported_media_type');
    expect((await call(api, 'post', '/v1/problems', '/v1/problems', body(Buffer.from('not a package '.repeat(50))))).body.error.details[0].path).toBe('archive');
    expect((await call(api, 'get', '/v1/problems', '/v1/problems')).body.problems).toContainEqual(expect.objectContaining({ id, tests: 1 }));
    expect((await call(api, 'get', '/v1/problems/{id}', `/v1/problems/${id}`)).body.tests[0].id).toBe('sample/1');
    const job = await call(api, 'post', '/v1/jobs', '/v1/jobs?wait=30', { json: { problem: id, language: 'python3', files: judged.files } });
    expect(job.body.result.verdict).toBe('accepted');
    expect((await call(api, 'put', '/v1/problems/{id}', `/v1/problems/${id}`, body(pkg('5\n')))).body.revision).toBe(2);
    const other = `conf-${randomUUID().slice(0, 8)}`;
    expect((await call(api, 'put', '/v1/problems/{id}', `/v1/problems/${other}`, body(pkg('4\n')))).status).toBe(201);
    expect((await call(api, 'put', '/v1/problems/{id}', `/v1/problems/${other}`, body(Buffer.alloc(100 * 1024)))).status).toBe(413);
    expect((await call(api, 'put', '/v1/problems/{id}', `/v1/problems/${other}`, { json: {} })).status).toBe(415);
    expect((await call(api, 'put', '/v1/problems/{id}', `/v1/problems/${other}`, body(craftZip([{ name: '../x', data: '' }])))).body.error.details[0].path).toBe('archive/../x');
    // A later revision current already (as when two PUTs race): this one is stale.
    await api.queue.redis.set(`${PREFIX}:problem:${other}:current`, '1000');
    expect((await call(api, 'put', '/v1/problems/{id}', `/v1/problems/${other}`, body(pkg('4\n')))).body.error.code).toBe('conflict');
    await api.queue.redis.set(`${PREFIX}:problem:${other}:current`, '1');
    for (const problem of [id, other]) expect((await call(api, 'delete', '/v1/problems/{id}', `/v1/problems/${problem}`)).body.id).toBe(problem);
    expect((await call(api, 'get', '/v1/problems/{id}', `/v1/problems/${id}`)).status).toBe(404);
    expect((await call(api, 'delete', '/v1/problems/{id}', `/v1/problems/${id}`)).status).toBe(404);
  });

  it('client errors: 400, 401, 404, 413, 415, 422', async () => {
    const api = service.api;
    const raw = (body: string, type = 'application/json') => ({ body, headers: { 'content-type': type } });
    for (const route of ['/v1/jobs', '/v1/jobs/batch'] as const) {
      expect((await call(api, 'post', route, route, raw('{"command": ['))).body.error.code).toBe('malformed_json');
      expect((await call(api, 'post', route, route, raw('command=true', 'text/plain'))).body.error.code).toBe('unsupported_media_type');
      expect((await call(api, 'post', route, route, raw(JSON.stringify({ pad: 'x'.repeat(300 * 1024) })))).body.error.code).toBe('payload_too_large');
    }
    const tooManyTests = { ...judged, tests: [{ stdin: 'x'.repeat(2000), expected_stdout: '' }] };
    expect((await call(api, 'post', '/v1/jobs', '/v1/jobs', { json: tooManyTests })).body.error.details[0].path).toBe('tests');
    expect((await call(api, 'post', '/v1/jobs', '/v1/jobs', { json: { command: ['true'], limits: { cpu_ms: -1 } } })).body.error.code).toBe('invalid_request');
    expect((await call(api, 'post', '/v1/jobs', '/v1/jobs?wait=99', { json: command('true') })).status).toBe(422);
    const missing = randomUUID();
    for (const [method, route, path] of [
      ['get', '/v1/jobs/{id}', `/v1/jobs/${missing}`],
      ['delete', '/v1/jobs/{id}', `/v1/jobs/${missing}`],
      ['get', '/v1/jobs/{id}/events', `/v1/jobs/${missing}/events`],
      ['get', '/v1/jobs/{id}/log', `/v1/jobs/${missing}/log`],
      ['get', '/v1/jobs/{id}/artifacts', `/v1/jobs/${missing}/artifacts`],
      ['get', '/v1/jobs/{id}/artifacts.tar', `/v1/jobs/${missing}/artifacts.tar`],
    ] as const) {
      expect((await call(api, method, route, path)).body.error.code).toBe('not_found');
    }
    for (const route of Object.keys(doc.paths)) {
      for (const method of Object.keys(doc.paths[route]) as Method[]) {
        if (route === '/healthz') continue;
        const path = route.replace('{id}', missing);
        expect((await call(api, method, route, path, method === 'post' ? { json: {} } : {}, false)).body.error.code).toBe('unauthorized');
      }
    }
  });
});

describe('conformance: the worker parses every queued job with the contract', () => {
  /** Puts a job on the queue as another API (older, newer, or none) might have. */
  async function enqueue(data: unknown): Promise<string> {
    const id = randomUUID();
    await service.api.queue.store.create(id, summarize({ command: ['true'] }));
    const queue = new Queue(QUEUE_NAME, { connection: bullConnection(parseRedisUrl(service.redis.url), 'api', 'test-queue'), prefix: PREFIX });
    try {
      await queue.add('job', data, { jobId: id, attempts: 1 });
    } finally {
      await queue.close();
    }
    return id;
  }

  const ended = async (id: string) => {
    await waitFor(async () => (await http(`${service.api.url}/v1/jobs/${id}`, { headers: auth })).body.status === 'failed', 10_000, `job ${id} to fail`);
    return (await call(service.api, 'get', '/v1/jobs/{id}', `/v1/jobs/${id}`)).body;
  };

  it('a job of another contract version fails as unsupported_version, running nothing', async () => {
    const job = await ended(await enqueue({ version: CONTRACT_VERSION + 1, submission: command('true') }));
    expect(job).toMatchObject({ status: 'failed', error_code: 'unsupported_version', result: null, started_at: expect.any(String) });
  });

  it('a job without a version, or one the contract refuses, fails as invalid_job', async () => {
    expect(await ended(await enqueue({ submission: command('true') }))).toMatchObject({ error_code: 'invalid_job' });
    const both = await ended(await enqueue({ version: CONTRACT_VERSION, submission: { ...command('true'), language: 'c' } }));
    expect(both).toMatchObject({ error_code: 'invalid_job', reason: expect.stringMatching(/give either language \(with files\) or command/) });
  });
});

describe('conformance: limits and outages', () => {
  const redis = new TestRedis();
  let limited: TestApi;
  let full: TestApi;
  let idle: TestApi;
  beforeAll(async () => {
    await redis.start();
    limited = await startApi(redis.url, { rateLimitPerMinute: 1 });
    full = await startApi(redis.url, {}, 0);
    idle = await startApi(redis.url);
  });
  afterAll(async () => {
    for (const api of [limited, full, idle]) await api?.close();
    await redis.destroy();
  });

  it('429: rate limited on every route behind the key, and a full queue', async () => {
    // The quota is per client (its Authorization header): one request spends this one's.
    await http(`${limited.url}/readyz`, { headers: auth });
    for (const route of Object.keys(doc.paths)) {
      for (const method of Object.keys(doc.paths[route]) as Method[]) {
        if (route === '/healthz') continue;
        const path = route.replace('{id}', randomUUID());
        expect((await call(limited, method, route, path, method === 'post' ? { json: {} } : {})).body.error.code).toBe('rate_limited');
      }
    }
    expect((await call(full, 'post', '/v1/jobs', '/v1/jobs', { json: command('true') })).body.error.code).toBe('queue_full');
    expect((await call(full, 'post', '/v1/jobs/batch', '/v1/jobs/batch', { json: { jobs: [command('true')] } })).body.error.code).toBe('queue_full');
  });

  it('no worker: 503 from /readyz; a queued job cancelled (200); a running job whose worker does not answer (202)', async () => {
    expect((await call(idle, 'get', '/readyz', '/readyz')).status).toBe(503);
    const queued = (await call(idle, 'post', '/v1/jobs', '/v1/jobs', { json: command('true') })).body.id as string;
    expect((await call(idle, 'delete', '/v1/jobs/{id}', `/v1/jobs/${queued}`)).body.status).toBe('cancelled');
    const running = (await call(idle, 'post', '/v1/jobs', '/v1/jobs', { json: command('true') })).body.id as string;
    // A worker that took it and then went silent: marked running, nobody to confirm the kill.
    expect(await idle.queue.store.start(running, 'silent-worker')).toBe('ok');
    expect((await call(idle, 'delete', '/v1/jobs/{id}', `/v1/jobs/${running}`)).status).toBe(202);
  });

  it('images: 201 imported beside a worker, 202 published only, listed, shown, deleted; 400, 404, 409, 413, 422', async () => {
    const keys = [KEY, 'conformance-other'];
    const other = { authorization: `Bearer ${keys[1]}` };
    const tar = (bytes: Buffer, headers: Record<string, string> = {}) => ({ body: new Uint8Array(bytes), headers: { 'content-type': 'application/x-tar', ...headers } });
    const work = mkdtempSync(join(tmpdir(), 'runcell-conformance-'));
    const beside = await startApi(redis.url, { apiKeys: keys, importImage: imageImporter(config.dataDir), imageQuota: { maxBytes: 0, maxCount: 1 } });
    const apart = await startApi(redis.url, { apiKeys: keys });
    const [name, published] = [`conf-${randomUUID().slice(0, 8)}`, `conf-${randomUUID().slice(0, 8)}`];
    try {
      const archive = async (content: string) => readFileSync(await ociArchive(work, [await tarOf([{ name: 'f', content }])]));
      expect((await call(beside, 'post', '/v1/images', `/v1/images?name=${name}`, tar(await archive(name)))).body.image.name).toBe(name);
      expect((await call(beside, 'post', '/v1/images', `/v1/images?name=${name}`, tar(await archive('other'), other), false)).body.error.code).toBe('conflict');
      expect((await call(beside, 'post', '/v1/images', `/v1/images?name=${name}-2`, tar(await archive('over')))).body.error.code).toBe('quota_exceeded');
      expect((await call(beside, 'post', '/v1/images', `/v1/images?name=${name}-3`, tar(Buffer.from('not an image '.repeat(100)), other), false)).status).toBe(422);
      expect((await call(beside, 'post', '/v1/images', '/v1/images?name=-bad', tar(await archive('bad')))).body.error.details[0].path).toBe('name');
      expect((await call(apart, 'post', '/v1/images', `/v1/images?name=${published}`, tar(await archive(published)))).body.imported).toBe(false);
      expect((await call(apart, 'get', '/v1/images', '/v1/images')).body.images.map((image: { name: string }) => image.name).sort()).toEqual([name, published].sort());
      expect((await call(apart, 'get', '/v1/images/{name}', `/v1/images/${name}`)).body.digest).toMatch(/^sha256:/);
      for (const image of [name, published]) expect((await call(apart, 'delete', '/v1/images/{name}', `/v1/images/${image}`)).body.name).toBe(image);
      expect((await call(apart, 'get', '/v1/images/{name}', `/v1/images/${name}`)).status).toBe(404);
      expect((await call(apart, 'delete', '/v1/images/{name}', `/v1/images/${name}`)).status).toBe(404);
    } finally {
      for (const api of [beside, apart]) await api.close();
      forgetImages(config.dataDir, [name]);
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('503 on every route that needs Redis, once Redis is gone', async () => {
    await redis.stop();
    await waitFor(() => !idle.queue.connected, 5000, 'the API to notice');
    for (const route of Object.keys(doc.paths)) {
      for (const method of Object.keys(doc.paths[route]) as Method[]) {
        if (!doc.paths[route][method]!.responses['503']) continue;
        const path = route.replace('{id}', randomUUID());
        expect((await call(idle, method, route, path, method === 'post' ? { json: command('true') } : {})).body.error.code).toBe('unavailable');
      }
    }
  });
});

describe('conformance: coverage', () => {
  it('every documented response was produced', () => {
    const documented = Object.entries(doc.paths).flatMap(([route, methods]) =>
      Object.entries(methods!).flatMap(([method, op]) => Object.keys(op!.responses).map((status) => `${method} ${route} ${status}`)),
    );
    expect(documented.filter((entry) => !seen.has(entry))).toEqual([]);
  });
});
