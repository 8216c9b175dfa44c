/** The result of one sandbox run (a compile step, a run, a test's run, a checker's run). */
import { z } from 'zod';

export const RUN_STATUSES = [
  'ok',
  'nonzero_exit',
  'signalled',
  'time_limit',
  'wall_time_limit',
  'memory_limit',
  'output_limit',
  /** Killed because the job was cancelled (or its worker shut down): says nothing of the program. */
  'cancelled',
  'sandbox_error',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/**
 * Why runcell (not the program) failed a run; null when it did not. Metrics
 * label by it and the worker branches on it; `message` is for people.
 */
export const RUN_ERROR_CODES = [
  /** The run's /tmp or cgroup could not be made. */
  'setup_failed',
  /** The rootfs was gone when the run was set up. */
  'rootfs_missing',
  /** The launcher process could not be started. */
  'spawn_failed',
  /** bubblewrap or runcell-exec failed before the program started. */
  'start_failed',
  /** Waiting for the sandbox's launcher failed while the program ran. */
  'launcher_died',
  /** The sandbox's supervisor ended without the program's status: killed from outside, or broke. */
  'killed_from_outside',
  /** Killing the leftovers or reading the run's figures failed after the run. */
  'accounting_failed',
  /** The run was cancelled (status cancelled). */
  'cancelled',
  /** A checker's files could not be written beside it (status nonzero_exit: a checker_error). */
  'checker_files_failed',
  /** The job asked for network egress and this worker has none (off, or its network could not be set up). */
  'network_unavailable',
  /** The job names an image this worker's layer store does not have (runcell image import it). */
  'image_missing',
] as const;
export type RunErrorCode = (typeof RUN_ERROR_CODES)[number];

export const runResultSchema = z
  .object({
    status: z.enum(RUN_STATUSES),
    exit_code: z.number().int().nullable(),
    signal: z.string().nullable(),
    stdout: z.string(),
    stderr: z.string(),
    stdout_truncated: z.boolean(),
    stderr_truncated: z.boolean(),
    cpu_ms: z.number().int(),
    wall_ms: z.number().int(),
    memory_peak_bytes: z.number().int(),
    oom_killed: z.boolean(),
    message: z.string().nullable(),
    error_code: z.enum(RUN_ERROR_CODES).nullable().describe('why runcell failed the run (status sandbox_error or cancelled); null otherwise'),
    network: z
      .object({
        bytes_in: z.number().int().describe('bytes the job received through its interface (IP headers included)'),
        bytes_out: z.number().int().describe('bytes the job sent through its interface (IP headers included)'),
      })
      .optional()
      .describe('only in runs of a job with network "egress"'),
  })
  .meta({ id: 'RunResult' });
export type RunResult = z.infer<typeof runResultSchema>;

export const compileResultSchema = runResultSchema
  .extend({ cached: z.boolean().describe('true: reused from the compile cache (figures are those of the original compile)') })
  .meta({ id: 'CompileResult' });
export type CompileResult = z.infer<typeof compileResultSchema>;

export const stepResultSchema = runResultSchema
  .extend({ name: z.string().describe("the step's name, else its 1-based position") })
  .meta({ id: 'StepResult' });
export type StepResult = z.infer<typeof stepResultSchema>;
