/**
 * Accounting: turns what happened (the status record, the cgroup's figures,
 * the limit runcell enforced) into the run result and its status.
 */
import { signalName } from './signals.js';
import { RUN_STATUSES, type RunResult, type RunStatus } from '../contract/run-result.js';
import type { CgroupStats } from './cgroup.js';
import type { Limits } from './limits.js';
import type { LaunchOutcome } from './process.js';

export { RUN_STATUSES, type RunResult, type RunStatus };

/** The limit runcell itself enforced by killing the run, if any. */
export type EnforcedLimit = 'time_limit' | 'wall_time_limit' | 'output_limit';

export interface RunFacts {
  limits: Limits;
  outcome: LaunchOutcome;
  stats: CgroupStats;
  wallMs: number;
  /** What runcell killed the run for, if it did: a limit, or a cancel. */
  enforced?: EnforcedLimit | 'cancelled';
}

/** The run's status (ok, a limit, nonzero_exit, ...) and result from what happened. */
export function runStatus(facts: RunFacts): RunResult {
  const { limits, outcome, stats } = facts;
  const cpuMs = Math.round(stats.cpuNs / 1e6);
  const base: RunResult = {
    status: 'ok',
    exit_code: null,
    signal: null,
    stdout: outcome.stdout.toString('utf8'),
    stderr: outcome.stderr.toString('utf8'),
    stdout_truncated: outcome.stdoutTruncated,
    stderr_truncated: outcome.stderrTruncated,
    cpu_ms: cpuMs,
    wall_ms: Math.round(facts.wallMs),
    memory_peak_bytes: stats.memoryPeakBytes,
    oom_killed: stats.oomKills > 0,
    message: null,
    error_code: null,
  };
  // A cancelled run says nothing of the program, whatever it did before the kill.
  if (facts.enforced === 'cancelled') return { ...base, status: 'cancelled', error_code: 'cancelled', message: 'cancelled' };
  const record = outcome.status;
  if (record.kind === 'exit') base.exit_code = record.code;
  if (record.kind === 'signal') base.signal = signalName(record.signal);

  // runcell's own kill at the wall limit may land before the program started (a tiny limit on a loaded
  // host): that is still the wall limit, which counts from the launch. Any other early end is runcell's.
  const killedAtWallLimitWhileStarting = record.kind === 'not_started' && facts.enforced === 'wall_time_limit';
  if (outcome.spawnError || (record.kind === 'not_started' && !killedAtWallLimitWhileStarting)) {
    return { ...base, status: 'sandbox_error', error_code: outcome.spawnError ? 'spawn_failed' : 'start_failed', message: sandboxErrorMessage(outcome) };
  }
  // Limits first: a program killed for a limit died of a signal, but the limit is the reason.
  if (base.oom_killed) {
    return { ...base, status: 'memory_limit', message: `memory limit of ${limits.memory_bytes} bytes exceeded (OOM killer)` };
  }
  if (facts.enforced === 'output_limit') {
    const stream = outcome.stdoutTruncated ? 'stdout' : 'stderr';
    return { ...base, status: 'output_limit', message: `${stream} exceeded ${limits.output_bytes} bytes` };
  }
  if (facts.enforced === 'time_limit' || cpuMs > limits.cpu_ms || record.kind === 'signal' && base.signal === 'SIGXCPU') {
    return { ...base, status: 'time_limit', message: `CPU time limit of ${limits.cpu_ms} ms exceeded` };
  }
  if (facts.enforced === 'wall_time_limit') {
    return { ...base, status: 'wall_time_limit', message: `wall time limit of ${limits.wall_ms} ms exceeded` };
  }
  switch (record.kind) {
    case 'exit':
      return record.code === 0 ? base : { ...base, status: 'nonzero_exit' };
    case 'signal':
      return { ...base, status: 'signalled', message: signalMessage(base.signal!, limits) };
    case 'exec_error':
      return { ...base, status: 'nonzero_exit', exit_code: 127, message: `cannot execute the command: ${errnoName(record.errno)}` };
    case 'not_started':
      // (Reached only through the wall limit above; kept for the type.)
      return { ...base, status: 'sandbox_error', error_code: 'start_failed', message: sandboxErrorMessage(outcome) };
    case 'started':
      // The job cannot signal its init (pid 1 of its namespace) nor see bubblewrap: a supervisor that died
      // without reporting was killed from outside or broke. runcell's failure, not the program's status.
      return { ...base, status: 'sandbox_error', error_code: 'killed_from_outside', message: `the sandbox's supervisor ended without the program's status (bubblewrap ${bubblewrapEnd(outcome)})` };
  }
}

function bubblewrapEnd(outcome: LaunchOutcome): string {
  if (outcome.exitCode !== null && outcome.exitCode > 128 && outcome.exitCode < 128 + 65) return `killed by ${signalName(outcome.exitCode - 128)}`;
  if (outcome.signal) return `killed by ${outcome.signal}`;
  return `exited with ${outcome.exitCode}`;
}

function signalMessage(signal: string, limits: Limits): string | null {
  if (signal === 'SIGXFSZ') return `file size limit of ${limits.file_size_bytes} bytes exceeded`;
  return null;
}

/** bubblewrap reports its own failures on stderr; keep its line, not the job's output. */
function sandboxErrorMessage(outcome: LaunchOutcome): string {
  if (outcome.spawnError) return `cannot start the sandbox: ${outcome.spawnError.message}`;
  const lines = outcome.stderr.toString('utf8').split('\n').filter((line) => /^(bwrap|runcell-exec):/.test(line));
  const reason = lines.length > 0 ? lines.join('; ') : `bubblewrap exited with ${outcome.exitCode ?? outcome.signal}`;
  return `the sandbox failed before the program started: ${reason}`;
}

const ERRNO_NAMES: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT (no such file)', 8: 'ENOEXEC (not an executable format)', 13: 'EACCES (permission denied)', 20: 'ENOTDIR', 21: 'EISDIR' };

function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}
