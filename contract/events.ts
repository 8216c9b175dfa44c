/** A job's events, as the SSE stream (GET /v1/jobs/:id/events) sends them: one schema per type. */
import { z } from 'zod';
import { JOB_ERROR_CODES } from './job-record.js';
import { JOB_VERDICTS, TEST_VERDICTS, verdictCountsSchema } from './judged-result.js';
import { RUN_STATUSES } from './run-result.js';

export const EVENT_TYPES = ['queued', 'started', 'output', 'compile_finished', 'run_finished', 'step_finished', 'test_finished', 'completed', 'cancelled', 'failed'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

const status = z.enum(RUN_STATUSES);

export const eventDataSchemas = {
  queued: z.object({}),
  started: z.object({ worker: z.string() }),
  output: z.object({
    stream: z.enum(['stdout', 'stderr']),
    offset: z.number().int().describe("byte offset of data's first byte in this stream of this run (of this step)"),
    data: z.string().describe('UTF-8 text; a chunk never ends inside a character, except at the end of a run'),
    step: z.number().int().optional().describe('jobs with steps: the 0-based step this output belongs to'),
    capped: z.literal(true).optional().describe("the job's live output reached its cap: no more output events (the result still has everything kept)"),
  }),
  compile_finished: z.object({ status, cached: z.boolean().optional(), checker: z.literal(true).optional().describe("the checker's compile"), interactor: z.literal(true).optional().describe("the interactor's compile") }),
  run_finished: z.object({ status }),
  step_finished: z.object({ index: z.number().int().describe('0-based position of the step'), total: z.number().int(), status }),
  test_finished: z.object({
    index: z.number().int().describe('0-based position of the test'),
    total: z.number().int(),
    id: z.string(),
    verdict: z.enum(TEST_VERDICTS),
    status,
    cpu_ms: z.number().int(),
    wall_ms: z.number().int(),
    memory_peak_bytes: z.number().int(),
  }),
} as const;

/** The data of the terminal events: how the job ended (the whole result is in the job). */
export const endEventDataSchema = z.object({
  reason: z.string().optional(),
  error_code: z.enum(JOB_ERROR_CODES).optional(),
  compile_status: status.optional(),
  run_status: status.nullable().optional(),
  verdict: z.enum(JOB_VERDICTS).optional(),
  counts: verdictCountsSchema.optional(),
});

const eventOf = <T extends EventType, D extends z.ZodType>(type: T, data: D) =>
  z.object({ id: z.string().describe('stream id, usable as Last-Event-ID'), job_id: z.string(), type: z.literal(type), at: z.string(), data });

export const eventSchema = z
  .discriminatedUnion('type', [
    eventOf('queued', eventDataSchemas.queued),
    eventOf('started', eventDataSchemas.started),
    eventOf('output', eventDataSchemas.output),
    eventOf('compile_finished', eventDataSchemas.compile_finished),
    eventOf('run_finished', eventDataSchemas.run_finished),
    eventOf('step_finished', eventDataSchemas.step_finished),
    eventOf('test_finished', eventDataSchemas.test_finished),
    eventOf('completed', endEventDataSchema),
    eventOf('cancelled', endEventDataSchema),
    eventOf('failed', endEventDataSchema),
  ])
  .meta({ id: 'Event' });
export type JobEvent = z.infer<typeof eventSchema>;
export type OutputEventData = z.infer<typeof eventDataSchemas.output>;
export type EndEventData = z.infer<typeof endEventDataSchema>;
