/**
 * A job's image (an imported OCI image of the layer store): where its root
 * is mounted, and what of its config a run takes (Env, WorkingDir,
 * Entrypoint; never User). Resolved by the worker from its own data
 * directory; an image this worker does not have fails the job with
 * image_missing (see docs/api.md: images are per host for now).
 */
import type { RunResult } from '../contract/run-result.js';
import { findImage } from '../rootfs/oci-import.js';
import { mountImage } from '../rootfs/store.js';
import { sandboxError } from '../sandbox/sandbox.js';

export interface ImageRun {
  rootfs: string;
  imageEnv?: Record<string, string>;
  cwd?: string;
  /** Goes before the command (the command replaces the image's Cmd, as `docker run IMAGE COMMAND` does). */
  entrypoint: string[];
}

/** The run options of `name` (a name or a digest), or the run result that says it is missing. */
export function resolveImage(dataDir: string, name: string | undefined): ImageRun | RunResult | undefined {
  if (name === undefined) return undefined;
  const image = findImage(dataDir, name);
  if (!image) return sandboxError('image_missing', `no image ${JSON.stringify(name)} on this worker: import it first (POST /v1/images or runcell image import)`);
  return { rootfs: mountImage(dataDir, image), imageEnv: image.config.env, cwd: image.config.workdir, entrypoint: image.config.entrypoint ?? [] };
}

export function isImageRun(value: ImageRun | RunResult | undefined): value is ImageRun {
  return value !== undefined && 'rootfs' in value;
}

/** The sandbox options of an image run (none without an image). */
export function imageSpec(image: ImageRun | undefined): { rootfs?: string; imageEnv?: Record<string, string>; cwd?: string } {
  return image ? { rootfs: image.rootfs, imageEnv: image.imageEnv, cwd: image.cwd } : {};
}
