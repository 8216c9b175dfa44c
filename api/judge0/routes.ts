/**
 * Judge0 CE 1.13.1 at its own paths: /submissions (and /batch), /languages,
 * /statuses, /about, /version, /config_info, /workers. Bodies are JSON whatever their
 * Content-Type; errors are Judge0's (`{error}` for 400s, `{field: [...]}`
 * for 422s).
 */
import type { IncomingMessage } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { JobSubmission } from '../../contract/job-request.js';
import { QueueFullError, type JobQueue } from '../../queue/queue.js';
import type { JobChecker } from '../jobs.js';
import { installedLanguages, jobAtEnd, submitOne, waitBudgetMs } from '../run-to-end.js';
import { judge0Languages, type Judge0Language } from './languages.js';
import { chooseFields, selectFields, submissionView } from './render.js';
import { STATUSES } from './statuses.js';
import { loadSubmissions, saveSubmission } from './store.js';
import { checkSubmission, LIMIT_FIELDS, toJobRequest, type CheckedSubmission, type Judge0Errors } from './submission.js';

export const JUDGE0_VERSION = '1.13.1';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_BATCH = 20;
const JUDGE0_PATHS = ['/submissions', '/languages', '/statuses', '/about', '/version', '/config_info', '/workers'];
/** How long a worker's heartbeat counts it as alive for /workers. */
const WORKER_WINDOW_MS = 30_000;

export interface Judge0Options {
  queue: JobQueue;
  check: JobChecker;
  maxBodyBytes: number;
  log: (error: unknown) => void;
}

const flag = (value: unknown) => value === 'true' || value === '1';
const fail = (res: Response, status: number, error: string) => res.status(status).json({ error });

type Admitted = { submission: CheckedSubmission; job: JobSubmission } | { errors: Judge0Errors };

