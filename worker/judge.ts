/**
 * Judging: one compile, then one run per test, each in fresh namespaces with
 * a fresh /tmp and the compiled workspace read-only (so no test can leave
 * anything for the next), each test's output compared with its expected
 * output, or handed to a custom checker.
 *
 * The checker is compiled once (through the compile cache too) in its own
 * workspace; for each test the worker writes the test's input, expected
 * output and the contestant's output into that workspace as
 * judge_input.txt, judge_answer.txt and judge_output.txt and runs the checker
 * with /box read-only and those three names as arguments (testlib's order:
 * input, output, answer). Exit 0 = accepted, 1 = wrong answer, anything else
 * = checker_error; its stdout (else stderr) is the test's message.
 * A checker of the `kattis` protocol (an ICPC/Kattis output validator) is
 * run as `validator input answer feedback_dir/ < output` by a small shell
 * wrapper in the same sandbox, which makes the feedback directory in the
 * checker's own /tmp and prints its judgemessage.txt as the checker's stdout
 * (the validator's own output goes to stderr); exit 42 = accepted, 43 =
 * wrong answer, anything else = checker_error.
 * With a testlib interactor (interactive.ts), the checker runs on each test
 * the interactor accepted, the interactor's output file as judge_output.txt.
 */
import { unlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CHECKER_FILES, KATTIS_FEEDBACK_DIR, type CheckerProtocol } from '../contract/job-request.js';
import type { JobResult } from '../contract/job-record.js';
import type { TestResult } from '../contract/judged-result.js';
import type { CompileResult, RunResult } from '../contract/run-result.js';
import { compareOutput } from '../judge/compare.js';
import { checkerVerdict, countVerdicts, overallVerdict, runVerdict, type TestVerdict } from '../judge/verdicts.js';
import { sandboxError } from '../sandbox/sandbox.js';
import { resolveLimits, LIMIT_TABLE, type Limits } from '../sandbox/limits.js';
import type { Workspace } from '../sandbox/workspace.js';
import type { SeccompProfileName } from '../sandbox/seccomp-policy.js';
import { compileInto, compileProgram } from './compile.js';
import { interactiveTestResult, interactorCompileFailed, InteractorWorkspace, kattisWithFlags, type SolutionSpec } from './interactive.js';
import { plan, runArgv, type JobContext, type Plan } from './plan.js';
import type { CheckerRequest, JobRequest, JudgeTest } from './request.js';

export type { TestResult };

/** Stdout and stderr kept per test in the result (1,000 tests of full output would not fit a job record). */
const KEPT_OUTPUT_BYTES = 16 * 1024;

interface Judged {
  tests: TestResult[];
  verdicts: TestVerdict[];
}

export async function judge(context: JobContext, request: JobRequest, steps: Plan): Promise<JobResult> {
  const table = context.table ?? LIMIT_TABLE;
  const language = steps.language!;
  const tests = request.tests!;
  const testLimits = tests.map((test) => resolveLimits({ ...request.limits, ...test.limits }, { table, extra: language.runLimits }));
  const boxBytes = Math.max(steps.compile?.limits.workspace_bytes ?? 0, ...testLimits.map((limits) => limits.workspace_bytes));
  const workspace = await context.sandbox.createWorkspace(context.slot, boxBytes);
  let checker: CheckerWorkspace | undefined;
  let interactor: InteractorWorkspace | undefined;
  try {
    let compile: CompileResult | undefined;
    if (!steps.compile) workspace.writeFiles(request.files ?? []);
    else {
      compile = await compileInto({ sandbox: context.sandbox, slot: context.slot, workspace, cache: context.compileCache, language: language.id, files: request.files ?? [], env: steps.env, signal: context.signal, seccompProfile: steps.seccompProfile, ...steps.compile });
      await context.onStep?.('compile', compile);
      if (compile.status !== 'ok' || context.signal?.aborted) {
        const failed = compile.status !== 'ok' && compile.status !== 'sandbox_error' && compile.status !== 'cancelled';
        return { compile, run: null, tests: [], ...(failed ? { verdict: 'compile_error' as const } : {}), counts: countVerdicts(tests.length, []) };
      }
    }
    if (request.checker) {
      checker = await CheckerWorkspace.prepare(context, request.checker, tests, testLimits);
      if (checker.compile && checker.compile.status !== 'ok') {
        const result = { compile, run: null, tests: [], checker_compile: checker.compile, counts: countVerdicts(tests.length, []) };
        return checker.compile.status === 'sandbox_error' || checker.compile.status === 'cancelled' ? result : { ...result, verdict: 'checker_error' };
      }
    }
    if (request.interactor) {
      interactor = await InteractorWorkspace.prepare(context, request.interactor, tests);
      if (interactor.compile && interactor.compile.status !== 'ok') return interactorCompileFailed(compile, interactor.compile, tests.length);
    }
    const judged = await runTests(context, request, steps, workspace, testLimits, checker, interactor);
    return {
      ...(compile ? { compile } : {}),
      run: null,
      tests: judged.tests,
      verdict: overallVerdict(judged.verdicts),
      counts: countVerdicts(tests.length, judged.verdicts),
      ...(checker?.compile ? { checker_compile: checker.compile } : {}),
      ...(interactor?.compile ? { interactor_compile: interactor.compile } : {}),
    };
  } finally {
    // All go, even when the first cannot: a failure is reported after the others are removed.
    const removed = await Promise.allSettled([checker?.workspace.remove(), interactor?.workspace.remove(), workspace.remove()]);
    const failure = removed.find((outcome) => outcome.status === 'rejected');
    if (failure) throw failure.reason;
  }
}

