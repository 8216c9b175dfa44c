/**
 * Judge0 CE 1.13.1 at its own paths: /submissions (submission-routes.ts),
 * /languages, /statuses, /about, /version, /config_info, /workers, with
 * Judge0's CORS. Bodies are JSON whatever their Content-Type, or a form;
 * errors are Judge0's (`{error}` for 400s, `{field: [...]}` for 422s).
 */
import type { IncomingMessage } from 'node:http';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { JobQueue } from '../../queue/queue.js';
import type { JobChecker } from '../jobs.js';
import { installedLanguages } from '../run-to-end.js';
import { MAX_EXTRACT_BYTES } from './additional-files.js';
import { startCallbackDelivery, type CallbackOptions } from './callbacks.js';
import { judge0Languages, type Judge0Language } from './languages.js';
import { STATUSES } from './statuses.js';
import { MAX_BATCH, fail, submissionRoutes } from './submission-routes.js';
import { COMPILER_OPTIONS_LANGUAGES, LIMIT_FIELDS } from './submission.js';

export const JUDGE0_VERSION = '1.13.1';
const JUDGE0_PATHS = ['/submissions', '/languages', '/statuses', '/about', '/version', '/config_info', '/workers'];
/** How long a worker's heartbeat counts it as alive for /workers. */
const WORKER_WINDOW_MS = 30_000;

export interface Judge0Options {
  queue: JobQueue;
  check: JobChecker;
  maxBodyBytes: number;
  log: (error: unknown) => void;
  /** Why this request may not have network egress (api/app.ts egressGate, RUNCELL_NETWORK_EGRESS); undefined when it may. */
  egressAllowed: (req: Request) => string | undefined;
  callbacks: CallbackOptions;
}

/**
 * Judge0's CORS (Rack::Cors: any origin, any header, any method), for the Judge0 paths: browser
 * front-ends such as the Judge0 IDE rely on it. Mounted before authentication (api/app.ts), as Judge0's
 * middleware is: a preflight carries no X-Auth-Token, and a 401 the browser cannot read is no answer.
 * A preflight from a page in a less private address space (a public IDE, runcell on a private network)
 * asks Access-Control-Request-Private-Network: allowed, the way it allows any origin.
 */
export function judge0Cors(): express.Router {
  const router = express.Router();
  router.use(JUDGE0_PATHS, (req, res, next) => {
    res.set('Access-Control-Allow-Origin', '*');
    if (req.method !== 'OPTIONS') return next();
    res.set('Access-Control-Allow-Methods', 'GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD');
    res.set('Access-Control-Allow-Headers', req.get('access-control-request-headers') ?? '*');
    if (req.get('access-control-request-private-network') === 'true') res.set('Access-Control-Allow-Private-Network', 'true');
    res.set('Access-Control-Max-Age', '7200');
    res.status(204).end();
  });
  return router;
}

export function judge0Routes(options: Judge0Options): express.Router {
  const { queue } = options;
  const router = express.Router();
  // Rails reads form bodies as well as JSON: a form when it says so, JSON whatever else it says.
  const isForm = (req: IncomingMessage) => /^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '');
  const body = [
    express.urlencoded({ extended: false, limit: options.maxBodyBytes, type: isForm }),
    express.json({ type: (req) => !isForm(req), limit: options.maxBodyBytes }),
  ];
  const ready = (_req: Request, res: Response, next: NextFunction) => (queue.connected ? next() : fail(res, 503, 'the queue (Redis) is not reachable; try again shortly'));
  const installed = installedLanguages(queue);
  const languages = async () => judge0Languages(await installed());

  submissionRoutes(router, { queue, check: options.check, installed, languages, body, ready, egressAllowed: options.egressAllowed, callbackPrivate: options.callbacks.allowPrivate ?? false });
  startCallbackDelivery(queue, languages, options.callbacks, options.log);

  infoRoutes(router, queue, languages, ready, options.egressAllowed, options.callbacks);

  router.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    const type = (error as { type?: string }).type;
    if (type === 'entity.parse.failed') return fail(res, 400, `the body is not valid JSON: ${(error as Error).message}`);
    if (type === 'entity.too.large') return fail(res, 413, 'the body is too large');
    options.log(error);
    fail(res, 500, 'internal error');
  });
  return router;
}

