/**
 * What a Judge0 submission has beyond its runcell job (source, stdin,
 * expected_output and the limits as given), kept beside the job record in
 * Redis under the job's id (= the token), for as long as any job record.
 */
import type { JobQueue } from '../../queue/queue.js';
import { DEFAULT_RETENTION, PREFIX } from '../../queue/store.js';
import { storedSubmissionSchema, type StoredSubmission } from './submission.js';

const key = (token: string) => `${PREFIX}:judge0:${token}`;
/** As long as the job store keeps a record at most (queue/store.ts): the echo must not die before its job. */
const TTL_SECONDS = Math.max(DEFAULT_RETENTION.completedSeconds, DEFAULT_RETENTION.failedSeconds) + 86_400;

export async function saveSubmission(queue: JobQueue, token: string, stored: StoredSubmission): Promise<void> {
  await queue.redis.set(key(token), JSON.stringify(stored), 'EX', TTL_SECONDS);
}

/** The submission's fields, or undefined for a token that is not a Judge0 submission (or has expired). */
export async function loadSubmissions(queue: JobQueue, tokens: string[]): Promise<(StoredSubmission | undefined)[]> {
  if (tokens.length === 0) return [];
  const values = await queue.redis.mget(...tokens.map(key));
  return values.map((value) => {
    if (value === null) return undefined;
    const parsed = storedSubmissionSchema.safeParse(JSON.parse(value));
    return parsed.success ? parsed.data : undefined;
  });
}
