/**
 * Judging verdicts: what a test's run (and the comparison of its output)
 * means for the submission. Pure functions.
 */
import { JOB_VERDICTS, TEST_VERDICTS, type JobVerdict, type TestVerdict, type VerdictCounts } from '../contract/judged-result.js';
import type { CheckerProtocol } from '../contract/job-request.js';
import type { RunResult } from '../contract/run-result.js';

export { JOB_VERDICTS, TEST_VERDICTS, type JobVerdict, type TestVerdict, type VerdictCounts };

/**
 * The verdict a run earns before its output is looked at: 'output_pending'
 * when it ended well and its output decides, 'sandbox_error' when runcell
 * failed (the job fails rather than blame the submission), 'cancelled'
 * when the run was cut short by a cancel (no verdict either).
 */
export function runVerdict(run: RunResult): TestVerdict | 'output_pending' | 'sandbox_error' | 'cancelled' {
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
    case 'cancelled':
      return run.status;
  }
}

/** The exit codes of each checker protocol: testlib's 0 and 1, Kattis' 42 and 43. */
const CHECKER_EXITS: Record<CheckerProtocol, { accepted: number; wrongAnswer: number }> = {
  testlib: { accepted: 0, wrongAnswer: 1 },
  kattis: { accepted: 42, wrongAnswer: 43 },
};

/** The protocol's accepted and wrong-answer exits; anything else (or no exit at all) is a checker failure, never the contestant's. */
export function checkerVerdict(checker: RunResult, protocol: CheckerProtocol = 'testlib'): TestVerdict | 'sandbox_error' {
  if (checker.status === 'sandbox_error') return 'sandbox_error';
  if (checker.status !== 'ok' && checker.status !== 'nonzero_exit') return 'checker_error';
  const exit = checker.status === 'ok' ? 0 : checker.exit_code;
  if (exit === CHECKER_EXITS[protocol].accepted) return 'accepted';
  if (exit === CHECKER_EXITS[protocol].wrongAnswer) return 'wrong_answer';
  return 'checker_error';
}

export function countVerdicts(total: number, verdicts: TestVerdict[]): VerdictCounts {
  const counts = Object.fromEntries(TEST_VERDICTS.map((v) => [v, 0])) as Record<TestVerdict, number>;
  for (const verdict of verdicts) counts[verdict]++;
  return { total, judged: verdicts.length, skipped: total - verdicts.length, ...counts };
}

/** The first non-accepted verdict in test order, else accepted. */
export function overallVerdict(verdicts: TestVerdict[]): TestVerdict {
  return verdicts.find((verdict) => verdict !== 'accepted') ?? 'accepted';
}
