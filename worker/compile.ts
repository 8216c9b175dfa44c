/**
 * The compile step, through the compile cache when there is one: a hit
 * writes the cached compiled workspace into /box instead of compiling; a
 * successful compile is stored for next time.
 */
import type { CompileCache } from './compile-cache.js';
import type { CompileResult } from '../contract/run-result.js';
import type { Limits } from '../sandbox/limits.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { SeccompProfileName } from '../sandbox/seccomp-policy.js';
import type { Slot } from '../sandbox/slots.js';
import type { Workspace, WorkspaceFile } from '../sandbox/workspace.js';
import type { JobContext, Plan } from './plan.js';

/** A compile step's result; `cached` says it came from the compile cache (then its figures are the original compile's). */
export type { CompileResult };

export interface CompileSpec {
  sandbox: Sandbox;
  slot: Slot;
  workspace: Workspace;
  cache?: CompileCache;
  language: string;
  argv: string[];
  files: WorkspaceFile[];
  env?: Record<string, string>;
  limits: Limits;
  signal?: AbortSignal;
  /** The compiler runs under the job's seccomp profile; default the sandbox's default. */
  seccompProfile?: SeccompProfileName;
}

/** Fills the (fresh) workspace with the compiled program: from the cache, or by compiling `files`. */
export async function compileInto(spec: CompileSpec): Promise<CompileResult> {
  const cache = spec.cache?.enabled ? spec.cache : undefined;
  const key = cache?.key({ language: spec.language, argv: spec.argv, files: spec.files, env: spec.env, limits: spec.limits, seccompProfile: spec.seccompProfile });
  const hit = key ? await cache!.get(key) : undefined;
  if (hit) {
    spec.workspace.writeFiles(hit.files);
    return { ...hit.compile, cached: true };
  }
  spec.workspace.writeFiles(spec.files);
  const result = await spec.sandbox.run({
    slot: spec.slot,
    workspace: spec.workspace,
    env: spec.env,
    signal: spec.signal,
    argv: spec.argv,
    limits: spec.limits,
    boxWritable: true,
    seccompProfile: spec.seccompProfile,
  });
  if (key && result.status === 'ok' && !spec.signal?.aborted) {
    try {
      await cache!.put(key, spec.workspace.boxPath, result);
    } catch {
      // A cache that cannot store (disk full, say) costs the next compile, not this job.
    }
  }
  return { ...result, cached: false };
}

/** A helper program's compile (a checker's, an interactor's) into its own workspace, with the job's sandbox, cache and cancel. */
export function compileProgram(context: JobContext, slot: Slot, workspace: Workspace, program: { language: string; files: WorkspaceFile[] }, steps: Plan): Promise<CompileResult> {
  return compileInto({
    sandbox: context.sandbox,
    slot,
    workspace,
    cache: context.compileCache,
    language: program.language,
    files: program.files,
    seccompProfile: steps.seccompProfile,
    env: steps.env,
    signal: context.signal,
    ...steps.compile!,
  });
}
