/**
 * A job request (POST /v1/jobs): a command job, a language job, or a judged
 * language job (tests, comparison or checker). One set of rules, used by the
 * API on arrival, by the worker on every job it takes from the queue, and by
 * the CLI. Server configuration (limit ranges, bounds, the language ids) is
 * an argument.
 */
import { z } from 'zod';
import { artifactPatternsSchema } from './artifacts.js';
import { filePathProblem } from './file-path.js';
import { requestedLimitsSchema, type LimitRanges } from './limits.js';
import { problemIdSchema } from './problem.js';

export const SECCOMP_PROFILE_NAMES = ['standard', 'judge'] as const;
export type SeccompProfileName = (typeof SECCOMP_PROFILE_NAMES)[number];

/** A job's network: `none` (default: an empty namespace, loopback only) or `egress` (outbound through runcell's NAT, when the operator allows it). */
export const NETWORK_MODES = ['none', 'egress'] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];

/** A run's /: `read-only` (default: the image bound read-only) or `writable` (a copy-on-write overlay per run whose writes vanish with it). */
export const ROOT_MODES = ['read-only', 'writable'] as const;
export type RootMode = (typeof ROOT_MODES)[number];

/** Who may ask for egress (RUNCELL_NETWORK_EGRESS): nobody, every client, or the clients of some API keys. */
export type EgressPolicy = { allow: 'none' } | { allow: 'all' } | { allow: 'keys'; keys: string[] };

export const COMPARISON_MODES = ['exact', 'trailing_whitespace', 'tokens', 'float'] as const;
export type ComparisonMode = (typeof COMPARISON_MODES)[number];
/** The modes that compare words, where case_sensitive applies. */
export const TOKEN_MODES: readonly ComparisonMode[] = ['tokens', 'float'];

/** A checker runs as `<checker> input output answer` (testlib's order) with these files beside it. */
export const CHECKER_FILES = { input: 'judge_input.txt', output: 'judge_output.txt', answer: 'judge_answer.txt' } as const;
export const MAX_TESTS = 1000;
/**
 * How a checker is run and what its exit means: `testlib` (Codeforces'
 * testlib: `<checker> input output answer`, exit 0 accepted, 1 wrong answer)
 * or `kattis` (the ICPC/Kattis output validator, also DOMjudge's:
 * `<validator> input answer feedback_dir/ < output`, exit 42 accepted, 43
 * wrong answer, its message in feedback_dir/judgemessage.txt).
 */
export const CHECKER_PROTOCOLS = ['testlib', 'kattis'] as const;
export type CheckerProtocol = (typeof CHECKER_PROTOCOLS)[number];
/** The Kattis validator's feedback directory: in the checker's own /tmp, given with its trailing slash as Kattis does. */
export const KATTIS_FEEDBACK_DIR = '/tmp/feedback/';

/**
 * How an interactor is run and what its exit means: `testlib` (Codeforces:
 * `<interactor> input output answer`, exit 0 OK, 1 WA, 2 PE, 3 FAIL, 7
 * points) or `kattis` (ICPC/Kattis/DOMjudge: `<validator> input answer
 * feedback_dir/`, exit 42 accepted, 43 wrong answer). Either way its stdin is
 * the solution's stdout and its stdout the solution's stdin.
 */
export const INTERACTOR_PROTOCOLS = ['testlib', 'kattis'] as const;
export type InteractorProtocol = (typeof INTERACTOR_PROTOCOLS)[number];
/** The interactor's own workspace holds the test's input and answer under these names (reserved in its files). */
export const INTERACTOR_FILES = { input: CHECKER_FILES.input, answer: CHECKER_FILES.answer } as const;
/** testlib's output file (what the interactor writes for a checker): in the interactor's own /tmp. */
export const INTERACTOR_OUTPUT_FILE = '/tmp/judge_output.txt';
/** The interactor's wall limit is at least the solution's plus this: a deadlock ends at the solution's wall limit. */
export const INTERACTOR_WALL_MARGIN_MS = 1000;
/** Most bytes of transcript one test keeps (both directions together). */
export const MAX_TRANSCRIPT_BYTES = 64 * 1024;

