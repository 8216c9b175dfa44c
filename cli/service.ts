/**
 * `runcell serve | api | worker`: puts the layers together in one process
 * (api -> queue -> worker -> sandbox), with an embedded Redis when REDIS_URL
 * is unset, and shuts them down in order on SIGTERM or SIGINT: the API, then
 * the worker (running jobs finish or go back to the queue), then Redis.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { createApp, requestHasApiKey } from '../api/app.js';
import { imageCollector, type ImageImporter } from '../api/images.js';
import { attachPistonWebSocket } from '../api/piston/ws.js';
import { parseRedisUrl, type RedisTarget } from '../queue/connection.js';
import { EmbeddedRedis } from '../queue/embedded-redis.js';
import { workerPools } from '../queue/pools.js';
import { JobQueue } from '../queue/queue.js';
import { RuncellMetrics } from '../monitoring/metrics.js';
import { serveMetrics } from '../monitoring/server.js';
import type { Config } from './config.js';
import type { Started, Stop } from './started.js';

export interface ServiceRoles {
  api: boolean;
  worker: boolean;
  /** Start a private redis-server when REDIS_URL is unset. */
  embeddedRedis: boolean;
}

export interface RunningService {
  url?: string;
  /** Where this process serves GET /metrics. */
  metricsUrl?: string;
  redisUrl: string;
  /** Stops everything; false when a part did not stop cleanly within the shutdown timeout. */
  stop(): Promise<boolean>;
}

/** How long past RUNCELL_SHUTDOWN_TIMEOUT_MS the rest of the shutdown (requeueing, closing) may take. */
const STOP_GRACE_MS = 10_000;

export async function startService(config: Config, roles: ServiceRoles): Promise<RunningService> {
  const logger = pino({ level: config.logLevel, base: { pid: process.pid } }, pino.destination(2));
  // Only where they are served: a worker without RUNCELL_METRICS_PORT records nothing.
  const metrics = roles.api || config.metricsPort !== undefined ? new RuncellMetrics() : undefined;
  const started: Started = { logger, metrics, stops: [], finals: [] };
  try {
    // Read-only checks and the claim come before anything touches the data dir, cgroups or Redis.
    // The worker's half (sandbox, koffi, libseccomp) is loaded only where a worker runs: `runcell api` never loads it.
    const workerRole = roles.worker ? await import('./worker-role.js') : undefined;
    // An unknown --pool is refused before anything starts.
    const pools = roles.worker ? servedPools(config) : undefined;
    const rootfs = workerRole?.verifiedRootfs(config.dataDir, config.languages);
    if (workerRole) workerRole.claimHost(config, started);
    const redisUrl = await startRedis(config, roles, started);
    const redis = parseRedisUrl(redisUrl);
    if (workerRole && rootfs) await workerRole.startWorker(config, rootfs, redis, started, pools);
    // Uploaded images go into the layer store of this host, which only a worker of this process uses.
    const importImage = workerRole ? workerRole.imageImporter(config.dataDir) : undefined;
    const url = roles.api ? await startApi(config, redis, started, importImage) : undefined;
    const metricsUrl = url ? `${url}/metrics` : await startMetrics(config, roles, started);
    return { url, metricsUrl, redisUrl, stop: stopper(config, started) };
  } catch (error) {
    // A half-started service (a port taken, say) must not linger taking jobs: undo what did start.
    await stopAll(started.logger, [...started.stops, ...started.finals]);
    throw error;
  }
}

/** The pools this process's worker serves, with their concurrency (RUNCELL_POOLS, --pool, --concurrency). */
export function servedPools(config: Config): Record<string, number> {
  const concurrency = config.servedConcurrency ?? config.concurrency;
  return workerPools(config.pools, config.servedPools ?? [], concurrency, config.servedConcurrency !== undefined);
}

/** REDIS_URL, or a private redis-server in the data dir (`runcell serve` only). */
async function startRedis(config: Config, roles: ServiceRoles, started: Started): Promise<string> {
  if (config.redisUrl) return config.redisUrl;
  if (!roles.embeddedRedis) throw new Error('REDIS_URL is not set (only `runcell serve` starts its own Redis)');
  const embedded = new EmbeddedRedis({ dir: join(config.dataDir, 'redis') });
  // Stopped after the worker has given its jobs back, before the claim goes.
  started.finals.unshift(() => embedded.stop());
  await embedded.start();
  started.logger.info({ socket: embedded.socket }, 'embedded redis-server ready');
  return embedded.url;
}

