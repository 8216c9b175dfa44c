/**
 * rlimits: per-process limits set by runcell-exec init just before it
 * executes the job (so bubblewrap's own set-up is not subject to them).
 * The cgroup enforces the totals; these are per-process backstops.
 */
import { FIXED_LIMITS, type Limits } from './limits.js';

export interface Rlimits {
  /** RLIMIT_CPU in whole seconds: a backstop behind the cgroup CPU poll. */
  cpuSeconds: number;
  fileSizeBytes: number;
  openFiles: number;
  stackBytes: number;
  // RLIMIT_CORE is always 0: no core dump is ever written.
}

export function rlimitsFor(limits: Limits): Rlimits {
  return {
    // One second of slack past the limit: the cgroup poll ends the run first.
    cpuSeconds: Math.ceil(limits.cpu_ms / 1000) + 1,
    fileSizeBytes: limits.file_size_bytes,
    openFiles: FIXED_LIMITS.openFiles,
    // Recursion-heavy judge solutions want a deep stack; memory caps it anyway.
    stackBytes: limits.memory_bytes,
  };
}

/** Options for `runcell-exec init`. */
export function rlimitArgs(rlimits: Rlimits): string[] {
  return [
    `--cpu=${rlimits.cpuSeconds}`,
    `--fsize=${rlimits.fileSizeBytes}`,
    `--nofile=${rlimits.openFiles}`,
    `--stack=${rlimits.stackBytes}`,
  ];
}
