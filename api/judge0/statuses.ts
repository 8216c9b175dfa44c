/**
 * Judge0's 14 statuses, and the one a runcell job maps to: its job status
 * (queued, running, ended), its compile and run results, and Judge0's own
 * comparison with expected_output. Judge0 has no memory-limit status: a job
 * killed at its memory limit keeps the status Judge0 gives such a kill
 * (Runtime Error (Other), signal 9) and says why in `message`.
 */
import { constants } from 'node:os';
import type { JobRecord } from '../../contract/job-record.js';
import type { RunResult } from '../../contract/run-result.js';
import { failedSyntaxCheck, shownRun } from './shown-run.js';

export const STATUSES = [
  { id: 1, description: 'In Queue' },
  { id: 2, description: 'Processing' },
  { id: 3, description: 'Accepted' },
  { id: 4, description: 'Wrong Answer' },
  { id: 5, description: 'Time Limit Exceeded' },
  { id: 6, description: 'Compilation Error' },
  { id: 7, description: 'Runtime Error (SIGSEGV)' },
  { id: 8, description: 'Runtime Error (SIGXFSZ)' },
  { id: 9, description: 'Runtime Error (SIGFPE)' },
  { id: 10, description: 'Runtime Error (SIGABRT)' },
  { id: 11, description: 'Runtime Error (NZEC)' },
  { id: 12, description: 'Runtime Error (Other)' },
  { id: 13, description: 'Internal Error' },
  { id: 14, description: 'Exec Format Error' },
] as const;
export type StatusId = (typeof STATUSES)[number]['id'];

export function statusObject(id: StatusId): { id: StatusId; description: string } {
  return { ...STATUSES[id - 1] };
}

/** Judge0's comparison: each line's trailing blanks off, then the whole text's. */
export function judge0Normalize(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .trimEnd();
}

const SIGNAL_STATUS: Record<string, StatusId> = { SIGSEGV: 7, SIGXFSZ: 8, SIGFPE: 9, SIGABRT: 10 };

export interface Verdict {
  status: StatusId;
  message: string | null;
  exitCode: number | null;
  exitSignal: number | null;
}

const signalNumber = (name: string | null) => (name ? ((constants.signals as Record<string, number>)[name] ?? null) : null);

function runVerdict(run: RunResult, expectedOutput: string | null, cpuLimitMs: number): Verdict {
  const signal = signalNumber(run.signal);
  // isolate reports no exit code for a killed program; Judge0 stores 0 then.
  const exitCode = run.exit_code ?? 0;
  const verdict = (status: StatusId, message: string | null, exitSignal = signal): Verdict => ({ status, message, exitCode, exitSignal });
  switch (run.status) {
    case 'ok':
      // Judge0 runs with cpu_time_limit + cpu_extra_time and reports a time over cpu_time_limit as TLE.
      if (run.cpu_ms > cpuLimitMs) return verdict(5, 'Time limit exceeded');
      if (expectedOutput === null) return verdict(3, null);
      return verdict(judge0Normalize(run.stdout) === judge0Normalize(expectedOutput) ? 3 : 4, null);
    case 'nonzero_exit':
      return verdict(11, `Exited with error status ${run.exit_code}`);
    case 'signalled':
      return verdict(SIGNAL_STATUS[run.signal ?? ''] ?? 12, `Caught fatal signal ${signal ?? run.signal}`);
    case 'time_limit':
      return verdict(5, 'Time limit exceeded');
    case 'wall_time_limit':
      return verdict(5, 'Time limit exceeded (wall clock)');
    case 'memory_limit':
      return verdict(12, 'Memory limit exceeded: killed at its memory limit (runcell)', 9);
    case 'output_limit':
      // Judge0's output goes to a file under max_file_size: past it the program gets SIGXFSZ.
      return verdict(8, 'Output limit exceeded (runcell)', 25);
    default:
      return verdict(13, run.message ?? 'internal error');
  }
}

/** The Judge0 status of a runcell job (with the run's exit code and signal). */
export function judge0Verdict(job: JobRecord, expectedOutput: string | null, cpuLimitMs: number): Verdict {
  const none = { exitCode: null, exitSignal: null };
  if (job.status === 'queued') return { status: 1, message: null, ...none };
  if (job.status === 'running') return { status: 2, message: null, ...none };
  if (job.status !== 'completed' || !job.result) return { status: 13, message: job.reason ?? `the job ${job.status}`, ...none };
  const { compile } = job.result;
  const syntaxError = failedSyntaxCheck(job);
  if (syntaxError) return runVerdict(syntaxError, expectedOutput, cpuLimitMs);
  const run = shownRun(job.result);
  if (compile && compile.status !== 'ok') {
    if (compile.status === 'sandbox_error' || compile.status === 'cancelled') return { status: 13, message: compile.message ?? 'internal error', ...none };
    // Judge0 clears the run's figures on a failed compile: only compile_output and the status remain.
    return { status: 6, message: null, ...none };
  }
  if (!run) return { status: 13, message: 'the job has no run result', ...none };
  return runVerdict(run, expectedOutput, cpuLimitMs);
}