async function startApi(config: Config, redis: RedisTarget, started: Started, importImage?: ImageImporter): Promise<string> {
  const queue = new JobQueue({ redis, maxBacklog: config.maxBacklog, retention: config.retention, logger: started.logger, routes: config.routes });
  const app = createApp({
    queue,
    limits: config.limits,
    maxBodyBytes: config.maxBodyBytes,
    maxProblemBytes: config.maxProblemBytes,
    apiKeys: config.apiKeys,
    networkEgress: config.network.egress,
    judge0Callbacks: { allowPrivate: config.judge0CallbackPrivate },
    rateLimitPerMinute: config.rateLimitPerMinute,
    workerWindowMs: config.readyWorkerSeconds * 1000,
    logger: started.logger,
    metrics: started.metrics,
    importImage,
    imageQuota: { maxBytes: config.images.quotaBytes, maxCount: config.images.quotaCount },
  });
  await untilConnected(queue, started.logger);
  const stopImageSweep = imageCollector(queue.images, config.images.unusedSeconds, started.logger);
  const server: Server = app.listen(config.port, config.host);
  // Piston's interactive WebSocket, on the same port (an HTTP upgrade at /api/v2/connect).
  attachPistonWebSocket(server, { queue, limits: config.limits, authorized: requestHasApiKey(config.apiKeys), log: (error) => started.logger.error({ err: (error as Error)?.message }, 'piston websocket error') });
  // Stop taking requests first, then the worker, then Redis.
  started.stops.unshift(async () => {
    stopImageSweep();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await queue.close();
  });
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${port}`;
  started.logger.info({ url }, 'API listening');
  return url;
}

/**
 * Waits a little for the queue's Redis connection: listening before it is up would answer the first
 * requests 503. A Redis still down after that is /readyz's to report, not a reason not to start.
 */
async function untilConnected(queue: JobQueue, logger: Logger): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!queue.connected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  if (!queue.connected) logger.warn('listening while the queue (Redis) is not reachable yet');
}

/** A worker without the API (often on another machine) serves its own endpoint, when asked to. */
async function startMetrics(config: Config, roles: ServiceRoles, started: Started): Promise<string | undefined> {
  if (roles.api || !started.metrics || config.metricsPort === undefined) return undefined;
  const server = await serveMetrics({ metrics: started.metrics, host: config.host, port: config.metricsPort });
  started.logger.info({ url: server.url }, 'metrics listening');
  started.stops.unshift(() => server.close());
  return server.url;
}

/** Runs the stops in order, each whatever the one before did; answers whether all went well. */
async function stopAll(logger: Logger, stops: Stop[]): Promise<boolean> {
  let clean = true;
  for (const stop of stops) {
    try {
      await stop();
    } catch (error) {
      clean = false;
      logger.error({ err: (error as Error).message }, 'error while stopping');
    }
  }
  return clean;
}

/**
 * Stopping once, however often asked, within the shutdown timeout and a
 * grace: a part that hangs (Redis gone mid-shutdown, say) is given up on,
 * said so, and the process may exit; the jobs it held go back to the queue
 * through BullMQ's stalled-job check, and its sandboxes die with it. The
 * embedded Redis and the claim on the host are let go in any case.
 */
function stopper(config: Config, started: Started): () => Promise<boolean> {
  let stopping: Promise<boolean> | undefined;
  return () => {
    if (stopping) {
      started.logger.info('already stopping');
      return stopping;
    }
    const budgetMs = config.shutdownTimeoutMs + STOP_GRACE_MS;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        started.logger.error({ budgetMs }, 'shutdown did not finish in time: giving up on what is left');
        resolve(false);
      }, budgetMs);
    });
    stopping = (async () => {
      const clean = await Promise.race([stopAll(started.logger, started.stops), late]);
      clearTimeout(timer);
      const finished = await stopAll(started.logger, started.finals);
      started.logger.flush();
      return clean && finished;
    })();
    return stopping;
  };
}

/**
 * Runs until SIGTERM or SIGINT, then stops and exits: 0 when everything
 * stopped cleanly. Later signals (a terminal's Ctrl-C reaches the whole
 * process group, systemd may follow with SIGTERM) do not cut the shutdown short.
 */
export async function runUntilSignal(service: RunningService): Promise<never> {
  await new Promise<void>((resolve) => {
    process.on('SIGTERM', () => resolve());
    process.on('SIGINT', () => resolve());
  });
  const clean = await service.stop();
  // Whatever is left (a Redis client still retrying) must not keep the process alive.
  process.exit(clean ? 0 : 1);
}
