/**
 * The problem routes: POST /v1/problems (a package, stored under a new id),
 * GET /v1/problems, GET/PUT/DELETE /v1/problems/:id; and the check that
 * pins a problem job to the problem's current revision.
 *
 * Input validators never run here (the API runs no sandbox): a package with
 * input validators is stored as `validating` and a validation job is queued;
 * the worker that runs it marks the revision `ready` or `rejected`.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { JobSubmission } from '../contract/job-request.js';
import type { LimitRanges } from '../contract/limits.js';
import { problemIdSchema, summarizeProblem, type ProblemManifest } from '../contract/problem.js';
import { ProblemStore } from '../queue/problems.js';
import { QueueFullError, type JobQueue } from '../queue/queue.js';
import { LANGUAGES, languageNotInstalledProblem } from '../rootfs/languages.js';
import { ApiError } from './errors.js';
import { readPackage, spool } from './problems-upload.js';

export interface ProblemRoutesOptions {
  queue: JobQueue;
  limits: LimitRanges;
  /** Bytes of a package (the archive, and its files unpacked). */
  maxProblemBytes: number;
}

function idOf(raw: unknown, field: string): string {
  const parsed = problemIdSchema.safeParse(raw);
  if (!parsed.success) throw new ApiError(422, 'invalid_request', `${field}: ${parsed.error.issues[0].message}`, [{ path: field, message: parsed.error.issues[0].message }]);
  return parsed.data;
}

function refuseJson(req: Request): void {
  if (req.is('application/json') || req.is('multipart/*')) {
    throw new ApiError(415, 'unsupported_media_type', 'send the package itself as the body (zip, tar or tar.gz; e.g. Content-Type: application/zip)');
  }
}

/** Validators in languages the workers lack would never run: refused now, naming the validator. */
function uninstalledValidator(manifest: ProblemManifest, installed: Record<string, string> | undefined): ApiError | undefined {
  const outputPrograms = [manifest.output_validator, manifest.checker].filter((p) => p !== undefined);
  const programs = [...outputPrograms.map((p) => ['output_validators', p] as const), ...manifest.input_validators.map((p) => ['input_validators', p] as const)];
  for (const [folder, program] of programs) {
    const known = LANGUAGES.some((l) => l.id === program.language);
    const problem = !known ? `unknown language ${program.language}` : installed ? languageNotInstalledProblem(program.language, installed) : undefined;
    if (problem) return new ApiError(422, 'invalid_request', `package/${folder}/${program.name}: ${problem}`, [{ path: `package/${folder}/${program.name}`, message: problem }]);
  }
  return undefined;
}

export function problemRoutes(options: ProblemRoutesOptions, needsQueue: (req: Request, res: Response, next: NextFunction) => void): express.Router {
  const { queue } = options;
  const store = new ProblemStore(queue.redis);
  const router = express.Router();

  /** Stores a package as the next revision of `id`, makes it current, queues its validation. */
  const storePackage = async (req: Request, id: string): Promise<{ manifest: ProblemManifest; outcome: 'created' | 'replaced' }> => {
    refuseJson(req);
    const length = req.get('content-length');
    const spooled = await spool(req, options.maxProblemBytes, length === undefined ? undefined : Number(length));
    try {
      const revision = await store.nextRevision(id);
      let manifest = await readPackage(spooled.path, id, revision, { store, limits: options.limits, maxBytes: options.maxProblemBytes });
      const refused = uninstalledValidator(manifest, await queue.languages());
      if (refused) {
        // Saved only to be dropped: dropping a revision releases its blobs.
        await store.saveManifest(manifest);
        await store.dropRevision(id, revision);
        throw refused;
      }
      await store.saveManifest(manifest);
      const outcome = await store.promote(manifest);
      if (outcome === 'stale') throw new ApiError(409, 'conflict', `a later package of problem ${id} was stored meanwhile`);
      if (manifest.status === 'validating') manifest = await queueValidation(manifest);
      return { manifest, outcome };
    } finally {
      await spooled.dispose();
    }
  };

  const queueValidation = async (manifest: ProblemManifest): Promise<ProblemManifest> => {
    let jobId: string;
    try {
      [jobId] = await queue.submit([{ problem: manifest.id, problem_revision: manifest.revision, input_validation: true }]);
    } catch (error) {
      await store.dropRevision(manifest.id, manifest.revision);
      if (error instanceof QueueFullError) throw new ApiError(429, 'queue_full', error.message);
      throw error;
    }
    return (await store.updateManifest(manifest.id, manifest.revision, (m) => ({ ...m, validation_job: jobId }))) ?? manifest;
  };

  const found = async (id: string): Promise<ProblemManifest> => {
    const manifest = await store.current(idOf(id, 'id'));
    if (!manifest) throw new ApiError(404, 'not_found', `no problem ${JSON.stringify(id)}`);
    return manifest;
  };

  router.post('/v1/problems', needsQueue, async (req, res) => {
    const id = idOf(req.query.id ?? `p${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`, 'id');
    if ((await store.currentRevision(id)) !== undefined) throw new ApiError(409, 'conflict', `problem ${id} exists; PUT /v1/problems/${id} replaces it`);
    const { manifest } = await storePackage(req, id);
    res.status(201).location(`/v1/problems/${id}`).json(manifest);
  });

  router.get('/v1/problems', needsQueue, async (_req, res) => {
    res.json({ problems: (await store.list()).map(summarizeProblem) });
  });

  router.get('/v1/problems/:id', needsQueue, async (req, res) => {
    res.json(await found(req.params.id as string));
  });

  router.put('/v1/problems/:id', needsQueue, async (req, res) => {
    const id = idOf(req.params.id, 'id');
    const { manifest, outcome } = await storePackage(req, id);
    res.status(outcome === 'created' ? 201 : 200).json(manifest);
  });

  router.delete('/v1/problems/:id', needsQueue, async (req, res) => {
    const manifest = await found(req.params.id as string);
    if (!(await store.remove(manifest.id))) throw new ApiError(404, 'not_found', `no problem ${JSON.stringify(manifest.id)}`);
    res.json(summarizeProblem(manifest));
  });
  return router;
}

/**
 * A problem job as accepted: the problem must exist and be ready; the job is
 * pinned to its current revision (or the one asked for), so a replace while
 * it waits does not mix two packages' tests.
 */
export function problemJobPinner(queue: JobQueue) {
  const store = new ProblemStore(queue.redis);
  return async (submission: JobSubmission, prefix = ''): Promise<JobSubmission> => {
    if (submission.problem === undefined) return submission;
    const at = (field: string) => (prefix ? `${prefix}.${field}` : field);
    const refuse = (field: string, message: string) => new ApiError(422, 'invalid_request', `${at(field)}: ${message}`, [{ path: at(field), message }]);
    if (submission.input_validation) throw refuse('input_validation', 'reserved for the validation jobs runcell queues itself');
    const revision = submission.problem_revision ?? (await store.currentRevision(submission.problem));
    const manifest = revision === undefined ? undefined : await store.manifest(submission.problem, revision);
    if (!manifest) throw refuse('problem', `no problem ${JSON.stringify(submission.problem)}${submission.problem_revision ? ` at revision ${submission.problem_revision}` : ''}`);
    if (manifest.status !== 'ready') throw refuse('problem', `problem ${submission.problem} is ${manifest.status}${manifest.rejection ? `: ${manifest.rejection}` : ''}`);
    return { ...submission, problem_revision: manifest.revision };
  };
}
