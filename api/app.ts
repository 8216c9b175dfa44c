/**
 * The HTTP API (express): validates requests, queues jobs through JobQueue,
 * answers for them. Never touches a sandbox.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import express, { type NextFunction, type Request, type Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { LANGUAGES, languageNotInstalledProblem } from '../rootfs/languages.js';
import type { LimitTable } from '../sandbox/limits.js';
import { isTerminal } from '../queue/events.js';
import { QueueFullError, type JobQueue } from '../queue/queue.js';
import type { JobView } from '../queue/store.js';
import type { Submission } from '../queue/submission.js';
import { languageLabel, type RuncellMetrics } from '../monitoring/metrics.js';
import { ApiError, errorBody, errorHandler, invalid, toApiError } from './errors.js';
import { buildOpenApi } from './openapi.js';
import { batchSchema, DEFAULT_BOUNDS, jobSchema, testsBytes, type RequestBounds } from './schemas.js';

export interface ApiLogger {
  info(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export interface ApiOptions {
  queue: JobQueue;
  limits: LimitTable;
  bounds?: Partial<RequestBounds>;
  /** Largest request body. Default 10 MiB. */
  maxBodyBytes?: number;
  /** When non-empty, every endpoint but /healthz needs `Authorization: Bearer <one of these>`. */
  apiKeys?: string[];
  /** Requests per minute per client (API key, else address); 0 = no limit. Default 0. */
  rateLimitPerMinute?: number;
  /** /readyz wants a worker seen within this window. Default 30 s. */
  workerWindowMs?: number;
  logger?: ApiLogger;
  /** When given: GET /metrics serves it, requests are counted and timed, the queue's gauges are read from `queue`. */
  metrics?: RuncellMetrics;
}