export interface RequestBounds {
  /** Files in one job. Default 64. */
  maxFiles: number;
  /** Elements of command and of args, each. Default 256. */
  maxArgs: number;
  /** Characters of one argument, and of one environment value. Default 4096. */
  maxArgLength: number;
  /** Environment variables. Default 64. */
  maxEnv: number;
  /** Jobs in one batch. Default 100. */
  maxBatch: number;
  /** Tests in one judged job. Default 1000. */
  maxTests: number;
  /** Bytes of all tests' stdin and expected_stdout together (decoded). Default 8 MiB. */
  maxTestsBytes: number;
  /** Wall limits of all the tests of one judged job together, in ms. Default 2 hours (1,000 tests at the default 5 s fit). */
  maxJudgedWallMs: number;
  /** Bytes (UTF-8) of command, args and env together. Default 1 MiB: execve takes about 2 MiB in all. */
  maxArgvBytes: number;
  /** Steps in one job. Default 32. */
  maxSteps: number;
}

export const DEFAULT_BOUNDS: RequestBounds = {
  maxFiles: 64,
  maxArgs: 256,
  maxArgLength: 4096,
  maxEnv: 64,
  maxBatch: 100,
  maxTests: MAX_TESTS,
  maxTestsBytes: 8 * 1024 * 1024,
  maxJudgedWallMs: 2 * 3600 * 1000,
  maxArgvBytes: 1024 * 1024,
  maxSteps: 32,
};

/** No count or size bounds: for a reader (the worker) that checks the shape and leaves admission to the API. */
export const UNBOUNDED: RequestBounds = {
  maxFiles: Infinity,
  maxArgs: Infinity,
  maxArgLength: Infinity,
  maxEnv: Infinity,
  maxBatch: Infinity,
  maxTests: Infinity,
  maxTestsBytes: Infinity,
  maxJudgedWallMs: Infinity,
  maxArgvBytes: Infinity,
  maxSteps: Infinity,
};

