/**
 * A job with steps (CI: install, build, test): each step a command run in
 * its own sandbox run, all in one workspace whose /box is writable and kept
 * from step to step. The job stops at the first step that does not end ok,
 * unless that step says continue_on_failure.
 */
import type { JobResult } from '../contract/job-record.js';
import type { StepResult } from '../contract/run-result.js';
import { resolveLimits, type LimitTable } from '../sandbox/limits.js';
import type { Workspace } from '../sandbox/workspace.js';
import type { JobContext, Plan } from './plan.js';
import type { JobRequest, JobStep } from './request.js';
import { imageSpec, type ImageRun } from './image.js';

/** Each step's limits: the job's, overridden by the step's own. */
export function stepLimits(request: JobRequest, step: JobStep, table: LimitTable) {
  return resolveLimits({ ...request.limits, ...step.limits }, { table });
}

/** The largest /box any step asks for: the workspace is made once, for all of them. */
export function stepsBoxBytes(request: JobRequest, table: LimitTable): number {
  return Math.max(...request.steps!.map((step) => stepLimits(request, step, table).workspace_bytes));
}

export async function runSteps(context: JobContext, request: JobRequest, plan: Plan, workspace: Workspace, table: LimitTable, image?: ImageRun): Promise<JobResult> {
  const steps = request.steps!;
  const results: StepResult[] = [];
  for (const [index, step] of steps.entries()) {
    const run = await context.sandbox.run({
      slot: context.slot,
      workspace,
      boxWritable: true,
      argv: [...(image?.entrypoint ?? []), ...step.command],
      ...imageSpec(image),
      env: plan.env,
      limits: stepLimits(request, step, table),
      seccompProfile: plan.seccompProfile,
      signal: context.signal,
      root: request.root,
      onOutput: context.onOutput && ((stream, chunk) => context.onOutput!(stream, chunk, index)),
    });
    const result: StepResult = { name: step.name ?? String(index + 1), ...run };
    results.push(result);
    await context.onStepFinished?.(index, steps.length, result);
    if (context.signal?.aborted || run.status === 'sandbox_error') break;
    if (run.status !== 'ok' && !step.continue_on_failure) break;
  }
  return { run: null, steps: results };
}
