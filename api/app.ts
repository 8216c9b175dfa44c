/**
 * The HTTP API (express): validates requests with the contract's schemas,
 * queues jobs through JobQueue, answers for them. Never touches a sandbox:
 * nothing here imports worker/ or sandbox/.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import express, { type NextFunction, type Request, type Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { DEFAULT_BOUNDS, type EgressPolicy, type RequestBounds } from '../contract/job-request.js';
import type { LimitRanges } from '../contract/limits.js';
import { buildOpenApi } from '../contract/openapi.js';
import { LANGUAGES } from '../rootfs/languages.js';
import type { JobQueue } from '../queue/queue.js';
import { RedisRateLimitStore } from '../queue/rate-limit.js';
import type { RuncellMetrics } from '../monitoring/metrics.js';
import { ApiError, errorBody, errorHandler, unavailable } from './errors.js';
import { jobChecker, jobRoutes } from './jobs.js';
import { problemJobPinner, problemRoutes } from './problems.js';
import { imageRoutes, type ImageImporter } from './images.js';
import type { ImageQuota } from '../queue/images.js';
import type { CallbackOptions } from './judge0/callbacks.js';
import { judge0Cors, judge0Routes } from './judge0/routes.js';
import { pistonRoutes } from './piston/routes.js';
import { playgroundRoutes } from './playground.js';
import { stdinRoutes } from './stdin.js';

export interface ApiLogger {
  info(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export interface ApiOptions {
  queue: JobQueue;
  /** The limit table (ranges and defaults) requests are checked against. */
  limits: LimitRanges;
  bounds?: Partial<RequestBounds>;
  /** Largest request body. Default 10 MiB. */
  maxBodyBytes?: number;
  /** Largest problem package (POST/PUT /v1/problems), packed and unpacked. Default 1 GiB. */
  maxProblemBytes?: number;
  /** When non-empty, every endpoint but /healthz needs `Authorization: Bearer <one of these>` (or, as Judge0's clients send it, `X-Auth-Token: <one of these>`). */
  apiKeys?: string[];
  /** Who may submit jobs with `network: "egress"` (RUNCELL_NETWORK_EGRESS). Default: nobody. */
  networkEgress?: EgressPolicy;
  /** Judge0 callback_url delivery (api/judge0/callbacks.ts); RUNCELL_JUDGE0_CALLBACK_PRIVATE is its allowPrivate. */
  judge0Callbacks?: CallbackOptions;
  /** Requests per minute per client (API key, else address); 0 = no limit. Default 0. */
  rateLimitPerMinute?: number;
  /** /readyz wants a worker seen within this window. Default 30 s. */
  workerWindowMs?: number;
  logger?: ApiLogger;
  /** Imports an uploaded image into this host's layer store (POST /v1/images); absent where no worker shares the data dir. */
  importImage?: ImageImporter;
  /** Largest image archive (POST /v1/images). Default 2 GiB. */
  maxImageBytes?: number;
  /** Each client's stored images (RUNCELL_IMAGE_QUOTA_BYTES, RUNCELL_IMAGE_QUOTA_COUNT). Default: none (0 = no cap). */
  imageQuota?: ImageQuota;
  /** When given: GET /metrics serves it, requests are counted and timed, the queue's gauges are read from `queue`. */
  metrics?: RuncellMetrics;
}

const DEFAULT_MAX_PROBLEM_BYTES = 1024 * 1024 * 1024;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Constant time: every key is compared, digests have one length. */
function keyMatches(given: string, keys: Buffer[]): boolean {
  const candidate = digest(given);
  let match = false;
  for (const key of keys) match = timingSafeEqual(candidate, key) || match;
  return match;
}

