/**
 * A runcell job as a Judge0 submission: every field Judge0 can return, in
 * its column order, in its JSON types (decimals as strings of seconds, memory
 * in KB, empty output as null), selected by ?fields and base64-encoded the
 * way Ruby's Base64.encode64 writes it.
 */
import type { JobRecord } from '../../contract/job-record.js';
import type { Judge0Language } from './languages.js';
import { failedSyntaxCheck, shownRun } from './shown-run.js';
import { judge0Verdict, statusObject } from './statuses.js';
import { cpuLimitMs, type StoredSubmission } from './submission.js';

/** All fields, in Judge0's column order (`?fields=*`), then the two objects. */
export const ALL_FIELDS = [
  'source_code', 'language_id', 'stdin', 'expected_output', 'stdout', 'status_id', 'created_at', 'finished_at', 'time', 'memory',
  'stderr', 'token', 'number_of_runs', 'cpu_time_limit', 'cpu_extra_time', 'wall_time_limit', 'memory_limit', 'stack_limit',
  'max_processes_and_or_threads', 'enable_per_process_and_thread_time_limit', 'enable_per_process_and_thread_memory_limit',
  'max_file_size', 'compile_output', 'exit_code', 'exit_signal', 'message', 'wall_time', 'compiler_options', 'command_line_arguments',
  'redirect_stderr_to_stdout', 'callback_url', 'additional_files', 'enable_network', 'status', 'language',
] as const;
export const DEFAULT_FIELDS = ['stdout', 'time', 'memory', 'stderr', 'token', 'compile_output', 'message', 'status'] as const;
/** Encoded when base64_encoded=true. */
const TEXT_OUTPUTS = new Set(['stdout', 'stderr', 'compile_output', 'source_code', 'stdin', 'expected_output', 'message']);

export type FieldsChoice = { fields: readonly string[] } | { error: string };

/** ?fields: absent = the default eight, `*` = all, else a comma list; an unknown name is a 400. */
export function chooseFields(raw: unknown): FieldsChoice {
  if (raw === undefined || raw === '') return { fields: DEFAULT_FIELDS };
  const text = String(raw);
  if (text.trim() === '*') return { fields: ALL_FIELDS };
  const asked = text.split(',').map((f) => f.trim()).filter((f) => f !== '');
  const unknown = asked.filter((f) => !(ALL_FIELDS as readonly string[]).includes(f));
  if (unknown.length > 0) return { error: `invalid fields: [${unknown.join(', ')}]` };
  return { fields: asked };
}

/** Ruby's Base64.encode64: a newline after every 60 characters and at the end. */
export function encode64(text: string): string {
  const b64 = Buffer.from(text, 'utf8').toString('base64');
  if (b64 === '') return '';
  return `${b64.match(/.{1,60}/g)!.join('\n')}\n`;
}

/** Seconds as Rails renders a decimal column: "0.002", "5.0". */
export function seconds(ms: number): string {
  const s = ms / 1000;
  return Number.isInteger(s) ? s.toFixed(1) : String(s);
}

const orNull = (text: string | undefined) => (text === undefined || text === '' ? null : text);

function outputs(job: JobRecord, stored: StoredSubmission) {
  const syntaxError = failedSyntaxCheck(job);
  const compile = syntaxError ? undefined : job.result?.compile;
  const run = syntaxError ?? shownRun(job.result);
  const compileOutput = compile ? orNull(compile.stdout + compile.stderr) : null;
  const failedCompile = compile && compile.status !== 'ok';
  const compileTimedOut = compile && (compile.status === 'time_limit' || compile.status === 'wall_time_limit');
  let stdout = run?.stdout;
  let stderr = run?.stderr;
  // Not interleaved: runcell keeps the two streams apart, so stderr comes after stdout.
  if (stored.flags.redirect_stderr_to_stdout && run) [stdout, stderr] = [run.stdout + run.stderr, ''];
  return {
    stdout: failedCompile ? null : orNull(stdout),
    stderr: failedCompile ? null : orNull(stderr),
    compile_output: compileTimedOut ? 'Compilation time limit exceeded.' : compileOutput,
    time: run && !failedCompile ? seconds(run.cpu_ms) : null,
    wall_time: run && !failedCompile ? seconds(run.wall_ms) : null,
    memory: run && !failedCompile ? Math.round(run.memory_peak_bytes / 1024) : null,
  };
}

/** Every field of a submission, unencoded. */
export function submissionView(job: JobRecord, stored: StoredSubmission, language: Judge0Language | undefined): Record<string, unknown> {
  const verdict = judge0Verdict(job, stored.expected_output, cpuLimitMs(stored));
  const { limits, flags } = stored;
  return {
    source_code: stored.source_code,
    language_id: stored.language_id,
    stdin: stored.stdin,
    expected_output: stored.expected_output,
    ...outputs(job, stored),
    status_id: verdict.status,
    created_at: job.created_at,
    finished_at: job.finished_at,
    token: job.id,
    number_of_runs: limits.number_of_runs,
    cpu_time_limit: seconds(limits.cpu_time_limit * 1000),
    cpu_extra_time: seconds(limits.cpu_extra_time * 1000),
    wall_time_limit: seconds(limits.wall_time_limit * 1000),
    memory_limit: limits.memory_limit,
    stack_limit: limits.stack_limit,
    max_processes_and_or_threads: limits.max_processes_and_or_threads,
    enable_per_process_and_thread_time_limit: flags.enable_per_process_and_thread_time_limit,
    enable_per_process_and_thread_memory_limit: flags.enable_per_process_and_thread_memory_limit,
    max_file_size: limits.max_file_size,
    exit_code: verdict.exitCode,
    exit_signal: verdict.exitSignal,
    message: verdict.message,
    compiler_options: stored.compiler_options,
    command_line_arguments: stored.command_line_arguments,
    redirect_stderr_to_stdout: flags.redirect_stderr_to_stdout,
    callback_url: stored.callback_url,
    additional_files: stored.additional_files,
    enable_network: flags.enable_network,
    status: statusObject(verdict.status),
    language: language ? { id: language.id, name: language.name } : { id: stored.language_id, name: null },
  };
}

/** The chosen fields, in the order asked, base64-encoded when asked. */
export function selectFields(view: Record<string, unknown>, fields: readonly string[], base64: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of fields) {
    const value = view[field];
    out[field] = base64 && TEXT_OUTPUTS.has(field) && typeof value === 'string' ? encode64(value) : value;
  }
  return out;
}
