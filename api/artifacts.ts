/**
 * A finished job's artifacts, from the store (any API replica serves them):
 * the list, one file, or all of them as one tar.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { JobQueue } from '../queue/queue.js';
import type { JobView } from '../queue/store.js';
import { ApiError } from './errors.js';
import { tarOf } from './tar.js';

type FindJob = (id: string) => Promise<JobView>;
type Middleware = (req: Request, res: Response, next: NextFunction) => void;

/** The job, finished: artifacts are read after its last run. */
async function finishedJob(findJob: FindJob, id: string): Promise<JobView> {
  const job = await findJob(id);
  if (job.status === 'queued' || job.status === 'running') throw new ApiError(409, 'conflict', `the job is ${job.status}: its artifacts are read when it ends`);
  return job;
}

export function artifactRoutes(queue: JobQueue, findJob: FindJob, needsQueue: Middleware): express.Router {
  const router = express.Router();

  router.get('/v1/jobs/:id/artifacts', needsQueue, async (req, res) => {
    const job = await finishedJob(findJob, req.params.id as string);
    res.json({ artifacts: job.result?.artifacts ?? [], rejected: job.result?.artifacts_rejected ?? [] });
  });

  router.get('/v1/jobs/:id/artifacts.tar', needsQueue, async (req, res) => {
    const id = req.params.id as string;
    const job = await finishedJob(findJob, id);
    const contents = await queue.store.artifacts(id);
    // In the result's order; a listed file missing from the store (expired meanwhile) is left out.
    const entries = (job.result?.artifacts ?? []).flatMap(({ path }) => {
      const content = contents.get(path);
      return content ? [{ path, content }] : [];
    });
    res.attachment(`${id}-artifacts.tar`).type('application/x-tar').send(tarOf(entries));
  });

  router.get('/v1/jobs/:id/artifacts/*path', needsQueue, async (req, res) => {
    const id = req.params.id as string;
    const path = (req.params as unknown as { path: string[] }).path.join('/');
    await finishedJob(findJob, id);
    const content = await queue.store.artifact(id, path);
    if (!content) throw new ApiError(404, 'not_found', `job ${id} has no artifact ${JSON.stringify(path)}`);
    // attachment() would set a type from the name's extension: bytes are bytes, whatever the job named them.
    res.attachment(path.split('/').pop()!).type('application/octet-stream').set('X-Content-Type-Options', 'nosniff').send(content);
  });
  return router;
}
