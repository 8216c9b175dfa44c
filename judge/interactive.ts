/**
 * Interactive verdicts: what the solution's run, the interactor's run and
 * which of the two ended first mean for the test, under each protocol.
 * Pure functions.
 *
 * Precedence (docs/api.md, "Interactive problems"):
 * 1. runcell failed either run, or the job was cancelled: no verdict.
 * 2. The interactor failed by itself (an exit its protocol does not define,
 *    testlib's FAIL, a crash, one of its own limits): checker_error, the
 *    judge's fault whatever the solution did (DMOJ and Kattis check this first).
 * 3. kattis only: the validator exited first with 43: wrong_answer, even if
 *    the solution then crashed or ran out of time (problemtools, DOMjudge).
 * 4. The solution's own failure (time, wall, memory, output limit, a crash
 *    or non-zero exit): that verdict (Codeforces shows TL/ML/RE over the
 *    interactor's WA; DMOJ the same). A solution killed by SIGPIPE is not a
 *    failure of its own: it wrote after the interactor had gone, and the
 *    interactor's verdict decides.
 * 5. The interactor's verdict: accepted, wrong_answer (testlib's PE and
 *    unexpected EOF too), accepted with points (testlib's 7); an interactor
 *    killed by SIGPIPE wrote after the solution stopped reading: wrong_answer.
 */
import type { InteractorProtocol } from '../contract/job-request.js';
import type { RunResult } from '../contract/run-result.js';
import { runVerdict, type TestVerdict } from './verdicts.js';

/** What the interactor's run says by itself. */
export type InteractorJudgement =
  | { kind: 'verdict'; verdict: 'accepted' | 'wrong_answer'; points?: number; note?: string }
  /** It failed: the judge's fault. */
  | { kind: 'failed'; reason: string }
  /** runcell stopped it after the solution had ended in failure: it has nothing to say. */
  | { kind: 'stopped' };

export interface InteractiveOutcome {
  verdict: TestVerdict | 'sandbox_error' | 'cancelled';
  message: string | null;
  points?: number;
}

const TESTLIB = { ok: 0, wa: 1, pe: 2, fail: 3, points: 7, unexpectedEof: 8 } as const;
const KATTIS = { accepted: 42, wrongAnswer: 43 } as const;
const SIGPIPE_EXIT = 128 + 13;

/** Reads the interactor's run under its protocol. `stopped`: runcell stopped it once the solution had failed. */
export function interactorJudgement(run: RunResult, protocol: InteractorProtocol, stopped: boolean): InteractorJudgement {
  if (stopped && run.status === 'cancelled') return { kind: 'stopped' };
  // The kattis wrapper (a shell) turns a signal into exit 128 + n.
  const sigpipe = run.signal === 'SIGPIPE' || (protocol === 'kattis' && run.status === 'nonzero_exit' && run.exit_code === SIGPIPE_EXIT);
  if (sigpipe) return { kind: 'verdict', verdict: 'wrong_answer', note: 'the solution stopped reading while the interactor was still writing' };
  if (run.status !== 'ok' && run.status !== 'nonzero_exit') return { kind: 'failed', reason: `${run.status}${run.signal ? ` ${run.signal}` : ''}` };
  const exit = run.exit_code ?? 0;
  if (protocol === 'kattis') {
    if (exit === KATTIS.accepted) return { kind: 'verdict', verdict: 'accepted' };
    if (exit === KATTIS.wrongAnswer) return { kind: 'verdict', verdict: 'wrong_answer' };
    return { kind: 'failed', reason: `exit code ${exit} (kattis: 42 accepted, 43 wrong answer)` };
  }
  switch (exit) {
    case TESTLIB.ok:
      return { kind: 'verdict', verdict: 'accepted' };
    case TESTLIB.wa:
      return { kind: 'verdict', verdict: 'wrong_answer' };
    case TESTLIB.pe:
      return { kind: 'verdict', verdict: 'wrong_answer', note: 'presentation error' };
    case TESTLIB.unexpectedEof:
      return { kind: 'verdict', verdict: 'wrong_answer', note: 'unexpected end of file' };
    case TESTLIB.points:
      return { kind: 'verdict', verdict: 'accepted', points: testlibPoints(run.stderr) };
    case TESTLIB.fail:
      return { kind: 'failed', reason: 'FAIL (exit code 3)' };
    default:
      return { kind: 'failed', reason: `exit code ${exit} (testlib: 0 OK, 1 WA, 2 PE, 3 FAIL, 7 points)` };
  }
}

/** testlib's quitp writes "points <value> <message>" to stderr. */
function testlibPoints(stderr: string): number | undefined {
  const match = /^points\s+([-+0-9.eE]+)/m.exec(stderr);
  const value = match ? Number(match[1]) : NaN;
  return Number.isFinite(value) ? value : undefined;
}

/** The solution's own failure, if any (a SIGPIPE is the interactor's leaving, not the solution's failure). */
function solutionFailure(run: RunResult): TestVerdict | 'sandbox_error' | 'cancelled' | undefined {
  const verdict = runVerdict(run);
  if (verdict === 'output_pending') return undefined;
  if (verdict === 'runtime_error' && run.signal === 'SIGPIPE') return undefined;
  return verdict;
}

/** Whether the solution's run ended in a failure of its own (then the interactor is not waited for long). */
export function solutionFailed(run: RunResult): boolean {
  return solutionFailure(run) !== undefined;
}

export interface InteractiveFacts {
  solution: RunResult;
  interactor: RunResult;
  protocol: InteractorProtocol;
  /** The interactor's run ended before the solution's. */
  interactorFirst: boolean;
  /** runcell stopped the interactor because the solution had ended in failure. */
  interactorStopped: boolean;
  /** The interactor's message: testlib's stderr, kattis' judgemessage.txt (else its stderr). */
  message: string | null;
}

/** The test's verdict from both runs, by the precedence above. */
export function interactiveVerdict(facts: InteractiveFacts): InteractiveOutcome {
  const { solution, interactor, protocol, message } = facts;
  for (const run of [solution, interactor]) {
    if (run.status === 'sandbox_error') return { verdict: 'sandbox_error', message: run.message };
  }
  if (solution.status === 'cancelled' || (interactor.status === 'cancelled' && !facts.interactorStopped)) return { verdict: 'cancelled', message: null };
  const judged = interactorJudgement(interactor, protocol, facts.interactorStopped);
  if (judged.kind === 'failed') return { verdict: 'checker_error', message: `interactor failed (${judged.reason})${message ? `: ${message}` : ''}` };
  if (protocol === 'kattis' && facts.interactorFirst && judged.kind === 'verdict' && judged.verdict === 'wrong_answer') {
    return { verdict: 'wrong_answer', message: withNote(judged.note, message) };
  }
  const failure = solutionFailure(solution);
  if (failure) return { verdict: failure, message: solution.message };
  if (judged.kind === 'stopped') return { verdict: 'checker_error', message: 'interactor stopped without a verdict' };
  return { verdict: judged.verdict, message: withNote(judged.note, message), ...(judged.points !== undefined ? { points: judged.points } : {}) };
}

function withNote(note: string | undefined, message: string | null): string | null {
  if (!note) return message;
  return message ? `${note}: ${message}` : note;
}
