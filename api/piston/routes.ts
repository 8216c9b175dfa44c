/**
 * Piston v2 at /api/v2: /runtimes, /execute, /packages. Bodies are JSON
 * whatever their Content-Type (the npm piston-client sends none); errors are
 * Piston's `{message}`.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { LimitRanges } from '../../contract/limits.js';
import type { JobQueue } from '../../queue/queue.js';
import type { JobChecker } from '../jobs.js';
import { installedLanguages, jobAtEnd, submitOne, waitBudgetMs } from '../run-to-end.js';
import { executeResponse, translateExecute } from './execute.js';
import { installedRuntimes, PISTON_NAMES, runtimeView } from './runtimes.js';

export interface PistonOptions {
  queue: JobQueue;
  limits: LimitRanges;
  check: JobChecker;
  maxBodyBytes: number;
  log: (error: unknown) => void;
}

const message = (res: Response, status: number, text: string) => res.status(status).json({ message: text });

export function pistonRoutes(options: PistonOptions): express.Router {
  const { queue } = options;
  const installed = installedLanguages(queue);
  const router = express.Router();
  router.use(express.json({ type: () => true, limit: options.maxBodyBytes }));
  router.use((_req, res, next) => (queue.connected ? next() : message(res, 503, 'the queue (Redis) is not reachable; try again shortly')));

  router.get('/runtimes', async (_req, res) => {
    res.json(installedRuntimes(await installed()).map(runtimeView));
  });

  router.post('/execute', async (req, res) => {
    const runtimes = installedRuntimes(await installed());
    const job = translateExecute(req.body, runtimes, options.limits);
    if ('message' in job) return message(res, job.status, job.message);
    const checked = options.check(job.request, await installed());
    if ('error' in checked) return message(res, 400, checked.error.message);
    const submitted = await submitOne(queue, checked.submission);
    if ('error' in submitted) return message(res, 429, submitted.message);
    const ended = await jobAtEnd(queue, submitted.id, waitBudgetMs(job.runWallMs, job.compileWallMs));
    const response = ended ? executeResponse(job.runtime, ended.result) : undefined;
    if (!response) return message(res, 500, `runcell job ${submitted.id} ${ended?.status ?? 'vanished'}${ended?.reason ? `: ${ended.reason}` : ''}`);
    res.json(response);
  });

  router.get('/packages', async (_req, res) => {
    const runtimes = new Map(installedRuntimes(await installed()).map((r) => [r.id, r]));
    res.json(PISTON_NAMES.map((name) => ({ language: name.language, language_version: runtimes.get(name.id)?.version ?? null, installed: runtimes.has(name.id) })));
  });

  const refuse = (req: Request, res: Response) => {
    const body = (req.body ?? {}) as { language?: unknown; version?: unknown };
    const known = PISTON_NAMES.some((name) => name.language === body.language);
    if (!known) return message(res, 404, `Requested package ${String(body.language)}-${String(body.version)} does not exist`);
    message(res, 501, 'runcell does not install or uninstall packages at run time: its languages are built into the rootfs (RUNCELL_LANGUAGES, see docs/compat.md)');
  };
  router.post('/packages', refuse);
  router.delete('/packages', refuse);

  router.use((_req, res) => message(res, 404, 'Not Found'));
  router.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const type = (error as { type?: string }).type;
    if (type === 'entity.parse.failed') return message(res, 400, `the body is not valid JSON: ${(error as Error).message}`);
    if (type === 'entity.too.large') return message(res, 413, 'the body is too large');
    options.log(error);
    message(res, 500, 'internal error');
  });
  return router;
}
