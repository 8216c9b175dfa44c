/**
 * What the API puts on the queue for each job: the accepted request and the
 * contract version it was accepted under. A worker parses every job it takes
 * with the same schema, so a job from an older or newer API is checked once
 * more, and refused with a code rather than half run.
 */
import { z } from 'zod';
import { jobRequestSchema, type JobRequestInput, type JobSubmission } from './job-request.js';

/** Raise when a request or result changes in a way an older worker would misread. */
export const CONTRACT_VERSION = 1;

export interface QueuedJob {
  version: number;
  /** As the API accepted it (the worker parses it again: defaults are filled in then). */
  submission: JobRequestInput;
}

const envelopeSchema = z.object({ version: z.number().int(), submission: z.unknown() });

export type QueuedJobProblem = { code: 'unsupported_version' | 'invalid_job'; message: string };

/** Parses a job taken from the queue: its submission, or why not. */
export function parseQueuedJob(data: unknown, schema: ReturnType<typeof jobRequestSchema>): { ok: true; submission: JobSubmission } | { ok: false; problem: QueuedJobProblem } {
  const envelope = envelopeSchema.safeParse(data);
  if (!envelope.success) return { ok: false, problem: { code: 'invalid_job', message: 'the queued job has no contract version or no submission' } };
  if (envelope.data.version !== CONTRACT_VERSION) {
    const message = `the queued job was written under contract version ${envelope.data.version}; this worker reads version ${CONTRACT_VERSION}`;
    return { ok: false, problem: { code: 'unsupported_version', message } };
  }
  const parsed = schema.safeParse(envelope.data.submission);
  if (parsed.success) return { ok: true, submission: parsed.data };
  const summary = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ');
  return { ok: false, problem: { code: 'invalid_job', message: `the queued job is not a valid request: ${summary}` } };
}

