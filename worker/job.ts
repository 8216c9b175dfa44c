/**
 * One job: a language program (compile step if the language has one, then
 * the run step) or a plain command, in one workspace that lives across the
 * steps and is removed after. The result is what the CLI prints with --json
 * and what the HTTP API stores: { compile?, run }.
 */
import { expandCommand, findLanguage, languageNotInstalledProblem, type Language } from '../rootfs/languages.js';
import type { RunResult } from '../sandbox/accounting.js';
import { resolveLimits, LIMIT_TABLE, type LimitTable, type Limits, type RequestedLimits } from '../sandbox/limits.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { DEFAULT_SECCOMP_PROFILE, SECCOMP_PROFILE_NAMES, type SeccompProfileName } from '../sandbox/seccomp-policy.js';
import type { Slot } from '../sandbox/slots.js';
import { filePathProblem, type WorkspaceFile } from '../sandbox/workspace.js';
import type { CompileCache } from './compile-cache.js';
import type { Comparison } from '../judge/compare.js';
import type { JobVerdict, VerdictCounts } from '../judge/verdicts.js';
import { compileInto, type CompileResult } from './compile.js';
import { judge, judgeRequestProblem, type CheckerRequest, type JudgeTest, type TestResult } from './judge.js';

export interface JobRequest {
  /** A language id of the catalog; the first file is the entry point. */
  language?: string;
  /** Or a command (argv) run in /box, which is then writable. */
  command?: string[];
  files?: WorkspaceFile[];
  stdin?: Buffer;
  /** Arguments appended to the run command. */
  args?: string[];
  env?: Record<string, string>;
  limits?: RequestedLimits;
  compile_limits?: RequestedLimits;
  /** The seccomp profile of every step; default: the language's, else "standard". */
  seccomp_profile?: SeccompProfileName;
  /** Judging (see judge.ts): one compile, then one run per test instead of the single run. */
  tests?: JudgeTest[];
  /** How a test's stdout is compared with its expected output. Default trailing_whitespace. */
  comparison?: Comparison;
  /** A custom checker instead of the comparison. */
  checker?: CheckerRequest;
  /** Stop judging at the first test that is not accepted. Default false. */
  stop_on_first_failure?: boolean;
}

export interface JobResult {
  /** Present when the language compiles. */
  compile?: CompileResult;
  /** null when the compile step did not succeed, and in judged jobs (see tests). */
  run: RunResult | null;
  /** Judged jobs: the judged tests in order (skipped ones are absent). */
  tests?: TestResult[];
  /** Judged jobs: compile_error, the first non-accepted test's verdict, or accepted. */
  verdict?: JobVerdict;
  counts?: VerdictCounts;
  /** Judged jobs with a checker that compiles. */
  checker_compile?: CompileResult;
}

export interface JobContext {
  sandbox: Sandbox;
  slot: Slot;
  table?: LimitTable;
  signal?: AbortSignal;
  /** Language id -> version of what the rootfs has (its marker); a language job outside it is refused. Default: no check. */
  installed?: Record<string, string>;
  /** Called when a step has finished (for progress events). */
  onStep?: (step: 'compile' | 'run' | 'checker_compile', result: RunResult) => void | Promise<void>;
  /** Judged jobs: called when a test has been judged (for progress events). */
  onTest?: (test: TestResult, index: number, total: number) => void | Promise<void>;
  /** Reuses compiled workspaces of identical compiles. Default: none. */
  compileCache?: CompileCache;
}

/** Checks a request's shape beyond types; returns the first problem or undefined. */
export function jobRequestProblem(request: JobRequest): string | undefined {
  if (!request.language === !request.command) return 'give either a language or a command, not both or neither';
  if (request.command && request.command.length === 0) return 'command must have at least one element';
  if (request.language && !findLanguage(request.language)) return `unknown language ${JSON.stringify(request.language)}`;
  if (request.language && (!request.files || request.files.length === 0)) return `language ${request.language} needs at least one file`;
  if (request.seccomp_profile !== undefined && !SECCOMP_PROFILE_NAMES.includes(request.seccomp_profile)) {
    return `unknown seccomp profile ${JSON.stringify(request.seccomp_profile)}; one of ${SECCOMP_PROFILE_NAMES.join(', ')}`;
  }
  const seen = new Set<string>();
  for (const file of request.files ?? []) {
    const problem = filePathProblem(file.path);
    if (problem) return problem;
    if (seen.has(file.path)) return `file ${JSON.stringify(file.path)} is given twice`;
    seen.add(file.path);
  }
  return judgeRequestProblem(request);
}

