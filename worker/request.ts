/**
 * The worker's form of a job request: the contract's submission with every
 * content decoded to bytes. Requests reach here validated (the API, the
 * worker's parse of every queued job and the CLI all use the contract's
 * schema), so nothing here checks them again.
 */
import { UNBOUNDED, jobRequestSchema, type CheckerProtocol, type InteractorProtocol, type Comparison, type Encoding, type JobSubmission, type NetworkMode, type RootMode, type RequestRules, type SeccompProfileName } from '../contract/job-request.js';
import type { RequestedLimits } from '../contract/limits.js';
import type { WorkspaceFile } from '../sandbox/workspace.js';

export interface JudgeTest {
  /** Shown in results and events. Default: the test's 1-based position. */
  id?: string;
  stdin?: Buffer;
  expected_stdout: string;
  /** Over the job's run limits, for this test. */
  limits?: RequestedLimits;
  /**
   * A stored problem's test: its input and answer are read from these local
   * files (worker/problem-cache.ts) only when the test runs, so a problem's
   * data is never all in memory; stdin and expected_stdout are then unset.
   */
  files?: { input: string; answer: string; inputBytes: number; answerBytes: number };
}

export interface CheckerRequest {
  /** Any catalog language; the first file is the entry point. */
  language: string;
  /** How it is run and what its exit means. Default testlib. */
  protocol?: CheckerProtocol;
  files: WorkspaceFile[];
  limits?: RequestedLimits;
  compile_limits?: RequestedLimits;
  /** Arguments after the protocol's own (a Kattis validator's validator_flags, after the feedback directory). */
  args?: string[];
}

export interface InteractorRequest {
  /** Any catalog language; the first file is the entry point. */
  language: string;
  protocol: InteractorProtocol;
  files: WorkspaceFile[];
  limits?: RequestedLimits;
  compile_limits?: RequestedLimits;
  /** Bytes of transcript kept per test; 0 or undefined: none (plain pipes, no relay). */
  transcript_bytes?: number;
  /** kattis only: arguments after the feedback directory (a stored problem's validator_flags). */
  args?: string[];
}

export interface JobStep {
  /** Shown in the result. Default: the step's 1-based position. */
  name?: string;
  command: string[];
  /** Over the job's limits, for this step. */
  limits?: RequestedLimits;
  /** Run the next steps even when this one does not end ok. Default false. */
  continue_on_failure?: boolean;
}

export interface JobRequest {
  /** A language id of the catalog; the first file is the entry point. */
  language?: string;
  /** Or a command (argv) run in /box, which is then writable. */
  command?: string[];
  files?: WorkspaceFile[];
  stdin?: Buffer;
  /** The run's stdin is a pipe fed while it runs (POST /v1/jobs/:id/stdin, through Redis); exclusive with stdin. */
  interactive_stdin?: boolean;
  /** Arguments appended to the run command. */
  args?: string[];
  /** Compiler options at the compile command's `{options}` (checked against the language's allow-list, rootfs/compiler-options.ts). */
  compile_args?: string[];
  env?: Record<string, string>;
  limits?: RequestedLimits;
  compile_limits?: RequestedLimits;
  /** The seccomp profile of every step; default: the language's, else "standard". */
  seccomp_profile?: SeccompProfileName;
  /** "egress": the run step (not a compile) gets outbound network through runcell's NAT. Default "none". */
  network?: NetworkMode;
  /** "writable": the run step (a command's or a language's run, each of steps; never a compile or a test) gets a copy-on-write /. Default "read-only". */
  root?: RootMode;
  /** An imported image (name or digest) to run the command or steps in, instead of the rootfs. */
  image?: string;
  /** Judging (see judge.ts): one compile, then one run per test instead of the single run. */
  tests?: JudgeTest[];
  /** How a test's stdout is compared with its expected output. Default trailing_whitespace. */
  comparison?: Comparison;
  /** A custom checker instead of the comparison. */
  checker?: CheckerRequest;
  /** Stop judging at the first test that is not accepted. Default false. */
  stop_on_first_failure?: boolean;
  /** An interactive problem's interactor (see interactive.ts): it, not a comparison, judges each test. */
  interactor?: InteractorRequest;
  /** Commands run one after another in one writable /box, instead of command or language. */
  steps?: JobStep[];
  /** Glob patterns (relative to /box) of the files handed back after the last run: command and steps jobs. */
  artifacts?: string[];
  /** Unpacked into /box before the first step (command and steps jobs). */
  archive?: { format: 'tar' | 'tar.gz' | 'zip'; content: Buffer };
}

