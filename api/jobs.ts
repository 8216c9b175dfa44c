/** The job routes: submit (one or a batch), read, cancel, follow the events. */
import express, { type NextFunction, type Request, type Response } from 'express';
import { batchRequestSchema, jobRequestSchema, testsBytes, type JobSubmission, type RequestBounds } from '../contract/job-request.js';
import type { LimitRanges } from '../contract/limits.js';
import { LANGUAGES, findLanguage, languageNotInstalledProblem } from '../rootfs/languages.js';
import { compileArgsProblem } from '../rootfs/compiler-options.js';
import { isTerminal } from '../queue/events.js';
import { QueueFullError, type JobQueue } from '../queue/queue.js';
import type { JobView } from '../queue/store.js';
import { languageLabel, type RuncellMetrics } from '../monitoring/metrics.js';
import { ApiError, errorBody, invalid, toApiError } from './errors.js';
import { streamLog } from './log.js';
import { artifactRoutes } from './artifacts.js';
import { archiveProblem } from './archive-check.js';
import { installedLanguages } from './run-to-end.js';

const MAX_WAIT_SECONDS = 60;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SSE_KEEPALIVE_MS = 15_000;
/** How long DELETE of a running job waits for its worker to confirm the kill. */
const CANCEL_CONFIRM_MS = 3000;

export interface JobRoutesOptions {
  queue: JobQueue;
  limits: LimitRanges;
  bounds: RequestBounds;
  metrics?: RuncellMetrics;
  /** Why this request may not ask for network egress; undefined when it may. Default: nobody may. */
  egressAllowed?: (req: Request) => string | undefined;
  /** Checks a problem job against the stored problem and pins its revision (api/problems.ts). */
  pinProblem?: (submission: JobSubmission, prefix?: string) => Promise<JobSubmission>;
}

/** 422 naming `network` for a job asking for egress that this client may not have. */
function egressRefusal(submission: JobSubmission, refusal: string | undefined, prefix = ''): ApiError | undefined {
  if (submission.network !== 'egress' || refusal === undefined) return undefined;
  const path = prefix ? `${prefix}.network` : 'network';
  return new ApiError(422, 'invalid_request', `${path}: ${refusal}`, [{ path, message: refusal }]);
}

function needsJson(req: Request): void {
  if (!req.is('application/json')) throw new ApiError(415, 'unsupported_media_type', 'send the body as JSON with Content-Type: application/json');
}

function parseWait(req: Request): number {
  const raw = req.query.wait;
  if (raw === undefined) return 0;
  const seconds = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(seconds) || seconds < 0 || seconds > MAX_WAIT_SECONDS) {
    throw new ApiError(422, 'invalid_request', `wait must be a whole number of seconds from 0 to ${MAX_WAIT_SECONDS}`, [{ path: 'wait', message: `expected 0..${MAX_WAIT_SECONDS}` }]);
  }
  return seconds;
}

/** 422 for a language the workers' rootfs lacks (when they have said what it has). */
function notInstalled(submission: JobSubmission, installed: Record<string, string> | undefined, prefix = ''): ApiError | undefined {
  if (!installed) return undefined;
  for (const [field, language] of [['language', submission.language], ['checker.language', submission.checker?.language], ['interactor.language', submission.interactor?.language]] as const) {
    const problem = language ? languageNotInstalledProblem(language, installed) : undefined;
    if (!problem) continue;
    const path = prefix ? `${prefix}.${field}` : field;
    return new ApiError(422, 'invalid_request', `${path}: ${problem}`, [{ path, message: problem }]);
  }
  return undefined;
}

/** 422 for compile_args the language does not take (rootfs/compiler-options.ts: an allow-list per compiler). */
function refusedCompileArgs(submission: JobSubmission, prefix = ''): ApiError | undefined {
  if (!submission.compile_args || !submission.language) return undefined;
  const problem = compileArgsProblem(findLanguage(submission.language)?.compilerOptions, submission.compile_args);
  if (!problem) return undefined;
  const path = prefix ? `${prefix}.compile_args` : 'compile_args';
  return new ApiError(422, 'invalid_request', `${path}: ${problem}`, [{ path, message: problem }]);
}

/** Checks one job of a request: the contract's schema, the tests' size, the languages installed. */
export function jobChecker(options: Pick<JobRoutesOptions, 'limits' | 'bounds'>) {
  const schema = jobRequestSchema({ limits: options.limits, languages: LANGUAGES.map((l) => l.id), bounds: options.bounds });
  const maxTestsBytes = options.bounds.maxTestsBytes;
  return (body: unknown, installed: Record<string, string> | undefined, prefix = ''): CheckedJob => {
    const parsed = schema.safeParse(body);
    if (!parsed.success) return { error: invalid(parsed.error, prefix) };
    // Tests beyond the size cap: 413, naming the field (the body itself was within its limit).
    const bytes = testsBytes(parsed.data);
    if (bytes > maxTestsBytes) {
      const message = `the tests' stdin and expected_stdout together are ${bytes} bytes; at most ${maxTestsBytes}`;
      return { error: new ApiError(413, 'payload_too_large', message, [{ path: prefix ? `${prefix}.tests` : 'tests', message }]) };
    }
    const refused = notInstalled(parsed.data, installed, prefix) ?? refusedCompileArgs(parsed.data, prefix);
    return refused ? { error: refused } : { submission: parsed.data };
  };
}

export type CheckedJob = { submission: JobSubmission } | { error: ApiError };
export type JobChecker = ReturnType<typeof jobChecker>;

