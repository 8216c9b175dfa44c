/**
 * A Judge0 submission's fields: checked the way Judge0 checks them (its
 * defaults and maxima, its Rails messages in a 422 `{field: [messages]}`),
 * kept as given for its echo, and translated into a runcell job request.
 */
import { z } from 'zod';
import type { JobRequestInput, SubmittedFile } from '../../contract/job-request.js';
import type { RequestedLimits } from '../../contract/limits.js';
import { callbackUrlProblem } from './callback-address.js';
import { compileArgsProblem } from '../../rootfs/compiler-options.js';
import { findLanguage } from '../../rootfs/languages.js';
import { JUDGE0_NAMES, type Judge0Language } from './languages.js';

/** Judge0 CE 1.13.1's numeric limit fields: default, bounds (Config), unit. */
export const LIMIT_FIELDS = {
  cpu_time_limit: { default: 5, min: 0, max: 15, float: true },
  cpu_extra_time: { default: 1, min: 0, max: 5, float: true },
  wall_time_limit: { default: 10, min: 1, max: 20, float: true },
  memory_limit: { default: 128_000, min: 2048, max: 512_000, float: false },
  stack_limit: { default: 64_000, min: 0, max: 128_000, float: false },
  max_processes_and_or_threads: { default: 60, min: 0, max: 120, float: false, exclusiveMin: true },
  max_file_size: { default: 1024, min: 0, max: 4096, float: false },
  number_of_runs: { default: 1, min: 0, max: 20, float: false, exclusiveMin: true },
} as const;
type LimitField = keyof typeof LIMIT_FIELDS;
const LIMIT_NAMES = Object.keys(LIMIT_FIELDS) as LimitField[];

const BOOLEAN_FIELDS = ['enable_per_process_and_thread_time_limit', 'enable_per_process_and_thread_memory_limit', 'redirect_stderr_to_stdout', 'enable_network'] as const;
type BooleanField = (typeof BOOLEAN_FIELDS)[number];
const TEXT_FIELDS = ['source_code', 'stdin', 'expected_output', 'compiler_options', 'command_line_arguments', 'callback_url', 'additional_files'] as const;
type TextField = (typeof TEXT_FIELDS)[number];

/** What is kept of a submission (its echo in GET /submissions/:token?fields=*), texts decoded. */
export const storedSubmissionSchema = z.object({
  language_id: z.number().int(),
  source_code: z.string(),
  stdin: z.string().nullable(),
  expected_output: z.string().nullable(),
  compiler_options: z.string().nullable(),
  command_line_arguments: z.string().nullable(),
  callback_url: z.string().nullable(),
  additional_files: z.string().nullable(),
  limits: z.record(z.string(), z.number()),
  flags: z.record(z.string(), z.boolean()),
});
export type StoredSubmission = z.infer<typeof storedSubmissionSchema>;

export type Judge0Errors = Record<string, string[]>;

/** Rails renders a float bound as 15.0, an integer one as 512000. */
const bound = (n: number, float: boolean) => (float && Number.isInteger(n) ? n.toFixed(1) : String(n));

