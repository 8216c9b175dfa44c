/**
 * One job: a language program (compile step if the language has one, then
 * the run step) or a plain command, in one workspace that lives across the
 * steps and is removed after. The result is what the CLI prints with --json
 * and what the HTTP API stores: { compile?, run }.
 */
import type { JobResult } from '../contract/job-record.js';
import type { CompileResult } from '../contract/run-result.js';
import { LIMIT_TABLE } from '../sandbox/limits.js';
import { compileInto } from './compile.js';
import { judge } from './judge.js';
import { plan, type JobContext } from './plan.js';
import { runSteps, stepsBoxBytes } from './steps.js';
import { collectArtifacts } from './artifacts.js';
import { unpackArchive } from './unpack.js';
import { imageSpec, isImageRun, resolveOrPullImage, type ImageRun } from './image.js';
import type { Workspace } from '../sandbox/workspace.js';
import type { JobRequest } from './request.js';

export type { JobContext } from './plan.js';
export type { JobRequest } from './request.js';
export type { JobResult };

export async function runJob(context: JobContext, request: JobRequest): Promise<JobResult> {
  const steps = plan(request, context.table ?? LIMIT_TABLE, context.installed);
  if (request.tests) return judge(context, request, steps);
  const image = await resolveOrPullImage(context.sandbox.dataDir, request.image, context.pullImage);
  if (image && !isImageRun(image)) return request.steps ? { run: null, steps: [{ name: request.steps[0].name ?? '1', ...image }] } : { run: image };
  try {
    return await runInWorkspace(context, request, steps, image);
  } finally {
    image?.release();
  }
}

async function runInWorkspace(context: JobContext, request: JobRequest, steps: ReturnType<typeof plan>, image: ImageRun | undefined): Promise<JobResult> {
  const table = context.table ?? LIMIT_TABLE;
  const boxBytes = request.steps ? stepsBoxBytes(request, table) : Math.max(steps.run.limits.workspace_bytes, steps.compile?.limits.workspace_bytes ?? 0);
  const workspace = await context.sandbox.createWorkspace(context.slot, boxBytes);
  try {
    if (request.archive) await unpackArchive(workspace, context.slot, request.archive, boxBytes);
    if (request.steps) {
      workspace.writeFiles(request.files ?? []);
      return await withArtifacts(context, request, workspace, await runSteps(context, request, steps, workspace, table, image));
    }
    const common = { slot: context.slot, workspace, env: steps.env, signal: context.signal, seccompProfile: steps.seccompProfile };
    let compile: CompileResult | undefined;
    if (!steps.compile) workspace.writeFiles(request.files ?? []);
    else {
      compile = await compileInto({ ...common, sandbox: context.sandbox, cache: context.compileCache, language: steps.language!.id, files: request.files ?? [], ...steps.compile });
      await context.onStep?.('compile', compile);
      if (compile.status !== 'ok' || context.signal?.aborted) return { compile, run: null };
    }
    // Opened for the run only (not the compile), closed when it ends: the writers' data goes to this program.
    const interactive = request.interactive_stdin ? context.interactiveStdin?.() : undefined;
    let run;
    try {
      run = await context.sandbox.run({
        ...common,
        argv: [...(image?.entrypoint ?? []), ...steps.run.argv],
        ...imageSpec(image),
        limits: steps.run.limits,
        boxWritable: steps.run.boxWritable,
        ...(interactive ? { stdinFd: interactive.fd } : { stdin: request.stdin }),
        onOutput: context.onOutput && ((stream, chunk) => context.onOutput!(stream, chunk)),
        network: request.network,
        root: request.root,
      });
    } finally {
      await interactive?.close();
    }
    await context.onStep?.('run', run);
    return await withArtifacts(context, request, workspace, compile ? { compile, run } : { run });
  } finally {
    await workspace.remove();
  }
}

/** The job's artifacts read from /box (not after a cancel: the job is over), their contents handed to onArtifacts. */
async function withArtifacts(context: JobContext, request: JobRequest, workspace: Workspace, result: JobResult): Promise<JobResult> {
  if (!request.artifacts || context.signal?.aborted) return result;
  const { files, ...listed } = collectArtifacts(workspace, request.artifacts);
  await context.onArtifacts?.(files);
  return { ...result, ...listed };
}