/** One sandbox run per test (fresh namespaces and /tmp, /box read-only), each judged before the next starts. */
async function runTests(context: JobContext, request: JobRequest, steps: Plan, workspace: Workspace, testLimits: Limits[], checker: CheckerWorkspace | undefined, interactor?: InteractorWorkspace): Promise<Judged> {
  const tests = request.tests!;
  const judged: Judged = { tests: [], verdicts: [] };
  for (let index = 0; index < tests.length && !context.signal?.aborted; index++) {
    const test = await loadTest(tests[index]);
    const spec = {
      slot: context.slot,
      workspace,
      env: steps.env,
      signal: context.signal,
      argv: runArgv(steps.language!, request, testLimits[index]),
      limits: testLimits[index],
      boxWritable: false,
      seccompProfile: steps.seccompProfile,
    };
    const result = interactor
      ? await judgeInteraction(interactor, checker, test, index, spec)
      : await judgeRun(await context.sandbox.run({ ...spec, stdin: test.stdin }), test, index, request, checker);
    // A run (or check) cut short by a cancel has nothing to say about the program.
    if (context.signal?.aborted) break;
    judged.tests.push(result);
    // runcell broke (or the job was cancelled): the job fails or ends cancelled, no verdict to give.
    if (result.status === 'sandbox_error' || result.checker?.status === 'sandbox_error' || result.interactor?.status === 'sandbox_error') break;
    judged.verdicts.push(result.verdict);
    await context.onTest?.(result, index, tests.length);
    if (request.stop_on_first_failure && result.verdict !== 'accepted') break;
  }
  return judged;
}

/** A stored problem's test with its bytes read from the problem cache (only now: one test in memory at a time). */
async function loadTest(test: JudgeTest): Promise<JudgeTest> {
  if (!test.files) return test;
  const [stdin, answer] = await Promise.all([readFile(test.files.input), readFile(test.files.answer, 'utf8')]);
  return { ...test, stdin, expected_stdout: answer };
}

/**
 * One interactive test; with a checker (testlib interactors: Codeforces' convention), a test the
 * interactor accepted goes on to the checker, given the interactor's output file as the contestant's
 * output: the checker's verdict is the test's.
 */
async function judgeInteraction(interactor: InteractorWorkspace, checker: CheckerWorkspace | undefined, test: JudgeTest, index: number, spec: SolutionSpec): Promise<TestResult> {
  const run = await interactor.interact(test, spec, checker ? spec.limits.output_bytes : undefined);
  const result = interactiveTestResult(run, test, index, keepOutput);
  if (!checker || run.outcome.verdict !== 'accepted') return result;
  if (!run.output || 'problem' in run.output) {
    return { ...result, verdict: 'checker_error', verdict_message: run.output && 'problem' in run.output ? run.output.problem : "the interactor's output file was not taken" };
  }
  const checked = await checker.check(test, index, run.output.content);
  return { ...result, ...checkedVerdict(checked, checker.protocol), checker: keepOutput(checked) };
}

