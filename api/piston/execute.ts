/**
 * Piston v2's POST /api/v2/execute, translated: its request into a runcell
 * job request (the contract's), and the job's result back into Piston's
 * response (run and compile stages). Validation answers with Piston's own
 * messages in its `{message}` shape.
 */
import { z } from 'zod';
import type { JobRequestInput } from '../../contract/job-request.js';
import type { LimitName, LimitRanges } from '../../contract/limits.js';
import type { JobResult } from '../../contract/job-record.js';
import type { RunResult } from '../../contract/run-result.js';
import { findLanguage } from '../../rootfs/languages.js';
import { resolveRuntime, type PistonRuntime } from './runtimes.js';

const fileSchema = z.object({
  name: z.string().optional(),
  content: z.string(),
  encoding: z.enum(['utf8', 'base64', 'hex']).optional(),
});

/** Piston's limit fields and the runcell limit each sets (Piston: ms for times, bytes for memory; -1 or 0 = the default). */
const LIMIT_FIELDS = [
  ['compile_timeout', 'compile', 'wall_ms'],
  ['run_timeout', 'run', 'wall_ms'],
  ['compile_cpu_time', 'compile', 'cpu_ms'],
  ['run_cpu_time', 'run', 'cpu_ms'],
  ['compile_memory_limit', 'compile', 'memory_bytes'],
  ['run_memory_limit', 'run', 'memory_bytes'],
] as const satisfies readonly (readonly [string, 'compile' | 'run', LimitName])[];

export type PistonProblem = { status: 400; message: string };

export interface PistonJob {
  runtime: PistonRuntime;
  request: JobRequestInput;
  /** Wall limits the job runs under, for how long to wait for it. */
  runWallMs: number;
  compileWallMs: number;
}

function must(condition: boolean, message: string): void {
  if (!condition) throw { status: 400, message } satisfies PistonProblem;
}

function limitsOf(body: Record<string, unknown>, ranges: LimitRanges): Record<'compile' | 'run', Partial<Record<LimitName, number>>> {
  const limits = { compile: {}, run: {} } as Record<'compile' | 'run', Partial<Record<LimitName, number>>>;
  for (const [field, stage, name] of LIMIT_FIELDS) {
    const value = body[field];
    if (value === undefined || value === null) continue;
    must(typeof value === 'number' && Number.isFinite(value), `If specified, ${field} must be a number`);
    const n = Math.round(value as number);
    if (n === -1 || n === 0) continue; // Piston: -1 is "no limit" (memory), 0 is passed through: here both mean the server's default
    must(n >= 0, `${field} must be non-negative`);
    must(n <= ranges[name].max, `${field} cannot exceed the configured limit of ${ranges[name].max}`);
    must(n >= ranges[name].min, `${field} cannot be below the configured minimum of ${ranges[name].min}`);
    limits[stage][name] = n;
  }
  return limits;
}

function filesOf(body: Record<string, unknown>, runtime: PistonRuntime): NonNullable<JobRequestInput['files']> {
  must(Array.isArray(body.files), 'files is required as an array');
  const files = body.files as unknown[];
  const parsed = files.map((file, i) => {
    const result = fileSchema.safeParse(file);
    must(result.success, `files[${i}].content is required as a string`);
    return result.data!;
  });
  must(parsed.some((f) => (f.encoding ?? 'utf8') === 'utf8'), 'files must include at least one utf8 encoded file');
  // Piston names an unnamed file file<i>.code; compilers go by the extension, so the entry gets the language's own name.
  const entryName = findLanguage(runtime.id)?.defaultFile ?? 'file0.code';
  return parsed.map((f, i) => ({
    path: f.name ?? (i === 0 ? entryName : `file${i}.code`),
    content: f.encoding === 'hex' ? Buffer.from(f.content, 'hex').toString('base64') : f.content,
    encoding: f.encoding === 'utf8' || f.encoding === undefined ? ('utf8' as const) : ('base64' as const),
  }));
}

