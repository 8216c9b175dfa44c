/**
 * The service settings: the single table of every RUNCELL_* and REDIS_URL
 * variable, its default, what it accepts and what it means, the way
 * LIMIT_TABLE (sandbox/limits.ts) holds the limits. loadConfig (config.ts)
 * reads the environment through it; README.md's configuration table is
 * generated from it (`npx tsx scripts/settings-doc.ts`, checked by
 * test/settings.test.ts). Nothing else holds a default of its own.
 */
import { cpus } from 'node:os';
import { isAbsolute } from 'node:path';
import { selectLanguages } from '../rootfs/languages.js';
import { DEFAULT_UID_BASE } from '../sandbox/slots.js';
import { parseSubnet } from '../sandbox/network-rules.js';
import type { EgressPolicy } from '../contract/job-request.js';
import { DEFAULT_POOL, DEFAULT_ROUTES, JOB_KINDS, POOL_NAME, type JobKind, type Routes } from '../queue/pools.js';

export interface Setting<T> {
  env: string;
  /** The default, as the README shows it (markdown). */
  shown: string;
  /** What values it takes, as the README shows it. */
  accepts: string;
  /** What it does (markdown). */
  meaning: string;
  /** Reads the raw value (undefined or '' = unset, the default); throws naming the variable when it is wrong. */
  parse(raw: string | undefined): T;
}

const unset = (raw: string | undefined): raw is undefined => raw === undefined || raw === '';
const code = (value: unknown) => `\`${value}\``;

function integer(env: string, fallback: number | (() => number), options: { min: number; shown?: string; accepts?: string }, meaning: string): Setting<number> {
  return {
    env,
    shown: options.shown ?? code(fallback),
    accepts: options.accepts ?? `integer ≥ ${options.min}`,
    meaning,
    parse(raw) {
      if (unset(raw)) return typeof fallback === 'function' ? fallback() : fallback;
      const value = Number(raw);
      if (!Number.isSafeInteger(value) || value < options.min) throw new Error(`${env} must be an integer >= ${options.min}, got ${JSON.stringify(raw)}`);
      return value;
    },
  };
}

function port(env: string, fallback: number, meaning: string): Setting<number> {
  const number = integer(env, fallback, { min: 0, accepts: 'TCP port, 0 to 65535' }, meaning);
  return {
    ...number,
    parse(raw) {
      const value = number.parse(raw);
      if (value > 65535) throw new Error(`${env} must be a TCP port (0 to 65535), got ${value}`);
      return value;
    },
  };
}

function optional<T>(setting: Setting<T>, shown: string): Setting<T | undefined> {
  return { ...setting, shown, parse: (raw) => (unset(raw) ? undefined : setting.parse(raw)) };
}

function text(env: string, fallback: string, accepts: string, meaning: string): Setting<string> {
  return { env, shown: code(fallback), accepts, meaning, parse: (raw) => (unset(raw) ? fallback : raw) };
}