export function jobRoutes(options: JobRoutesOptions, needsQueue: (req: Request, res: Response, next: NextFunction) => void): express.Router {
  const { queue } = options;
  const check = jobChecker(options);
  // Read once a second, not per submission: a Redis round trip of every job's path (docs/performance.md).
  const installed = installedLanguages(queue);
  const egressAllowed = options.egressAllowed ?? (() => 'network egress is off on this server (RUNCELL_NETWORK_EGRESS)');
  const batchBody = batchRequestSchema(options.bounds);
  const router = express.Router();

  const findJob = async (id: string): Promise<JobView> => {
    const job = UUID.test(id) ? await queue.get(id) : undefined;
    if (!job) throw new ApiError(404, 'not_found', `no job ${JSON.stringify(id)} (it may have expired)`);
    return job;
  };

  const pin = (submission: JobSubmission, prefix?: string) => (options.pinProblem ? options.pinProblem(submission, prefix) : Promise.resolve(submission));
  const pinChecked = async (checked: CheckedJob, prefix: string): Promise<CheckedJob> => {
    if ('error' in checked) return checked;
    try {
      return { submission: await pin(checked.submission, prefix) };
    } catch (error) {
      return { error: toApiError(error, queue.connected) };
    }
  };

  const submit = async (submissions: JobSubmission[]): Promise<string[]> => {
    try {
      return await queue.submit(submissions);
    } catch (error) {
      if (error instanceof QueueFullError) throw new ApiError(429, 'queue_full', error.message);
      throw error;
    }
  };

  router.post('/v1/jobs', needsQueue, async (req, res) => {
    needsJson(req);
    const wait = parseWait(req);
    const checked = check(req.body, await installed());
    if ('error' in checked) throw checked.error;
    const refused = egressRefusal(checked.submission, egressAllowed(req)) ?? (await archiveProblem(checked.submission, options.limits));
    if (refused) throw refused;
    const [id] = await submit([await pin(checked.submission)]);
    if (wait > 0 && (await queue.hub.waitForEnd(id, wait * 1000))) {
      res.status(200).json(await findJob(id));
      return;
    }
    res.status(202).location(`/v1/jobs/${id}`).json({ id, status: 'queued' });
  });

  router.post('/v1/jobs/batch', needsQueue, async (req, res) => {
    needsJson(req);
    const parsed = batchBody.safeParse(req.body);
    if (!parsed.success) throw invalid(parsed.error);
    const languages = await installed();
    const refusal = egressAllowed(req);
    const items = await Promise.all(
      parsed.data.jobs.map(async (item, index): Promise<CheckedJob> => {
        const checked = check(item, languages, `jobs.${index}`);
        if (!('submission' in checked)) return checked;
        const refused = egressRefusal(checked.submission, refusal, `jobs.${index}`) ?? (await archiveProblem(checked.submission, options.limits, `jobs.${index}`));
        return refused ? { error: refused } : pinChecked(checked, `jobs.${index}`);
      }),
    );
    const valid = items.flatMap((item) => ('submission' in item ? [item.submission] : []));
    const ids = valid.length > 0 ? await submit(valid) : [];
    let next = 0;
    const jobs = items.map((item) => ('error' in item ? errorBody(item.error) : { id: ids[next++], status: 'queued' as const }));
    res.status(ids.length > 0 ? 202 : 422).json({ jobs });
  });

  router.get('/v1/jobs/:id', needsQueue, async (req, res) => {
    res.json(await findJob(req.params.id as string));
  });

  router.delete('/v1/jobs/:id', needsQueue, async (req, res) => {
    const id = req.params.id as string;
    await findJob(id);
    const outcome = await queue.cancel(id);
    if (outcome === 'missing') throw new ApiError(404, 'not_found', `no job ${JSON.stringify(id)}`);
    if (outcome === 'finished') throw new ApiError(409, 'conflict', 'the job has already finished');
    if (outcome === 'cancelling') await queue.hub.waitForEnd(id, CANCEL_CONFIRM_MS);
    const job = await findJob(id);
    if (outcome === 'cancelled') countCancelledWhileQueued(job, options.metrics);
    res.status(job.status === 'cancelled' ? 200 : 202).json(job);
  });

  router.get('/v1/jobs/:id/events', needsQueue, async (req, res) => {
    await findJob(req.params.id as string);
    await streamEvents(queue, req, res);
  });

  router.get('/v1/jobs/:id/log', needsQueue, async (req, res) => {
    await findJob(req.params.id as string);
    await streamLog(queue, req, res);
  });
  router.use(artifactRoutes(queue, findJob, needsQueue));
  return router;
}

/** Server-Sent Events of one job: past events replayed from Last-Event-ID, then live ones, until the terminal one. */
async function streamEvents(queue: JobQueue, req: Request, res: Response): Promise<void> {
  const id = req.params.id as string;
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
    res.write(`event: error\ndata: ${JSON.stringify(errorBody(toApiError(error, queue.connected)))}\n\n`);
    finish();
  }
}

/** A job cancelled before any worker took it ends here, not in a worker: count it here. */
function countCancelledWhileQueued(job: JobView, metrics: RuncellMetrics | undefined): void {
  metrics?.observeJob({
    language: languageLabel(job.request.language),
    status: 'cancelled',
    queuedAt: Date.parse(job.created_at),
    finishedAt: job.finished_at ? Date.parse(job.finished_at) : Date.now(),
  });
}
