/**
 * What a job will run: its language, seccomp profile, environment, and the
 * argv and limits of its compile and run steps. Shared by plain jobs
 * (job.ts) and judged ones (judge.ts).
 */
import type { RunResult, CompileResult, StepResult } from '../contract/run-result.js';
import type { TestResult } from '../contract/judged-result.js';
import { expandCommand, findLanguage, languageNotInstalledProblem, sourcesOf, type Language } from '../rootfs/languages.js';
import { compileArgsProblem } from '../rootfs/compiler-options.js';
import { resolveLimits, type LimitTable, type Limits } from '../sandbox/limits.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { DEFAULT_SECCOMP_PROFILE, type SeccompProfileName } from '../sandbox/seccomp-policy.js';
import type { TreeFile } from '../sandbox/safe-fs.js';
import type { Slot } from '../sandbox/slots.js';
import type { CompileCache } from './compile-cache.js';
import type { JobRequest } from './request.js';
import type { ImagePuller } from './image.js';

export interface JobContext {
  sandbox: Sandbox;
  slot: Slot;
  table?: LimitTable;
  signal?: AbortSignal;
  /** Language id -> version of what the rootfs has (its marker); a language job outside it is refused. Default: no check. */
  installed?: Record<string, string>;
  /** Called when a step has finished (for progress events). */
  onStep?: (step: 'compile' | 'run' | 'checker_compile' | 'interactor_compile', result: RunResult | CompileResult) => void | Promise<void>;
  /** Jobs with artifacts: called with the kept files' contents before the job's result is returned (to store them). */
  onArtifacts?: (files: TreeFile[]) => Promise<void>;
  /** Jobs with steps: called when a step has finished (for progress events). */
  onStepFinished?: (index: number, total: number, result: StepResult) => void | Promise<void>;
  /** Judged jobs: called when a test has been judged (for progress events). */
  onTest?: (test: TestResult, index: number, total: number) => void | Promise<void>;
  /**
   * Live output of the job's runs (not of compiles, nor of judged tests), as the sandbox hears it within
   * the output cap; `step` is the step's index in a job with steps.
   */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer, step?: number) => void;
  /** Reuses compiled workspaces of identical compiles. Default: none. */
  compileCache?: CompileCache;
  /** Interactive jobs: the run's stdin pipe, fed while it runs. Default: none (the program reads /dev/null). */
  interactiveStdin?: () => { fd: number; close(): Promise<void> };
  /** The second sandbox identity of `slot` (SlotPool.companion): where an interactive problem's interactor runs. */
  companion?: Slot;
  /** Image jobs: pulls an image this worker lacks from the fleet's registry (worker/image.ts). Default: none. */
  pullImage?: ImagePuller;
}

/** A job names a language (or a checker language) the rootfs this worker runs does not have. */
export class LanguageNotInstalledError extends Error {}

export interface Plan {
  language?: Language;
  seccompProfile: SeccompProfileName;
  /** The language's variables (e.g. Go's build cache) under the request's own. */
  env?: Record<string, string>;
  compile?: { argv: string[]; limits: Limits };
  run: { argv: string[]; limits: Limits; boxWritable: boolean };
}

/** The request's profile, else the language's, else the default. */
export function seccompProfileFor(request: Pick<JobRequest, 'seccomp_profile'>, language?: Pick<Language, 'seccompProfile'>): SeccompProfileName {
  return request.seccomp_profile ?? language?.seccompProfile ?? DEFAULT_SECCOMP_PROFILE;
}

/** The job's language, or its checker's, missing from the image this worker runs. */
function notInstalledProblem(request: JobRequest, installed: Record<string, string>): string | undefined {
  const problems = [request.language, request.checker?.language, request.interactor?.language].map((id) => (id ? languageNotInstalledProblem(id, installed) : undefined));
  return problems.find((problem) => problem !== undefined);
}

/** The steps of a (validated) request; throws LanguageNotInstalledError when `installed` lacks its language. */
export function plan(request: JobRequest, table: LimitTable, installed?: Record<string, string>): Plan {
  const problem = installed ? notInstalledProblem(request, installed) : undefined;
  if (problem) throw new LanguageNotInstalledError(problem);
  const args = request.args ?? [];
  if (request.steps) {
    // The steps' own argv and limits are made by steps.ts; this is the job's common part.
    return { seccompProfile: seccompProfileFor(request), env: request.env, run: { argv: request.steps[0].command, limits: resolveLimits(request.limits, { table }), boxWritable: true } };
  }
  if (request.command) {
    return {
      seccompProfile: seccompProfileFor(request),
      env: request.env,
      run: { argv: [...request.command, ...args], limits: resolveLimits(request.limits, { table }), boxWritable: true },
    };
  }
  const language = findLanguage(request.language!);
  if (!language) throw new RangeError(`unknown language ${JSON.stringify(request.language)}`);
  const entry = request.files![0].path;
  const options = request.compile_args ?? [];
  // The API refused these already; a job that reached the worker anyway fails rather than compile with them.
  const refused = compileArgsProblem(language.compilerOptions, options);
  if (refused) throw new RangeError(`compile_args: ${refused}`);
  const runLimits = resolveLimits(request.limits, { table, extra: language.runLimits });
  const run = { argv: runArgv(language, request, runLimits), limits: runLimits, boxWritable: false };
  const seccompProfile = seccompProfileFor(request, language);
  const env = language.env ? { ...language.env, ...request.env } : request.env;
  // An interpreted language's syntax check is its compile step: same limits, same cache, same verdict when it fails.
  const compile = language.compile ?? language.check;
  if (!compile) return { language, seccompProfile, env, run };
  const compileLimits = resolveLimits(request.compile_limits, { phase: 'compile', table, extra: language.compileLimits });
  const sources = sourcesOf(language, request.files!.map((file) => file.path));
  return {
    language,
    seccompProfile,
    env,
    compile: { argv: expandCommand(compile, entry, { memoryBytes: compileLimits.memory_bytes, sources, options }), limits: compileLimits },
    run,
  };
}

/** The run command of a language job under `limits` (the JVM's heap is sized from the memory limit). */
export function runArgv(language: Language, request: JobRequest, limits: Limits): string[] {
  return [...expandCommand(language.run, request.files![0].path, { memoryBytes: limits.memory_bytes }), ...(request.args ?? [])];
}
