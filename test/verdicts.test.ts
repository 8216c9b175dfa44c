/** Judging verdicts from run results: pure functions, checked directly. */
import { describe, expect, it } from 'vitest';
import { checkerVerdict, countVerdicts, overallVerdict, runVerdict } from '../judge/verdicts.js';
import { RUN_STATUSES, type RunResult, type RunStatus } from '../sandbox/accounting.js';

const run = (status: RunStatus, exit_code: number | null = null) => ({ status, exit_code }) as RunResult;

describe('verdicts', () => {
  it('every run status maps to a verdict, or to "look at the output"', () => {
    expect(Object.fromEntries(RUN_STATUSES.map((s) => [s, runVerdict(run(s))]))).toEqual({
      ok: 'output_pending',
      nonzero_exit: 'runtime_error',
      signalled: 'runtime_error',
      time_limit: 'time_limit',
      wall_time_limit: 'wall_time_limit',
      memory_limit: 'memory_limit',
      output_limit: 'output_limit',
      cancelled: 'cancelled',
      sandbox_error: 'sandbox_error',
    });
  });

  it("a checker's exit: 0 accepted, 1 wrong answer, anything else its own failure", () => {
    expect(checkerVerdict(run('ok', 0))).toBe('accepted');
    expect(checkerVerdict(run('nonzero_exit', 1))).toBe('wrong_answer');
    expect(checkerVerdict(run('nonzero_exit', 2))).toBe('checker_error');
    expect(checkerVerdict(run('signalled'))).toBe('checker_error');
    expect(checkerVerdict(run('time_limit'))).toBe('checker_error');
    expect(checkerVerdict(run('sandbox_error'))).toBe('sandbox_error');
  });

  it("a Kattis output validator's exit: 42 accepted, 43 wrong answer, anything else (0 and 1 too) its own failure", () => {
    expect(checkerVerdict(run('nonzero_exit', 42), 'kattis')).toBe('accepted');
    expect(checkerVerdict(run('nonzero_exit', 43), 'kattis')).toBe('wrong_answer');
    expect(checkerVerdict(run('ok', 0), 'kattis')).toBe('checker_error');
    expect(checkerVerdict(run('nonzero_exit', 1), 'kattis')).toBe('checker_error');
    expect(checkerVerdict(run('signalled'), 'kattis')).toBe('checker_error');
    expect(checkerVerdict(run('wall_time_limit'), 'kattis')).toBe('checker_error');
    expect(checkerVerdict(run('sandbox_error'), 'kattis')).toBe('sandbox_error');
    expect(checkerVerdict(run('nonzero_exit', 42), 'testlib')).toBe('checker_error');
  });

  it('the overall verdict is the first that is not accepted; counts add up', () => {
    expect(overallVerdict([])).toBe('accepted');
    expect(overallVerdict(['accepted', 'time_limit', 'wrong_answer'])).toBe('time_limit');
    expect(countVerdicts(5, ['accepted', 'time_limit', 'accepted'])).toMatchObject({ total: 5, judged: 3, skipped: 2, accepted: 2, time_limit: 1, wrong_answer: 0 });
  });
});