/** /languages, /statuses, /about, /version, /workers, /config_info. */
function infoRoutes(router: express.Router, queue: JobQueue, languages: () => Promise<Judge0Language[]>, ready: RequestHandler, egressAllowed: Judge0Options['egressAllowed'], callbacks: CallbackOptions): void {
  router.get('/languages', ready, async (_req, res) => {
    res.json((await languages()).map((l) => ({ id: l.id, name: l.name })));
  });
  router.get('/languages/all', ready, async (_req, res) => {
    res.json((await languages()).map((l) => ({ id: l.id, name: l.name, is_archived: l.is_archived })));
  });
  router.get('/languages/:id', ready, async (req, res) => {
    const language = (await languages()).find((l) => String(l.id) === req.params.id);
    if (!language) return res.status(404).json({ status: 404, error: 'Not Found' });
    const { runcell: _runcell, ...view } = language;
    res.json(view);
  });
  router.get('/statuses', (_req, res) => {
    res.json(STATUSES);
  });
  router.get('/about', (_req, res) => {
    res.json({ version: JUDGE0_VERSION, homepage: null, source_code: null, maintainer: 'runcell (a Judge0 CE 1.13.1 compatible API; see docs/compat.md)' });
  });
  router.get('/version', (_req, res) => {
    res.type('text/plain').send(JUDGE0_VERSION);
  });
  router.get('/workers', ready, async (_req, res) => {
    // Judge0 lists its Resque queue (named after its version); runcell's figures, in its shape.
    const [counts, live] = await Promise.all([queue.jobTotals(), queue.liveWorkers(WORKER_WINDOW_MS)]);
    const working = Math.min(counts.active, live.length);
    res.json([{ queue: JUDGE0_VERSION, size: counts.waiting + counts.delayed, available: live.length, idle: live.length - working, working, paused: 0, failed: counts.failed }]);
  });
  router.get('/config_info', (req, res) => {
    // allow_enable_network: whether this client (its key, under RUNCELL_NETWORK_EGRESS) may set enable_network.
    res.json(configInfo(egressAllowed(req) === undefined, callbacks));
  });
}

/** Judge0's config_info keys, with the values this compatibility layer has. */
function configInfo(networkAllowed: boolean, callbacks: CallbackOptions): Record<string, unknown> {
  const f = LIMIT_FIELDS;
  return {
    maintenance_mode: false,
    enable_wait_result: true,
    enable_compiler_options: true,
    allowed_languages_for_compile_options: COMPILER_OPTIONS_LANGUAGES,
    enable_command_line_arguments: true,
    enable_submission_delete: false,
    enable_callbacks: true,
    callbacks_max_tries: callbacks.tries ?? 3,
    callbacks_timeout: (callbacks.timeoutMs ?? 5000) / 1000,
    enable_additional_files: true,
    max_queue_size: null,
    cpu_time_limit: f.cpu_time_limit.default,
    max_cpu_time_limit: f.cpu_time_limit.max,
    cpu_extra_time: f.cpu_extra_time.default,
    max_cpu_extra_time: f.cpu_extra_time.max,
    wall_time_limit: f.wall_time_limit.default,
    max_wall_time_limit: f.wall_time_limit.max,
    memory_limit: f.memory_limit.default,
    max_memory_limit: f.memory_limit.max,
    stack_limit: f.stack_limit.default,
    max_stack_limit: f.stack_limit.max,
    max_processes_and_or_threads: f.max_processes_and_or_threads.default,
    max_max_processes_and_or_threads: f.max_processes_and_or_threads.max,
    enable_per_process_and_thread_time_limit: false,
    allow_enable_per_process_and_thread_time_limit: false,
    enable_per_process_and_thread_memory_limit: false,
    allow_enable_per_process_and_thread_memory_limit: false,
    max_file_size: f.max_file_size.default,
    max_max_file_size: f.max_file_size.max,
    number_of_runs: f.number_of_runs.default,
    max_number_of_runs: f.number_of_runs.max,
    redirect_stderr_to_stdout: false,
    max_extract_size: MAX_EXTRACT_BYTES / 1024,
    enable_batched_submissions: true,
    max_submission_batch_size: MAX_BATCH,
    submission_cache_duration: 0,
    use_docs_as_homepage: false,
    allow_enable_network: networkAllowed,
    enable_network: false,
  };
}
