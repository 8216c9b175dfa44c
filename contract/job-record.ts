/** A job as GET /v1/jobs/:id returns it: status, times, the request's summary, the result. */
import { z } from 'zod';
import { artifactSchema, rejectedArtifactSchema } from './artifacts.js';
import { JOB_VERDICTS, testResultSchema, verdictCountsSchema } from './judged-result.js';
import { compileResultSchema, RUN_ERROR_CODES, runResultSchema, stepResultSchema } from './run-result.js';

export const JOB_STATUSES = ['queued', 'running', 'completed', 'cancelled', 'failed'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_STATUSES = ['completed', 'cancelled', 'failed'] as const;
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

/** Why a job failed (status failed): a run's error code, or one of the job's own. */
export const JOB_ERROR_CODES = [
  ...RUN_ERROR_CODES,
  /** Its workers died while running it, twice. */
  'worker_died',
  /** The queued job does not satisfy the contract (written by another version of the API, or by hand). */
  'invalid_job',
  /** The queued job names a contract version this worker does not know. */
  'unsupported_version',
  /** The job names a language the worker's rootfs does not have. */
  'language_not_installed',
  /** An exception while processing the job. */
  'exception',
] as const;
export type JobErrorCode = (typeof JOB_ERROR_CODES)[number];

export const jobResultSchema = z
  .object({
    compile: compileResultSchema.optional(),
    run: runResultSchema.nullable().describe('null when the compile failed, in judged jobs and in jobs with steps'),
    tests: z.array(testResultSchema).optional().describe('judged jobs: the judged tests in order (skipped ones absent)'),
    verdict: z.enum(JOB_VERDICTS).optional(),
    counts: verdictCountsSchema.optional(),
    checker_compile: compileResultSchema.optional(),
    interactor_compile: compileResultSchema.optional(),
    steps: z.array(stepResultSchema).optional().describe('jobs with steps: the steps that ran, in order (those after a failed step are absent)'),
    artifacts: z.array(artifactSchema).optional().describe('jobs with artifacts: the files kept (download at /v1/jobs/{id}/artifacts/{path})'),
    artifacts_rejected: z.array(rejectedArtifactSchema).optional().describe('matching entries not kept: links, FIFOs, devices (never followed) and files past the caps'),
  })
  .meta({ id: 'JobResult' });
export type JobResult = z.infer<typeof jobResultSchema>;

/** The request as accepted, without file contents. */
export const requestSummarySchema = z
  .object({
    language: z.string().optional(),
    command: z.array(z.string()).optional(),
    files: z.array(z.object({ path: z.string(), encoding: z.string(), size_bytes: z.number().int() })),
    stdin_bytes: z.number().int(),
    interactive_stdin: z.boolean().optional().describe('stdin is written while the job runs (POST /v1/jobs/{id}/stdin)'),
    args: z.array(z.string()).optional(),
    env_names: z.array(z.string()).optional().describe('names only: values may be secrets'),
    limits: z.record(z.string(), z.number()).optional(),
    compile_limits: z.record(z.string(), z.number()).optional(),
    seccomp_profile: z.string().optional(),
    tests: z.object({ count: z.number().int(), ids: z.array(z.string()) }).optional().describe('judged jobs: how many tests and their ids'),
    comparison: z.object({ mode: z.string(), absolute: z.number().optional(), relative: z.number().optional(), case_sensitive: z.boolean().optional() }).optional(),
    checker: z.object({ language: z.string(), protocol: z.string().optional(), files: z.array(z.string()) }).optional(),
    interactor: z.object({ language: z.string(), protocol: z.string(), files: z.array(z.string()) }).optional(),
    stop_on_first_failure: z.boolean().optional(),
    steps: z.array(z.object({ name: z.string().optional(), command: z.array(z.string()), continue_on_failure: z.boolean().optional() })).optional(),
    problem: z.string().optional().describe('problem jobs: the stored problem judged against'),
    problem_revision: z.number().int().optional(),
    input_validation: z.boolean().optional().describe("the job that ran a stored problem's input validators"),
    artifacts: z.array(z.string()).optional().describe('the artifact patterns'),
    archive: z.object({ format: z.string(), size_bytes: z.number().int() }).optional().describe('the archive, without its content'),
  })
  .meta({ id: 'RequestSummary' });
export type RequestSummary = z.infer<typeof requestSummarySchema>;

/** How a job ended, as the store keeps it beside the status. */
export interface JobOutcome {
  result?: JobResult | null;
  reason?: string;
  error_code?: JobErrorCode;
}

export const jobRecordSchema = z
  .object({
    id: z.string(),
    status: z.enum(JOB_STATUSES),
    created_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    queue_wait_ms: z.number().int().nullable(),
    request: requestSummarySchema,
    result: jobResultSchema.nullable(),
    reason: z.string().optional().describe('why a job failed or was cancelled'),
    error_code: z.enum(JOB_ERROR_CODES).optional().describe('failed jobs: why, as a code'),
  })
  .meta({ id: 'Job' });
export type JobRecord = z.infer<typeof jobRecordSchema>;
