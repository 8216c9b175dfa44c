/**
 * Interactive problems against the real sandbox: a C testlib-protocol
 * interactor and a Python Kattis-protocol validator playing a guessing game
 * with C and Python solutions, through every verdict path (accepted, wrong
 * answer, presentation error, interactor failure, a solution that exits
 * early, closes its stdout, floods the pipe, an interactor that never reads,
 * SIGPIPE on either side, deadlock, the TLE-versus-WA precedence of each
 * protocol), the two sandboxes' separation, and the transcript.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jobRequestSchema } from '../contract/job-request.js';
import { LANGUAGES } from '../rootfs/languages.js';
import { interactorJudgement, interactiveVerdict } from '../judge/interactive.js';
import type { RunResult } from '../contract/run-result.js';
import type { JobRequest, JobResult } from '../worker/job.js';
import type { InteractorRequest } from '../worker/request.js';
import { config, job, pidsInRunCgroups } from './helpers.js';

const fixture = (name: string) => ({ path: name, content: readFileSync(join(import.meta.dirname, 'interactive', name)) });
const C_INTERACTOR: InteractorRequest = { language: 'c', protocol: 'testlib', files: [fixture('interactor.c')] };
const PY_VALIDATOR: InteractorRequest = { language: 'python3', protocol: 'kattis', files: [fixture('validator.py')] };
const C_SOLUTION = { language: 'c', files: [{ path: 'main.c', content: readFileSync(join(import.meta.dirname, 'interactive', 'solution.c')) }] };
const PY_SOLUTION = { language: 'python3', files: [{ path: 'main.py', content: readFileSync(join(import.meta.dirname, 'interactive', 'solution.py')) }] };

/** One test: the interactor's input (secret and mode), an empty answer. */
const game = (input: string, limits = {}) => ({ stdin: Buffer.from(input), expected_stdout: '', limits });

async function interactive(solution: Pick<JobRequest, 'language' | 'files'>, interactor: InteractorRequest, tests: ReturnType<typeof game>[], args: string[] = []): Promise<JobResult> {
  const result = await job({ ...solution, args, tests, interactor });
  if (result.compile && result.compile.status !== 'ok') throw new Error(`the solution did not compile: ${JSON.stringify(result.compile)}`);
  if (result.interactor_compile && result.interactor_compile.status !== 'ok') throw new Error(`the interactor did not compile: ${JSON.stringify(result.interactor_compile)}`);
  return result;
}

const only = (result: JobResult) => result.tests![0];

