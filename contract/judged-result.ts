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
  /** The custom checker itself failed (exit code other than 0 or 1, or a limit): the problem's fault, not the submission's. */
  'checker_error',
] as const;
export type TestVerdict = (typeof TEST_VERDICTS)[number];

/** A job's overall verdict: compile_error, or the first non-accepted test's verdict, or accepted. */
export const JOB_VERDICTS = ['compile_error', ...TEST_VERDICTS] as const;
export type JobVerdict = (typeof JOB_VERDICTS)[number];

/** A judged test: its run result plus the verdict (and the checker's run, when there is one). */
export const testResultSchema = runResultSchema
  .extend({
    id: z.string(),
    verdict: z.enum(TEST_VERDICTS),
    verdict_message: z.string().nullable().describe("where the output differs, or the checker's message"),
    checker: runResultSchema.optional(),
  })
  .meta({ id: 'TestResult' });
export type TestResult = z.infer<typeof testResultSchema>;

export const verdictCountsSchema = z
  .object({ total: z.number().int(), judged: z.number().int(), skipped: z.number().int(), ...Object.fromEntries(TEST_VERDICTS.map((v) => [v, z.number().int()])) } as Record<'total' | 'judged' | 'skipped' | TestVerdict, z.ZodNumber>)
  .describe('total, judged, skipped, and one count per test verdict')
  .meta({ id: 'VerdictCounts' });
export type VerdictCounts = z.infer<typeof verdictCountsSchema>;
