/**
 * The summary of a submission the API shows (GET /v1/jobs/:id's `request`):
 * everything but the contents.
 */
import type { JobRequestInput } from '../contract/job-request.js';
import type { RequestSummary } from '../contract/job-record.js';

/** Bytes of a content once decoded. */
function decodedBytes(text: string, encoding: 'utf8' | 'base64' = 'utf8'): number {
  return encoding === 'base64' ? Buffer.from(text, 'base64').length : Buffer.byteLength(text);
}

export function summarize(submission: JobRequestInput): RequestSummary {
  const summary: RequestSummary = {
    files: (submission.files ?? []).map((file) => ({ path: file.path, encoding: file.encoding ?? 'utf8', size_bytes: decodedBytes(file.content, file.encoding) })),
    stdin_bytes: submission.stdin === undefined ? 0 : decodedBytes(submission.stdin, submission.stdin_encoding),
  };
  if (submission.interactive_stdin) summary.interactive_stdin = true;
  if (submission.language) summary.language = submission.language;
  if (submission.command) summary.command = submission.command;
  if (submission.args) summary.args = submission.args;
  // Names only: values may be secrets of the submitter's.
  if (submission.env) summary.env_names = Object.keys(submission.env);
  if (submission.limits) summary.limits = submission.limits as Record<string, number>;
  if (submission.compile_limits) summary.compile_limits = submission.compile_limits as Record<string, number>;
  if (submission.seccomp_profile) summary.seccomp_profile = submission.seccomp_profile;
  if (submission.steps) {
    summary.steps = submission.steps.map(({ name, command, continue_on_failure }) => ({ ...(name ? { name } : {}), command, ...(continue_on_failure !== undefined ? { continue_on_failure } : {}) }));
  }
  if (submission.artifacts) summary.artifacts = submission.artifacts;
  if (submission.archive) summary.archive = { format: submission.archive.format, size_bytes: decodedBytes(submission.archive.content, 'base64') };
  if (submission.tests) {
    summary.tests = { count: submission.tests.length, ids: submission.tests.map((test, i) => test.id ?? String(i + 1)) };
    if (submission.comparison) summary.comparison = submission.comparison;
    if (submission.checker) {
      const { language, protocol, files } = submission.checker;
      summary.checker = { language, ...(protocol ? { protocol } : {}), files: files.map((file) => file.path) };
    }
    if (submission.interactor) {
      const { language, protocol, files } = submission.interactor;
      summary.interactor = { language, protocol, files: files.map((file) => file.path) };
    }
    if (submission.stop_on_first_failure !== undefined) summary.stop_on_first_failure = submission.stop_on_first_failure;
  }
  if (submission.problem) {
    summary.problem = submission.problem;
    if (submission.problem_revision !== undefined) summary.problem_revision = submission.problem_revision;
    if (submission.input_validation) summary.input_validation = true;
    if (submission.stop_on_first_failure !== undefined) summary.stop_on_first_failure = submission.stop_on_first_failure;
  }
  return summary;
}
