/**
 * Configuration from the environment: the settings of settings.ts (each
 * variable's default, parser and meaning) and the limit table of
 * sandbox/limits.ts, shaped for the service. README.md's configuration table
 * is generated from the same table.
 */
import { limitTableFromEnv, type LimitTable } from '../sandbox/limits.js';
import type { EgressPolicy } from '../contract/job-request.js';
import type { Routes } from '../queue/pools.js';
import { readSettings, type LOG_LEVELS } from './settings.js';

export interface Config {
  /** RUNCELL_DATA_DIR: rootfs images, workspaces, helper, slot locks. */
  dataDir: string;
  /** RUNCELL_UID_BASE: host uid of slot 0. */
  uidBase: number;
  /** RUNCELL_SLOTS: sandbox slots on this host. */
  slots: number;
  /** RUNCELL_CPU_QUOTA: optional CPU cap per run, in CPUs. */
  cpuQuota?: number;
  /** RUNCELL_CGROUP_PARENT: name of runcell's parent cgroup (one per deployment sharing a host). */
  cgroupParent: string;
  limits: LimitTable;
  /** RUNCELL_LANGUAGES: comma-separated catalog ids the rootfs image includes; undefined = all (rootfs/languages.ts). */
  languages?: string[];
  /** REDIS_URL: unset = `runcell serve` starts its own redis-server in the data dir. */
  redisUrl?: string;
  /** RUNCELL_HOST and RUNCELL_PORT: where the API listens. */
  host: string;
  port: number;
  /** RUNCELL_API_KEYS: comma-separated; when set, required as Bearer tokens. */
  apiKeys: string[];
  /** RUNCELL_MAX_BODY_BYTES: largest request body. */
  maxBodyBytes: number;
  /** RUNCELL_MAX_BACKLOG: waiting jobs beyond which submissions get 429. */
  maxBacklog: number;
  /** RUNCELL_RATE_LIMIT: requests per minute per client; 0 = none. */
  rateLimitPerMinute: number;
  /** RUNCELL_CONCURRENCY: jobs one worker process runs at once. */
  concurrency: number;
  /** RUNCELL_POOLS: worker pools and their concurrency; undefined = one pool (every job in one queue). */
  pools?: Record<string, number>;
  /** RUNCELL_POOL_ROUTES, when RUNCELL_POOLS is set: the pool of each kind of job. */
  routes?: Routes;
  /** `--pool` of `runcell serve | worker`: the pools this process's worker serves; undefined = all configured. */
  servedPools?: string[];
  /** `--concurrency` of `runcell serve | worker`: each served pool's concurrency, over RUNCELL_POOLS'. */
  servedConcurrency?: number;
  /** RUNCELL_RETAIN_COMPLETED_SECONDS, RUNCELL_RETAIN_MAX, RUNCELL_RETAIN_FAILED_SECONDS. */
  retention: { completedSeconds: number; maxFinished: number; failedSeconds: number };
  /** RUNCELL_SHUTDOWN_TIMEOUT_MS: running jobs' grace on SIGTERM before they are killed and requeued. */
  shutdownTimeoutMs: number;
  /** RUNCELL_LOCK_DURATION_MS: a dead worker's job is retried after about this long. */
  lockDurationMs: number;
  /** RUNCELL_LOG_LEVEL: pino level. */
  logLevel: (typeof LOG_LEVELS)[number];
  /** RUNCELL_READY_WORKER_SECONDS: /readyz wants a worker seen within this many seconds. */
  readyWorkerSeconds: number;
  /** RUNCELL_METRICS_PORT: where `runcell worker` serves GET /metrics (on RUNCELL_HOST); unset = not served, 0 = any free port. */
  metricsPort?: number;
  /** RUNCELL_COMPILE_CACHE_BYTES (0 = off) and RUNCELL_COMPILE_CACHE_TTL_SECONDS: the compile cache in <dataDir>/compile-cache. */
  compileCache: { bytes: number; ttlSeconds: number };
  /** RUNCELL_NETWORK_EGRESS, _SUBNET, _DNS, _RATE_BITS, _MAX_CONNECTIONS: who may ask for egress, and this host's egress network. */
  /** RUNCELL_JUDGE0_CALLBACK_PRIVATE: Judge0 callbacks may go to private addresses. */
  judge0CallbackPrivate: boolean;
  network: { egress: EgressPolicy; subnet: string; dns?: string[]; rateBits: number; maxConnections: number };
  /** RUNCELL_PROBLEM_MAX_BYTES: largest problem package. */
  maxProblemBytes: number;
  /** RUNCELL_PROBLEM_CACHE_BYTES: a worker's cache of problem files in <dataDir>/problem-cache. */
  problemCacheBytes: number;
  /** Users' images (POST /v1/images): each client's quota, and when an unused one is collected. */
  images: {
    /**
     * RUNCELL_IMAGE_QUOTA_BYTES: archive bytes one client may keep; 0 = no cap.
     * @defaultValue 8589934592 (8 GiB)
     */
    quotaBytes: number;
    /**
     * RUNCELL_IMAGE_QUOTA_COUNT: images one client may keep; 0 = no cap.
     * @defaultValue 20
     */
    quotaCount: number;
    /**
     * RUNCELL_IMAGE_UNUSED_SECONDS: an image no job used for this long leaves the registry, and a worker
     * host's copy no job used there for this long leaves that host; 0 = never.
     * @defaultValue 2592000 (30 days)
     */
    unusedSeconds: number;
  };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const settings = readSettings(env);
  return {
    dataDir: settings.dataDir,
    uidBase: settings.uidBase,
    slots: settings.slots,
    cgroupParent: settings.cgroupParent,
    cpuQuota: settings.cpuQuota,
    limits: limitTableFromEnv(env),
    languages: settings.languages,
    redisUrl: settings.redisUrl,
    host: settings.host,
    port: settings.port,
    apiKeys: settings.apiKeys,
    maxBodyBytes: settings.maxBodyBytes,
    maxBacklog: settings.maxBacklog,
    rateLimitPerMinute: settings.rateLimitPerMinute,
    concurrency: settings.concurrency,
    pools: settings.pools,
    routes: settings.pools && checkedRoutes(settings.pools, settings.poolRoutes),
    retention: {
      completedSeconds: settings.retainCompletedSeconds,
      maxFinished: settings.retainMax,
      failedSeconds: settings.retainFailedSeconds,
    },
    shutdownTimeoutMs: settings.shutdownTimeoutMs,
    lockDurationMs: settings.lockDurationMs,
    logLevel: settings.logLevel,
    readyWorkerSeconds: settings.readyWorkerSeconds,
    metricsPort: settings.metricsPort,
    compileCache: { bytes: settings.compileCacheBytes, ttlSeconds: settings.compileCacheTtlSeconds },
    judge0CallbackPrivate: settings.judge0CallbackPrivate === 'on',
    network: {
      egress: egressPolicy(settings.networkEgress, settings.apiKeys),
      subnet: settings.networkSubnet,
      dns: settings.networkDns,
      rateBits: settings.networkRateBits,
      maxConnections: settings.networkMaxConnections,
    },
    maxProblemBytes: settings.maxProblemBytes,
    problemCacheBytes: settings.problemCacheBytes,
    images: { quotaBytes: settings.imageQuotaBytes, quotaCount: settings.imageQuotaCount, unusedSeconds: settings.imageUnusedSeconds },
  };
}

/** Every route must lead to a configured pool: a job routed to none would wait forever. */
function checkedRoutes(pools: Record<string, number>, routes: Routes): Routes {
  for (const [kind, pool] of Object.entries(routes)) {
    if (!(pool in pools)) {
      throw new Error(`RUNCELL_POOL_ROUTES sends ${kind} jobs to the pool ${JSON.stringify(pool)}, which RUNCELL_POOLS does not name (it names ${Object.keys(pools).join(', ')})`);
    }
  }
  return routes;
}

/** A list of keys must name keys the API accepts: a typo would otherwise quietly deny (or, unkeyed, mean nothing). */
function egressPolicy(policy: EgressPolicy, apiKeys: string[]): EgressPolicy {
  if (policy.allow !== 'keys') return policy;
  if (apiKeys.length === 0) throw new Error('RUNCELL_NETWORK_EGRESS lists API keys, but RUNCELL_API_KEYS is unset: set it, or use on or off');
  const unknown = policy.keys.filter((key) => !apiKeys.includes(key));
  if (unknown.length > 0) throw new Error(`RUNCELL_NETWORK_EGRESS lists ${unknown.length} key(s) that are not in RUNCELL_API_KEYS`);
  return policy;
}