function oneOf<const T extends string>(env: string, fallback: T, values: readonly T[], meaning: string): Setting<T> {
  return {
    env,
    shown: code(fallback),
    accepts: values.map(code).join(', '),
    meaning,
    parse(raw) {
      if (unset(raw)) return fallback;
      if (!(values as readonly string[]).includes(raw)) throw new Error(`${env} must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
      return raw as T;
    },
  };
}

function commaList(raw: string | undefined): string[] {
  return (raw ?? '').split(',').map((item) => item.trim()).filter((item) => item !== '');
}

const cgroupParent: Setting<string> = {
  env: 'RUNCELL_CGROUP_PARENT',
  shown: code('runcell'),
  accepts: "letters, digits, `_`, `-` (1 to 64; no dot)",
  meaning: "name of runcell's parent cgroup; give each deployment sharing a host its own (with its own `RUNCELL_UID_BASE` and `RUNCELL_DATA_DIR`)",
  parse(raw) {
    const name = unset(raw) ? 'runcell' : raw;
    // No dots: "system.slice", "init.scope" or "cgroup.procs" belong to systemd or the kernel.
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
      throw new Error(`RUNCELL_CGROUP_PARENT must be a plain name (letters, digits, '_', '-'), got ${JSON.stringify(name)}`);
    }
    return name;
  },
};

const languages: Setting<string[] | undefined> = {
  env: 'RUNCELL_LANGUAGES',
  shown: 'all of the catalog',
  accepts: 'comma-separated language ids',
  meaning:
    'the languages the rootfs image includes (e.g. `c,cpp,python3` for a small CI image); another selection is another image (`runcell rootfs build`), and jobs for other languages get 422',
  parse(raw) {
    const ids = commaList(raw);
    if (ids.length === 0) return undefined;
    try {
      return selectLanguages(ids).map((language) => language.id);
    } catch (error) {
      throw new Error(`RUNCELL_LANGUAGES: ${(error as Error).message}`);
    }
  },
};

const cpuQuota: Setting<number | undefined> = {
  env: 'RUNCELL_CPU_QUOTA',
  shown: 'none',
  accepts: 'number > 0',
  meaning: 'optional CPU bandwidth cap per run, in CPUs (e.g. `1`)',
  parse(raw) {
    if (unset(raw)) return undefined;
    const quota = Number(raw);
    if (!(quota > 0) || !Number.isFinite(quota)) throw new Error(`RUNCELL_CPU_QUOTA must be a positive number of CPUs, got ${JSON.stringify(raw)}`);
    return quota;
  },
};

const networkEgress: Setting<EgressPolicy> = {
  env: 'RUNCELL_NETWORK_EGRESS',
  shown: code('off'),
  accepts: '`off`, `on`, or comma-separated API keys (of `RUNCELL_API_KEYS`)',
  meaning:
    'whether jobs may ask for `"network": "egress"` (outbound connections through runcell\'s NAT, never to the host, private ranges or other jobs; [docs/security.md](docs/security.md#network-egress)): `on` for every client, a list of keys for those clients only; others get 422 naming `network`. Needs nftables, dnsmasq, conntrack and iproute2 on the worker hosts, and turns on `net.ipv4.ip_forward` there',
  parse(raw) {
    if (unset(raw) || raw === 'off') return { allow: 'none' };
    if (raw === 'on') return { allow: 'all' };
    return { allow: 'keys', keys: commaList(raw) };
  },
};

const networkSubnet: Setting<string> = {
  env: 'RUNCELL_NETWORK_SUBNET',
  shown: code('10.213.0.0/16'),
  accepts: 'IPv4 subnet `a.b.c.d/n`, /8 to /28',
  meaning: "egress jobs' addresses: the first is the bridge's (the jobs' gateway and resolver), slot *i* gets the (*i*+2)th; give each deployment sharing a host its own",
  parse(raw) {
    const subnet = unset(raw) ? '10.213.0.0/16' : raw;
    try {
      parseSubnet(subnet);
    } catch (error) {
      throw new Error(`RUNCELL_NETWORK_SUBNET: ${(error as Error).message}`);
    }
    return subnet;
  },
};

const networkDns: Setting<string[] | undefined> = {
  env: 'RUNCELL_NETWORK_DNS',
  shown: "the host's `/etc/resolv.conf`",
  accepts: 'comma-separated IPv4 addresses',
  meaning: "where the egress jobs' resolver (dnsmasq on the bridge) forwards their queries",
  parse(raw) {
    const servers = commaList(raw);
    if (servers.length === 0) return undefined;
    for (const server of servers) {
      if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(server)) throw new Error(`RUNCELL_NETWORK_DNS must list IPv4 addresses, got ${JSON.stringify(server)}`);
    }
    return servers;
  },
};

const pools: Setting<Record<string, number> | undefined> = {
  env: 'RUNCELL_POOLS',
  shown: 'unset: one pool of `RUNCELL_CONCURRENCY`',
  accepts: 'comma-separated `name:concurrency` (e.g. `judge:2,ci:8`)',
  meaning:
    "worker pools, each with a queue of its own: the API routes each job to a pool by its kind (`RUNCELL_POOL_ROUTES`); `runcell serve` and `runcell worker` serve every pool listed, each at its concurrency, unless `--pool` names some ([docs/operations.md](docs/operations.md#worker-pools)). Set it alike on the API and the workers",
  parse(raw) {
    const items = commaList(raw);
    if (items.length === 0) return undefined;
    const result: Record<string, number> = {};
    for (const item of items) {
      const match = /^([^:]+):(\d+)$/.exec(item);
      if (!match || !POOL_NAME.test(match[1]) || Number(match[2]) < 1) {
        throw new Error(`RUNCELL_POOLS must list name:concurrency pairs (a name of lower-case letters, digits, _ and -; a concurrency >= 1), got ${JSON.stringify(item)}`);
      }
      if (match[1] === DEFAULT_POOL) throw new Error(`RUNCELL_POOLS: "${DEFAULT_POOL}" is the pool of a deployment without pools; name the pools otherwise`);
      if (match[1] in result) throw new Error(`RUNCELL_POOLS names the pool ${JSON.stringify(match[1])} twice`);
      result[match[1]] = Number(match[2]);
    }
    return result;
  },
};

const poolRoutes: Setting<Routes> = {
  env: 'RUNCELL_POOL_ROUTES',
  shown: code(JOB_KINDS.map((kind) => `${kind}=${DEFAULT_ROUTES[kind]}`).join(',')),
  accepts: `comma-separated \`kind=pool\`, kinds ${JOB_KINDS.map(code).join(', ')}`,
  meaning:
    'with `RUNCELL_POOLS`: the pool each kind of job goes to (kinds not listed keep the default); `egress`: jobs with network egress, `judged`: tests, an interactor or a stored problem, `program`: a language program without tests, `command`: command and steps jobs. Every pool named must be in `RUNCELL_POOLS`',
  parse(raw) {
    const routes: Routes = { ...DEFAULT_ROUTES };
    for (const item of commaList(raw)) {
      const [kind, pool, ...rest] = item.split('=');
      if (!(JOB_KINDS as readonly string[]).includes(kind) || rest.length > 0 || !POOL_NAME.test(pool ?? '')) {
        throw new Error(`RUNCELL_POOL_ROUTES must list kind=pool pairs, the kinds being ${JOB_KINDS.join(', ')}; got ${JSON.stringify(item)}`);
      }
      routes[kind as JobKind] = pool;
    }
    return routes;
  },
};

const MiB = 1024 * 1024;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Every setting, in the order the README lists them. */
export const SETTINGS = {
  dataDir: {
    ...text('RUNCELL_DATA_DIR', '/var/lib/runcell', 'absolute path', 'rootfs images, workspaces, the helper, slot locks, the embedded Redis'),
    parse(raw) {
      const dir = unset(raw) ? '/var/lib/runcell' : raw;
      // Every host-side path of a job is resolved beneath it: a relative one would depend on the cwd.
      if (!isAbsolute(dir)) throw new Error(`RUNCELL_DATA_DIR must be an absolute path, got ${JSON.stringify(dir)}`);
      return dir;
    },
  } satisfies Setting<string>,
  languages,
  redisUrl: {
    env: 'REDIS_URL',
    shown: 'unset: `runcell serve` starts its own',
    accepts: '`redis://[:pw@]host:port/db`, `rediss://...`, `unix:///path.sock`, `redis-sentinel://h1:26379,h2:26379/master`, `redis-cluster://h1:6379,h2:6379`',
    meaning: 'the Redis of the queue and the job records; `runcell api` and `runcell worker` need it',
    parse: (raw) => (unset(raw) ? undefined : raw),
  } satisfies Setting<string | undefined>,
  host: text('RUNCELL_HOST', '127.0.0.1', 'address', 'address the API listens on (`0.0.0.0` for all)'),
  port: port('RUNCELL_PORT', 8080, 'API port (`--port` wins)'),
  apiKeys: {
    env: 'RUNCELL_API_KEYS',
    shown: 'unset',
    accepts: 'comma-separated keys',
    meaning: 'when set, every endpoint but `/healthz` needs `Authorization: Bearer <key>`',
    parse: commaList,
  } satisfies Setting<string[]>,
  maxBodyBytes: integer('RUNCELL_MAX_BODY_BYTES', 10 * MiB, { min: 1024 }, 'largest request body (413 beyond)'),
  maxBacklog: integer('RUNCELL_MAX_BACKLOG', 10_000, { min: 1 }, 'waiting jobs beyond which submissions get 429'),
  rateLimitPerMinute: integer('RUNCELL_RATE_LIMIT', 0, { min: 0, shown: '`0` (off)' }, 'requests per minute per client (API key, else address); 429 beyond'),
  concurrency: integer('RUNCELL_CONCURRENCY', () => cpus().length, { min: 1, shown: 'number of CPUs' }, 'jobs one worker process runs at once'),
  pools,
  poolRoutes,
  slots: integer('RUNCELL_SLOTS', () => Math.max(16, cpus().length * 2), { min: 1, shown: '2 × CPUs, at least 16' }, 'sandbox slots on this host, shared by all worker processes'),
  uidBase: integer('RUNCELL_UID_BASE', DEFAULT_UID_BASE, { min: 1000 }, 'host uid of slot 0; slot *i* runs as `RUNCELL_UID_BASE + i`, the interactor beside it as `RUNCELL_UID_BASE + RUNCELL_SLOTS + i`'),
  cpuQuota,
  cgroupParent,
  networkEgress,
  networkSubnet,
  networkDns,
  networkRateBits: integer('RUNCELL_NETWORK_RATE_BITS', 100_000_000, { min: 100_000, shown: '`100000000` (100 Mbit/s)' }, "an egress job's bandwidth, each way, in bits per second (a tbf qdisc on each end of its veth pair)"),
  networkMaxConnections: integer('RUNCELL_NETWORK_MAX_CONNECTIONS', 64, { min: 1 }, 'connections (TCP or UDP flows) an egress job may have open at once; new ones beyond are refused'),
  judge0CallbackPrivate: oneOf(
    'RUNCELL_JUDGE0_CALLBACK_PRIVATE',
    'off',
    ['off', 'on'] as const,
    "`on` lets Judge0 submissions' `callback_url` reach loopback, private (RFC 1918, 100.64/10), link-local (169.254/16: cloud metadata), multicast and unspecified addresses, IPv6's too; `off` refuses them (422 for such a literal address, and no request when the name resolves to one) ([docs/compat.md](docs/compat.md))",
  ),
  retainCompletedSeconds: integer('RUNCELL_RETAIN_COMPLETED_SECONDS', 3600, { min: 1 }, 'how long completed and cancelled jobs are kept'),
  retainMax: integer('RUNCELL_RETAIN_MAX', 100_000, { min: 1 }, 'most finished jobs kept (oldest removed first)'),
  retainFailedSeconds: integer('RUNCELL_RETAIN_FAILED_SECONDS', 86_400, { min: 1 }, 'how long failed jobs are kept'),
  shutdownTimeoutMs: integer('RUNCELL_SHUTDOWN_TIMEOUT_MS', 30_000, { min: 0 }, "on SIGTERM, running jobs' grace before they are killed and queued again"),
  lockDurationMs: integer('RUNCELL_LOCK_DURATION_MS', 10_000, { min: 1000 }, "a dead worker's job is retried after about this long"),
  readyWorkerSeconds: integer('RUNCELL_READY_WORKER_SECONDS', 30, { min: 1 }, '`/readyz` answers 503 unless a worker was seen within this many seconds'),
  compileCacheBytes: integer(
    'RUNCELL_COMPILE_CACHE_BYTES',
    256 * MiB,
    { min: 0, shown: '`268435456` (256 MiB)' },
    'size of the compile cache in `<data dir>/compile-cache` (identical compiles reuse the compiled workspace; least recently used entries go first); `0` turns it off',
  ),
  compileCacheTtlSeconds: integer('RUNCELL_COMPILE_CACHE_TTL_SECONDS', 3600, { min: 1 }, 'how long a compiled workspace is reused after it was made'),
  maxProblemBytes: integer(
    'RUNCELL_PROBLEM_MAX_BYTES',
    1024 * MiB,
    { min: 1024, shown: '`1073741824` (1 GiB)' },
    'largest problem package (`POST`/`PUT /v1/problems`), as uploaded and unpacked (413 or 422 beyond)',
  ),
  problemCacheBytes: integer(
    'RUNCELL_PROBLEM_CACHE_BYTES',
    4096 * MiB,
    { min: 0, shown: '`4294967296` (4 GiB)' },
    "size of a worker's cache of stored problems' files in `<data dir>/problem-cache` (by sha256; least recently used first out, never a file a running job uses)",
  ),
  imageQuotaBytes: integer(
    'RUNCELL_IMAGE_QUOTA_BYTES',
    8192 * MiB,
    { min: 0, shown: '`8589934592` (8 GiB)' },
    "archive bytes of users' images (`POST /v1/images`) one client (API key) may keep in the fleet's registry; past it an upload gets 413 `quota_exceeded` and nothing is stored (replacing one's image of the same name counts the difference); `0` = no cap",
  ),
  imageQuotaCount: integer('RUNCELL_IMAGE_QUOTA_COUNT', 20, { min: 0 }, "users' images one client (API key) may keep; past it an upload of a new name gets 413 `quota_exceeded`; `0` = no cap"),
  imageUnusedSeconds: integer(
    'RUNCELL_IMAGE_UNUSED_SECONDS',
    30 * 86_400,
    { min: 0, shown: '`2592000` (30 days)' },
    "a user's image no upload, accepted job or run named for this long is removed from the registry (the API's sweep), and each worker host drops its copy of an image no job used there for this long (never one a running job uses); `0` = never",
  ),
  logLevel: oneOf('RUNCELL_LOG_LEVEL', 'info', LOG_LEVELS, 'pino log level (JSON lines on stderr)'),
  metricsPort: optional(
    port(
      'RUNCELL_METRICS_PORT',
      0,
      'port where `runcell worker` serves Prometheus metrics at `GET /metrics` (on `RUNCELL_HOST`; `0` = any free port); the API and `runcell serve` serve them on the API port ([docs/metrics.md](docs/metrics.md))',
    ),
    'unset (not served)',
  ),
} satisfies Record<string, Setting<unknown>>;

export type SettingValues = { [K in keyof typeof SETTINGS]: ReturnType<(typeof SETTINGS)[K]['parse']> };

/** Reads every setting from `env`; the first wrong one throws, naming its variable. */
export function readSettings(env: NodeJS.ProcessEnv): SettingValues {
  return Object.fromEntries(Object.entries(SETTINGS).map(([key, setting]) => [key, (setting as Setting<unknown>).parse(env[setting.env])])) as SettingValues;
}

/** The per-limit variables, read by limitTableFromEnv (sandbox/limits.ts) against LIMIT_TABLE. */
export const LIMIT_SETTINGS: Array<Pick<Setting<unknown>, 'env' | 'shown' | 'accepts' | 'meaning'>> = [
  { env: 'RUNCELL_DEFAULT_<LIMIT>', shown: 'see below', accepts: "integer ≥ the limit's minimum", meaning: 'default of a limit for run steps' },
  { env: 'RUNCELL_COMPILE_DEFAULT_<LIMIT>', shown: 'see below', accepts: "integer ≥ the limit's minimum", meaning: 'default of a limit for compile steps' },
  { env: 'RUNCELL_MAX_<LIMIT>', shown: 'see below', accepts: "integer ≥ the limit's minimum", meaning: 'largest value a request may ask for' },
];

export const SETTINGS_DOC_BEGIN = '<!-- settings: generated by `npx tsx scripts/settings-doc.ts` from cli/settings.ts; do not edit -->';
export const SETTINGS_DOC_END = '<!-- settings: end -->';

/** The README's configuration table. */
export function settingsMarkdown(): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  const rows = [...Object.values(SETTINGS), ...LIMIT_SETTINGS].map((s) => `| \`${s.env}\` | ${cell(s.shown)} | ${cell(s.accepts)} | ${cell(s.meaning)} |`);
  return [SETTINGS_DOC_BEGIN, '| variable | default | accepts | meaning |', '|---|---|---|---|', ...rows, SETTINGS_DOC_END].join('\n');
}

/** `page` with its generated configuration table replaced by the current one. */
export function withSettingsTable(page: string): string {
  const begin = page.indexOf(SETTINGS_DOC_BEGIN);
  const end = page.indexOf(SETTINGS_DOC_END);
  if (begin < 0 || end < begin) throw new Error('README.md has no generated settings table');
  return page.slice(0, begin) + settingsMarkdown() + page.slice(end + SETTINGS_DOC_END.length);
}