export interface RequestRules {
  /** The server's limit table (ranges and defaults). */
  limits: LimitRanges;
  /** The language ids of the catalog. */
  languages: readonly string[];
  bounds?: RequestBounds;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FIXED_ENV_NAMES = ['PATH', 'HOME', 'LANG'];

const encoding = z.enum(['utf8', 'base64']).default('utf8');
export type Encoding = 'utf8' | 'base64';

/** What command, args and env weigh in an execve: each string and its NUL (env as NAME=value). */
function argvBytes(job: { command?: string[]; args?: string[]; env?: Record<string, string> }): number {
  const strings = [...(job.command ?? []), ...(job.args ?? []), ...Object.entries(job.env ?? {}).map(([name, value]) => `${name}=${value}`)];
  return strings.reduce((total, s) => total + Buffer.byteLength(s) + 1, 0);
}

function parts(rules: RequestRules, bounds: RequestBounds) {
  const limits = requestedLimitsSchema(rules.limits);
  const argument = z.string().max(bounds.maxArgLength, `an argument is longer than ${bounds.maxArgLength} characters`).refine((s) => !s.includes('\0'), 'an argument contains a NUL byte');
  const file = z.strictObject({
    path: z.string().superRefine((path, ctx) => {
      const problem = filePathProblem(path);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    content: z.string(),
    encoding,
  });
  const test = z.strictObject({
    id: z.string().min(1).max(64, 'a test id is at most 64 characters').optional().describe('shown in results and events; default the 1-based position'),
    stdin: z.string().optional(),
    stdin_encoding: encoding,
    expected_stdout: z.string(),
    limits: limits.optional().describe("this test's run limits, over the job's"),
  });
  const comparison = z.strictObject({
    mode: z.enum(COMPARISON_MODES).describe('trailing_whitespace (default) ignores trailing blanks on each line and trailing blank lines'),
    absolute: z.number().nonnegative().optional().describe('float mode: absolute tolerance, default 1e-6'),
    relative: z.number().nonnegative().optional().describe('float mode: relative tolerance, default 1e-6'),
    case_sensitive: z.boolean().optional().describe('tokens and float modes: false compares words ignoring case (as DOMjudge and Kattis judges may); default true'),
  });
  const checker = z.strictObject({
    language: z.string().describe('a language id; the first file is the entry point'),
    protocol: z
      .enum(CHECKER_PROTOCOLS, { error: () => `checker.protocol must be one of ${CHECKER_PROTOCOLS.join(', ')}` })
      .optional()
      .describe(`testlib (default): <checker> ${CHECKER_FILES.input} ${CHECKER_FILES.output} ${CHECKER_FILES.answer}, exit 0 accepted, 1 wrong answer; kattis: <validator> ${CHECKER_FILES.input} ${CHECKER_FILES.answer} ${KATTIS_FEEDBACK_DIR} < ${CHECKER_FILES.output}, exit 42 accepted, 43 wrong answer, message in judgemessage.txt; anything else is checker_error`),
    files: z.array(file).min(1, 'the checker needs at least one file').max(bounds.maxFiles, `at most ${bounds.maxFiles} files`),
    limits: limits.optional(),
    compile_limits: limits.optional(),
  });
  const interactor = z.strictObject({
    language: z.string().describe('a language id; the first file is the entry point'),
    protocol: z
      .enum(INTERACTOR_PROTOCOLS, { error: () => `interactor.protocol must be one of ${INTERACTOR_PROTOCOLS.join(', ')}` })
      .describe(`testlib: <interactor> ${INTERACTOR_FILES.input} ${INTERACTOR_OUTPUT_FILE} ${INTERACTOR_FILES.answer}, exit 0 accepted, 1 wrong answer, 2 presentation error (wrong_answer), 7 points (accepted with points), else checker_error; kattis: <validator> ${INTERACTOR_FILES.input} ${INTERACTOR_FILES.answer} ${KATTIS_FEEDBACK_DIR}, exit 42 accepted, 43 wrong answer, else checker_error`),
    files: z.array(file).min(1, 'the interactor needs at least one file').max(bounds.maxFiles, `at most ${bounds.maxFiles} files`),
    limits: limits.optional().describe("the interactor's own run limits (its wall limit is raised to the solution's plus a second)"),
    compile_limits: limits.optional(),
    transcript_bytes: z
      .number()
      .int()
      .min(0)
      .max(MAX_TRANSCRIPT_BYTES, `interactor.transcript_bytes must be at most ${MAX_TRANSCRIPT_BYTES}`)
      .optional()
      .describe('keep a transcript of both directions, up to this many bytes per test (relayed through the worker); default 0: none, the two are joined by plain pipes'),
  });
  const step = z.strictObject({
    name: z.string().min(1).max(64, 'a step name is at most 64 characters').optional().describe('shown in results; default the 1-based position'),
    command: z.array(argument).min(1, 'command needs at least one element').max(bounds.maxArgs).describe('argv run in /box (writable, shared by all steps)'),
    limits: limits.optional().describe("this step's limits, over the job's"),
    continue_on_failure: z.boolean().optional().describe('run the next steps even when this one does not end ok; default false (the job stops at the first failed step)'),
  });
  return { limits, argument, file, test, comparison, checker, interactor, step };
}

function shape(rules: RequestRules, bounds: RequestBounds) {
  const p = parts(rules, bounds);
  return z.strictObject({
    language: z.string().optional().describe('a language id from GET /v1/languages; the first file is the entry point'),
    command: z.array(p.argument).min(1, 'command needs at least one element').max(bounds.maxArgs).optional().describe('argv run in /box (writable)'),
    files: z.array(p.file).max(bounds.maxFiles, `at most ${bounds.maxFiles} files`).optional(),
    stdin: z.string().optional(),
    stdin_encoding: encoding,
    interactive_stdin: z
      .boolean()
      .optional()
      .describe("keep the run's stdin open: write to it with POST /v1/jobs/{id}/stdin while the job runs (the program reads end of file once a write says eof, or when the job ends); not with stdin or tests"),
    args: z.array(p.argument).max(bounds.maxArgs).optional().describe('appended to the run command'),
    compile_args: z
      .array(p.argument)
      .max(bounds.maxArgs)
      .optional()
      .describe("options added to the language's compile command (C and C++ only; an allow-list of gcc options, listed in docs/compat.md: -D, -U, -O, -std=, -W, -f, -m, -g, -l...; anything else is a 422)"),
    env: z
      .record(
        z.string().max(bounds.maxArgLength, `an environment variable name is longer than ${bounds.maxArgLength} characters`).regex(ENV_NAME, 'environment variable names are letters, digits and _'),
        // Bounded like an argument: an unbounded value would reach the sandbox and fail its execve (E2BIG).
        z.string().max(bounds.maxArgLength, `an environment value is longer than ${bounds.maxArgLength} characters`).refine((s) => !s.includes('\0'), 'contains a NUL byte'),
      )
      .optional()
      .describe(`extra environment; ${FIXED_ENV_NAMES.join(', ')} are fixed by runcell`),
    limits: p.limits.optional(),
    compile_limits: p.limits.optional(),
    seccomp_profile: z
      .enum(SECCOMP_PROFILE_NAMES, { error: () => `seccomp_profile must be one of ${SECCOMP_PROFILE_NAMES.join(', ')}` })
      .optional()
      .describe('seccomp profile: "standard" (default; unix and loopback UDP sockets, no TCP) or "judge" (no sockets); default: the language\'s, else standard'),
    network: z
      .enum(NETWORK_MODES, { error: () => `network must be one of ${NETWORK_MODES.join(', ')}` })
      .optional()
      .describe('"none" (default): no network; "egress": outbound connections to the internet through runcell\'s NAT (never to the host, private ranges or other jobs), when the operator enabled RUNCELL_NETWORK_EGRESS; 422 otherwise'),
    image: z
      .string()
      .regex(/^(?:[A-Za-z0-9][A-Za-z0-9._+-]{0,127}|sha256:[0-9a-f]{64})$/, 'image is an image name (letters, digits, . _ + -) or a sha256: digest')
      .optional()
      .describe("an imported image (POST /v1/images, runcell image import) to run in, by name or digest, instead of runcell's rootfs: command and steps jobs; the image's Entrypoint goes before the command, its Env under the request's (PATH included), its WorkingDir replaces /box as the working directory; its User is ignored"),
    root: z
      .enum(ROOT_MODES, { error: () => `root must be one of ${ROOT_MODES.join(', ')}` })
      .optional()
      .describe('"read-only" (default): / is the image, read-only; "writable": each run (the run of a command or language job, each of steps) gets a copy-on-write / on a tmpfs of its workspace_bytes, that vanishes with the run; $HOME is then /home/runcell, and the job owns /usr/local, /opt and $HOME (it is not root). Not for judged jobs (tests, problem)'),
    tests: z.array(p.test).min(1, 'tests must not be empty').max(bounds.maxTests, `at most ${bounds.maxTests} tests`).optional().describe('judge: one compile, then one run per test'),
    comparison: p.comparison.optional(),
    checker: p.checker.optional().describe(`custom checker, run as: <checker> ${CHECKER_FILES.input} ${CHECKER_FILES.output} ${CHECKER_FILES.answer}; exit 0 accepted, 1 wrong answer, else checker_error. With a testlib interactor: run on each test the interactor accepted, ${CHECKER_FILES.output} being what the interactor wrote to its output file`),
    stop_on_first_failure: z.boolean().optional().describe('stop judging at the first test not accepted; default false'),
    interactor: p.interactor
      .optional()
      .describe("interactive problem: per test the solution and the interactor run side by side, each's stdout the other's stdin; the test's stdin and expected_stdout are the interactor's input and answer files"),
    steps: z
      .array(p.step)
      .min(1, 'steps must not be empty')
      .max(bounds.maxSteps, `at most ${bounds.maxSteps} steps`)
      .optional()
      .describe('commands run one after another in one workspace (install, build, test), each with its own result; instead of command or language'),
    problem: problemIdSchema.optional().describe("judge against a stored problem (POST /v1/problems): its tests, limits, comparison or output validator; give language and files only"),
    problem_revision: z.number().int().positive().optional().describe("the problem's revision to judge against; the API pins the current one when absent"),
    input_validation: z.literal(true).optional().describe('reserved: the job that runs a stored problem\'s input validators (queued by POST /v1/problems, refused from clients)'),
    archive: z
      .strictObject({
        format: z.enum(['tar', 'tar.gz', 'zip'], { error: () => 'archive.format must be one of tar, tar.gz, zip' }),
        content: z.string().describe('the archive, base64'),
      })
      .optional()
      .describe('command and steps jobs: unpacked into /box before the first step (regular files and directories only; a bad archive is a 422 naming the entry)'),
    artifacts: artifactPatternsSchema
      .optional()
      .describe('command and steps jobs: glob patterns relative to /box (*, ?, ** as a whole segment) of the regular files handed back after the last run'),
  });
}

/** The job request schema under the server's rules. */
export function jobRequestSchema(rules: RequestRules) {
  const bounds = rules.bounds ?? DEFAULT_BOUNDS;
  return shape(rules, bounds).superRefine((job, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    // The input validation job of a stored problem names its programs through the problem.
    const validation = job.input_validation === true;
    const given = [job.language, job.command, job.steps].filter((value) => value !== undefined).length;
    if (given !== 1 && !(validation && given === 0)) issue(['language'], 'give either language (with files) or command or steps, exactly one of them');
    if (job.language !== undefined && !rules.languages.includes(job.language)) issue(['language'], `unknown language ${JSON.stringify(job.language)}; see GET /v1/languages`);
    if (job.language !== undefined && (job.files ?? []).length === 0 && !validation) issue(['files'], 'a language job needs at least one file');
    fileIssues(job.files ?? [], ['files'], issue);
    if (job.stdin !== undefined && job.stdin_encoding === 'base64' && !BASE64.test(job.stdin)) issue(['stdin'], 'not valid base64');
    if (job.interactive_stdin && job.stdin !== undefined) issue(['interactive_stdin'], 'give stdin or interactive_stdin, not both (write the first input with POST /v1/jobs/{id}/stdin)');
    if (job.interactive_stdin && (job.tests || job.steps)) issue(['interactive_stdin'], 'interactive_stdin is for a single run (a language or a command job), not tests or steps');
    judgingIssues(job, issue, rules.languages);
    problemIssues(job, issue);
    judgedWallIssue(job, issue, rules.limits, bounds);
    stepsIssues(job, issue, rules.limits, bounds);
    if (job.compile_args && job.language === undefined) issue(['compile_args'], 'compile_args need a language (they go to its compile command)');
    if (job.archive && !job.command && !job.steps) issue(['archive'], 'an archive needs a command or steps');
    if (job.archive && !BASE64.test(job.archive.content)) issue(['archive', 'content'], 'not valid base64');
    if (job.image !== undefined && !job.command && !job.steps) issue(['image'], 'an image runs a command or steps (a language needs runcell\'s own rootfs)');
    if (job.artifacts && !job.command && !job.steps) issue(['artifacts'], 'artifacts need a command or steps (a language job\'s /box is read-only when it runs)');
    if (Object.keys(job.env ?? {}).length > bounds.maxEnv) issue(['env'], `at most ${bounds.maxEnv} environment variables`);
    // Each within its bounds, all together could still pass what execve takes: the job would fail in the sandbox.
    if (argvBytes(job) > bounds.maxArgvBytes) issue(['args'], `command, args and env together exceed ${bounds.maxArgvBytes} bytes`);
  });
}

/** A job request as accepted (defaults filled in: encodings are utf8 unless given). */
export type JobSubmission = z.output<ReturnType<typeof jobRequestSchema>>;
/** A job request as a client may send it. */
export type JobRequestInput = z.input<ReturnType<typeof jobRequestSchema>>;
export type SubmittedFile = NonNullable<JobSubmission['files']>[number];
export type Comparison = NonNullable<JobSubmission['comparison']>;

type Issue = (path: (string | number)[], message: string) => void;

function fileIssues(files: SubmittedFile[], at: (string | number)[], issue: Issue, reserved: readonly string[] = []): void {
  const seen = new Set<string>();
  files.forEach((f, i) => {
    if (seen.has(f.path)) issue([...at, i, 'path'], `file ${JSON.stringify(f.path)} is given twice`);
    seen.add(f.path);
    if (reserved.includes(f.path)) issue([...at, i, 'path'], `${f.path} is reserved for the test's files`);
    if (f.encoding === 'base64' && !BASE64.test(f.content)) issue([...at, i, 'content'], 'not valid base64');
  });
}

/** A problem job takes its tests, limits and checking from the problem: the request gives the program alone. */
function problemIssues(job: z.output<ReturnType<typeof shape>>, issue: Issue): void {
  if (job.problem === undefined) {
    for (const field of ['problem_revision', 'input_validation'] as const) if (job[field] !== undefined) issue([field], `${field} needs problem`);
    return;
  }
  if (job.command) issue(['command'], 'a problem job needs a language (not a command)');
  if (job.root === 'writable') issue(['root'], 'a writable root is for command, language and steps jobs, not judged ones (problem)');
  for (const field of ['tests', 'comparison', 'checker', 'interactor', 'stdin', 'limits'] as const) {
    if (job[field] !== undefined) issue([field], `${field} comes from the problem; a problem job gives language, files (and compile_limits, stop_on_first_failure)`);
  }
}

/** One judged job holds one slot for all its tests: their wall limits together are bounded. */
function judgedWallIssue(job: z.output<ReturnType<typeof shape>>, issue: Issue, limits: LimitRanges, bounds: RequestBounds): void {
  if (!job.tests) return;
  const jobWall = job.limits?.wall_ms ?? limits.wall_ms.default;
  // An interactive test lasts as long as the longer of the two runs (the interactor's wall is raised above the solution's).
  const interactorWall = job.interactor ? (job.interactor.limits?.wall_ms ?? limits.wall_ms.default) : 0;
  const testWall = (wall: number) => (job.interactor ? Math.max(wall + INTERACTOR_WALL_MARGIN_MS, interactorWall) : wall);
  const total = job.tests.reduce((sum, test) => sum + testWall(test.limits?.wall_ms ?? jobWall), 0);
  if (total <= bounds.maxJudgedWallMs) return;
  issue(['tests'], `the tests' wall limits add up to ${total} ms; at most ${bounds.maxJudgedWallMs} ms in one job (split the tests into several jobs)`);
}

/** Steps are commands: no stdin or args of the job's; like tests, their wall limits together are bounded (one slot holds them all). */
function stepsIssues(job: z.output<ReturnType<typeof shape>>, issue: Issue, limits: LimitRanges, bounds: RequestBounds): void {
  if (!job.steps) return;
  for (const field of ['stdin', 'args', 'tests'] as const) if (job[field] !== undefined) issue([field], `${field} cannot go with steps`);
  const jobWall = job.limits?.wall_ms ?? limits.wall_ms.default;
  const total = job.steps.reduce((sum, step) => sum + (step.limits?.wall_ms ?? jobWall), 0);
  if (total > bounds.maxJudgedWallMs) issue(['steps'], `the steps' wall limits add up to ${total} ms; at most ${bounds.maxJudgedWallMs} ms in one job`);
  job.steps.forEach((step, i) => {
    if (argvBytes({ command: step.command, env: job.env }) > bounds.maxArgvBytes) issue(['steps', i, 'command'], `command and env together exceed ${bounds.maxArgvBytes} bytes`);
  });
}

function judgingIssues(job: z.output<ReturnType<typeof shape>>, issue: Issue, languages: readonly string[]): void {
  if (!job.tests) {
    if (job.problem !== undefined) return; // judged against the problem's tests: see problemIssues
    for (const field of ['comparison', 'checker', 'stop_on_first_failure', 'interactor'] as const) if (job[field] !== undefined) issue([field], `${field} needs tests`);
    return;
  }
  if (job.network === 'egress') issue(['network'], 'network egress is for command and language jobs, not judged ones (tests)');
  if (job.root === 'writable') issue(['root'], 'a writable root is for command, language and steps jobs, not judged ones (tests): a judged run sees the image as it is');
  if (job.command) issue(['tests'], 'tests need a language (not a command)');
  if (job.stdin !== undefined) issue(['stdin'], 'give stdin per test (tests[].stdin) when there are tests');
  const ids = new Set<string>();
  job.tests.forEach((t, i) => {
    if (t.stdin !== undefined && t.stdin_encoding === 'base64' && !BASE64.test(t.stdin)) issue(['tests', i, 'stdin'], 'not valid base64');
    // Results and test_finished events name tests by id: two alike would be ambiguous.
    if (t.id !== undefined && ids.has(t.id)) issue(['tests', i, 'id'], `test id ${JSON.stringify(t.id)} is given twice`);
    if (t.id !== undefined) ids.add(t.id);
  });
  if (job.comparison && job.comparison.mode !== 'float') {
    for (const field of ['absolute', 'relative'] as const) {
      if (job.comparison[field] !== undefined) issue(['comparison', field], `${field} is a float mode tolerance; mode is ${job.comparison.mode}`);
    }
  }
  if (job.comparison?.case_sensitive !== undefined && !TOKEN_MODES.includes(job.comparison.mode)) {
    issue(['comparison', 'case_sensitive'], `case_sensitive is for the token modes (${TOKEN_MODES.join(', ')}); mode is ${job.comparison.mode}`);
  }
  if (job.checker && job.comparison) issue(['checker'], 'give a checker or a comparison, not both');
  if (job.checker) {
    if (!languages.includes(job.checker.language)) issue(['checker', 'language'], `unknown language ${JSON.stringify(job.checker.language)}; see GET /v1/languages`);
    fileIssues(job.checker.files, ['checker', 'files'], issue, Object.values(CHECKER_FILES));
  }
  if (job.interactor) {
    if (!languages.includes(job.interactor.language)) issue(['interactor', 'language'], `unknown language ${JSON.stringify(job.interactor.language)}; see GET /v1/languages`);
    fileIssues(job.interactor.files, ['interactor', 'files'], issue, Object.values(INTERACTOR_FILES));
    // A testlib interactor's output file may go to a checker (Codeforces); a Kattis validator writes none.
    if (job.checker && job.interactor.protocol !== 'testlib') issue(['checker'], `a kattis interactor judges the tests itself and writes no output file: a checker goes only with a testlib interactor (it reads ${INTERACTOR_OUTPUT_FILE} as the contestant's output)`);
    if (job.comparison) issue(['comparison'], 'an interactor judges the tests itself: comparison does not apply');
  }
}

/** Bytes of the tests' stdin and expected_stdout (decoded); above maxTestsBytes the API answers 413 naming `tests`. */
export function testsBytes(job: { tests?: { stdin?: string; stdin_encoding?: string; expected_stdout: string }[] }): number {
  let total = 0;
  for (const t of job.tests ?? []) {
    total += Buffer.byteLength(t.expected_stdout);
    if (t.stdin !== undefined) total += t.stdin_encoding === 'base64' ? Buffer.from(t.stdin, 'base64').length : Buffer.byteLength(t.stdin);
  }
  return total;
}

export function batchRequestSchema(bounds: RequestBounds = DEFAULT_BOUNDS) {
  return z.strictObject({
    jobs: z.array(z.unknown()).min(1, 'jobs must not be empty').max(bounds.maxBatch, `at most ${bounds.maxBatch} jobs in one batch`),
  });
}
