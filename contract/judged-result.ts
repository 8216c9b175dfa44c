/** What judging says: each test's verdict and result, the job's verdict and counts. */
import { z } from 'zod';
import { runResultSchema } from './run-result.js';

export const TEST_VERDICTS = [
  'accepted',
  'wrong_answer',
  'time_limit',
  'wall_time_limit',
  'memory_limit',
  'output_limit',
  'runtime_error',
  /** The custom checker or the interactor itself failed (an exit its protocol does not define, a crash, a limit): the problem's fault, not the submission's. */
  'checker_error',
] as const;
export type TestVerdict = (typeof TEST_VERDICTS)[number];

/** A job's overall verdict: compile_error, or the first non-accepted test's verdict, or accepted. */
export const JOB_VERDICTS = ['compile_error', ...TEST_VERDICTS] as const;
export type JobVerdict = (typeof JOB_VERDICTS)[number];

/** One piece of an interactive test's conversation, as the worker relayed it. */
export const transcriptEntrySchema = z
  .object({
    from: z.enum(['solution', 'interactor']).describe('who wrote it'),
    at_ms: z.number().int().describe('when the worker relayed it, in ms from the start of the test'),
    data: z.string().describe('the bytes as UTF-8 (invalid sequences replaced)'),
  })
  .meta({ id: 'TranscriptEntry' });
export type TranscriptEntry = z.infer<typeof transcriptEntrySchema>;

/** A judged test: its run result plus the verdict (and the checker's or the interactor's run, when there is one). */
export const testResultSchema = runResultSchema
  .extend({
    id: z.string(),
    verdict: z.enum(TEST_VERDICTS),
    verdict_message: z.string().nullable().describe("where the output differs, or the checker's or interactor's message"),
    checker: runResultSchema.optional(),
    interactor: runResultSchema.optional().describe("interactive tests: the interactor's own run (its stdout went to the solution: empty here)"),
    points: z.number().optional().describe("interactive tests, testlib protocol: the points of the interactor's exit 7 (`points N` on its stderr)"),
    transcript: z.array(transcriptEntrySchema).optional().describe('interactive tests with interactor.transcript_bytes: both directions in order, capped'),
    transcript_truncated: z.boolean().optional(),
  })
  .meta({ id: 'TestResult' });
export type TestResult = z.infer<typeof testResultSchema>;

export const verdictCountsSchema = z
  .object({ total: z.number().int(), judged: z.number().int(), skipped: z.number().int(), ...Object.fromEntries(TEST_VERDICTS.map((v) => [v, z.number().int()])) } as Record<'total' | 'judged' | 'skipped' | TestVerdict, z.ZodNumber>)
  .describe('total, judged, skipped, and one count per test verdict')
  .meta({ id: 'VerdictCounts' });
export type VerdictCounts = z.infer<typeof verdictCountsSchema>;