describe('interactive judging, testlib protocol (C interactor)', () => {
  it('accepted: C and Python solutions, several tests, the message from the interactor\'s stderr', async () => {
    for (const solution of [C_SOLUTION, PY_SOLUTION]) {
      const result = await interactive(solution, C_INTERACTOR, [game('1'), game('737'), game('1000')]);
      expect(result.tests!.map((t) => t.verdict)).toEqual(['accepted', 'accepted', 'accepted']);
      expect(result.verdict).toBe('accepted');
      expect(result.interactor_compile).toMatchObject({ status: 'ok' });
      expect(only(result).verdict_message).toMatch(/^ok found 1 in \d+ queries$/);
      expect(only(result).interactor).toMatchObject({ status: 'ok', exit_code: 0, stdout: '' });
      // The solution's stdout went to the interactor, not into the result.
      expect(only(result).stdout).toBe('');
    }
  });

  it('wrong answer (exit 1) and presentation error (exit 2) are wrong_answer with the message', async () => {
    const wrong = only(await interactive(C_SOLUTION, C_INTERACTOR, [game('5')], ['wrong']));
    expect(wrong).toMatchObject({ verdict: 'wrong_answer', verdict_message: 'wrong answer: 0 is not the secret 5' });
    const garbage = only(await interactive(C_SOLUTION, C_INTERACTOR, [game('5')], ['garbage']));
    expect(garbage).toMatchObject({ verdict: 'wrong_answer', verdict_message: 'presentation error: presentation error: unknown command hello' });
  });

  it('the interactor\'s FAIL (exit 3) is checker_error, the judge\'s fault', async () => {
    const failed = only(await interactive(C_SOLUTION, C_INTERACTOR, [game('no secret here')]));
    expect(failed.verdict).toBe('checker_error');
    expect(failed.verdict_message).toContain('interactor failed (FAIL (exit code 3)): FAIL the input has no secret');
  });

  it('a solution that exits at once: wrong_answer (the interactor reads end of file)', async () => {
    const early = only(await interactive(C_SOLUTION, C_INTERACTOR, [game('5')], ['exit']));
    expect(early).toMatchObject({ verdict: 'wrong_answer', status: 'ok' });
    expect(early.verdict_message).toContain('unexpected end of file after 0 queries');
  });

  it('a solution that closes its stdout and stays: ends at its wall limit (its sandbox holds the pipe until it exits)', async () => {
    const closed = only(await interactive(C_SOLUTION, C_INTERACTOR, [game('5', { wall_ms: 1000 })], ['close']));
    expect(closed).toMatchObject({ verdict: 'wall_time_limit', status: 'wall_time_limit' });
  });

  it('a solution flooding the pipe: the interactor says PE and leaves, the solution dies of SIGPIPE: wrong_answer', async () => {
    const flood = only(await interactive(C_SOLUTION, C_INTERACTOR, [game('5')], ['flood']));
    expect(flood.verdict).toBe('wrong_answer');
    expect(flood.interactor).toMatchObject({ status: 'nonzero_exit', exit_code: 2 });
    expect(flood).toMatchObject({ status: 'signalled', signal: 'SIGPIPE' });
  });

  it('an interactor that never reads: the solution blocks, ends at its wall limit; the interactor is stopped after it', async () => {
    const started = Date.now();
    const idle = only(await interactive(C_SOLUTION, C_INTERACTOR, [game('5 1', { wall_ms: 1000 })]));
    expect(idle).toMatchObject({ verdict: 'wall_time_limit', status: 'wall_time_limit' });
    expect(idle.interactor).toMatchObject({ status: 'cancelled' });
    // Not the interactor's 30 s sleep, nor its own wall limit.
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('SIGPIPE in the interactor (the solution left without reading): wrong_answer, not the judge\'s fault', async () => {
    const gone = only(await interactive(C_SOLUTION, C_INTERACTOR, [game('5 2')], ['exit']));
    expect(gone.interactor).toMatchObject({ status: 'signalled', signal: 'SIGPIPE' });
    expect(gone).toMatchObject({ verdict: 'wrong_answer', status: 'ok' });
    expect(gone.verdict_message).toContain('the solution stopped reading');
  });

  it('deadlock (both wait to read): the solution\'s wall_time_limit, idleness as Codeforces calls it', async () => {
    const stuck = only(await interactive(C_SOLUTION, C_INTERACTOR, [game('5', { wall_ms: 1000 })], ['deadlock']));
    expect(stuck).toMatchObject({ verdict: 'wall_time_limit', status: 'wall_time_limit' });
    expect(stuck.cpu_ms).toBeLessThan(500);
  });

  it('the solution\'s TLE wins over the interactor\'s WA (Codeforces\' precedence)', async () => {
    const tle = only(await interactive(C_SOLUTION, C_INTERACTOR, [game('5', { cpu_ms: 300 })], ['wrong-then-spin']));
    expect(tle.interactor).toMatchObject({ exit_code: 1 });
    expect(tle.verdict).toBe('time_limit');
  });

  it('two sandboxes: the interactor runs as another host uid, and its CPU does not count against the solution', async () => {
    // Deadlocked for a second: long enough to see both sandboxes' processes from the host.
    let done = false;
    const running = interactive(C_SOLUTION, C_INTERACTOR, [game('5', { wall_ms: 1500 })], ['deadlock']).finally(() => (done = true));
    let uids = new Set<number>();
    // Until one look sees both sandboxes at once (both compile first, then wait on each other for 1.5 s).
    while (!done && uids.size < 2) {
      const seen = new Set<number>();
      for (const pid of pidsInRunCgroups()) {
        try {
          seen.add(Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]));
        } catch {
          /* exited meanwhile */
        }
      }
      // Root in a run's cgroup is the launcher (runcell-exec) for the few milliseconds between joining the
      // cgroup and dropping to the slot's uid (cgroup v1 has no clone3 into a cgroup): not a sandbox's process.
      seen.delete(0);
      uids = seen;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(only(await running).verdict).toBe('wall_time_limit');
    const [solutionUid, interactorUid] = [...uids].sort((a, b) => a - b);
    expect(solutionUid).toBeGreaterThanOrEqual(config.uidBase);
    expect(interactorUid).toBe(solutionUid + config.slots);
    // The interactor burns CPU before it plays while the solution waits: the solution is accepted within its 200 ms.
    const busy = only(await interactive(C_SOLUTION, C_INTERACTOR, [game('5 3', { cpu_ms: 200, wall_ms: 10_000 })]));
    expect(busy.verdict).toBe('accepted');
    expect(busy.cpu_ms).toBeLessThan(200);
    expect(busy.interactor!.cpu_ms).toBeGreaterThan(busy.cpu_ms);
  });

  it('cancelling the job stops both sandboxes at once: no verdict, nothing left running', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const running = job({ ...C_SOLUTION, args: ['deadlock'], tests: [game('5', { wall_ms: 20_000 })], interactor: C_INTERACTOR }, {
      signal: controller.signal,
      onStep: (step) => void (step === 'interactor_compile' && setTimeout(() => controller.abort(), 1000)),
    });
    const result = await running;
    expect(result.tests).toEqual([]);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(pidsInRunCgroups()).toEqual([]);
  });

  it('a transcript of both directions, capped', async () => {
    const request = { ...C_INTERACTOR, transcript_bytes: 4096 };
    const test = only(await interactive(C_SOLUTION, request, [game('750')]));
    expect(test.verdict).toBe('accepted');
    expect(test.transcript![0]).toMatchObject({ from: 'solution', data: '? 500\n' });
    expect(test.transcript![1]).toMatchObject({ from: 'interactor', data: '>\n' });
    expect(test.transcript!.at(-1)).toMatchObject({ from: 'solution', data: '! 750\n' });
    expect(test.transcript_truncated).toBe(false);
    const capped = only(await interactive(C_SOLUTION, { ...C_INTERACTOR, transcript_bytes: 10 }, [game('750')]));
    expect(capped.verdict).toBe('accepted');
    expect(capped.transcript!.map((e) => e.data).join('')).toBe('? 500\n>\n? ');
    expect(capped.transcript_truncated).toBe(true);
    // Relayed, the failure paths behave as with plain pipes.
    const flood = only(await interactive(C_SOLUTION, request, [game('5')], ['flood']));
    expect(flood.verdict).toBe('wrong_answer');
  });
});

