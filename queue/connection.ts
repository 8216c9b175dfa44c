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

/** The hash tag of every runcell key (see store.ts's PREFIX): one Cluster slot. */
const KEY_HASH_TAG = '{runcell}';

export type RedisRole =
  /** Commands from request handlers: fail at once when Redis is away (the API answers 503). */
  | 'api'
  /** Workers and blocking reads: wait for Redis to come back. */
  | 'worker'
  /** A subscription (the API's event hub): waits for Redis to come back and resubscribes. */
  | 'subscriber';

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
  // A subscriber, like a worker, outlives an outage: its commands wait instead of failing.
  return role === 'api'
    ? { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 }
    : { maxRetriesPerRequest: null, enableReadyCheck: true };
}

const retryStrategy = (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000);

/**
 * After a failover the old master may come back as a replica: a connection still on it gets READONLY.
 * Reconnecting (2: and resend the command) asks the Sentinels for the master again.
 */
const reconnectOnError = (error: Error) => (replyCode(error) === 'READONLY' ? 2 : false);

/** What a Sentinel-backed connection adds: where the Sentinels are, and to follow a failover at once. */
function sentinelOptions(target: RedisTarget): RedisOptions {
  return {
    sentinels: target.nodes,
    name: target.sentinelName,
    // Not ioredis's failoverDetector (reconnect on the Sentinels' +switch-master): with it, a client that was
    // reconnecting when the message came ended for good ("Connection is closed." on every command after a
    // master was SIGKILLed; reproduced with three JobQueues). A dead master's sockets close, and a demoted
    // one answers READONLY (below): both reconnect through the Sentinels.
    failoverDetector: false,
    sentinelRetryStrategy: retryStrategy,
    reconnectOnError,
  };
}

/**
 * A Cluster client. Every runcell key carries the {runcell} hash tag (one slot), so a failover of that
 * slot's master is what runcell feels: the client refreshes its slot map and retries while the replica
 * takes over. An API client does not queue commands while the cluster is away (the API answers 503).
 */
function cluster(target: RedisTarget, role: RedisRole, redisOptions: RedisOptions): Cluster {
  return new Cluster(target.nodes!, {
    redisOptions,
    enableOfflineQueue: role !== 'api',
    enableReadyCheck: true,
    scaleReads: 'master',
    clusterRetryStrategy: retryStrategy,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 200,
    // Each redirection or failover retry waits 200 ms: ioredis's default 16 give up after about 3 s, less than
    // a failover takes (5-6 s measured), and a worker then failed a finished job ("Too many Cluster
    // redirections"). A worker waits about 30 s; an API request gives up as before and answers 503.
    ...(role === 'api' ? {} : { maxRedirections: 150 }),
    // A dead node's slots move to its replica: learn of it without waiting for an error on every client.
    slotsRefreshInterval: 2000,
  });
}

/** A new connection for `role`. */
export function connect(target: RedisTarget, role: RedisRole, name: string): Redis | Cluster {
  const options: RedisOptions = { ...target.options, ...roleOptions(role), connectionName: `runcell-${name}`, retryStrategy };
  if (target.kind === 'cluster') return cluster(target, role, options);
  if (target.kind === 'sentinel') return new Redis({ ...options, ...sentinelOptions(target) });
  return new Redis(options);
}

/** Connection options for BullMQ, which opens its own connections. */
export function bullConnection(target: RedisTarget, role: RedisRole, name: string): ConnectionOptions {
  // BullMQ duplicates a Cluster client for its blocking connection; its keys share runcell's {runcell} prefix (one slot).
  if (target.kind === 'cluster') return connect(target, role, name) as unknown as ConnectionOptions;
  const options: RedisOptions = { ...target.options, connectionName: `runcell-${name}`, retryStrategy };
  if (target.kind === 'sentinel') Object.assign(options, sentinelOptions(target));
  // A producer fails fast (the API answers 503); a worker's blocking connection waits.
  // (BullMQ declares ioredis 5's option types; these are ioredis 6's, the same at run time.)
  return (role === 'api' ? { ...options, enableOfflineQueue: false } : { ...options, maxRetriesPerRequest: null }) as unknown as ConnectionOptions;
}

