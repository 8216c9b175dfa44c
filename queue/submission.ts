/**
 * A submission as the API accepted it (JSON, as stored in the queue), and
 * its two conversions: to the worker's JobRequest (contents decoded) and to
 * the summary the API shows (no contents).
 */
import type { Comparison } from '../judge/compare.js';
import type { RequestedLimits } from '../sandbox/limits.js';
import type { SeccompProfileName } from '../sandbox/seccomp-policy.js';
import type { JobRequest } from '../worker/job.js';
import type { RequestSummary } from './store.js';

export type Encoding = 'utf8' | 'base64';

export interface Submission {
  language?: string;
  command?: string[];
  files?: { path: string; content: string; encoding?: Encoding }[];
  stdin?: string;
  stdin_encoding?: Encoding;
  args?: string[];
  env?: Record<string, string>;
  limits?: RequestedLimits;
  compile_limits?: RequestedLimits;
  seccomp_profile?: SeccompProfileName;
  tests?: { id?: string; stdin?: string; stdin_encoding?: Encoding; expected_stdout: string; limits?: RequestedLimits }[];
  comparison?: Comparison;
  checker?: { language: string; files: { path: string; content: string; encoding?: Encoding }[]; limits?: RequestedLimits; compile_limits?: RequestedLimits };
  stop_on_first_failure?: boolean;
}

function decode(text: string, encoding: Encoding = 'utf8'): Buffer {
  return Buffer.from(text, encoding === 'base64' ? 'base64' : 'utf8');
}

export function toJobRequest(submission: Submission): JobRequest {
  return {
    language: submission.language,
    command: submission.command,
    files: (submission.files ?? []).map((file) => ({ path: file.path, content: decode(file.content, file.encoding) })),
    stdin: submission.stdin === undefined ? undefined : decode(submission.stdin, submission.stdin_encoding),
    args: submission.args,
    env: submission.env,
    limits: submission.limits,
    compile_limits: submission.compile_limits,
    seccomp_profile: submission.seccomp_profile,
    ...judgingRequest(submission),
  };
}

function judgingRequest(submission: Submission): Partial<JobRequest> {
  if (!submission.tests) return {};
  const { checker } = submission;
  return {
    tests: submission.tests.map((test) => ({
      id: test.id,
      stdin: test.stdin === undefined ? undefined : decode(test.stdin, test.stdin_encoding),
      expected_stdout: test.expected_stdout,
      limits: test.limits,
    })),
    comparison: submission.comparison,
    checker: checker && {
      language: checker.language,
      files: checker.files.map((file) => ({ path: file.path, content: decode(file.content, file.encoding) })),
      limits: checker.limits,
      compile_limits: checker.compile_limits,
    },
    stop_on_first_failure: submission.stop_on_first_failure,
  };
}

export function summarize(submission: Submission): RequestSummary {
  const summary: RequestSummary = {
    files: (submission.files ?? []).map((file) => ({
      path: file.path,
      encoding: file.encoding ?? 'utf8',
      size_bytes: decode(file.content, file.encoding).length,
    })),
    stdin_bytes: submission.stdin === undefined ? 0 : decode(submission.stdin, submission.stdin_encoding).length,
  };
  if (submission.language) summary.language = submission.language;
  if (submission.command) summary.command = submission.command;
  if (submission.args) summary.args = submission.args;
  // Names only: values may be secrets of the submitter's.
  if (submission.env) summary.env_names = Object.keys(submission.env);
  if (submission.limits) summary.limits = submission.limits as Record<string, number>;
  if (submission.compile_limits) summary.compile_limits = submission.compile_limits as Record<string, number>;
  if (submission.seccomp_profile) summary.seccomp_profile = submission.seccomp_profile;
  if (submission.tests) {
    summary.tests = { count: submission.tests.length, ids: submission.tests.map((test, i) => test.id ?? String(i + 1)) };
    if (submission.comparison) summary.comparison = submission.comparison;
    if (submission.checker) summary.checker = { language: submission.checker.language, files: submission.checker.files.map((file) => file.path) };
    if (submission.stop_on_first_failure !== undefined) summary.stop_on_first_failure = submission.stop_on_first_failure;
  }
  return summary;
}
