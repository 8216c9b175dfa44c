/**
 * A job's input archive checked on arrival, with the reader the worker uses:
 * a refused archive is a 422 naming the entry (`archive/<entry>`), and an
 * entry that a file of `files` would overwrite is one too.
 */
import { archiveErrorDetail, isArchiveError } from '../archive/index.js';
import { readJobArchive } from '../archive/job-archive.js';
import type { JobSubmission } from '../contract/job-request.js';
import type { LimitRanges } from '../contract/limits.js';
import { ApiError } from './errors.js';

/** The largest /box the job asks for: what its archive may unpack to. */
function boxBytes(submission: JobSubmission, limits: LimitRanges): number {
  const job = submission.limits?.workspace_bytes ?? limits.workspace_bytes.default;
  return Math.max(job, ...(submission.steps ?? []).map((step) => step.limits?.workspace_bytes ?? job));
}

export async function archiveProblem(submission: JobSubmission, limits: LimitRanges, prefix = ''): Promise<ApiError | undefined> {
  if (!submission.archive) return undefined;
  const field = prefix ? `${prefix}.archive` : 'archive';
  let entries;
  try {
    entries = await readJobArchive({ format: submission.archive.format, content: Buffer.from(submission.archive.content, 'base64') }, boxBytes(submission, limits));
  } catch (error) {
    if (!isArchiveError(error)) throw error;
    const detail = archiveErrorDetail(error, field);
    return new ApiError(422, 'invalid_request', `${detail.path}: ${detail.message}`, [detail]);
  }
  const unpacked = new Set(entries.map((entry) => entry.path));
  const clash = (submission.files ?? []).findIndex((file) => unpacked.has(file.path) || [...unpacked].some((path) => file.path.startsWith(`${path}/`) && !entries.find((e) => e.path === path && e.kind === 'directory')));
  if (clash < 0) return undefined;
  const path = `${prefix ? `${prefix}.` : ''}files.${clash}.path`;
  const message = `${submission.files![clash].path} is also in the archive (or below one of its files)`;
  return new ApiError(422, 'invalid_request', `${path}: ${message}`, [{ path, message }]);
}