function decode(text: string, encoding: Encoding = 'utf8'): Buffer {
  return Buffer.from(text, encoding === 'base64' ? 'base64' : 'utf8');
}

export function toJobRequest(submission: JobSubmission): JobRequest {
  return {
    language: submission.language,
    command: submission.command,
    files: (submission.files ?? []).map((file) => ({ path: file.path, content: decode(file.content, file.encoding) })),
    stdin: submission.stdin === undefined ? undefined : decode(submission.stdin, submission.stdin_encoding),
    ...(submission.interactive_stdin ? { interactive_stdin: true } : {}),
    args: submission.args,
    ...(submission.compile_args ? { compile_args: submission.compile_args } : {}),
    env: submission.env,
    limits: submission.limits,
    compile_limits: submission.compile_limits,
    seccomp_profile: submission.seccomp_profile,
    ...(submission.steps ? { steps: submission.steps } : {}),
    ...(submission.artifacts ? { artifacts: submission.artifacts } : {}),
    ...(submission.archive ? { archive: { format: submission.archive.format, content: decode(submission.archive.content, 'base64') } } : {}),
    ...(submission.network ? { network: submission.network } : {}),
    ...(submission.root ? { root: submission.root } : {}),
    ...(submission.image ? { image: submission.image } : {}),
    ...judgingRequest(submission),
  };
}

function judgingRequest(submission: JobSubmission): Partial<JobRequest> {
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
      ...(checker.protocol ? { protocol: checker.protocol } : {}),
      files: checker.files.map((file) => ({ path: file.path, content: decode(file.content, file.encoding) })),
      limits: checker.limits,
      compile_limits: checker.compile_limits,
    },
    stop_on_first_failure: submission.stop_on_first_failure,
    ...(submission.interactor ? { interactor: interactorRequest(submission.interactor) } : {}),
  };
}

function interactorRequest(interactor: NonNullable<JobSubmission['interactor']>): InteractorRequest {
  return {
    language: interactor.language,
    protocol: interactor.protocol,
    files: interactor.files.map((file) => ({ path: file.path, content: decode(file.content, file.encoding) })),
    limits: interactor.limits,
    compile_limits: interactor.compile_limits,
    transcript_bytes: interactor.transcript_bytes,
  };
}

const encode = (files: WorkspaceFile[]) => files.map((file) => ({ path: file.path, content: file.content.toString('base64'), encoding: 'base64' as const }));

/**
 * Checks a request built in-process (the CLI, tools) with the contract's
 * schema, through its wire form: the same rules as the API's (without its
 * admission bounds unless given). Answers the problems, or undefined.
 */
export function jobRequestProblem(request: JobRequest, rules: RequestRules): string | undefined {
  const wire = {
    ...request,
    files: request.files && encode(request.files),
    stdin: request.stdin?.toString('base64'),
    stdin_encoding: request.stdin ? 'base64' : undefined,
    tests: request.tests?.map((test) => ({ ...test, stdin: test.stdin?.toString('base64'), stdin_encoding: test.stdin ? 'base64' : undefined })),
    checker: request.checker && { ...request.checker, files: encode(request.checker.files) },
    archive: request.archive && { format: request.archive.format, content: request.archive.content.toString('base64') },
    interactor: request.interactor && { ...request.interactor, files: encode(request.interactor.files) },
  };
  const checked = jobRequestSchema({ bounds: UNBOUNDED, ...rules }).safeParse(JSON.parse(JSON.stringify(wire)));
  if (checked.success) return undefined;
  return checked.error.issues.map((issue) => `${issue.path.join('.') || 'request'}: ${issue.message}`).join('; ');
}
