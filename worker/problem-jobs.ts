/**
 * Jobs about stored problems, on the worker's side: a judged job against a
 * problem (its tests from the local problem cache, read one at a time; its
 * limits, comparison or Kattis output validator from the manifest), and the
 * validation job that runs a new package's input validators once and marks
 * the revision ready or rejected.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { JobSubmission } from '../contract/job-request.js';
import type { JobResult } from '../contract/job-record.js';
import type { TestResult } from '../contract/judged-result.js';
import type { ProblemManifest, StoredProgram } from '../contract/problem.js';
import { blobsOf, type ProblemStore } from '../queue/problems.js';
import { countVerdicts, overallVerdict, type TestVerdict } from '../judge/verdicts.js';
import { LIMIT_TABLE } from '../sandbox/limits.js';
import { compileInto } from './compile.js';
import { runJob } from './job.js';
import { plan, type JobContext } from './plan.js';
import type { HeldFiles, ProblemCache } from './problem-cache.js';
import type { JobRequest } from './request.js';

export interface Problems {
  store: Pick<ProblemStore, 'manifest' | 'updateManifest'>;
  cache: ProblemCache;
}

/** Kattis's input validator contract: exit 42 means the input is valid. */
const VALID_INPUT_EXIT = 42;

function programFiles(program: StoredProgram, held: HeldFiles) {
  return program.files.map((file) => ({ path: file.path, content: readFileSync(held.path(file.sha256)) }));
}

/** How a problem's tests are judged: its comparison, its Kattis output validator, or its interactor (and a testlib one's checker). */
function judgingOf(manifest: ProblemManifest, held: HeldFiles): Pick<JobRequest, 'comparison' | 'checker' | 'interactor'> {
  const validator = manifest.output_validator;
  if (manifest.interactive && validator) {
    const { protocol } = manifest.interactive;
    const checker = manifest.checker && { language: manifest.checker.language, protocol: 'testlib' as const, files: programFiles(manifest.checker, held) };
    return { interactor: { language: validator.language, protocol, files: programFiles(validator, held), args: validator.flags }, ...(checker ? { checker } : {}) };
  }
  if (validator) return { checker: { language: validator.language, protocol: 'kattis' as const, files: programFiles(validator, held), args: validator.flags } };
  return manifest.comparison ? { comparison: manifest.comparison } : {};
}

/** The JobRequest of a problem job: the submission's program, the problem's everything else. */
export function problemRequest(submission: JobSubmission, request: JobRequest, manifest: ProblemManifest, held: HeldFiles): JobRequest {
  return {
    ...request,
    limits: manifest.limits,
    tests: manifest.tests.map((test) => ({
      id: test.id,
      expected_stdout: '',
      files: { input: held.path(test.input.sha256), answer: held.path(test.answer.sha256), inputBytes: test.input.size, answerBytes: test.answer.size },
    })),
    ...judgingOf(manifest, held),
    stop_on_first_failure: submission.stop_on_first_failure,
  };
}

async function manifestOf(problems: Problems, submission: JobSubmission): Promise<ProblemManifest> {
  const { problem, problem_revision: revision } = submission;
  const manifest = revision === undefined ? undefined : await problems.store.manifest(problem!, revision);
  if (!manifest) throw new Error(`problem ${problem} revision ${revision} is no longer stored (replaced or deleted after the job was queued)`);
  return manifest;
}

/** Runs a job that names a problem: judging against it, or validating its inputs. */
export async function runProblemJob(context: JobContext, submission: JobSubmission, request: JobRequest, problems: Problems): Promise<JobResult> {
  const manifest = await manifestOf(problems, submission);
  const held = await problems.cache.hold(blobsOf(manifest));
  try {
    if (!submission.input_validation) return await runJob(context, problemRequest(submission, request, manifest, held));
    let outcome: { result: JobResult; rejection?: string };
    try {
      outcome = await validateInputs(context, manifest, held);
    } catch (error) {
      // Terminal either way: a revision left `validating` could never be judged.
      await markValidated(problems, manifest, `the input validators could not be run: ${(error as Error).message}`);
      throw error;
    }
    if (!context.signal?.aborted) await markValidated(problems, manifest, outcome.rejection);
    return outcome.result;
  } finally {
    held.release();
  }
}