export function judge0Routes(options: Judge0Options): express.Router {
  const { queue } = options;
  const router = express.Router();
  // Rails reads form bodies as well as JSON: a form when it says so, JSON whatever else it says.
  const isForm = (req: IncomingMessage) => /^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '');
  const json = [
    express.urlencoded({ extended: false, limit: options.maxBodyBytes, type: isForm }),
    express.json({ type: (req) => !isForm(req), limit: options.maxBodyBytes }),
  ];
  const ready = (_req: Request, res: Response, next: NextFunction) => (queue.connected ? next() : fail(res, 503, 'the queue (Redis) is not reachable; try again shortly'));
  const installed = installedLanguages(queue);
  const languages = async () => judge0Languages(await installed());

  /** Judge0's checks, then the contract's (a runcell limit range Judge0's fields could pass is reported on the field). */
  const admit = async (body: Record<string, unknown>, base64: boolean, known: Judge0Language[]): Promise<Admitted> => {
    const checked = checkSubmission(body, known, base64);
    if ('errors' in checked) return checked;
    const job = options.check(toJobRequest(checked), await installed());
    if ('error' in job) return { errors: { base: [job.error.message] } };
    return { submission: checked, job: job.submission };
  };

  const render = async (tokens: string[], fields: readonly string[], base64: boolean) => {
    const [stored, jobs, installed] = await Promise.all([loadSubmissions(queue, tokens), Promise.all(tokens.map((t) => (UUID.test(t) ? queue.get(t) : undefined))), languages()]);
    return tokens.map((_, i) => {
      const [s, job] = [stored[i], jobs[i]];
      if (!s || !job) return null;
      return selectFields(submissionView(job, s, installed.find((l) => l.id === s.language_id)), fields, base64);
    });
  };

  // Judge0 (Rack::Cors) lets any origin call it: browser front-ends such as the Judge0 IDE rely on it.
  router.use(JUDGE0_PATHS, (req, res, next) => {
    res.set('Access-Control-Allow-Origin', '*');
    if (req.method !== 'OPTIONS') return next();
    res.set('Access-Control-Allow-Methods', 'GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD');
    res.set('Access-Control-Allow-Headers', req.get('access-control-request-headers') ?? '*');
    res.set('Access-Control-Max-Age', '7200');
    res.status(204).end();
  });

  router.post('/submissions/batch', ready, ...json, async (req, res) => {
    const items = (req.body as { submissions?: unknown })?.submissions;
    if (!Array.isArray(items) || items.length === 0) return fail(res, 400, 'there should be at least one submission in a batch');
    if (items.length > MAX_BATCH) return fail(res, 400, `number of submissions in a batch should be less than or equal to ${MAX_BATCH}`);
    const base64 = flag(req.query.base64_encoded);
    const installed = await languages();
    const admitted = await Promise.all(items.map((item) => admit(typeof item === 'object' && item ? (item as Record<string, unknown>) : {}, base64, installed)));
    const valid = admitted.flatMap((a) => ('job' in a ? [a] : []));
    let ids: string[] = [];
    try {
      if (valid.length > 0) ids = await queue.submit(valid.map((a) => a.job));
    } catch (error) {
      if (error instanceof QueueFullError) return fail(res, 503, 'queue is full');
      throw error;
    }
    await Promise.all(valid.map((a, i) => saveSubmission(queue, ids[i], a.submission.stored)));
    let next = 0;
    res.status(ids.length > 0 ? 201 : 422).json(admitted.map((a) => ('errors' in a ? a.errors : { token: ids[next++] })));
  });

  router.get('/submissions/batch', ready, async (req, res) => {
    const raw = req.query.tokens ?? req.get('tokens');
    const tokens = String(raw ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '');
    const fields = chooseFields(req.query.fields);
    if ('error' in fields) return fail(res, 400, fields.error);
    res.json({ submissions: await render(tokens, fields.fields, flag(req.query.base64_encoded)) });
  });

  router.post('/submissions', ready, ...json, async (req, res) => {
    // Judge0 (Rails) takes a field from the query string when the body lacks it.
    const body = { ...(req.query as Record<string, unknown>), ...((req.body as Record<string, unknown>) ?? {}) };
    const base64 = flag(req.query.base64_encoded);
    const wait = flag(req.query.wait);
    const fields = chooseFields(req.query.fields);
    if (wait && 'error' in fields) return fail(res, 400, fields.error);
    const admitted = await admit(body, base64, await languages());
    if ('errors' in admitted) return res.status(422).json(admitted.errors);
    const submitted = await submitOne(queue, admitted.job);
    if ('error' in submitted) return fail(res, 503, 'queue is full');
    await saveSubmission(queue, submitted.id, admitted.submission.stored);
    if (!wait) return res.status(201).json({ token: submitted.id });
    const { limits } = admitted.submission.stored;
    await jobAtEnd(queue, submitted.id, waitBudgetMs(limits.wall_time_limit * 1000, 120_000));
    const [view] = await render([submitted.id], (fields as { fields: readonly string[] }).fields, base64);
    res.status(201).json(view);
  });

  router.get('/submissions', (_req, res) => {
    // Judge0 lists submissions only to an authorized user (X-Auth-User); runcell configures none.
    res.status(403).end();
  });

  router.get('/submissions/:token', ready, async (req, res) => {
    const fields = chooseFields(req.query.fields);
    if ('error' in fields) return fail(res, 400, fields.error);
    const [view] = await render([req.params.token as string], fields.fields, flag(req.query.base64_encoded));
    if (!view) return res.status(404).json({ status: 404, error: 'Not Found' });
    res.json(view);
  });

  router.delete('/submissions/:token', (_req, res) => {
    res.status(403).end();
  });

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
    res.json({ version: JUDGE0_VERSION, homepage: 'https://github.com/runcell/runcell', source_code: 'https://github.com/runcell/runcell', maintainer: 'runcell (Judge0 CE 1.13.1 compatible API)' });
  });
  router.get('/version', (_req, res) => {
    res.type('text/plain').send(JUDGE0_VERSION);
  });
  router.get('/workers', ready, async (_req, res) => {
    // Judge0 lists its Resque queue (named after its version); runcell's figures, in its shape.
    const [counts, live] = await Promise.all([queue.jobCounts(), queue.liveWorkers(WORKER_WINDOW_MS)]);
    const working = Math.min(counts.active, live.length);
    res.json([{ queue: JUDGE0_VERSION, size: counts.waiting + counts.delayed, available: live.length, idle: live.length - working, working, paused: 0, failed: counts.failed }]);
  });
  router.get('/config_info', (_req, res) => {
    res.json(configInfo());
  });

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

/** Judge0's config_info keys, with the values this compatibility layer has. */
function configInfo(): Record<string, unknown> {
  const f = LIMIT_FIELDS;
  return {
    maintenance_mode: false,
    enable_wait_result: true,
    enable_compiler_options: false,
    allowed_languages_for_compile_options: [],
    enable_command_line_arguments: true,
    enable_submission_delete: false,
    enable_callbacks: false,
    callbacks_max_tries: 0,
    callbacks_timeout: 0,
    enable_additional_files: false,
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
    max_extract_size: 0,
    enable_batched_submissions: true,
    max_submission_batch_size: MAX_BATCH,
    submission_cache_duration: 0,
    use_docs_as_homepage: false,
    allow_enable_network: false,
    enable_network: false,
  };
}