/** The request's profile, else the language's, else the default. */
export function seccompProfileFor(request: Pick<JobRequest, 'seccomp_profile'>, language?: Pick<Language, 'seccompProfile'>): SeccompProfileName {
  return request.seccomp_profile ?? language?.seccompProfile ?? DEFAULT_SECCOMP_PROFILE;
}

export interface Plan {
  language?: Language;
  seccompProfile: SeccompProfileName;
  /** The language's variables (e.g. Go's build cache) under the request's own. */
  env?: Record<string, string>;
  compile?: { argv: string[]; limits: Limits };
  run: { argv: string[]; limits: Limits; boxWritable: boolean };
}

/** The job's language, or its checker's, missing from the image this worker runs. */
function notInstalledProblem(request: JobRequest, installed: Record<string, string>): string | undefined {
  const problems = [request.language, request.checker?.language].map((id) => (id ? languageNotInstalledProblem(id, installed) : undefined));
  return problems.find((problem) => problem !== undefined);
}

export function plan(request: JobRequest, table: LimitTable, installed?: Record<string, string>): Plan {
  const problem = jobRequestProblem(request) ?? (installed ? notInstalledProblem(request, installed) : undefined);
  if (problem) throw new Error(problem);
  const args = request.args ?? [];
  if (request.command) {
    return {
      seccompProfile: seccompProfileFor(request),
      env: request.env,
      run: { argv: [...request.command, ...args], limits: resolveLimits(request.limits, { table }), boxWritable: true },
    };
  }
  const language = findLanguage(request.language!)!;
  const entry = request.files![0].path;
  const runLimits = resolveLimits(request.limits, { table, extra: language.runLimits });
  const run = { argv: runArgv(language, request, runLimits), limits: runLimits, boxWritable: false };
  const seccompProfile = seccompProfileFor(request, language);
  const env = language.env ? { ...language.env, ...request.env } : request.env;
  if (!language.compile) return { language, seccompProfile, env, run };
  const compileLimits = resolveLimits(request.compile_limits, { phase: 'compile', table, extra: language.compileLimits });
  return {
    language,
    seccompProfile,
    env,
    compile: { argv: expandCommand(language.compile, entry, { memoryBytes: compileLimits.memory_bytes }), limits: compileLimits },
    run,
  };
}

/** The run command of a language job under `limits` (the JVM's heap is sized from the memory limit). */
export function runArgv(language: Language, request: JobRequest, limits: Limits): string[] {
  return [...expandCommand(language.run, request.files![0].path, { memoryBytes: limits.memory_bytes }), ...(request.args ?? [])];
}

export async function runJob(context: JobContext, request: JobRequest): Promise<JobResult> {
  const steps = plan(request, context.table ?? LIMIT_TABLE, context.installed);
  if (request.tests) return judge(context, request, steps);
  const boxBytes = Math.max(steps.run.limits.workspace_bytes, steps.compile?.limits.workspace_bytes ?? 0);
  const workspace = await context.sandbox.createWorkspace(context.slot, boxBytes);
  try {
    const common = { slot: context.slot, workspace, env: steps.env, signal: context.signal, seccompProfile: steps.seccompProfile };
    let compile: CompileResult | undefined;
    if (!steps.compile) workspace.writeFiles(request.files ?? []);
    else {
      compile = await compileInto({ ...common, sandbox: context.sandbox, cache: context.compileCache, language: steps.language!.id, files: request.files ?? [], ...steps.compile });
      await context.onStep?.('compile', compile);
      if (compile.status !== 'ok' || context.signal?.aborted) return { compile, run: null };
    }
    const run = await context.sandbox.run({
      ...common,
      argv: steps.run.argv,
      limits: steps.run.limits,
      boxWritable: steps.run.boxWritable,
      stdin: request.stdin,
    });
    await context.onStep?.('run', run);
    return compile ? { compile, run } : { run };
  } finally {
    await workspace.remove();
  }
}
