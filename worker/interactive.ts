/**
 * Interactive problems: per test, the solution and the interactor run at the
 * same time in two sandboxes (the job's slot, and its companion: another
 * uid, cgroup, workspace and set of namespaces), joined by two pipes, the
 * solution's stdout to the interactor's stdin and the interactor's stdout to
 * the solution's stdin; nothing else is shared. Each run's CPU, memory and
 * limits are its own: the interactor's never count against the solution.
 *
 * The interactor is compiled once (through the compile cache) in its own
 * workspace; for each test the worker writes the test's stdin and
 * expected_stdout there as judge_input.txt and judge_answer.txt, and runs it
 * under its protocol (contract/job-request.ts INTERACTOR_PROTOCOLS). The
 * verdict follows judge/interactive.ts.
 *
 * Ends: the worker holds a copy of every pipe end until the run that uses it
 * has ended (a caller's fd must outlive the spawn), then closes it, so that
 * the other side sees end of file (or SIGPIPE) once a side has gone. Both
 * blocked on each other is ended by the solution's wall limit (the
 * interactor's is raised above it); once the solution has failed, the
 * interactor gets INTERACTOR_GRACE_MS to finish, then is stopped.
 *
 * A testlib interactor's output file (/tmp/judge_output.txt, its own /tmp) is
 * taken after its run when a checker follows (Codeforces' convention; see
 * judge.ts): read without following links, capped, before /tmp goes.
 *
 * With interactor.transcript_bytes the pipes go through the worker instead
 * (four pipes and a relay, as DOMjudge's runpipe and go-judge's proxy do),
 * which records both directions up to the cap.
 */
