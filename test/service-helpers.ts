/**
 * Service test set-up: a private redis-server (the embedded one, with
 * persistence) in a temporary directory, the API on an ephemeral port, and
 * workers in this process or as separate `runcell worker` processes.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createApp, requestHasApiKey, type ApiOptions } from '../api/app.js';
import { attachPistonWebSocket } from '../api/piston/ws.js';
import { MARKER, readMarker, rootfsLocation, verifiedRootfs } from '../rootfs/build.js';
import { shareImage } from '../rootfs/store.js';
import { parseRedisUrl } from '../queue/connection.js';
import { EmbeddedRedis } from '../queue/embedded-redis.js';
import type { Routes } from '../queue/pools.js';
import { JobQueue } from '../queue/queue.js';
import type { JobView } from '../queue/store.js';
import { RuncellWorker, type RuncellWorkerOptions } from '../worker/worker.js';
import { config, sandbox, waitScale } from './helpers.js';
import { http } from './http.js';

export const BIN = join(import.meta.dirname, '..', 'bin', 'runcell.js');

export class TestRedis {
  readonly dir = mkdtempSync(join(tmpdir(), 'runcell-redis-'));
  server = new EmbeddedRedis({ dir: this.dir });

  get url(): string {
    return this.server.url;
  }

  start(): Promise<void> {
    return this.server.start();
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface TestApi {
  url: string;
  queue: JobQueue;
  close(): Promise<void>;
}

export async function startApi(redisUrl: string, options: Partial<ApiOptions> = {}, maxBacklog = 1000, routes?: Routes): Promise<TestApi> {
  const queue = new JobQueue({ redis: parseRedisUrl(redisUrl), maxBacklog, routes });
  await waitFor(() => queue.connected, 5000);
  const app = createApp({ queue, limits: config.limits, ...options });
  const server: Server = app.listen(0, '127.0.0.1');
  // As `runcell serve` does: Piston's WebSocket on the same server.
  attachPistonWebSocket(server, { queue, limits: config.limits, authorized: requestHasApiKey(options.apiKeys) });
  await once(server, 'listening');
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    queue,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await queue.close();
    },
  };
}

export async function startWorker(redisUrl: string, options: Partial<RuncellWorkerOptions> = {}): Promise<RuncellWorker> {
  const { sandbox: box, pool } = sandbox();
  const worker = new RuncellWorker({
    redis: parseRedisUrl(redisUrl),
    sandbox: box,
    slots: pool,
    concurrency: 2,
    languages: readMarker(verifiedRootfs(config.dataDir, config.languages)).languages,
    lockDurationMs: 3000,
    stalledIntervalMs: 1000,
    heartbeatMs: 500,
    ...options,
  });
  await worker.start();
  return worker;
}

/**
 * The settings of a deployment beside the suite's (a `runcell serve` with a data dir of its own): its own
 * cgroup parent and slot uids too, as the suite's claim on the host requires (sandbox/deployment.ts).
 */
/**
 * Puts the suite's built rootfs into another data dir as a hard-linked copy (no space, a few seconds): the
 * sandbox opens the image without following links, so a symbolic link would be refused.
 */
export function shareRootfs(dataDir: string): void {
  const rootfs = rootfsLocation(config.dataDir, config.languages);
  if (rootfs.image) return shareImage(config.dataDir, dataDir, rootfs.image);
  const target = join(dataDir, 'rootfs', rootfs.hash);
  if (existsSync(join(target, MARKER))) return;
  mkdirSync(join(dataDir, 'rootfs'), { recursive: true });
  try {
    execFileSync('cp', ['-al', rootfs.path, target], { stdio: 'pipe' });
  } catch (error) {
    // Another file system (hard links cannot cross it): a real copy, slower.
    console.warn(`cp -al failed (${(error as Error).message.split('\n')[0]}); copying the rootfs`);
    rmSync(target, { recursive: true, force: true });
    execFileSync('cp', ['-a', rootfs.path, target], { stdio: 'pipe' });
  }
}

export function besideSuite(dataDir: string, name: string): Record<string, string> {
  return { RUNCELL_DATA_DIR: dataDir, RUNCELL_CGROUP_PARENT: `${config.cgroupParent}-${name}`, RUNCELL_UID_BASE: String(config.uidBase + 1000) };
}

/** A `runcell worker` process on `redisUrl`, with short lock and shutdown times. */
export function spawnWorker(redisUrl: string, env: Record<string, string> = {}, args: string[] = []): ChildProcess & { output: () => string } {
  let output = '';
  const child = spawn(process.execPath, [BIN, 'worker', ...args], {
    env: { ...process.env, REDIS_URL: redisUrl, RUNCELL_LOCK_DURATION_MS: '2000', RUNCELL_CONCURRENCY: '1', RUNCELL_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  return Object.assign(child, { output: () => output });
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs * waitScale;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export { http, type HttpResult } from './http.js';

/** Polls GET /v1/jobs/:id until the job has ended. */
export async function untilDone(api: string, id: string, timeoutMs = 30_000): Promise<JobView> {
  let job: JobView | undefined;
  await waitFor(
    async () => {
      job = (await http<JobView>(`${api}/v1/jobs/${id}`)).body;
      return ['completed', 'cancelled', 'failed'].includes(job.status);
    },
    timeoutMs,
    `job ${id} to end`,
  );
  return job!;
}

/** Reads an SSE stream to its end; answers the events. */
export async function readEvents(url: string, headers: Record<string, string> = {}, timeoutMs = 20_000): Promise<{ id: string; event: string; data: any }[]> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  const text = await response.text();
  return text
    .split('\n\n')
    .filter((block) => block.includes('event:'))
    .map((block) => {
      const field = (name: string) => block.split('\n').find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2) ?? '';
      return { id: field('id'), event: field('event'), data: JSON.parse(field('data')) };
    });
}

export interface ServiceFixture {
  redis: TestRedis;
  api: TestApi;
  worker: RuncellWorker;
}

/**
 * A private Redis, the API and an in-process worker for one test file,
 * started before its tests and stopped after. `workerOptions` is called in
 * beforeAll, so it may build what it needs then.
 */
/** A Redis of the file's own and an API on it, for the whole file (tests start their own workers). */
export function apiFixture(apiOptions: Partial<ApiOptions> = {}): Omit<ServiceFixture, 'worker'> {
  const fixture = { redis: new TestRedis() } as Omit<ServiceFixture, 'worker'>;
  beforeAll(async () => {
    await fixture.redis.start();
    fixture.api = await startApi(fixture.redis.url, apiOptions);
  });
  afterAll(async () => {
    await fixture.api?.close();
    await fixture.redis.destroy();
  });
  return fixture;
}

/** apiFixture and a worker in this process (its options made in beforeAll, after the API has started). */
export function serviceFixture(workerOptions: () => Partial<RuncellWorkerOptions> = () => ({}), apiOptions: Partial<ApiOptions> = {}): ServiceFixture {
  const fixture = apiFixture(apiOptions) as ServiceFixture;
  beforeAll(async () => {
    fixture.worker = await startWorker(fixture.redis.url, workerOptions());
  });
  afterAll(async () => {
    await fixture.worker?.close();
  });
  return fixture;
}

export { config };