export function createApp(options: ApiOptions): express.Express {
  const { queue, metrics } = options;
  const bounds = { ...DEFAULT_BOUNDS, ...options.bounds };
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  if (metrics) app.use(requestMetrics(options, metrics));
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // The playground's static page: before authentication (it holds no secret; its calls carry the user's key).
  app.use(playgroundRoutes(options.logger));
  // Judge0's CORS answers before authentication, as Judge0's middleware does (a preflight carries no key).
  app.use(judge0Cors());
  const keys = (options.apiKeys ?? []).filter((k) => k !== '').map(digest);
  if (keys.length > 0) app.use(authenticate(keys));
  if (options.rateLimitPerMinute && options.rateLimitPerMinute > 0) app.use(rateLimiter(options.rateLimitPerMinute, queue));
  const maxBodyBytes = options.maxBodyBytes ?? 10 * 1024 * 1024;
  const logError = (error: unknown) => options.logger?.error({ err: (error as Error)?.message, stack: (error as Error)?.stack }, 'internal error');
  // The compatibility APIs parse their own bodies (JSON whatever the Content-Type) and answer errors in their own shapes.
  const check = jobChecker({ limits: options.limits, bounds });
  app.use('/api/v2', pistonRoutes({ queue, limits: options.limits, check, maxBodyBytes, log: logError }));
  const egressAllowed = egressGate(options.networkEgress);
  app.use(judge0Routes({ queue, check, maxBodyBytes, log: logError, egressAllowed, callbacks: options.judge0Callbacks ?? {} }));
  app.use(express.json({ limit: maxBodyBytes, strict: true }));

  /** Redis must be there for everything below; say 503 at once when it is not. */
  const needsQueue = (_req: Request, _res: Response, next: NextFunction) => (queue.connected ? next() : next(unavailable()));
  app.use(serviceRoutes(options, bounds, needsQueue));
  app.use(stdinRoutes(queue, needsQueue));
  app.use(jobRoutes({ queue, limits: options.limits, bounds, metrics, egressAllowed, pinProblem: problemJobPinner(queue) }, needsQueue));
  const imageQuota = options.imageQuota ?? { maxBytes: 0, maxCount: 0 };
  app.use(imageRoutes({ importer: options.importImage, registry: queue.images, maxImageBytes: options.maxImageBytes ?? 2048 * 1024 * 1024, quota: imageQuota, clientId: clientId(keys.length > 0) }, needsQueue));
  app.use(problemRoutes({ queue, limits: options.limits, maxProblemBytes: options.maxProblemBytes ?? DEFAULT_MAX_PROBLEM_BYTES }, needsQueue));
  app.use((req, _res, next) => next(new ApiError(404, 'not_found', `no route ${req.method} ${req.path}`)));
  app.use(errorHandler(logError, () => queue.connected));
  return app;
}

/** The live workers (of `pool`, or all); none, said in the log, when Redis does not answer. */
async function liveWorkers(options: ApiOptions, windowMs: number, pool?: string): Promise<string[]> {
  return options.queue.liveWorkers(windowMs, pool).catch((error: Error) => {
    options.logger?.error({ err: error.message }, 'cannot read the live workers: reporting none');
    return [];
  });
}

/** Counts and times every request under its route's pattern. */
function requestMetrics(options: ApiOptions, metrics: RuncellMetrics) {
  const { queue } = options;
  metrics.watchQueue({
    jobCounts: () => queue.jobCounts(),
    liveWorkers: async () => (await queue.liveWorkers(options.workerWindowMs ?? 30_000)).length,
  });
  return (req: Request, res: Response, next: NextFunction) => {
    const started = performance.now();
    // 'close', not 'finish': an event stream the client dropped is counted too.
    res.once('close', () => {
      // The matched route's pattern, never the raw path: ids must not become label values.
      const route = req.route ? `${req.method} ${req.route.path as string}` : 'other';
      metrics.observeRequest(route, res.statusCode, (performance.now() - started) / 1000);
    });
    next();
  };
}

/** The key a request presents. X-Auth-Token: where Judge0's clients send their key (runcell's keys serve for both). */
function presentedKey(req: Request): string | undefined {
  return /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1] ?? req.get('x-auth-token');
}

/**
 * Who a request comes from, as an owner of stored things (images): the digest of its API key (authentication
 * has checked it), never the key itself, which Redis would then hold; without keys every client is one,
 * `anonymous` (an address would change under NAT and proxies).
 */
export function clientId(keyed: boolean): (req: Request) => string {
  return (req) => {
    const given = keyed ? presentedKey(req) : undefined;
    return given ? `key:${digest(given).toString('hex')}` : 'anonymous';
  };
}

