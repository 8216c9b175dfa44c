/** Which run a Judge0 submission shows (one run, or several with number_of_runs). */
import type { JobRecord, JobResult } from '../../contract/job-record.js';
import type { RunResult } from '../../contract/run-result.js';
import { findLanguage } from '../../rootfs/languages.js';

/**
 * The run a submission shows: its one run, or with number_of_runs > 1 the
 * last of its runs (runcell's tests) with CPU, wall time and memory averaged
 * over them, as Judge0 does.
 */
export function shownRun(result: JobResult | null | undefined): RunResult | undefined {
  if (result?.run) return result.run;
  const runs = result?.tests;
  if (!runs || runs.length === 0) return undefined;
  const mean = (pick: (r: RunResult) => number) => Math.round(runs.reduce((sum, r) => sum + pick(r), 0) / runs.length);
  return { ...runs[runs.length - 1], cpu_ms: mean((r) => r.cpu_ms), wall_ms: mean((r) => r.wall_ms), memory_peak_bytes: mean((r) => r.memory_peak_bytes) };
}

/**
 * An interpreted program that does not parse: runcell's syntax check (the language's compile step) refused it,
 * where Judge0, which has no such check, runs it and it ends with a non-zero exit (Runtime Error (NZEC)) and
 * the interpreter's message on stderr. Judge0 clients expect that, so the failed check is shown as the run.
 */
export function failedSyntaxCheck(job: JobRecord): RunResult | undefined {
  const compile = job.result?.compile;
  const language = job.request.language ? findLanguage(job.request.language) : undefined;
  if (!compile || compile.status !== 'nonzero_exit' || !language?.check) return undefined;
  return compile;
}
