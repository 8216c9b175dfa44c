/**
 * Judge0's /submissions: create (one, or a batch of up to 20), show (one, or
 * a batch by tokens), with ?wait, ?base64_encoded and ?fields. A submission
 * is a runcell job (its token is the job's id) plus its echo fields, kept
 * beside it (store.ts).
 */
import type { Request, RequestHandler, Response, Router } from 'express';
import { DEFAULT_BOUNDS, type JobSubmission, type SubmittedFile } from '../../contract/job-request.js';
import { QueueFullError, type JobQueue } from '../../queue/queue.js';
import type { JobChecker } from '../jobs.js';
import { jobAtEnd, submitOne, waitBudgetMs } from '../run-to-end.js';
import { additionalFiles } from './additional-files.js';
import { scheduleCallback } from './callbacks.js';
import type { Judge0Language } from './languages.js';
import { chooseFields, selectFields, submissionView } from './render.js';
import { loadSubmissions, saveSubmission } from './store.js';
import { checkSubmission, toJobRequest, type CheckedSubmission, type Judge0Errors, type StoredSubmission, type SubmissionPolicy } from './submission.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const MAX_BATCH = 20;

export interface SubmissionContext {
  queue: JobQueue;
  check: JobChecker;
  /** The workers' languages (cached) and Judge0's view of them. */
  installed: () => Promise<Record<string, string> | undefined>;
  languages: () => Promise<Judge0Language[]>;
  /** Body parsers, and the 503 when Redis is away. */
  body: RequestHandler[];
  ready: RequestHandler;
  /** Why this request may not have network egress (api/app.ts egressGate); undefined when it may. */
  egressAllowed: (req: Request) => string | undefined;
  /** RUNCELL_JUDGE0_CALLBACK_PRIVATE. */
  callbackPrivate: boolean;
}

export const flag = (value: unknown) => value === 'true' || value === '1';
export const fail = (res: Response, status: number, error: string) => res.status(status).json({ error });

/** The echo fields, and the callback when there is one (always sent base64, as Judge0 does): saved before the job can end. */
async function saveWithCallback(queue: JobQueue, token: string, stored: StoredSubmission): Promise<void> {
  await saveSubmission(queue, token, stored);
  if (stored.callback_url) await scheduleCallback(queue, token, stored.callback_url);
}

type Admitted = { submission: CheckedSubmission; job: JobSubmission } | { errors: Judge0Errors };

export function submissionRoutes(router: Router, context: SubmissionContext): void {
  const { queue, ready, body: json, languages, installed } = context;
  /** Judge0's checks, then the contract's (a runcell limit range Judge0's fields could pass is reported on the field). */
  const admit = async (body: Record<string, unknown>, base64: boolean, known: Judge0Language[], policy: SubmissionPolicy): Promise<Admitted> => {
    const checked = checkSubmission(body, known, base64, policy);
    if ('errors' in checked) return checked;
    let extra: SubmittedFile[] = [];
    if (checked.stored.additional_files) {
      const unpacked = await additionalFiles(checked.stored.additional_files, checked.language.source_file, DEFAULT_BOUNDS.maxFiles);
      if ('error' in unpacked) return { errors: { additional_files: [unpacked.error] } };
      extra = unpacked.files;
    }
    const job = context.check(toJobRequest(checked, extra), await installed());
    if ('error' in job) return { errors: { base: [job.error.message] } };
    return { submission: checked, job: job.submission };
  };

  const render = async (tokens: string[], fields: readonly string[], base64: boolean) => {
    const [stored, jobs, known] = await Promise.all([loadSubmissions(queue, tokens), Promise.all(tokens.map((t) => (UUID.test(t) ? queue.get(t) : undefined))), languages()]);
    return tokens.map((_, i) => {
      const [s, job] = [stored[i], jobs[i]];
      if (!s || !job) return null;
      return selectFields(submissionView(job, s, known.find((l) => l.id === s.language_id)), fields, base64);
    });
  };

  router.post('/submissions/batch', ready, ...json, async (req, res) => {
    const items = (req.body as { submissions?: unknown })?.submissions;
    if (!Array.isArray(items) || items.length === 0) return fail(res, 400, 'there should be at least one submission in a batch');
    if (items.length > MAX_BATCH) return fail(res, 400, `number of submissions in a batch should be less than or equal to ${MAX_BATCH}`);
    const base64 = flag(req.query.base64_encoded);
    const known = await languages();
    const policy = { networkRefusal: context.egressAllowed(req), callbackPrivate: context.callbackPrivate };
    const admitted = await Promise.all(items.map((item) => admit(typeof item === 'object' && item ? (item as Record<string, unknown>) : {}, base64, known, policy)));
    const valid = admitted.flatMap((a) => ('job' in a ? [a] : []));
    let ids: string[] = [];
    try {
      if (valid.length > 0) ids = await queue.submit(valid.map((a) => a.job));
    } catch (error) {
      if (error instanceof QueueFullError) return fail(res, 503, 'queue is full');
      throw error;
    }
    await Promise.all(valid.map((a, i) => saveWithCallback(queue, ids[i], a.submission.stored)));
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
    const admitted = await admit(body, base64, await languages(), { networkRefusal: context.egressAllowed(req), callbackPrivate: context.callbackPrivate });
    if ('errors' in admitted) return res.status(422).json(admitted.errors);
    const submitted = await submitOne(queue, admitted.job);
    if ('error' in submitted) return fail(res, 503, 'queue is full');
    await saveWithCallback(queue, submitted.id, admitted.submission.stored);
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
}