/** A checker's run as the test's verdict and message (a failed checker is the judge's fault, never the contestant's). */
function checkedVerdict(checked: RunResult, protocol: CheckerProtocol): Pick<TestResult, 'verdict' | 'verdict_message'> {
  const verdict = checkerVerdict(checked, protocol);
  const message = checked.stdout.trim() || checked.stderr.trim() || checked.message;
  if (verdict === 'sandbox_error' || verdict === 'checker_error') {
    return { verdict: 'checker_error', verdict_message: `checker failed (${checked.status}${checked.exit_code !== null ? ` ${checked.exit_code}` : ''}): ${message ?? ''}` };
  }
  return { verdict, verdict_message: message || null };
}

async function judgeRun(run: RunResult, test: JudgeTest, index: number, request: JobRequest, checker: CheckerWorkspace | undefined): Promise<TestResult> {
  const id = test.id ?? String(index + 1);
  const kept = keepOutput(run);
  const first = runVerdict(run);
  if (first === 'sandbox_error' || first === 'cancelled') return { ...kept, id, verdict: 'runtime_error', verdict_message: run.message };
  if (first !== 'output_pending') return { ...kept, id, verdict: first, verdict_message: run.message };
  if (!checker) {
    const outcome = compareOutput(test.expected_stdout, run.stdout, request.comparison);
    return { ...kept, id, verdict: outcome.accepted ? 'accepted' : 'wrong_answer', verdict_message: outcome.message ?? null };
  }
  const checked = await checker.check(test, index, run.stdout);
  return { ...kept, id, ...checkedVerdict(checked, checker.protocol), checker: keepOutput(checked) };
}

/** Cuts stdout and stderr to KEPT_OUTPUT_BYTES (and says so in *_truncated). */
function keepOutput(run: RunResult): RunResult {
  const cut = (text: string) => (Buffer.byteLength(text) > KEPT_OUTPUT_BYTES ? Buffer.from(text).subarray(0, KEPT_OUTPUT_BYTES).toString('utf8') : text);
  const stdout = cut(run.stdout);
  const stderr = cut(run.stderr);
  return { ...run, stdout, stderr, stdout_truncated: run.stdout_truncated || stdout !== run.stdout, stderr_truncated: run.stderr_truncated || stderr !== run.stderr };
}

/** A checker reads three files and writes a message: it never needs a socket. */
const CHECKER_SECCOMP_PROFILE: SeccompProfileName = 'judge';

/**
 * Runs a Kattis output validator (its argv, then input and answer): the
 * feedback directory made first, the contestant's output on stdin, the
 * validator's own output to stderr, then judgemessage.txt on stdout; the
 * validator's exit status is the wrapper's.
 */
const KATTIS_WRAPPER = [
  `mkdir -p ${KATTIS_FEEDBACK_DIR} || exit 125`,
  `"$@" ${KATTIS_FEEDBACK_DIR} < ${CHECKER_FILES.output} >&2`,
  'status=$?',
  `cat ${KATTIS_FEEDBACK_DIR}judgemessage.txt 2>/dev/null`,
  'exit $status',
].join('\n');

/**
 * The same with validator flags: $1 is how many of the following words are
 * the validator's argv (with input and answer); the rest are the flags, put
 * after the feedback directory as Kattis does.
 */
const KATTIS_WRAPPER_WITH_FLAGS = [
  ...kattisWithFlags(`"$@" < ${CHECKER_FILES.output} >&2`),
  'status=$?',
  `cat ${KATTIS_FEEDBACK_DIR}judgemessage.txt 2>/dev/null`,
  'exit $status',
].join('\n');

/** The checker's command line under its protocol. */
function checkerArgv(protocol: CheckerProtocol, argv: string[], args: string[] = []): string[] {
  if (protocol === 'kattis') {
    // Flags go after the feedback directory: the wrapper is told how many words come before them.
    if (args.length === 0) return ['/bin/sh', '-c', KATTIS_WRAPPER, 'kattis-validator', ...argv, CHECKER_FILES.input, CHECKER_FILES.answer];
    return ['/bin/sh', '-c', KATTIS_WRAPPER_WITH_FLAGS, 'kattis-validator', String(argv.length + 2), ...argv, CHECKER_FILES.input, CHECKER_FILES.answer, ...args];
  }
  return [...argv, CHECKER_FILES.input, CHECKER_FILES.output, CHECKER_FILES.answer, ...args];
}