/** Whether a request (an HTTP upgrade, say) carries one of `apiKeys`, as authenticate() checks it; true when there are none. */
export function requestHasApiKey(apiKeys: string[] = []): (request: { headers: Record<string, string | string[] | undefined> }) => boolean {
  const keys = apiKeys.filter((k) => k !== '').map(digest);
  return (request) => {
    if (keys.length === 0) return true;
    const header = (name: string) => [request.headers[name]].flat()[0];
    const given = /^Bearer (.+)$/.exec(header('authorization') ?? '')?.[1] ?? header('x-auth-token');
    return given !== undefined && keyMatches(given, keys);
  };
}

function authenticate(keys: Buffer[]) {
  return (req: Request, _res: Response, next: NextFunction) => {
    const given = presentedKey(req);
    if (!given || !keyMatches(given, keys)) {
      next(new ApiError(401, 'unauthorized', 'a valid API key is required: Authorization: Bearer <key> (or X-Auth-Token: <key>)'));
      return;
    }
    next();
  };
}

/**
 * Why this request may not ask for egress, or undefined when it may. With a
 * list of keys, only requests that presented one of them (authentication
 * has checked it is a valid key) may.
 */
function egressGate(policy: EgressPolicy = { allow: 'none' }): (req: Request) => string | undefined {
  if (policy.allow === 'all') return () => undefined;
  if (policy.allow === 'none') return () => 'network egress is off on this server (RUNCELL_NETWORK_EGRESS); leave network unset or "none"';
  const keys = policy.keys.map(digest);
  return (req) => {
    const given = presentedKey(req);
    return given && keyMatches(given, keys) ? undefined : 'network egress is not enabled for this API key';
  };
}

/**
 * Counted in Redis, so that API replicas share each client's count. A Redis that cannot count answers 503
 * (express-rate-limit passes the store's error on): fail closed, never unlimited.
 */
function rateLimiter(perMinute: number, queue: JobQueue) {
  return rateLimit({
    store: new RedisRateLimitStore(queue.redis),
    passOnStoreError: false,
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req) => req.get('authorization') ?? ipKeyGenerator(req.ip ?? 'unknown'),
    handler: (_req, res) => {
      res.status(429).json(errorBody(new ApiError(429, 'rate_limited', `more than ${perMinute} requests per minute; slow down`)));
    },
  });
}

/** /metrics, /openapi.json, /readyz, /v1/languages. */
function serviceRoutes(options: ApiOptions, bounds: RequestBounds, needsQueue: (req: Request, res: Response, next: NextFunction) => void): express.Router {
  const { queue, metrics } = options;
  const windowMs = options.workerWindowMs ?? 30_000;
  const openapi = buildOpenApi({ limits: options.limits, languages: LANGUAGES.map((l) => l.id) }, bounds);
  const router = express.Router();
  if (metrics) {
    router.get('/metrics', async (_req, res) => {
      res.set('Content-Type', metrics.contentType).send(await metrics.render());
    });
  }
  router.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  router.get('/readyz', async (_req, res) => {
    const reasons: string[] = [];
    let workers = 0;
    let pools: Record<string, number> | undefined;
    if (!(await queue.ping())) reasons.push('Redis is not reachable');
    else {
      workers = (await liveWorkers(options, windowMs)).length;
      if (workers === 0) reasons.push(`no worker seen in the last ${windowMs / 1000} s`);
      else if (queue.routing.pooled) {
        // Jobs are routed to every pool: one without a worker would keep its jobs waiting for ever.
        const counts = await Promise.all(queue.routing.pools.map(async (pool) => [pool, (await liveWorkers(options, windowMs, pool)).length] as const));
        pools = Object.fromEntries(counts);
        const idle = counts.filter(([, live]) => live === 0).map(([pool]) => pool);
        if (idle.length > 0) reasons.push(`no worker of the pool(s) ${idle.join(', ')} seen in the last ${windowMs / 1000} s`);
      }
    }
    if (reasons.length > 0) {
      res.status(503).json(errorBody(new ApiError(503, 'unavailable', reasons.join('; '))));
      return;
    }
    res.json({ status: 'ready', workers, ...(pools ? { pools } : {}) });
  });
  router.get('/v1/languages', needsQueue, async (_req, res) => {
    const installed = await queue.languages();
    const languages = LANGUAGES.filter((l) => !installed || l.id in installed).map((l) => ({
      id: l.id,
      name: l.name,
      version: installed?.[l.id] ?? null,
      compiled: l.compile !== undefined,
      default_file: l.defaultFile,
    }));
    res.json({ languages });
  });
  return router;
}
