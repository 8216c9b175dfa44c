/**
 * Stored problems (POST /v1/problems): an ICPC/Kattis problem package read
 * once, kept content-addressed, judged by reference
 * (`{"problem": "<id>", "language", "files"}`). This file holds the shapes
 * (the manifest every worker reads, the API's views) and the pure reading of
 * a package: problem.yaml's fields, its validator_flags, the layout of data/
 * and the validators. Parsing YAML and reading archives happen elsewhere.
 */
import { z } from 'zod';

export const PROBLEM_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const problemIdSchema = z.string().regex(PROBLEM_ID, 'a problem id is 1 to 64 letters, digits, _ or -, starting with a letter or digit');

export const PROBLEM_STATUSES = ['validating', 'ready', 'rejected'] as const;
export type ProblemStatus = (typeof PROBLEM_STATUSES)[number];

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
export const storedFileSchema = z.object({ sha256, size: z.number().int().nonnegative() });
export type StoredFile = z.infer<typeof storedFileSchema>;

const programFileSchema = storedFileSchema.extend({ path: z.string(), executable: z.boolean() });
export type ProgramFile = z.infer<typeof programFileSchema>;

/** A validator of the package: its files (the first is the entry point), its language, its flags. */
export const storedProgramSchema = z.object({ name: z.string(), language: z.string(), files: z.array(programFileSchema).min(1), flags: z.array(z.string()) });
export type StoredProgram = z.infer<typeof storedProgramSchema>;

export const storedTestSchema = z.object({ id: z.string(), group: z.enum(['sample', 'secret']), input: storedFileSchema, answer: storedFileSchema });
export type StoredTest = z.infer<typeof storedTestSchema>;

export const comparisonOfProblemSchema = z.object({
  mode: z.enum(['exact', 'trailing_whitespace', 'tokens', 'float']),
  absolute: z.number().nonnegative().optional(),
  relative: z.number().nonnegative().optional(),
  case_sensitive: z.boolean().optional(),
});

/** One revision of a problem, as every worker reads it (`{runcell}:problem:<id>:<revision>`). */
export const problemManifestSchema = z
  .object({
    id: problemIdSchema,
    revision: z.number().int().positive(),
    name: z.string(),
    status: z.enum(PROBLEM_STATUSES),
    created_at: z.string(),
    /** Why the package was refused by an input validator. */
    rejection: z.string().optional(),
    /** The job that runs the input validators (GET /v1/jobs/<id> follows it). */
    validation_job: z.string().optional(),
    limits: z.object({ cpu_ms: z.number().int(), wall_ms: z.number().int(), memory_bytes: z.number().int(), output_bytes: z.number().int() }),
    comparison: comparisonOfProblemSchema.optional(),
    output_validator: storedProgramSchema.optional(),
    /**
     * An interactive problem (problem.yaml `validation: custom interactive`, or 2023-07 `type: interactive`):
     * output_validator is then the interactor, run under this protocol (kattis unless problem.yaml says
     * `runcell: {interactor_protocol: testlib}`).
     */
    interactive: z.object({ protocol: z.enum(['testlib', 'kattis']) }).optional(),
    /** testlib interactive problems only: output_validators/checker, a testlib checker given the interactor's output file as the contestant's output. */
    checker: storedProgramSchema.optional(),
    input_validators: z.array(storedProgramSchema),
    tests: z.array(storedTestSchema).min(1),
    bytes: z.number().int().nonnegative(),
  })
  .meta({ id: 'Problem' });
export type ProblemManifest = z.infer<typeof problemManifestSchema>;

export const problemSummarySchema = z
  .object({ id: z.string(), revision: z.number().int(), name: z.string(), status: z.enum(PROBLEM_STATUSES), tests: z.number().int(), bytes: z.number().int(), created_at: z.string() })
  .meta({ id: 'ProblemSummary' });
export type ProblemSummary = z.infer<typeof problemSummarySchema>;
export const problemListSchema = z.object({ problems: z.array(problemSummarySchema) }).meta({ id: 'ProblemList' });

export function summarizeProblem(manifest: ProblemManifest): ProblemSummary {
  const { id, revision, name, status, bytes, created_at } = manifest;
  return { id, revision, name, status, tests: manifest.tests.length, bytes, created_at };
}