/** The checker's own workspace: compiled once, then the three files of each test written in, checked, removed. */
class CheckerWorkspace {
  private constructor(
    private readonly context: JobContext,
    readonly workspace: Workspace,
    private readonly run: { argv: string[]; limits: Limits },
    private readonly steps: Pick<Plan, 'env' | 'seccompProfile'>,
    readonly protocol: CheckerProtocol,
    readonly compile?: CompileResult,
  ) {}

  static async prepare(context: JobContext, request: CheckerRequest, tests: JudgeTest[], testLimits: Limits[]): Promise<CheckerWorkspace> {
    // The checker is a language job of its own (limits, commands, env, installed check), under the judge profile.
    const steps = plan(
      { language: request.language, files: request.files, limits: request.limits, compile_limits: request.compile_limits, seccomp_profile: CHECKER_SECCOMP_PROFILE },
      context.table ?? LIMIT_TABLE,
      context.installed,
    );
    // Room for the program and the largest test's three files.
    const testBytes = (test: JudgeTest) => (test.files ? test.files.inputBytes + test.files.answerBytes : (test.stdin?.length ?? 0) + Buffer.byteLength(test.expected_stdout));
    const largestTest = Math.max(...tests.map((test, i) => testBytes(test) + testLimits[i].output_bytes));
    const workspace = await context.sandbox.createWorkspace(context.slot, Math.max(steps.run.limits.workspace_bytes, steps.compile?.limits.workspace_bytes ?? 0) + largestTest);
    const protocol = request.protocol ?? 'testlib';
    const run = { ...steps.run, argv: checkerArgv(protocol, steps.run.argv, request.args) };
    try {
      if (!steps.compile) {
        workspace.writeFiles(request.files);
        return new CheckerWorkspace(context, workspace, run, steps, protocol);
      }
      const compile = await compileProgram(context, context.slot, workspace, request, steps);
      await context.onStep?.('checker_compile', compile);
      return new CheckerWorkspace(context, workspace, run, steps, protocol, compile);
    } catch (error) {
      await workspace.remove();
      throw error;
    }
  }

  async check(test: JudgeTest, index: number, output: string | Buffer): Promise<RunResult> {
    const files = [
      { path: CHECKER_FILES.input, content: test.stdin ?? Buffer.alloc(0) },
      { path: CHECKER_FILES.output, content: typeof output === 'string' ? Buffer.from(output) : output },
      { path: CHECKER_FILES.answer, content: Buffer.from(test.expected_stdout) },
    ];
    try {
      // O_EXCL | O_NOFOLLOW: a name the checker's compile planted makes this throw, never follows it.
      this.workspace.writeFiles(files);
      return await this.context.sandbox.run({
        slot: this.context.slot,
        workspace: this.workspace,
        env: this.steps.env,
        signal: this.context.signal,
        argv: this.run.argv,
        limits: this.run.limits,
        boxWritable: false,
        seccompProfile: this.steps.seccompProfile,
      });
    } catch (error) {
      // Not runcell's failure (the checker's compile planted the name): a checker that did not run, so checker_error.
      return { ...sandboxError('checker_files_failed', `cannot prepare the checker's files for test ${index + 1}: ${(error as Error).message}`), status: 'nonzero_exit' };
    } finally {
      // unlink does not follow a link in the last component; the box itself is our mount point.
      for (const file of files) {
        try {
          unlinkSync(join(this.workspace.boxPath, file.path));
        } catch {
          /* not written */
        }
      }
    }
  }
}

/** The first run of a result that broke in runcell's hands (the job then fails), if any. */
export function brokenRun(result: JobResult): RunResult | undefined {
  const runs = [result.compile, result.checker_compile, result.interactor_compile, result.run, ...(result.steps ?? []), ...(result.tests ?? []).flatMap((test) => [test, test.checker, test.interactor])];
  return runs.find((run) => run?.status === 'sandbox_error') ?? undefined;
}
