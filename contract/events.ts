/** A job's events, as the SSE stream (GET /v1/jobs/:id/events) sends them: one schema per type. */
import { z } from 'zod';
import { JOB_ERROR_CODES } from './job-record.js';
import { JOB_VERDICTS, TEST_VERDICTS, verdictCountsSchema } from './judged-result.js';
import { RUN_STATUSES } from './run-result.js';

export const EVENT_TYPES = ['queued', 'started', 'compile_finished', 'run_finished', 'test_finished', 'completed', 'cancelled', 'failed'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

const status = z.enum(RUN_STATUSES);

export const eventDataSchemas = {
  queued: z.object({}),
  started: z.object({ worker: z.string() }),
  compile_finished: z.object({ status, cached: z.boolean().optional(), checker: z.literal(true).optional().describe("the checker's compile"), interactor: z.literal(true).optional().describe("the interactor's compile") }),
  run_finished: z.object({ status }),
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
    eventOf('compile_finished', eventDataSchemas.compile_finished),
    eventOf('run_finished', eventDataSchemas.run_finished),
    eventOf('test_finished', eventDataSchemas.test_finished),
    eventOf('completed', endEventDataSchema),
    eventOf('cancelled', endEventDataSchema),
    eventOf('failed', endEventDataSchema),
  ])
  .meta({ id: 'Event' });
export type JobEvent = z.infer<typeof eventSchema>;
export type EndEventData = z.infer<typeof endEventDataSchema>;