function numberOf(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

function booleanOf(value: unknown): boolean {
  return value === true || value === 'true' || value === '1' || value === 1;
}

function checkLimit(name: LimitField, raw: unknown, errors: Judge0Errors): number {
  const spec = LIMIT_FIELDS[name];
  if (raw === undefined || raw === null || raw === '') return spec.default;
  const n = numberOf(raw);
  const add = (message: string) => (errors[name] ??= []).push(message);
  if (n === undefined) add('is not a number');
  else if ('exclusiveMin' in spec && n <= spec.min) add(`must be greater than ${spec.min}`);
  else if (n < spec.min) add(`must be greater than or equal to ${spec.min}`);
  else if (n > spec.max) add(`must be less than or equal to ${bound(spec.max, spec.float)}`);
  return n === undefined ? spec.default : spec.float ? n : Math.trunc(n);
}

function textOf(raw: unknown, base64: boolean): string | null {
  if (raw === undefined || raw === null) return null;
  const text = typeof raw === 'string' ? raw : String(raw);
  return base64 ? Buffer.from(text, 'base64').toString('utf8') : text;
}

export interface CheckedSubmission {
  stored: StoredSubmission;
  language: Judge0Language;
  /** The limits given (not defaulted), which runcell applies as asked. */
  given: Set<LimitField>;
  /** stdin and source as sent, for the job (base64 kept exact). */
  raw: { source: string; stdin: string | null; base64: boolean };
}

/** What this request may ask for beyond Judge0's defaults (the operator's settings, for this client). */
export interface SubmissionPolicy {
  /** Why this request may not have network egress (api/app.ts egressGate); undefined when it may. */
  networkRefusal: string | undefined;
  /** RUNCELL_JUDGE0_CALLBACK_PRIVATE: callbacks may go to private, loopback... addresses. */
  callbackPrivate: boolean;
}

/** Nothing beyond Judge0's defaults: no network. */
const NOTHING_EXTRA: SubmissionPolicy = { networkRefusal: 'network egress is off', callbackPrivate: false };

/** Checks a submission's body (JSON fields, with the query string's as fallbacks). */
export function checkSubmission(body: Record<string, unknown>, languages: Judge0Language[], base64: boolean, policy: SubmissionPolicy = NOTHING_EXTRA): CheckedSubmission | { errors: Judge0Errors } {
  const errors: Judge0Errors = {};
  const add = (field: string, message: string) => (errors[field] ??= []).push(message);
  const texts = Object.fromEntries(TEXT_FIELDS.map((f) => [f, textOf(body[f], base64 && ['source_code', 'stdin', 'expected_output'].includes(f))])) as Record<TextField, string | null>;
  if (texts.source_code === null || texts.source_code.trim() === '') add('source_code', "can't be blank");
  const languageId = numberOf(body.language_id);
  let language: Judge0Language | undefined;
  if (body.language_id === undefined || body.language_id === null || body.language_id === '') add('language_id', "can't be blank");
  else if (languageId === undefined || !(language = languages.find((l) => l.id === languageId))) add('language_id', `language with id ${String(body.language_id)} doesn't exist`);
  const limits = Object.fromEntries(LIMIT_NAMES.map((name) => [name, checkLimit(name, body[name], errors)])) as Record<LimitField, number>;
  const flags = Object.fromEntries(BOOLEAN_FIELDS.map((f) => [f, booleanOf(body[f])])) as Record<BooleanField, boolean>;
  for (const field of ['compiler_options', 'command_line_arguments'] as const) if ((texts[field]?.length ?? 0) > 512) add(field, 'is too long (maximum is 512 characters)');
  for (const field of ['enable_per_process_and_thread_time_limit', 'enable_per_process_and_thread_memory_limit'] as const) if (flags[field]) add(field, 'this option cannot be enabled');
  if (flags.enable_network && policy.networkRefusal !== undefined) add('enable_network', 'enabling network is not allowed');
  const callbackProblem = texts.callback_url ? callbackUrlProblem(texts.callback_url, policy.callbackPrivate) : undefined;
  if (callbackProblem) add('callback_url', callbackProblem);
  const compilerOptionsProblem = texts.compiler_options?.trim() && language ? compilerOptionsRefusal(language, texts.compiler_options) : undefined;
  if (compilerOptionsProblem) add('compiler_options', compilerOptionsProblem);
  if (Object.keys(errors).length > 0) return { errors };
  const given = new Set(LIMIT_NAMES.filter((name) => body[name] !== undefined && body[name] !== null && body[name] !== ''));
  return {
    stored: { language_id: language!.id, ...texts, source_code: texts.source_code!, limits, flags },
    language: language!,
    given,
    raw: { source: String(body.source_code), stdin: body.stdin === undefined || body.stdin === null ? null : String(body.stdin), base64 },
  };
}

/** Judge0 strips these from command_line_arguments and compiler_options before its shell sees them. */
const SHELL_CHARS = /[$&;<>|`]/g;

/** Judge0's words of a command_line_arguments or compiler_options text: stripped as Judge0 does, split on blanks (no quotes: no shell). */
const wordsOf = (text: string | null) => (text ?? '').replace(SHELL_CHARS, '').split(/\s+/).filter((a) => a !== '');

/** Judge0's names (before " (") of the languages that take compiler options: its allowed_languages_for_compile_options. */
export const COMPILER_OPTIONS_LANGUAGES = JUDGE0_NAMES.filter((n) => findLanguage(n.runcell)?.compilerOptions).map((n) => n.prefix.slice(0, n.prefix.indexOf(' (')));

/** Why these compiler options are refused: Judge0's messages, then runcell's allow-list (rootfs/compiler-options.ts). */
function compilerOptionsRefusal(language: Judge0Language, text: string): string | undefined {
  if (language.compile_cmd === null) return 'setting compiler options is only allowed for compiled languages';
  const family = findLanguage(language.runcell)?.compilerOptions;
  const names = COMPILER_OPTIONS_LANGUAGES;
  if (!family) return `setting compiler options is only allowed for ${names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names[0]}`;
  return compileArgsProblem(family, wordsOf(text));
}

/** The runcell job for a checked submission; `extra`: additional_files' files (additional-files.ts), after the source. */
export function toJobRequest(s: CheckedSubmission, extra: SubmittedFile[] = []): JobRequestInput {
  const normalize = (b64: string) => Buffer.from(b64, 'base64').toString('base64');
  const { limits } = s.stored;
  const runLimits: RequestedLimits = {
    // Judge0 lets a program run cpu_extra_time past its limit and judges it against the limit itself (statuses.ts).
    cpu_ms: Math.max(1, Math.round((limits.cpu_time_limit + limits.cpu_extra_time) * 1000)),
    wall_ms: Math.round(limits.wall_time_limit * 1000),
  };
  // Judge0's defaults for these are too small for some runtimes (a JVM); runcell's own apply unless asked.
  if (s.given.has('memory_limit')) runLimits.memory_bytes = limits.memory_limit * 1024;
  if (s.given.has('max_processes_and_or_threads')) runLimits.pids = limits.max_processes_and_or_threads;
  if (s.given.has('max_file_size')) runLimits.file_size_bytes = limits.max_file_size * 1024;
  const args = wordsOf(s.stored.command_line_arguments);
  const compileArgs = wordsOf(s.stored.compiler_options);
  const request: JobRequestInput = {
    language: s.language.runcell,
    files: [s.raw.base64 ? { path: s.language.source_file, content: normalize(s.raw.source), encoding: 'base64' } : { path: s.language.source_file, content: s.raw.source }, ...extra],
    limits: runLimits,
  };
  if (args.length > 0) request.args = args;
  if (compileArgs.length > 0) request.compile_args = compileArgs;
  // Allowed by checkSubmission's policy; runcell's egress reaches the internet only (docs/security.md), not Judge0's --share-net.
  if (s.stored.flags.enable_network) request.network = 'egress';
  const stdin = s.raw.stdin === null ? {} : s.raw.base64 ? { stdin: normalize(s.raw.stdin), stdin_encoding: 'base64' as const } : { stdin: s.raw.stdin };
  const runs = limits.number_of_runs;
  if (runs <= 1) return { ...request, ...stdin };
  // Several runs: one compile, then the run repeated as runcell's tests (render.ts averages their figures, as Judge0 does).
  // Their expected_stdout is not used: Judge0's own comparison is made against expected_output.
  return { ...request, tests: Array.from({ length: runs }, () => ({ ...stdin, expected_stdout: '' })) };
}

/** The run's CPU limit Judge0 judges against (without the extra time), in ms. */
export const cpuLimitMs = (stored: StoredSubmission) => Math.round(stored.limits.cpu_time_limit * 1000);