import { closeSync, fchownSync, unlinkSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { INTERACTOR_FILES, INTERACTOR_OUTPUT_FILE, INTERACTOR_WALL_MARGIN_MS, KATTIS_FEEDBACK_DIR, type InteractorProtocol } from '../contract/job-request.js';
import type { JobResult } from '../contract/job-record.js';
import type { TestResult, TranscriptEntry } from '../contract/judged-result.js';
import { countVerdicts } from '../judge/verdicts.js';
import type { CompileResult, RunResult } from '../contract/run-result.js';
import { interactiveVerdict, solutionFailed, type InteractiveOutcome } from '../judge/interactive.js';
import { pipe } from '../sandbox/libc.js';
import { selectFilesBeneath } from '../sandbox/safe-fs.js';
import { LIMIT_TABLE, type Limits } from '../sandbox/limits.js';
import type { RunSpec } from '../sandbox/sandbox.js';
import type { SeccompProfileName } from '../sandbox/seccomp-policy.js';
import type { Slot } from '../sandbox/slots.js';
import type { Workspace } from '../sandbox/workspace.js';
import { compileProgram } from './compile.js';
import { plan, type JobContext } from './plan.js';
import type { InteractorRequest, JudgeTest } from './request.js';

/** How long an interactor may go on once the solution has failed (it normally sees end of file at once). */
export const INTERACTOR_GRACE_MS = 1000;
/** An interactor reads files and pipes: it never needs a socket. */
const INTERACTOR_SECCOMP_PROFILE: SeccompProfileName = 'judge';
/** Precedes judgemessage.txt on the kattis wrapper's stderr (after the validator's own stderr). */
export const JUDGE_MESSAGE_MARK = '--- runcell: judgemessage.txt ---';

/** The wrapper's end, once the validator has exited: the pipes closed, judgemessage.txt after the mark, its status. */
const KATTIS_INTERACTOR_END = [
  'status=$?',
  'exec 0<&- 1>&-',
  `if [ -s ${KATTIS_FEEDBACK_DIR}judgemessage.txt ]; then printf '\\n%s\\n' '${JUDGE_MESSAGE_MARK}' >&2; cat ${KATTIS_FEEDBACK_DIR}judgemessage.txt >&2; fi`,
  'exit $status',
];

/**
 * Runs a Kattis validator as an interactor: the feedback directory made first, the validator's stdin and
 * stdout the pipes; once it has exited the pipes are closed (the solution sees the end at once), and
 * judgemessage.txt follows the mark on stderr. The exit status is the validator's (a signal: 128 + n).
 */
const KATTIS_INTERACTOR_WRAPPER = [
  `mkdir -p ${KATTIS_FEEDBACK_DIR} || exit 125`,
  `"$@" ${KATTIS_FEEDBACK_DIR}`,
  ...KATTIS_INTERACTOR_END,
].join('\n');

/**
 * The same with validator_flags: $1 is how many of the following words are the validator's argv (with
 * input and answer); the rest are the flags, put after the feedback directory as Kattis does.
 */
const KATTIS_INTERACTOR_WRAPPER_WITH_FLAGS = [...kattisWithFlags('"$@"'), ...KATTIS_INTERACTOR_END].join('\n');

/**
 * Shell lines that make the feedback directory, put it between the validator's argv and its flags
 * ($1 says how many of the following words are the argv), then run `command` ("$@" with redirections).
 * Shared by output validators (worker/judge.ts) and interactors.
 */
export function kattisWithFlags(command: string): string[] {
  return [
    `mkdir -p ${KATTIS_FEEDBACK_DIR} || exit 125`,
    'n=$1; shift; m=$#; i=0',
    'for word in "$@"; do',
    `  [ $i -eq $n ] && set -- "$@" ${KATTIS_FEEDBACK_DIR}`,
    '  set -- "$@" "$word"; i=$((i+1))',
    'done',
    'shift $m',
    command,
  ];
}

/** The interactor's command line under its protocol (`args`: kattis validator_flags, after the feedback directory). */
export function interactorArgv(protocol: InteractorProtocol, argv: string[], args: string[] = []): string[] {
  if (protocol === 'kattis') {
    const files = [INTERACTOR_FILES.input, INTERACTOR_FILES.answer];
    if (args.length === 0) return ['/bin/sh', '-c', KATTIS_INTERACTOR_WRAPPER, 'kattis-interactor', ...argv, ...files];
    return ['/bin/sh', '-c', KATTIS_INTERACTOR_WRAPPER_WITH_FLAGS, 'kattis-interactor', String(argv.length + files.length), ...argv, ...files, ...args];
  }
  return [...argv, INTERACTOR_FILES.input, INTERACTOR_OUTPUT_FILE, INTERACTOR_FILES.answer];
}

/** What one interactive test gave: both runs, the verdict, the transcript if kept. */
export interface InteractiveRun {
  solution: RunResult;
  interactor: RunResult;
  outcome: InteractiveOutcome;
  transcript?: { entries: TranscriptEntry[]; truncated: boolean };
  /** testlib, when a checker follows: what the interactor left in its output file, or why it cannot be read. */
  output?: InteractorOutput;
}

/** The interactor's output file: its bytes (none written: empty), or what was wrong with it. */
export type InteractorOutput = { content: Buffer } | { problem: string };

/**
 * Takes the testlib interactor's output file from its /tmp once it has gone: a regular file of at most
 * `maxBytes`, never through a link (the interactor made that tree), else the problem with it.
 */
export function readInteractorOutput(tmpPath: string, maxBytes: number): InteractorOutput {
  const name = INTERACTOR_OUTPUT_FILE.replace(/^\/tmp\//, '');
  let selected: ReturnType<typeof selectFilesBeneath>;
  try {
    selected = selectFilesBeneath(tmpPath, { wants: (path) => path === name, descend: () => false, maxFiles: 1, maxBytes, maxEntries: 10_000, maxDepth: 1 });
  } catch (error) {
    return { problem: `the interactor's output file ${INTERACTOR_OUTPUT_FILE} cannot be read: ${(error as Error).message}` };
  }
  const { files, rejected } = selected;
  const refused = rejected.find((entry) => entry.path === name);
  if (refused) return { problem: `the interactor's output file ${INTERACTOR_OUTPUT_FILE} cannot be given to the checker (${refused.kind}: ${refused.reason})` };
  return { content: files[0]?.content ?? Buffer.alloc(0) };
}

/** The solution's side of a test: what sandbox.run needs, without its stdin and stdout. */
export type SolutionSpec = Omit<RunSpec, 'stdin' | 'stdinFd' | 'stdoutFd'>;

/** The interactor's own workspace in the companion slot: compiled once, then each test's two files written in, run, removed. */
export class InteractorWorkspace {
  private constructor(
    private readonly context: JobContext,
    private readonly slot: Slot,
    readonly workspace: Workspace,
    private readonly run: { argv: string[]; limits: Limits; env?: Record<string, string> },
    private readonly request: InteractorRequest,
    readonly compile?: CompileResult,
  ) {}

  static async prepare(context: JobContext, request: InteractorRequest, tests: JudgeTest[]): Promise<InteractorWorkspace> {
    const slot = context.companion;
    if (!slot) throw new Error('an interactive job needs the slot\'s companion (JobContext.companion) for its interactor');
    const steps = plan(
      { language: request.language, files: request.files, limits: request.limits, compile_limits: request.compile_limits, seccomp_profile: INTERACTOR_SECCOMP_PROFILE },
      context.table ?? LIMIT_TABLE,
      context.installed,
    );
    // A stored problem's tests are files read only when the test runs: their sizes are known beforehand.
    const testBytes = (test: JudgeTest) => (test.files ? test.files.inputBytes + test.files.answerBytes : (test.stdin?.length ?? 0) + Buffer.byteLength(test.expected_stdout));
    const largestTest = Math.max(...tests.map(testBytes));
    const workspace = await context.sandbox.createWorkspace(slot, Math.max(steps.run.limits.workspace_bytes, steps.compile?.limits.workspace_bytes ?? 0) + largestTest);
    const run = { argv: interactorArgv(request.protocol, steps.run.argv, request.args), limits: steps.run.limits, env: steps.env };
    try {
      if (!steps.compile) {
        workspace.writeFiles(request.files);
        return new InteractorWorkspace(context, slot, workspace, run, request);
      }
      const compile = await compileProgram(context, slot, workspace, request, steps);
      await context.onStep?.('interactor_compile', compile);
      return new InteractorWorkspace(context, slot, workspace, run, request, compile);
    } catch (error) {
      await workspace.remove();
      throw error;
    }
  }

  /**
   * Runs one test: the test's files written in, both programs joined and run, the verdict, the files removed.
   * `outputBytes`: take the testlib interactor's output file (for a checker), up to that many bytes.
   */
  async interact(test: JudgeTest, solution: SolutionSpec, outputBytes?: number): Promise<InteractiveRun> {
    const files = [
      { path: INTERACTOR_FILES.input, content: test.stdin ?? Buffer.alloc(0) },
      { path: INTERACTOR_FILES.answer, content: Buffer.from(test.expected_stdout) },
    ];
    try {
      // O_EXCL | O_NOFOLLOW: a name the interactor's compile planted makes this throw, never follows it.
      this.workspace.writeFiles(files);
      return await this.runBoth(solution, outputBytes);
    } finally {
      for (const file of files) {
        try {
          unlinkSync(join(this.workspace.boxPath, file.path));
        } catch {
          /* not written */
        }
      }
    }
  }

  /** Its own limits, with the wall limit above the solution's: a deadlock is the solution's wall_time_limit. */
  private limitsBeside(solution: Limits): Limits {
    return { ...this.run.limits, wall_ms: Math.max(this.run.limits.wall_ms, solution.wall_ms + INTERACTOR_WALL_MARGIN_MS) };
  }

  private interactorSpec(channel: Channel, solutionLimits: Limits, signal: AbortSignal, onTmpLeft?: (tmpPath: string) => void): RunSpec {
    return {
      onTmpLeft,
      slot: this.slot,
      workspace: this.workspace,
      env: this.run.env,
      signal,
      argv: this.run.argv,
      limits: this.limitsBeside(solutionLimits),
      boxWritable: false,
      seccompProfile: INTERACTOR_SECCOMP_PROFILE,
      stdinFd: channel.interactor.stdin,
      stdoutFd: channel.interactor.stdout,
    };
  }

  private async runBoth(solution: SolutionSpec, outputBytes?: number): Promise<InteractiveRun> {
    const owners = { solution: solution.slot, interactor: this.slot };
    const channel = this.request.transcript_bytes ? new RelayedChannel(owners, this.request.transcript_bytes) : new DirectChannel(owners);
    const stopInteractor = new AbortController();
    const onCancel = () => stopInteractor.abort();
    this.context.signal?.addEventListener('abort', onCancel, { once: true });
    if (this.context.signal?.aborted) onCancel();
    let grace: NodeJS.Timeout | undefined;
    let stopped = false;
    let solutionEnd = Infinity;
    let interactorEnd = Infinity;
    let output: InteractorOutput | undefined;
    const takeOutput = outputBytes !== undefined && this.request.protocol === 'testlib' ? (tmp: string) => (output = readInteractorOutput(tmp, outputBytes)) : undefined;
    try {
      // Each side's ends close as soon as its run is over, whichever way: the other side then sees it gone.
      const solutionRun = this.context.sandbox
        .run({ ...solution, stdinFd: channel.solution.stdin, stdoutFd: channel.solution.stdout })
        .finally(() => {
          solutionEnd = performance.now();
          channel.solutionEnded();
        });
      solutionRun.then((run) => {
        if (solutionFailed(run)) {
          grace = setTimeout(() => {
            stopped = true;
            stopInteractor.abort();
          }, INTERACTOR_GRACE_MS);
        }
      }, () => undefined /* rethrown below */);
      const interactorRun = this.context.sandbox
        .run(this.interactorSpec(channel, solution.limits, stopInteractor.signal, takeOutput))
        .finally(() => {
          interactorEnd = performance.now();
          channel.interactorEnded();
        });
      // Both settled before the rest is closed: an fd closed while a run is still being launched could be
      // reused for another file and given to it.
      const [solutionSettled, interactorSettled] = await Promise.allSettled([solutionRun, interactorRun]);
      if (solutionSettled.status === 'rejected') throw solutionSettled.reason;
      if (interactorSettled.status === 'rejected') throw interactorSettled.reason;
      const [solutionResult, interactorResult] = [solutionSettled.value, interactorSettled.value];
      const protocol = this.request.protocol;
      const outcome = interactiveVerdict({
        solution: solutionResult,
        interactor: interactorResult,
        protocol,
        interactorFirst: interactorEnd < solutionEnd,
        interactorStopped: stopped && !this.context.signal?.aborted,
        message: interactorMessage(interactorResult, protocol),
      });
      return { solution: solutionResult, interactor: interactorResult, outcome, ...channel.transcript(), ...(output ? { output } : {}) };
    } finally {
      clearTimeout(grace);
      this.context.signal?.removeEventListener('abort', onCancel);
      channel.close();
    }
  }
}

/** A test's result: the solution's run (output cut by `keep`), the verdict, the interactor's run, points and transcript. */
export function interactiveTestResult(run: InteractiveRun, test: JudgeTest, index: number, keep: (run: RunResult) => RunResult): TestResult {
  const { outcome } = run;
  // runcell failed (or the job was cancelled): the job fails or ends, no verdict to give (the runs say which).
  const verdict = outcome.verdict === 'sandbox_error' || outcome.verdict === 'cancelled' ? 'runtime_error' : outcome.verdict;
  return {
    ...keep(run.solution),
    id: test.id ?? String(index + 1),
    verdict,
    verdict_message: outcome.message,
    interactor: keep(run.interactor),
    ...(outcome.points !== undefined ? { points: outcome.points } : {}),
    ...(run.transcript ? { transcript: run.transcript.entries, transcript_truncated: run.transcript.truncated } : {}),
  };
}

/** The interactor did not compile: the problem's fault (checker_error), unless runcell failed or the job was cancelled. */
export function interactorCompileFailed(compile: CompileResult | undefined, interactorCompile: CompileResult, total: number): JobResult {
  const result: JobResult = { ...(compile ? { compile } : {}), run: null, tests: [], interactor_compile: interactorCompile, counts: countVerdicts(total, []) };
  return interactorCompile.status === 'sandbox_error' || interactorCompile.status === 'cancelled' ? result : { ...result, verdict: 'checker_error' };
}

/** testlib writes its verdict message to stderr; a kattis validator to judgemessage.txt (after the mark), else stderr. */
export function interactorMessage(run: RunResult, protocol: InteractorProtocol): string | null {
  const stderr = run.stderr;
  const mark = protocol === 'kattis' ? stderr.lastIndexOf(`\n${JUDGE_MESSAGE_MARK}\n`) : -1;
  const text = mark >= 0 ? stderr.slice(mark + JUDGE_MESSAGE_MARK.length + 2) : stderr;
  return text.trim() || null;
}

/** The fds each side's sandbox gets, and when the worker's own copies close. */
interface Channel {
  solution: { stdin: number; stdout: number };
  interactor: { stdin: number; stdout: number };
  solutionEnded(): void;
  interactorEnded(): void;
  transcript(): { transcript?: { entries: TranscriptEntry[]; truncated: boolean } };
  /** Closes whatever is still open (safe to call twice). */
  close(): void;
}

/** Whose each side is: a pipe a program reopens (/dev/stdin is /proc/self/fd/0) must be its uid's, as its stdin memfd is. */
interface Owners {
  solution: Slot;
  interactor: Slot;
}

/** Gives a pipe (both its ends are one inode) to a slot's uid. */
function giveTo(slot: Slot, pipeEnds: { read: number; write: number }): void {
  fchownSync(pipeEnds.read, slot.uid, slot.gid);
}

/** Closes an fd once. */
class OwnedFd {
  constructor(readonly fd: number) {}
  private open = true;
  close(): void {
    if (!this.open) return;
    this.open = false;
    closeSync(this.fd);
  }
}

/** Two plain pipes: solution -> interactor, interactor -> solution. */
class DirectChannel implements Channel {
  private readonly toInteractor = pipe();
  private readonly toSolution = pipe();
  private readonly solutionEnds = [new OwnedFd(this.toSolution.read), new OwnedFd(this.toInteractor.write)];
  private readonly interactorEnds = [new OwnedFd(this.toInteractor.read), new OwnedFd(this.toSolution.write)];
  readonly solution = { stdin: this.toSolution.read, stdout: this.toInteractor.write };
  readonly interactor = { stdin: this.toInteractor.read, stdout: this.toSolution.write };

  /** Each pipe is its reader's: reopening /dev/stdin works on both sides (reopening /dev/stdout does not). */
  constructor(owners: Owners) {
    giveTo(owners.interactor, this.toInteractor);
    giveTo(owners.solution, this.toSolution);
  }

  solutionEnded(): void {
    for (const end of this.solutionEnds) end.close();
  }

  interactorEnded(): void {
    for (const end of this.interactorEnds) end.close();
  }

  transcript() {
    return {};
  }

  close(): void {
    this.solutionEnded();
    this.interactorEnded();
  }
}

/**
 * Four pipes and the worker in the middle: what each side writes is read
 * here, recorded (up to the cap) and written on; an end of file is passed
 * on as one, and a reader gone makes the relay stop reading its writer (who
 * then gets SIGPIPE, as with a plain pipe).
 */
class RelayedChannel implements Channel {
  private readonly fromSolution = pipe();
  private readonly toInteractor = pipe();
  private readonly fromInteractor = pipe();
  private readonly toSolution = pipe();
  private readonly solutionEnds = [new OwnedFd(this.toSolution.read), new OwnedFd(this.fromSolution.write)];
  private readonly interactorEnds = [new OwnedFd(this.toInteractor.read), new OwnedFd(this.fromInteractor.write)];
  readonly solution = { stdin: this.toSolution.read, stdout: this.fromSolution.write };
  readonly interactor = { stdin: this.toInteractor.read, stdout: this.fromInteractor.write };
  private readonly entries: TranscriptEntry[] = [];
  private kept = 0;
  private truncated = false;
  private readonly started = performance.now();
  private readonly sockets: Socket[] = [];

  constructor(owners: Owners, private readonly capBytes: number) {
    // Each side's two pipes are its own: it may reopen /dev/stdin and /dev/stdout.
    for (const pipeEnds of [this.fromSolution, this.toSolution]) giveTo(owners.solution, pipeEnds);
    for (const pipeEnds of [this.fromInteractor, this.toInteractor]) giveTo(owners.interactor, pipeEnds);
    this.relay(this.fromSolution.read, this.toInteractor.write, 'solution');
    this.relay(this.fromInteractor.read, this.toSolution.write, 'interactor');
  }

  private relay(readFd: number, writeFd: number, from: TranscriptEntry['from']): void {
    const source = new Socket({ fd: readFd, readable: true, writable: false });
    const sink = new Socket({ fd: writeFd, readable: false, writable: true });
    this.sockets.push(source, sink);
    source.on('data', (chunk: Buffer) => {
      this.record(from, chunk);
      if (!sink.write(chunk)) source.pause();
    });
    sink.on('drain', () => source.resume());
    source.on('end', () => sink.end());
    // The reader has gone (EPIPE): stop reading, so that the writer meets a pipe without a reader too.
    sink.on('error', () => source.destroy());
    source.on('error', () => sink.destroy());
  }

  private record(from: TranscriptEntry['from'], chunk: Buffer): void {
    if (this.truncated) return;
    const room = this.capBytes - this.kept;
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    if (part.length < chunk.length) this.truncated = true;
    if (part.length === 0) return;
    this.kept += part.length;
    const at = Math.round(performance.now() - this.started);
    const last = this.entries[this.entries.length - 1];
    // Consecutive pieces from the same side within a millisecond are one entry.
    if (last && last.from === from && last.at_ms === at) last.data += part.toString('utf8');
    else this.entries.push({ from, at_ms: at, data: part.toString('utf8') });
  }

  solutionEnded(): void {
    for (const end of this.solutionEnds) end.close();
  }

  interactorEnded(): void {
    for (const end of this.interactorEnds) end.close();
  }

  transcript() {
    return { transcript: { entries: this.entries, truncated: this.truncated } };
  }

  close(): void {
    this.solutionEnded();
    this.interactorEnded();
    for (const socket of this.sockets) socket.destroy();
  }
}
