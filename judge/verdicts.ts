/**
 * Judging verdicts: what a test's run (and the comparison of its output)
 * means for the submission. Pure functions.
 */
import type { RunResult } from '../sandbox/accounting.js';

export const TEST_VERDICTS = [
  'accepted',
  'wrong_answer',
  'time_limit',
  'wall_time_limit',
  'memory_limit',
  'output_limit',
  'runtime_error',
  /** The custom checker itself failed (exit code other than 0 or 1, or a limit): the problem's fault, not the submission's. */
  'checker_error',
] as const;
export type TestVerdict = (typeof TEST_VERDICTS)[number];

/** A job's overall verdict: compile_error, or the first non-accepted test's verdict, or accepted. */
export const JOB_VERDICTS = ['compile_error', ...TEST_VERDICTS] as const;
export type JobVerdict = (typeof JOB_VERDICTS)[number];

/**
 * The verdict a run earns before its output is looked at: 'output_pending'
 * when it ended well and its output decides, 'sandbox_error' when runcell
 * failed (the job fails rather than blame the submission).
 */
export function runVerdict(run: RunResult): TestVerdict | 'output_pending' | 'sandbox_error' {
  switch (run.status) {
    case 'ok':
      return 'output_pending';
    case 'nonzero_exit':
    case 'signalled':
      return 'runtime_error';
    case 'time_limit':
    case 'wall_time_limit':
    case 'memory_limit':
    case 'output_limit':
    case 'sandbox_error':
      return run.status;
  }
}

/** testlib's convention: 0 accepted, 1 wrong answer, anything else (or no exit at all) a checker failure. */
export function checkerVerdict(checker: RunResult): TestVerdict | 'sandbox_error' {
  if (checker.status === 'sandbox_error') return 'sandbox_error';
  if (checker.status === 'ok') return 'accepted';
  if (checker.status === 'nonzero_exit' && checker.exit_code === 1) return 'wrong_answer';
  return 'checker_error';
}

export type VerdictCounts = Record<TestVerdict, number> & { total: number; judged: number; skipped: number };

export function countVerdicts(total: number, verdicts: TestVerdict[]): VerdictCounts {
  const counts = Object.fromEntries(TEST_VERDICTS.map((v) => [v, 0])) as Record<TestVerdict, number>;
  for (const verdict of verdicts) counts[verdict]++;
  return { total, judged: verdicts.length, skipped: total - verdicts.length, ...counts };
}

/** The first non-accepted verdict in test order, else accepted. */
export function overallVerdict(verdicts: TestVerdict[]): TestVerdict {
  return verdicts.find((verdict) => verdict !== 'accepted') ?? 'accepted';
}
