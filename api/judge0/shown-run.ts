/** Which run a Judge0 submission shows (one run, or several with number_of_runs). */
import type { JobResult } from '../../contract/job-record.js';
import type { RunResult } from '../../contract/run-result.js';

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
