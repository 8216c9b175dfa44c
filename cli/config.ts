/**
 * Configuration from the environment: one place that reads RUNCELL_*.
 * Documented in README.md (configuration table).
 */
import { cpus } from 'node:os';
import { selectLanguages } from '../rootfs/languages.js';
import { limitTableFromEnv, type LimitTable } from '../sandbox/limits.js';
import { DEFAULT_UID_BASE } from '../sandbox/slots.js';

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
  /** RUNCELL_RETAIN_COMPLETED_SECONDS, RUNCELL_RETAIN_MAX, RUNCELL_RETAIN_FAILED_SECONDS. */
  retention: { completedSeconds: number; maxFinished: number; failedSeconds: number };
  /** RUNCELL_SHUTDOWN_TIMEOUT_MS: running jobs' grace on SIGTERM before they are killed and requeued. */
  shutdownTimeoutMs: number;
  /** RUNCELL_LOCK_DURATION_MS: a dead worker's job is retried after about this long. */
  lockDurationMs: number;
  /** RUNCELL_LOG_LEVEL: pino level. */
  logLevel: string;
  /** RUNCELL_READY_WORKER_SECONDS: /readyz wants a worker seen within this many seconds. */
  readyWorkerSeconds: number;
  /** RUNCELL_METRICS_PORT: where `runcell worker` serves GET /metrics (on RUNCELL_HOST); unset = not served, 0 = any free port. */
  metricsPort?: number;
  /** RUNCELL_COMPILE_CACHE_BYTES (0 = off) and RUNCELL_COMPILE_CACHE_TTL_SECONDS: the compile cache in <dataDir>/compile-cache. */
  compileCache: { bytes: number; ttlSeconds: number };
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = integer(env, name, fallback, 0);
  if (value > 65535) throw new Error(`${name} must be a TCP port (0 to 65535), got ${value}`);
  return value;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return value;
}

function cgroupName(name: string): string {
  // No dots: "system.slice", "init.scope" or "cgroup.procs" belong to systemd or the kernel.
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    throw new Error(`RUNCELL_CGROUP_PARENT must be a plain name (letters, digits, '_', '-'), got ${JSON.stringify(name)}`);
  }
  return name;
}

function languageList(raw: string | undefined): string[] | undefined {
  const ids = (raw ?? '').split(',').map((id) => id.trim()).filter((id) => id !== '');
  if (ids.length === 0) return undefined;
  try {
    return selectLanguages(ids).map((language) => language.id);
  } catch (error) {
    throw new Error(`RUNCELL_LANGUAGES: ${(error as Error).message}`);
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const quota = env.RUNCELL_CPU_QUOTA ? Number(env.RUNCELL_CPU_QUOTA) : undefined;
  if (quota !== undefined && !(quota > 0)) throw new Error('RUNCELL_CPU_QUOTA must be a positive number of CPUs');
  return {
    dataDir: env.RUNCELL_DATA_DIR || '/var/lib/runcell',
    uidBase: integer(env, 'RUNCELL_UID_BASE', DEFAULT_UID_BASE, 1000),
    slots: integer(env, 'RUNCELL_SLOTS', Math.max(16, cpus().length * 2), 1),
    cgroupParent: cgroupName(env.RUNCELL_CGROUP_PARENT || 'runcell'),
    cpuQuota: quota,
    limits: limitTableFromEnv(env),
    languages: languageList(env.RUNCELL_LANGUAGES),
    redisUrl: env.REDIS_URL || undefined,
    host: env.RUNCELL_HOST || '127.0.0.1',
    port: port(env, 'RUNCELL_PORT', 8080),
    apiKeys: (env.RUNCELL_API_KEYS ?? '').split(',').map((k) => k.trim()).filter((k) => k !== ''),
    maxBodyBytes: integer(env, 'RUNCELL_MAX_BODY_BYTES', 10 * 1024 * 1024, 1024),
    maxBacklog: integer(env, 'RUNCELL_MAX_BACKLOG', 10_000, 1),
    rateLimitPerMinute: integer(env, 'RUNCELL_RATE_LIMIT', 0, 0),
    concurrency: integer(env, 'RUNCELL_CONCURRENCY', cpus().length, 1),
    retention: {
      completedSeconds: integer(env, 'RUNCELL_RETAIN_COMPLETED_SECONDS', 3600, 1),
      maxFinished: integer(env, 'RUNCELL_RETAIN_MAX', 100_000, 1),
      failedSeconds: integer(env, 'RUNCELL_RETAIN_FAILED_SECONDS', 86_400, 1),
    },
    shutdownTimeoutMs: integer(env, 'RUNCELL_SHUTDOWN_TIMEOUT_MS', 30_000, 0),
    lockDurationMs: integer(env, 'RUNCELL_LOCK_DURATION_MS', 10_000, 1000),
    logLevel: env.RUNCELL_LOG_LEVEL || 'info',
    readyWorkerSeconds: integer(env, 'RUNCELL_READY_WORKER_SECONDS', 30, 1),
    metricsPort: env.RUNCELL_METRICS_PORT ? port(env, 'RUNCELL_METRICS_PORT', 0) : undefined,
    compileCache: {
      bytes: integer(env, 'RUNCELL_COMPILE_CACHE_BYTES', 256 * 1024 * 1024, 0),
      ttlSeconds: integer(env, 'RUNCELL_COMPILE_CACHE_TTL_SECONDS', 3600, 1),
    },
  };
}
