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
import type { Slot } from '../sandbox/slots.js';
import { filePathProblem, type WorkspaceFile } from '../sandbox/workspace.js';

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
}

export interface JobResult {
  /** Present when the language compiles. */
  compile?: RunResult;
  /** null when the compile step did not succeed. */
  run: RunResult | null;
}

export interface JobContext {
  sandbox: Sandbox;
  slot: Slot;
  table?: LimitTable;
  signal?: AbortSignal;
  /** Language id -> version of what the rootfs has (its marker); a language job outside it is refused. Default: no check. */
  installed?: Record<string, string>;
  /** Called when a step has finished (for progress events). */
  onStep?: (step: 'compile' | 'run', result: RunResult) => void | Promise<void>;
}

/** Checks a request's shape beyond types; returns the first problem or undefined. */
export function jobRequestProblem(request: JobRequest): string | undefined {
  if (!request.language === !request.command) return 'give either a language or a command, not both or neither';
  if (request.command && request.command.length === 0) return 'command must have at least one element';
  if (request.language && !findLanguage(request.language)) return `unknown language ${JSON.stringify(request.language)}`;
  if (request.language && (!request.files || request.files.length === 0)) return `language ${request.language} needs at least one file`;
  const seen = new Set<string>();
  for (const file of request.files ?? []) {
    const problem = filePathProblem(file.path);
    if (problem) return problem;
    if (seen.has(file.path)) return `file ${JSON.stringify(file.path)} is given twice`;
    seen.add(file.path);
  }
  return undefined;
}

interface Plan {
  language?: Language;
  compile?: { argv: string[]; limits: Limits };
  run: { argv: string[]; limits: Limits; boxWritable: boolean };
}

function plan(request: JobRequest, table: LimitTable, installed?: Record<string, string>): Plan {
  const problem = jobRequestProblem(request) ?? (request.language && installed ? languageNotInstalledProblem(request.language, installed) : undefined);
  if (problem) throw new Error(problem);
  const args = request.args ?? [];
  if (request.command) {
    return { run: { argv: [...request.command, ...args], limits: resolveLimits(request.limits, { table }), boxWritable: true } };
  }
  const language = findLanguage(request.language!)!;
  const entry = request.files![0].path;
  const runLimits = resolveLimits(request.limits, { table, extra: language.runLimits });
  const run = {
    argv: [...expandCommand(language.run, entry, { memoryBytes: runLimits.memory_bytes }), ...args],
    limits: runLimits,
    boxWritable: !language.compile,
  };
  if (!language.compile) return { language, run: { ...run, boxWritable: false } };
  const compileLimits = resolveLimits(request.compile_limits, { phase: 'compile', table, extra: language.compileLimits });
  return { language, compile: { argv: expandCommand(language.compile, entry, { memoryBytes: compileLimits.memory_bytes }), limits: compileLimits }, run };
}

export async function runJob(context: JobContext, request: JobRequest): Promise<JobResult> {
  const steps = plan(request, context.table ?? LIMIT_TABLE, context.installed);
  const boxBytes = Math.max(steps.run.limits.workspace_bytes, steps.compile?.limits.workspace_bytes ?? 0);
  const workspace = await context.sandbox.createWorkspace(context.slot, boxBytes);
  try {
    workspace.writeFiles(request.files ?? []);
    // The language's variables (e.g. Go's build cache) under the request's own.
    const env = steps.language?.env ? { ...steps.language.env, ...request.env } : request.env;
    const common = { slot: context.slot, workspace, env, signal: context.signal };
    let compile: RunResult | undefined;
    if (steps.compile) {
      compile = await context.sandbox.run({ ...common, argv: steps.compile.argv, limits: steps.compile.limits, boxWritable: true });
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