async function markValidated(problems: Problems, manifest: ProblemManifest, rejection: string | undefined): Promise<void> {
  await problems.store.updateManifest(manifest.id, manifest.revision, (m) => ({ ...m, status: rejection ? 'rejected' : 'ready', ...(rejection ? { rejection } : {}) }));
}

/** Every input validator over every test input; the first refusal rejects the package (the upload's validation job, and `runcell judge`). */
export async function validateInputs(context: JobContext, manifest: ProblemManifest, held: HeldFiles): Promise<{ result: JobResult; rejection?: string }> {
  const tests: TestResult[] = [];
  const verdicts: TestVerdict[] = [];
  const total = manifest.input_validators.length * manifest.tests.length;
  for (const validator of manifest.input_validators) {
    const outcome = await validateWith(context, manifest, validator, held, tests, verdicts);
    if (outcome.rejection) return { result: { ...outcome.compile, run: null, tests, verdict: outcome.verdict ?? 'wrong_answer', counts: countVerdicts(total, verdicts) }, rejection: outcome.rejection };
  }
  return { result: { run: null, tests, verdict: overallVerdict(verdicts), counts: countVerdicts(total, verdicts) } };
}

async function validateWith(
  context: JobContext,
  manifest: ProblemManifest,
  validator: StoredProgram,
  held: HeldFiles,
  tests: TestResult[],
  verdicts: TestVerdict[],
): Promise<{ rejection?: string; verdict?: 'compile_error'; compile?: { compile: JobResult['compile'] } }> {
  const files = programFiles(validator, held);
  const steps = plan({ language: validator.language, files, seccomp_profile: 'judge' }, context.table ?? LIMIT_TABLE, context.installed);
  const workspace = await context.sandbox.createWorkspace(context.slot, Math.max(steps.run.limits.workspace_bytes, steps.compile?.limits.workspace_bytes ?? 0));
  const where = `input_validators/${validator.name}`;
  try {
    if (!steps.compile) workspace.writeFiles(files);
    else {
      const compile = await compileInto({ sandbox: context.sandbox, slot: context.slot, workspace, cache: context.compileCache, language: validator.language, files, env: steps.env, signal: context.signal, seccompProfile: steps.seccompProfile, ...steps.compile });
      await context.onStep?.('compile', compile);
      if (compile.status !== 'ok') return { rejection: `${where} does not compile (${compile.status}): ${compile.stderr.slice(0, 2000)}`, verdict: 'compile_error', compile: { compile } };
    }
    for (const test of manifest.tests) {
      if (context.signal?.aborted) return {};
      const stdin = await readFile(held.path(test.input.sha256));
      const run = await context.sandbox.run({ slot: context.slot, workspace, env: steps.env, signal: context.signal, argv: [...steps.run.argv, ...validator.flags], limits: steps.run.limits, boxWritable: false, seccompProfile: steps.seccompProfile, stdin });
      const valid = run.status === 'nonzero_exit' && run.exit_code === VALID_INPUT_EXIT;
      const message = valid ? null : `${where} refused data/${test.id}.in (${run.status}${run.exit_code !== null ? ` ${run.exit_code}` : ''}): ${(run.stderr.trim() || run.stdout.trim() || run.message || '').slice(0, 2000)}`;
      const result: TestResult = { ...run, stdout: run.stdout.slice(0, 16384), stderr: run.stderr.slice(0, 16384), id: `${validator.name}:${test.id}`, verdict: valid ? 'accepted' : 'wrong_answer', verdict_message: message };
      tests.push(result);
      verdicts.push(result.verdict);
      await context.onTest?.(result, tests.length - 1, manifest.tests.length * manifest.input_validators.length);
      if (!valid) return { rejection: message! };
    }
    return {};
  } finally {
    await workspace.remove();
  }
}
