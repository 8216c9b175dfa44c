/**
 * Request and response schemas (zod). Requests are validated with them; the
 * OpenAPI document is generated from them (openapi.ts).
 */
import { z } from 'zod';
import { findLanguage } from '../rootfs/languages.js';
import { RUN_STATUSES } from '../sandbox/accounting.js';
import { limitsSchema, type LimitTable } from '../sandbox/limits.js';
import { filePathProblem } from '../sandbox/workspace.js';
import { SECCOMP_PROFILE_NAMES } from '../sandbox/seccomp-policy.js';
import { EVENT_TYPES, JOB_STATUSES } from '../queue/store.js';
import { COMPARISON_MODES } from '../judge/compare.js';
import { JOB_VERDICTS, TEST_VERDICTS } from '../judge/verdicts.js';
import { CHECKER_FILES, MAX_TESTS } from '../worker/judge.js';

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
  /**
   * Bytes (UTF-8) of command, args and env together. Default 1 MiB: the
   * sandbox passes them through execve, which takes about 2 MiB in all.
   */
  maxArgvBytes: number;
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
};

/** What command, args and env weigh in an execve: each string and its NUL (env as NAME=value). */
function argvBytes(job: { command?: string[]; args?: string[]; env?: Record<string, string> }): number {
  const strings = [...(job.command ?? []), ...(job.args ?? []), ...Object.entries(job.env ?? {}).map(([name, value]) => `${name}=${value}`)];
  return strings.reduce((total, s) => total + Buffer.byteLength(s) + 1, 0);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FIXED_ENV_NAMES = ['PATH', 'HOME', 'LANG'];

const encoding = z.enum(['utf8', 'base64']).default('utf8');

export function jobSchema(table: LimitTable, bounds: RequestBounds = DEFAULT_BOUNDS) {
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
    limits: limitsSchema(table).optional().describe("this test's run limits, over the job's"),
  });
  const comparison = z.strictObject({
    mode: z.enum(COMPARISON_MODES).describe('trailing_whitespace (default) ignores trailing blanks on each line and trailing blank lines'),
    absolute: z.number().nonnegative().optional().describe('float mode: absolute tolerance, default 1e-6'),
    relative: z.number().nonnegative().optional().describe('float mode: relative tolerance, default 1e-6'),
  });
  const checker = z.strictObject({
    language: z.string().describe('a language id; the first file is the entry point'),
    files: z.array(file).min(1, 'the checker needs at least one file').max(bounds.maxFiles, `at most ${bounds.maxFiles} files`),
    limits: limitsSchema(table).optional(),
    compile_limits: limitsSchema(table).optional(),
  });
  return z
    .strictObject({
      language: z.string().optional().describe('a language id from GET /v1/languages; the first file is the entry point'),
      command: z.array(argument).min(1, 'command needs at least one element').max(bounds.maxArgs).optional().describe('argv run in /box (writable)'),
      files: z.array(file).max(bounds.maxFiles, `at most ${bounds.maxFiles} files`).optional(),
      stdin: z.string().optional(),
      stdin_encoding: encoding,
      args: z.array(argument).max(bounds.maxArgs).optional().describe('appended to the run command'),
      env: z
        .record(
          z.string().max(bounds.maxArgLength, `an environment variable name is longer than ${bounds.maxArgLength} characters`).regex(ENV_NAME, 'environment variable names are letters, digits and _'),
          // Bounded like an argument: an unbounded value would reach the sandbox and fail its execve (E2BIG).
          z.string().max(bounds.maxArgLength, `an environment value is longer than ${bounds.maxArgLength} characters`).refine((s) => !s.includes('\0'), 'contains a NUL byte'),
        )
        .optional()
        .describe(`extra environment; ${FIXED_ENV_NAMES.join(', ')} are fixed by runcell`),
      limits: limitsSchema(table).optional(),
      compile_limits: limitsSchema(table).optional(),
      seccomp_profile: z
        .enum(SECCOMP_PROFILE_NAMES, { error: () => `seccomp_profile must be one of ${SECCOMP_PROFILE_NAMES.join(', ')}` })
        .optional()
        .describe('seccomp profile: "standard" (default; unix and loopback TCP/UDP sockets) or "judge" (no sockets); default: the language\'s, else standard'),
      tests: z.array(test).min(1, 'tests must not be empty').max(bounds.maxTests, `at most ${bounds.maxTests} tests`).optional().describe('judge: one compile, then one run per test'),
      comparison: comparison.optional(),
      checker: checker.optional().describe(`custom checker, run as: <checker> ${CHECKER_FILES.input} ${CHECKER_FILES.output} ${CHECKER_FILES.answer}; exit 0 accepted, 1 wrong answer, else checker_error`),
      stop_on_first_failure: z.boolean().optional().describe('stop judging at the first test not accepted; default false'),
    })
    .superRefine((job, ctx) => {
      if (!job.language === !job.command) {
        ctx.addIssue({ code: 'custom', path: ['language'], message: 'give either language (with files) or command, not both or neither' });
      }
      if (job.language !== undefined && !findLanguage(job.language)) {
        ctx.addIssue({ code: 'custom', path: ['language'], message: `unknown language ${JSON.stringify(job.language)}; see GET /v1/languages` });
      }
      if (job.language !== undefined && (job.files ?? []).length === 0) {
        ctx.addIssue({ code: 'custom', path: ['files'], message: 'a language job needs at least one file' });
      }
      const seen = new Set<string>();
      (job.files ?? []).forEach((f, i) => {
        if (seen.has(f.path)) ctx.addIssue({ code: 'custom', path: ['files', i, 'path'], message: `file ${JSON.stringify(f.path)} is given twice` });
        seen.add(f.path);
        if (f.encoding === 'base64' && !BASE64.test(f.content)) ctx.addIssue({ code: 'custom', path: ['files', i, 'content'], message: 'not valid base64' });
      });
      if (job.stdin !== undefined && job.stdin_encoding === 'base64' && !BASE64.test(job.stdin)) {
        ctx.addIssue({ code: 'custom', path: ['stdin'], message: 'not valid base64' });
      }
      judgingIssues(job, ctx);
      judgedWallIssue(job, ctx, table, bounds);
      const envCount = Object.keys(job.env ?? {}).length;
      if (envCount > bounds.maxEnv) ctx.addIssue({ code: 'custom', path: ['env'], message: `at most ${bounds.maxEnv} environment variables` });
      // Each within its bounds, all together could still pass what execve takes: the job would fail in the sandbox.
      if (argvBytes(job) > bounds.maxArgvBytes) {
        ctx.addIssue({ code: 'custom', path: ['args'], message: `command, args and env together exceed ${bounds.maxArgvBytes} bytes` });
      }
    });
}

