/**
 * Submit a job and wait for its end: what the compatibility APIs need
 * (Piston's /execute and Judge0's ?wait=true answer with the result, not an
 * id). Goes through the same queue as /v1/jobs: a compat job is a runcell
 * job, visible and cancellable at /v1/jobs/:id.
 */
import type { JobSubmission } from '../contract/job-request.js';
import { QueueFullError, type JobQueue } from '../queue/queue.js';
import type { JobView } from '../queue/store.js';

export type SubmitOutcome = { id: string } | { error: 'queue_full'; message: string };

export async function submitOne(queue: JobQueue, submission: JobSubmission): Promise<SubmitOutcome> {
  try {
    const [id] = await queue.submit([submission]);
    return { id };
  } catch (error) {
    if (error instanceof QueueFullError) return { error: 'queue_full', message: error.message };
    throw error;
  }
}

/** The job once it has ended, or as it is when `timeoutMs` has passed. */
export async function jobAtEnd(queue: JobQueue, id: string, timeoutMs: number): Promise<JobView | undefined> {
  await queue.hub.waitForEnd(id, timeoutMs);
  return queue.get(id);
}

/** Long enough for any job within `limits` to end: its compile and run walls, plus time queued. */
export function waitBudgetMs(runWallMs: number, compileWallMs: number): number {
  return runWallMs + compileWallMs + 30_000;
}

/**
 * The workers' languages, read from Redis at most once per `maxAgeMs`: the
 * compatibility layers need them for every request (language ids, runtimes)
 * and they change only when a worker with another rootfs starts.
 */
export function installedLanguages(queue: JobQueue, maxAgeMs = 1000): () => Promise<Record<string, string> | undefined> {
  let cached: { at: number; value: Promise<Record<string, string> | undefined> } | undefined;
  return () => {
    const now = Date.now();
    if (!cached || now - cached.at > maxAgeMs) {
      const value = queue.languages();
      cached = { at: now, value };
      // A failed read is not kept, nor an answer of no worker yet: the next request asks Redis again.
      const forget = () => {
        if (cached?.value === value) cached = undefined;
      };
      value.then((languages) => languages === undefined && forget(), forget);
    }
    return cached.value;
  };
}