describe('a testlib interactor\'s output file given to a checker (Codeforces\' convention)', () => {
  // testlib's order: checker input output answer. Accepts when the interactor's output file holds the answer.
  const checker = { language: 'python3', files: [{ path: 'check.py', content: Buffer.from([
    'import sys',
    'got, want = open(sys.argv[2]).read().split(), open(sys.argv[3]).read().split()',
    'if got == want: print("output file says", " ".join(got)); sys.exit(0)',
    'print("output file says", got, "answer says", want); sys.exit(1)',
  ].join('\n')) }] };
  const withChecker = (tests: ReturnType<typeof game>[], interactor = C_INTERACTOR, args: string[] = []) => job({ ...C_SOLUTION, args, tests, interactor, checker });

  it('the checker reads what the interactor wrote: its verdict decides the tests the interactor accepted', async () => {
    const result = await withChecker([{ ...game('737'), expected_stdout: '737\n' }, { ...game('737'), expected_stdout: '738\n' }]);
    expect(result.tests!.map((t) => t.verdict)).toEqual(['accepted', 'wrong_answer']);
    // The interactor accepted both; the checker saw its output file (737), not the solution's stdout.
    expect(result.tests!.map((t) => t.interactor!.exit_code)).toEqual([0, 0]);
    expect(result.tests![0]).toMatchObject({ verdict_message: 'output file says 737', checker: { status: 'ok' } });
    expect(result.tests![1].verdict_message).toBe("output file says ['737'] answer says ['738']");
  });

  it('the interactor\'s wrong answer stands: the checker is not asked', async () => {
    const wrong = only(await withChecker([{ ...game('5'), expected_stdout: '0\n' }], C_INTERACTOR, ['wrong']));
    expect(wrong).toMatchObject({ verdict: 'wrong_answer', verdict_message: 'wrong answer: 0 is not the secret 5' });
    expect(wrong.checker).toBeUndefined();
  });

  it('an output file that is a symlink is never followed, one over the cap never read: checker_error, the judge\'s fault', async () => {
    const linking: InteractorRequest = { language: 'bash', protocol: 'testlib', files: [{ path: 'interact.sh', content: Buffer.from('read -r n < "$1"; echo "? $n" >&2; ln -s /box/judge_answer.txt "$2"; exit 0') }] };
    const solution = { language: 'bash', files: [{ path: 'main.sh', content: Buffer.from('exit 0') }] };
    const linked = only(await job({ ...solution, tests: [{ ...game('21\n'), expected_stdout: '21\n' }], interactor: linking, checker }));
    expect(linked.verdict).toBe('checker_error');
    expect(linked.verdict_message).toMatch(/output file \/tmp\/judge_output.txt cannot be given to the checker \(symlink/);
    // Larger than the test's output cap: not read, the judge's fault too.
    const large: InteractorRequest = { ...linking, files: [{ path: 'interact.sh', content: Buffer.from('head -c 4096 /dev/zero > "$2"; exit 0') }] };
    const tooLarge = only(await job({ ...solution, tests: [{ ...game('21\n', { output_bytes: 1024 }), expected_stdout: '21\n' }], interactor: large, checker }));
    expect(tooLarge.verdict).toBe('checker_error');
    expect(tooLarge.verdict_message).toMatch(/cannot be given to the checker \(cap/);
  });
});

describe('interactive judging, kattis protocol (Python validator)', () => {
  it('accepted (42) with judgemessage.txt as the message; wrong answer (43)', async () => {
    const result = await interactive(C_SOLUTION, PY_VALIDATOR, [game('321'), game('999')]);
    expect(result.verdict).toBe('accepted');
    expect(only(result)).toMatchObject({ verdict: 'accepted', verdict_message: 'found 321' });
    expect(only(result).interactor).toMatchObject({ exit_code: 42 });
    const wrong = only(await interactive(C_SOLUTION, PY_VALIDATOR, [game('5')], ['wrong']));
    expect(wrong).toMatchObject({ verdict: 'wrong_answer', verdict_message: '0 is not the secret' });
  });

  it('the validator\'s WA first wins over the solution\'s later TLE; the solution\'s TLE first wins over a later WA', async () => {
    const waFirst = only(await interactive(C_SOLUTION, PY_VALIDATOR, [game('5', { cpu_ms: 300 })], ['wrong-then-spin']));
    expect(waFirst.status).toBe('time_limit');
    expect(waFirst).toMatchObject({ verdict: 'wrong_answer', verdict_message: '0 is not the secret' });
    const tleFirst = only(await interactive(C_SOLUTION, PY_VALIDATOR, [game('5', { cpu_ms: 300 })], ['spin']));
    expect(tleFirst.interactor).toMatchObject({ exit_code: 43 });
    expect(tleFirst.verdict).toBe('time_limit');
  });

  it('an exit other than 42 or 43 is checker_error', async () => {
    const broken = only(await interactive(C_SOLUTION, { ...PY_VALIDATOR, files: [{ path: 'validator.py', content: Buffer.from('import sys\nprint("? 1", file=sys.stderr)\nsys.exit(0)\n') }] }, [game('5')]));
    expect(broken.verdict).toBe('checker_error');
  });
});

describe('interactive judging, the pipes as files', () => {
  it('each side may reopen /dev/stdin (its pipe is its uid\'s), with plain pipes and relayed', async () => {
    const validator = 'read -r n < "$1"; echo "$n"; read -r got < /dev/stdin; [ "$got" = "$((n * 2))" ] && exit 42; echo "got $got" > "$3/judgemessage.txt"; exit 43';
    const interactor: InteractorRequest = { language: 'bash', protocol: 'kattis', files: [{ path: 'interact.sh', content: Buffer.from(validator) }] };
    const solution = { language: 'bash', files: [{ path: 'main.sh', content: Buffer.from('read -r n < /dev/stdin; echo $((n * 2))') }] };
    for (const transcript of [undefined, 100]) {
      const result = await interactive(solution, { ...interactor, transcript_bytes: transcript }, [game('21\n')]);
      expect({ transcript, verdict: only(result).verdict, message: only(result).verdict_message }).toEqual({ transcript, verdict: 'accepted', message: null });
    }
  });
});

describe('interactive requests and verdict rules', () => {
  const schema = jobRequestSchema({ limits: config.limits, languages: LANGUAGES.map((l) => l.id) });
  const interactor = { language: 'c', protocol: 'testlib', files: [{ path: 'i.c', content: 'int main(){}' }] };
  const base = { language: 'c', files: [{ path: 'main.c', content: 'int main(){}' }], tests: [{ stdin: '5', expected_stdout: '' }] };

  it('validates the interactor: needs tests, a protocol, no checker or comparison beside it, reserved names', () => {
    const paths = (body: unknown) => (schema.safeParse(body).error?.issues ?? []).map((issue) => issue.path.join('.'));
    expect(schema.safeParse({ ...base, interactor }).success).toBe(true);
    expect(paths({ language: 'c', files: base.files, interactor })).toContain('interactor');
    expect(paths({ ...base, interactor: { ...interactor, protocol: 'icpc' } })).toContain('interactor.protocol');
    expect(paths({ ...base, interactor: { ...interactor, protocol: undefined } })).toContain('interactor.protocol');
    // A checker goes with a testlib interactor (it reads the interactor's output file), never with a kattis one.
    expect(schema.safeParse({ ...base, interactor, checker: { language: 'c', files: interactor.files } }).success).toBe(true);
    expect(paths({ ...base, interactor: { ...interactor, protocol: 'kattis' }, checker: { language: 'c', files: interactor.files } })).toContain('checker');
    expect(paths({ ...base, interactor, comparison: { mode: 'exact' } })).toContain('comparison');
    expect(paths({ ...base, interactor: { ...interactor, files: [...interactor.files, { path: 'judge_input.txt', content: '' }] } })).toContain('interactor.files.1.path');
    expect(paths({ ...base, interactor: { ...interactor, transcript_bytes: 1 << 30 } })).toContain('interactor.transcript_bytes');
  });

  const run = (status: RunResult['status'], extra: Partial<RunResult> = {}): RunResult => ({
    status, exit_code: status === 'ok' ? 0 : null, signal: null, stdout: '', stderr: '', stdout_truncated: false, stderr_truncated: false,
    cpu_ms: 0, wall_ms: 0, memory_peak_bytes: 0, oom_killed: false, message: null, error_code: null, ...extra,
  });

  it('testlib points (exit 7) are accepted with the points; unexpected EOF (8) is wrong_answer', () => {
    expect(interactorJudgement(run('nonzero_exit', { exit_code: 7, stderr: 'points 12.5 partial\n' }), 'testlib', false)).toEqual({ kind: 'verdict', verdict: 'accepted', points: 12.5 });
    expect(interactorJudgement(run('nonzero_exit', { exit_code: 8 }), 'testlib', false)).toMatchObject({ verdict: 'wrong_answer' });
    expect(interactorJudgement(run('nonzero_exit', { exit_code: 141 }), 'kattis', false)).toMatchObject({ verdict: 'wrong_answer' });
  });

  it('the interactor\'s own limit is checker_error even when the solution failed too', () => {
    const outcome = interactiveVerdict({ solution: run('time_limit'), interactor: run('memory_limit'), protocol: 'testlib', interactorFirst: true, interactorStopped: false, message: null });
    expect(outcome.verdict).toBe('checker_error');
  });
});
