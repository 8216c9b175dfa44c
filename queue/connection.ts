/**
 * Redis connections from REDIS_URL. Forms:
 *   redis://[:password@]host:port[/db]   rediss://... (TLS)
 *   unix:///path/to/redis.sock           (the embedded server uses this)
 *   redis-sentinel://[:password@]host:port,host:port/master-name
 *   redis-cluster://[:password@]host:port,host:port
 * Every key runcell writes carries the {runcell} hash tag, so a Cluster
 * keeps them in one slot.
 */
import type { ConnectionOptions } from 'bullmq';
import { Cluster, Redis, type RedisOptions } from 'ioredis';

export type RedisRole =
  /** Commands from request handlers: fail at once when Redis is away (the API answers 503). */
  | 'api'
  /** Workers and blocking reads: wait for Redis to come back. */
  | 'worker';

export interface RedisTarget {
  kind: 'single' | 'sentinel' | 'cluster';
  options: RedisOptions;
  nodes?: { host: string; port: number }[];
  sentinelName?: string;
}

/** "[user:password@]h1:p1,h2:p2[/name]" (URL() cannot parse a host list). */
function hostList(rest: string, defaultPort: number) {
  const at = rest.lastIndexOf('@');
  const auth = at >= 0 ? rest.slice(0, at) : undefined;
  const [hosts, name] = rest.slice(at + 1).split('/');
  const [username, password] = auth === undefined ? [] : auth.includes(':') ? auth.split(':') : [undefined, auth];
  return {
    name,
    username: username ? decodeURIComponent(username) : undefined,
    password: password ? decodeURIComponent(password) : undefined,
    nodes: hosts.split(',').map((hostPort) => {
      const [host, port] = hostPort.split(':');
      return { host, port: Number(port || defaultPort) };
    }),
  };
}

export function parseRedisUrl(url: string): RedisTarget {
  if (url.startsWith('unix://')) return { kind: 'single', options: { path: url.slice('unix://'.length) } };
  if (url.startsWith('redis-sentinel://')) {
    const { name, password, nodes } = hostList(url.slice('redis-sentinel://'.length), 26379);
    return { kind: 'sentinel', sentinelName: name || 'mymaster', nodes, options: { password } };
  }
  if (url.startsWith('redis-cluster://')) {
    const { username, password, nodes } = hostList(url.slice('redis-cluster://'.length), 6379);
    return { kind: 'cluster', nodes, options: { username, password } };
  }
  const parsed = new URL(url);
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(`REDIS_URL: unsupported scheme ${parsed.protocol} (use redis://, rediss://, unix://, redis-sentinel:// or redis-cluster://)`);
  }
  return {
    kind: 'single',
    options: {
      host: parsed.hostname,
      port: Number(parsed.port || 6379),
      username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
      password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
      db: parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0,
      tls: parsed.protocol === 'rediss:' ? {} : undefined,
    },
  };
}

function roleOptions(role: RedisRole): RedisOptions {
  return role === 'api'
    ? { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 }
    : { maxRetriesPerRequest: null, enableReadyCheck: true };
}

const retryStrategy = (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000);

/** A new connection for `role`. */
export function connect(target: RedisTarget, role: RedisRole, name: string): Redis | Cluster {
  const options: RedisOptions = { ...target.options, ...roleOptions(role), connectionName: `runcell-${name}`, retryStrategy };
  if (target.kind === 'cluster') {
    return new Cluster(target.nodes!, { redisOptions: options, enableOfflineQueue: role !== 'api' });
  }
  if (target.kind === 'sentinel') return new Redis({ ...options, sentinels: target.nodes, name: target.sentinelName });
  return new Redis(options);
}

/** Connection options for BullMQ, which opens its own connections. */
export function bullConnection(target: RedisTarget, role: RedisRole, name: string): ConnectionOptions {
  if (target.kind === 'cluster') return connect(target, role, name) as unknown as ConnectionOptions;
  const options: RedisOptions = { ...target.options, connectionName: `runcell-${name}`, retryStrategy };
  if (target.kind === 'sentinel') Object.assign(options, { sentinels: target.nodes, name: target.sentinelName });
  // A producer fails fast (the API answers 503); a worker's blocking connection waits.
  // (BullMQ declares ioredis 5's option types; these are ioredis 6's, the same at run time.)
  return (role === 'api' ? { ...options, enableOfflineQueue: false } : { ...options, maxRetriesPerRequest: null }) as unknown as ConnectionOptions;
}

/** True when an error means "Redis is not reachable now" rather than a bug. */
export function isRedisUnavailable(error: unknown): boolean {
  const message = (error as Error | undefined)?.message ?? '';
  const name = (error as Error | undefined)?.name ?? '';
  return (
    name === 'MaxRetriesPerRequestError' ||
    /Stream isn't writeable|Connection is closed|ECONNREFUSED|ENOENT|ETIMEDOUT|connect|Reached the max retries|Cluster isn't ready|LOADING/i.test(message)
  );
}