const MAX_WAIT_SECONDS = 60;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SSE_KEEPALIVE_MS = 15_000;
/** How long DELETE of a running job waits for its worker to confirm the kill. */
const CANCEL_CONFIRM_MS = 3000;

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
  const { queue } = options;
  const bounds = { ...DEFAULT_BOUNDS, ...options.bounds };
  const jobBody = jobSchema(options.limits, bounds);
  const batchBody = batchSchema(bounds);
  const keys = (options.apiKeys ?? []).filter((k) => k !== '').map(digest);
  const logger = options.logger;
  const openapi = buildOpenApi(options.limits, bounds);

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const { metrics } = options;
  if (metrics) {
    metrics.watchQueue({
      jobCounts: () => queue.jobCounts(),
      liveWorkers: async () => (await queue.liveWorkers(options.workerWindowMs ?? 30_000)).length,
    });
    app.use((req: Request, res: Response, next: NextFunction) => {
      const started = performance.now();
      // 'close', not 'finish': an event stream the client dropped is counted too.
      res.once('close', () => {
        // The matched route's pattern, never the raw path: ids must not become label values.
        const route = req.route ? `${req.method} ${req.route.path as string}` : 'other';
        metrics.observeRequest(route, res.statusCode, (performance.now() - started) / 1000);
      });
      next();
    });
  }

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  if (keys.length > 0) {
    app.use((req: Request, _res: Response, next: NextFunction) => {
      const header = req.get('authorization') ?? '';
      const match = /^Bearer (.+)$/.exec(header);
      if (!match || !keyMatches(match[1], keys)) {
        next(new ApiError(401, 'unauthorized', 'a valid API key is required: Authorization: Bearer <key>'));
        return;
      }
      next();
    });
  }

  if (options.rateLimitPerMinute && options.rateLimitPerMinute > 0) {
    app.use(
      rateLimit({
        windowMs: 60_000,
        limit: options.rateLimitPerMinute,
        standardHeaders: 'draft-7',
        legacyHeaders: false,
        keyGenerator: (req) => req.get('authorization') ?? ipKeyGenerator(req.ip ?? 'unknown'),
        handler: (_req, res) => {
          res.status(429).json(errorBody(new ApiError(429, 'rate_limited', `more than ${options.rateLimitPerMinute} requests per minute; slow down`)));
        },
      }),
    );
  }

  app.use(express.json({ limit: options.maxBodyBytes ?? 10 * 1024 * 1024, strict: true }));

  /** Redis must be there for everything below; say 503 at once when it is not. */
  const needsQueue = (_req: Request, _res: Response, next: NextFunction) => {
    if (!queue.connected) next(new ApiError(503, 'unavailable', 'the queue (Redis) is not reachable; try again shortly'));
    else next();
  };

  const needsJson = (req: Request) => {
    if (!req.is('application/json')) throw new ApiError(415, 'unsupported_media_type', 'send the body as JSON with Content-Type: application/json');
  };

  const parseWait = (req: Request): number => {
    const raw = req.query.wait;
    if (raw === undefined) return 0;
    const seconds = Number(raw);
    if (typeof raw !== 'string' || !Number.isInteger(seconds) || seconds < 0 || seconds > MAX_WAIT_SECONDS) {
      throw new ApiError(422, 'invalid_request', `wait must be a whole number of seconds from 0 to ${MAX_WAIT_SECONDS}`, [
        { path: 'wait', message: `expected 0..${MAX_WAIT_SECONDS}` },
      ]);
    }
    return seconds;
  };

  const findJob = async (id: string): Promise<JobView> => {
    const job = UUID.test(id) ? await queue.get(id) : undefined;
    if (!job) throw new ApiError(404, 'not_found', `no job ${JSON.stringify(id)} (it may have expired)`);
    return job;
  };

  /** Tests beyond the size cap: 413, naming the field (the body itself was within its limit). */
  const testsTooLarge = (job: Submission): ApiError | undefined => {
    const bytes = testsBytes(job);
    if (bytes <= bounds.maxTestsBytes) return undefined;
    const message = `the tests' stdin and expected_stdout together are ${bytes} bytes; at most ${bounds.maxTestsBytes}`;
    return new ApiError(413, 'payload_too_large', message, [{ path: 'tests', message }]);
  };

  const submit = async (submissions: Submission[]): Promise<string[]> => {
    try {
      return await queue.submit(submissions);
    } catch (error) {
      if (error instanceof QueueFullError) throw new ApiError(429, 'queue_full', error.message);
      throw error;
    }
  };

  if (metrics) {
    app.get('/metrics', async (_req, res) => {
      res.set('Content-Type', metrics.contentType).send(await metrics.render());
    });
  }
  /** 422 for a language the workers' rootfs lacks (when they have said what it has). */
  const notInstalled = (submission: Submission, installed: Record<string, string> | undefined, prefix = ''): ApiError | undefined => {
    if (!installed) return undefined;
    for (const [field, language] of [['language', submission.language], ['checker.language', submission.checker?.language]] as const) {
      const problem = language ? languageNotInstalledProblem(language, installed) : undefined;
      if (!problem) continue;
      const path = prefix ? `${prefix}.${field}` : field;
      return new ApiError(422, 'invalid_request', `${path}: ${problem}`, [{ path, message: problem }]);
    }
    return undefined;
  };

  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  app.get('/readyz', async (_req, res) => {
    const reasons: string[] = [];
    let workers = 0;
    if (!(await queue.ping())) reasons.push('Redis is not reachable');
    else {
      workers = (await queue.liveWorkers(options.workerWindowMs ?? 30_000).catch(() => [])).length;
      if (workers === 0) reasons.push(`no worker seen in the last ${(options.workerWindowMs ?? 30_000) / 1000} s`);
    }
    if (reasons.length > 0) {
      res.status(503).json(errorBody(new ApiError(503, 'unavailable', reasons.join('; '))));
      return;
    }
    res.json({ status: 'ready', workers });
  });

  app.get('/v1/languages', needsQueue, async (_req, res) => {
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

  app.post('/v1/jobs', needsQueue, async (req, res) => {
    needsJson(req);
    const wait = parseWait(req);
    const parsed = jobBody.safeParse(req.body);
    if (!parsed.success) throw invalid(parsed.error);
    const tooLarge = testsTooLarge(parsed.data as Submission);
    if (tooLarge) throw tooLarge;
    const missing = notInstalled(parsed.data as Submission, await queue.languages());
    if (missing) throw missing;
    const [id] = await submit([parsed.data as Submission]);
    if (wait > 0) {
      const end = await queue.hub.waitForEnd(id, wait * 1000);
      if (end) {
        res.status(200).json(await findJob(id));
        return;
      }
    }
    res.status(202).location(`/v1/jobs/${id}`).json({ id, status: 'queued' });
  });

  app.post('/v1/jobs/batch', needsQueue, async (req, res) => {
    needsJson(req);
    const parsed = batchBody.safeParse(req.body);
    if (!parsed.success) throw invalid(parsed.error);
    const installed = await queue.languages();
    const items = parsed.data.jobs.map((item, index) => {
      const result = jobBody.safeParse(item);
      if (!result.success) return { error: invalid(result.error, `jobs.${index}`) };
      const tooLarge = testsTooLarge(result.data as Submission);
      if (tooLarge) return { error: new ApiError(413, tooLarge.code, tooLarge.message, [{ path: `jobs.${index}.tests`, message: tooLarge.message }]) };
      return { error: notInstalled(result.data as Submission, installed, `jobs.${index}`), submission: result.data as Submission };
    });
    const valid = items.flatMap((item) => (item.error ? [] : [item.submission!]));
    const ids = valid.length > 0 ? await submit(valid) : [];
    let next = 0;
    const jobs = items.map((item) => (item.error ? errorBody(item.error) : { id: ids[next++], status: 'queued' as const }));
    res.status(ids.length > 0 ? 202 : 422).json({ jobs });
  });

  app.get('/v1/jobs/:id', needsQueue, async (req, res) => {
    res.json(await findJob(req.params.id as string));
  });

  app.delete('/v1/jobs/:id', needsQueue, async (req, res) => {
    const id = req.params.id as string;
    await findJob(id);
    const outcome = await queue.cancel(id);
    if (outcome === 'missing') throw new ApiError(404, 'not_found', `no job ${JSON.stringify(id)}`);
    if (outcome === 'finished') throw new ApiError(409, 'conflict', 'the job has already finished');
    if (outcome === 'cancelling') await queue.hub.waitForEnd(id, CANCEL_CONFIRM_MS);
    const job = await findJob(id);
    if (outcome === 'cancelled') countCancelledWhileQueued(job);
    res.status(job.status === 'cancelled' ? 200 : 202).json(job);
  });

  app.get('/v1/jobs/:id/events', needsQueue, async (req, res) => {
    const id = req.params.id as string;
    await findJob(id);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    let ended = false;
    let off: (() => void) | undefined;
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), SSE_KEEPALIVE_MS);
    const finish = () => {
      if (ended) return;
      ended = true;
      clearInterval(keepalive);
      off?.();
      res.end();
    };
    req.on('close', finish);
    try {
      off = await queue.hub.follow(
        id,
        (event) => {
          if (ended) return;
          res.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
          if (isTerminal(event)) setImmediate(finish);
        },
        req.get('last-event-id') ?? '-',
      );
      if (ended) off();
    } catch (error) {
      res.write(`event: error\ndata: ${JSON.stringify(errorBody(toApiError(error)))}\n\n`);
      finish();
    }
  });

  /** A job cancelled before any worker took it ends here, not in a worker: count it here. */
  function countCancelledWhileQueued(job: JobView): void {
    metrics?.observeJob({
      language: languageLabel(job.request.language),
      status: 'cancelled',
      queuedAt: Date.parse(job.created_at),
      finishedAt: job.finished_at ? Date.parse(job.finished_at) : Date.now(),
    });
  }

  app.use((req, _res, next) => next(new ApiError(404, 'not_found', `no route ${req.method} ${req.path}`)));
  app.use(errorHandler((error) => logger?.error({ err: (error as Error)?.message, stack: (error as Error)?.stack }, 'internal error')));
  return app;
}