type JobInput = {
  language?: string;
  command?: unknown;
  stdin?: string;
  limits?: { wall_ms?: number };
  tests?: { id?: string; stdin?: string; stdin_encoding: 'utf8' | 'base64'; limits?: { wall_ms?: number } }[];
  comparison?: { mode: string; absolute?: number; relative?: number };
  checker?: { language: string; files: { path: string; content: string; encoding: 'utf8' | 'base64' }[] };
  stop_on_first_failure?: boolean;
};

/** One judged job holds one slot for all its tests: their wall limits together are bounded. */
function judgedWallIssue(job: JobInput, ctx: z.RefinementCtx, table: LimitTable, bounds: RequestBounds): void {
  if (!job.tests) return;
  const jobWall = job.limits?.wall_ms ?? table.wall_ms.default;
  const total = job.tests.reduce((sum, test) => sum + (test.limits?.wall_ms ?? jobWall), 0);
  if (total <= bounds.maxJudgedWallMs) return;
  const message = `the tests' wall limits add up to ${total} ms; at most ${bounds.maxJudgedWallMs} ms in one job (split the tests into several jobs)`;
  ctx.addIssue({ code: 'custom', path: ['tests'], message });
}

function judgingIssues(job: JobInput, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  if (!job.tests) {
    for (const field of ['comparison', 'checker', 'stop_on_first_failure'] as const) if (job[field] !== undefined) issue([field], `${field} needs tests`);
    return;
  }
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
  if (job.checker && job.comparison) issue(['checker'], 'give a checker or a comparison, not both');
  if (job.checker) {
    if (!findLanguage(job.checker.language)) issue(['checker', 'language'], `unknown language ${JSON.stringify(job.checker.language)}; see GET /v1/languages`);
    const seen = new Set<string>();
    job.checker.files.forEach((f, i) => {
      if (seen.has(f.path)) issue(['checker', 'files', i, 'path'], `file ${JSON.stringify(f.path)} is given twice`);
      seen.add(f.path);
      if ((Object.values(CHECKER_FILES) as string[]).includes(f.path)) issue(['checker', 'files', i, 'path'], `${f.path} is reserved for the test's files`);
      if (f.encoding === 'base64' && !BASE64.test(f.content)) issue(['checker', 'files', i, 'content'], 'not valid base64');
    });
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

export function batchSchema(bounds: RequestBounds = DEFAULT_BOUNDS) {
  return z.strictObject({
    jobs: z.array(z.unknown()).min(1, 'jobs must not be empty').max(bounds.maxBatch, `at most ${bounds.maxBatch} jobs in one batch`),
  });
}

export const errorSchema = z
  .object({
    error: z.object({
      code: z.string().describe('machine-readable: malformed_json, bad_request, payload_too_large, invalid_request, not_found, conflict, queue_full, rate_limited, unauthorized, unavailable, unsupported_media_type, internal'),
      message: z.string(),
      details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .meta({ id: 'Error' });

export const runResultSchema = z
  .object({
    status: z.enum(RUN_STATUSES),
    exit_code: z.number().int().nullable(),
    signal: z.string().nullable(),
    stdout: z.string(),
    stderr: z.string(),
    stdout_truncated: z.boolean(),
    stderr_truncated: z.boolean(),
    cpu_ms: z.number().int(),
    wall_ms: z.number().int(),
    memory_peak_bytes: z.number().int(),
    oom_killed: z.boolean(),
    message: z.string().nullable(),
  })
  .meta({ id: 'RunResult' });

export const compileResultSchema = runResultSchema
  .extend({ cached: z.boolean().describe('true: reused from the compile cache (figures are those of the original compile)') })
  .meta({ id: 'CompileResult' });

export const testResultSchema = runResultSchema
  .extend({
    id: z.string(),
    verdict: z.enum(TEST_VERDICTS),
    verdict_message: z.string().nullable().describe('where the output differs, or the checker\'s message'),
    checker: runResultSchema.optional(),
  })
  .meta({ id: 'TestResult' });

export const jobResultSchema = z
  .object({
    compile: compileResultSchema.optional(),
    run: runResultSchema.nullable().describe('null when the compile failed, and in judged jobs'),
    tests: z.array(testResultSchema).optional().describe('judged jobs: the judged tests in order (skipped ones absent)'),
    verdict: z.enum(JOB_VERDICTS).optional(),
    counts: z.record(z.string(), z.number().int()).optional().describe('total, judged, skipped, and one count per test verdict'),
    checker_compile: compileResultSchema.optional(),
  })
  .meta({ id: 'JobResult' });

export const jobViewSchema = z
  .object({
    id: z.string(),
    status: z.enum(JOB_STATUSES),
    created_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    queue_wait_ms: z.number().int().nullable(),
    request: z.object({}).passthrough().describe('the request as accepted, without file contents'),
    result: jobResultSchema.nullable(),
    reason: z.string().optional().describe('why a job failed or was cancelled'),
  })
  .meta({ id: 'Job' });

export const acceptedSchema = z.object({ id: z.string(), status: z.literal('queued') }).meta({ id: 'Accepted' });

export const batchResponseSchema = z
  .object({
    jobs: z.array(z.union([acceptedSchema, errorSchema])),
  })
  .meta({ id: 'BatchResponse' });

export const languageSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    version: z.string().nullable().describe('read from the toolchain when the rootfs was built'),
    compiled: z.boolean(),
    default_file: z.string().describe('the usual name of the entry file (for Java it names the class that is run)'),
  })
  .meta({ id: 'Language' });

export const eventSchema = z
  .object({ id: z.string(), job_id: z.string(), type: z.enum(EVENT_TYPES), at: z.string(), data: z.object({}).passthrough() })
  .meta({ id: 'Event' });