/** A Piston request as a runcell job, or Piston's 400 for it. */
export function translateExecute(raw: unknown, runtimes: PistonRuntime[], ranges: LimitRanges): PistonJob | PistonProblem {
  try {
    must(typeof raw === 'object' && raw !== null && !Array.isArray(raw), 'language is required as a string');
    const body = raw as Record<string, unknown>;
    must(typeof body.language === 'string', 'language is required as a string');
    must(typeof body.version === 'string', 'version is required as a string');
    const runtime = resolveRuntime(runtimes, body.language as string, body.version as string);
    must(runtime !== undefined, `${body.language as string}-${body.version as string} runtime is unknown`);
    const files = filesOf(body, runtime!);
    must(body.args === undefined || (Array.isArray(body.args) && body.args.every((a) => typeof a === 'string')), 'args must be an array of strings');
    must(body.stdin === undefined || typeof body.stdin === 'string', 'stdin must be a string');
    const limits = limitsOf(body, ranges);
    // Piston ends stdin with a newline when it lacks one.
    let stdin = (body.stdin as string | undefined) ?? '';
    if (!stdin.endsWith('\n')) stdin += '\n';
    const request: JobRequestInput = { language: runtime!.id, files, stdin, args: (body.args as string[] | undefined) ?? [] };
    if (Object.keys(limits.run).length > 0) request.limits = limits.run;
    if (Object.keys(limits.compile).length > 0) request.compile_limits = limits.compile;
    return {
      runtime: runtime!,
      request,
      runWallMs: limits.run.wall_ms ?? ranges.wall_ms.max,
      compileWallMs: limits.compile.wall_ms ?? ranges.wall_ms.max,
    };
  } catch (error) {
    if ((error as PistonProblem)?.status === 400) return error as PistonProblem;
    throw error;
  }
}

export type PistonStatus = 'RE' | 'SG' | 'TO' | 'OL' | 'EL' | 'XX' | null;

function pistonStatus(r: RunResult): PistonStatus {
  switch (r.status) {
    case 'ok':
      return null;
    case 'nonzero_exit':
      return 'RE';
    case 'signalled':
    case 'memory_limit': // isolate under Piston: an OOM kill is a SIGKILL
      return 'SG';
    case 'time_limit':
    case 'wall_time_limit':
      return 'TO';
    case 'output_limit':
      return r.stderr_truncated && !r.stdout_truncated ? 'EL' : 'OL';
    default:
      return 'XX';
  }
}

export interface PistonStage {
  stdout: string;
  stderr: string;
  output: string;
  code: number | null;
  signal: string | null;
  message: string | null;
  status: PistonStatus;
  cpu_time: number;
  wall_time: number;
  memory: number;
}

export function pistonStage(r: RunResult): PistonStage {
  const status = pistonStatus(r);
  // Piston reports a kill for a limit as SIGKILL, with no exit code.
  const killed = status === 'TO' || status === 'OL' || status === 'EL' || r.status === 'memory_limit';
  const signal = killed ? 'SIGKILL' : r.signal;
  return {
    stdout: r.stdout,
    stderr: r.stderr,
    output: r.stdout + r.stderr,
    code: signal ? null : r.exit_code,
    signal,
    message: status === null ? null : r.message,
    status,
    cpu_time: r.cpu_ms,
    wall_time: r.wall_ms,
    memory: r.memory_peak_bytes,
  };
}

export interface PistonResponse {
  language: string;
  version: string;
  compile?: PistonStage;
  run: PistonStage;
}

/** Piston's response for a job's result; undefined when there is none to give (the job failed in runcell). */
export function executeResponse(runtime: PistonRuntime, result: JobResult | null): PistonResponse | undefined {
  if (!result) return undefined;
  // An interpreted language's compile step is runcell's syntax check, which Piston does not have: Piston shows no
  // compile stage, and a program that does not parse fails in its run stage (the check's output stands for it).
  const syntaxCheck = findLanguage(runtime.id)?.check !== undefined;
  const compile = result.compile && !syntaxCheck ? pistonStage(result.compile) : undefined;
  // A failed compile: Piston has no run stage and copies the compile stage into `run`.
  const run = result.run ? pistonStage(result.run) : result.compile && pistonStage(result.compile);
  if (!run) return undefined;
  return { language: runtime.language, version: runtime.version, ...(compile ? { compile } : {}), run };
}