/** Socket errors (errno codes) that mean the server cannot be reached, not a bug. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'EADDRNOTAVAIL', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/** ioredis's own error classes for "gave up waiting for a connection". */
const UNAVAILABLE_CLASSES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);
/** Redis error replies whose code (the reply's first word, by the protocol) means "not serving now". */
const UNAVAILABLE_REPLIES = new Set(['LOADING', 'MASTERDOWN', 'CLUSTERDOWN', 'TRYAGAIN', 'READONLY']);

/**
 * True when an error means "Redis is not reachable now" rather than a bug:
 * by error class and errno code, never by message. (A command refused
 * because the connection is down has no class of its own in ioredis: the
 * API asks the connection's state for that, see JobQueue.connected.)
 */
export function isRedisUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, code, syscall } = error as { name?: unknown; code?: unknown; syscall?: unknown };
  if (typeof name === 'string' && UNAVAILABLE_CLASSES.has(name)) return true;
  // A socket's errors: ENOENT counts only from connect() (a unix socket that is not there), not from any file.
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || (code === 'ENOENT' && syscall === 'connect'))) return true;
  if (name === 'ReplyError' && typeof (error as Error).message === 'string') return UNAVAILABLE_REPLIES.has(replyCode(error as Error));
  return false;
}

/** The error code of a Redis error reply: its first word (RESP's convention, e.g. "LOADING Redis is loading ..."). */
function replyCode(error: Error): string {
  return error.message.split(' ', 1)[0];
}

/** How long a write waits for a replica's acknowledgement before it is answered anyway. */
const REPLICA_ACK_TIMEOUT_MS = 1000;
/** How long "the master has (no) replicas" is believed before it is asked again. */
const REPLICA_COUNT_TTL_MS = 1000;
/** The Cluster slot of runcell's keys (CLUSTER KEYSLOT, asked once). */
let runcellSlot: number | undefined;
const replicaCounts = new WeakMap<Redis, { count: number; at: number }>();

/**
 * Sentinel and Cluster replicate asynchronously: a master killed right after answering a write takes
 * the write with it, and the replica it fails over to never had it. So, before a submission is
 * answered 2xx or a result is called recorded, this waits (WAIT 1) until one replica has everything
 * this connection wrote, within REPLICA_ACK_TIMEOUT_MS. A master without replicas (after a failover,
 * until one comes back) is not waited on: nothing could acknowledge. Answers the replicas that acknowledged.
 */
export async function awaitReplica(client: Redis | Cluster, log: (message: string, detail: object) => void): Promise<number> {
  const node = client instanceof Cluster ? await slotMaster(client) : client;
  if (!node) return 0;
  if ((await replicaCount(node)) === 0) return 0;
  const acknowledged = Number(await node.call('WAIT', 1, REPLICA_ACK_TIMEOUT_MS));
  if (acknowledged < 1) log('no replica acknowledged a write in time: a failover now could lose it', { timeoutMs: REPLICA_ACK_TIMEOUT_MS });
  return acknowledged;
}

async function replicaCount(node: Redis): Promise<number> {
  const cached = replicaCounts.get(node);
  if (cached && Date.now() - cached.at < REPLICA_COUNT_TTL_MS) return cached.count;
  const info = await node.info('replication');
  const count = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
  replicaCounts.set(node, { count, at: Date.now() });
  return count;
}

/** The connection, among a Cluster client's own, to the master of runcell's slot (where its writes went). */
async function slotMaster(cluster: Cluster): Promise<Redis | undefined> {
  runcellSlot ??= Number(await cluster.call('CLUSTER', 'KEYSLOT', KEY_HASH_TAG));
  // ioredis's slot map (node keys "host:port", the master first), kept current through MOVED replies and refreshes.
  const nodeKey = (cluster as unknown as { slots: string[][] }).slots[runcellSlot]?.[0];
  return cluster.nodes('master').find((node) => `${node.options.host}:${node.options.port}` === nodeKey);
}
