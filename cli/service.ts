/**
 * `runcell serve | api | worker`: puts the layers together in one process
 * (api -> queue -> worker -> sandbox), with an embedded Redis when REDIS_URL
 * is unset, and shuts them down in order on SIGTERM or SIGINT.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import { join } from 'node:path';
import pino from 'pino';
import { createApp } from '../api/app.js';
import { cacheDir, CompileCache } from '../worker/compile-cache.js';
import { readMarker, verifiedRootfs } from '../rootfs/build.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { SlotPool } from '../sandbox/slots.js';
import { parseRedisUrl } from '../queue/connection.js';
import { EmbeddedRedis } from '../queue/embedded-redis.js';
import { JobQueue } from '../queue/queue.js';
import { RuncellMetrics } from '../monitoring/metrics.js';
import { serveMetrics } from '../monitoring/server.js';
import { RuncellWorker } from '../worker/worker.js';
import type { Config } from './config.js';

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
  stop(): Promise<void>;
}

export async function startService(config: Config, roles: ServiceRoles): Promise<RunningService> {
  const logger = pino({ level: config.logLevel, base: { pid: process.pid } }, pino.destination(2));
  let embedded: EmbeddedRedis | undefined;
  let redisUrl = config.redisUrl;
  if (!redisUrl) {
    if (!roles.embeddedRedis) throw new Error('REDIS_URL is not set (only `runcell serve` starts its own Redis)');
    embedded = new EmbeddedRedis({ dir: join(config.dataDir, 'redis') });
    await embedded.start();
    redisUrl = embedded.url;
    logger.info({ socket: embedded.socket }, 'embedded redis-server ready');
  }
  const redis = parseRedisUrl(redisUrl);
  const stops: (() => Promise<void>)[] = [];
  // One registry for the process: `runcell serve` exports the API's and the worker's series on one endpoint.
  // Only where they are served: a worker without RUNCELL_METRICS_PORT records nothing.
  const metrics = roles.api || config.metricsPort !== undefined ? new RuncellMetrics() : undefined;

  let worker: RuncellWorker | undefined;
  let url: string | undefined;
  let metricsUrl: string | undefined;
  try {
    if (roles.worker) {
      const rootfs = verifiedRootfs(config.dataDir, config.languages);
      const sandbox = Sandbox.create({
        dataDir: config.dataDir,
        cgroupParent: config.cgroupParent,
        rootfs,
        cpuQuota: config.cpuQuota,
        onPhases: metrics && ((phases) => metrics.observeSandboxPhases(phases)),
      });
      const marker = readMarker(rootfs);
      const compileCache = new CompileCache({
        dir: cacheDir(config.dataDir),
        maxBytes: config.compileCache.bytes,
        ttlSeconds: config.compileCache.ttlSeconds,
        rootfsHash: marker.hash,
        versions: marker.languages,
      });
      worker = new RuncellWorker({
        redis,
        sandbox,
        slots: new SlotPool({ dataDir: config.dataDir, count: config.slots, uidBase: config.uidBase }),
        concurrency: config.concurrency,
        languages: marker.languages,
        compileCache,
        limits: config.limits,
        retention: config.retention,
        shutdownTimeoutMs: config.shutdownTimeoutMs,
        lockDurationMs: config.lockDurationMs,
        stalledIntervalMs: Math.max(1000, Math.floor(config.lockDurationMs / 2)),
        logger,
        metrics,
      });
      await worker.start();
      stops.push(() => worker!.close());
    }

    if (roles.api) {
      const queue = new JobQueue({ redis, maxBacklog: config.maxBacklog, retention: config.retention, logger });
      const app = createApp({
        queue,
        limits: config.limits,
        maxBodyBytes: config.maxBodyBytes,
        apiKeys: config.apiKeys,
        rateLimitPerMinute: config.rateLimitPerMinute,
        workerWindowMs: config.readyWorkerSeconds * 1000,
        logger,
        metrics,
      });
      const server: Server = app.listen(config.port, config.host);
      await once(server, 'listening');
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : config.port;
      url = `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${port}`;
      logger.info({ url }, 'API listening');
      // Stop taking requests first, then the worker, then Redis.
      stops.unshift(async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await queue.close();
      });
    }
    metricsUrl = url ? `${url}/metrics` : undefined;
    if (!roles.api && metrics && config.metricsPort !== undefined) {
      // A worker without the API (often on another machine) serves its own endpoint.
      const server = await serveMetrics({ metrics, host: config.host, port: config.metricsPort });
      metricsUrl = server.url;
      logger.info({ url: metricsUrl }, 'metrics listening');
      stops.unshift(() => server.close());
    }
  } catch (error) {
    // A half-started service (a port taken, say) must not linger taking jobs: undo what did start.
    for (const stop of stops) await stop().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    throw error;
  }
  if (embedded) stops.push(() => embedded!.stop());

  let stopping: Promise<void> | undefined;
  return {
    url,
    metricsUrl,
    redisUrl,
    stop() {
      stopping ??= (async () => {
        for (const stop of stops) {
          try {
            await stop();
          } catch (error) {
            logger.error({ err: (error as Error).message }, 'error while stopping');
          }
        }
        logger.flush();
      })();
      return stopping;
    },
  };
}

/** Runs until SIGTERM or SIGINT, then stops gracefully and exits 0. */
export async function runUntilSignal(service: RunningService): Promise<void> {
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await service.stop();
}
