/**
 * A job's image (an imported OCI image of the layer store): where its root
 * is mounted, and what of its config a run takes (Env, WorkingDir,
 * Entrypoint; never User). Resolved by the worker from its own data
 * directory; an image this worker does not have fails the job with
 * image_missing (see docs/api.md: images are per host for now).
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { RunResult } from '../contract/run-result.js';
import type { ImageRegistry } from '../queue/images.js';
import { findImage, importImage } from '../rootfs/oci-import.js';
import { imagesDir, mountImage } from '../rootfs/store.js';
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

/** Pulls an image this worker lacks: answers undefined when it is now in the store, else why not. */
export type ImagePuller = (name: string) => Promise<string | undefined>;

/**
 * Pulls from the fleet's registry (Redis) into this host's layer store: the archive written to a temporary
 * file (its sha256 checked), then imported like `runcell image import` (every layer as hostile input). One
 * pull per name at a time, however many jobs wait for it.
 */
export function imagePuller(dataDir: string, registry: Pick<ImageRegistry, 'get' | 'readArchive'>): ImagePuller {
  const pulling = new Map<string, Promise<string | undefined>>();
  const pull = async (name: string): Promise<string | undefined> => {
    const stored = await registry.get(name);
    if (!stored) return `no image ${JSON.stringify(name)} on this worker nor in the fleet's registry: import it first (POST /v1/images)`;
    const file = join(imagesDir(dataDir), `.pull-${randomBytes(6).toString('hex')}`);
    try {
      const fd = openSync(file, 'wx', 0o600);
      const hash = createHash('sha256');
      try {
        for await (const chunk of registry.readArchive(stored)) {
          hash.update(chunk);
          for (let offset = 0; offset < chunk.length; ) offset += writeSync(fd, chunk, offset);
        }
      } finally {
        closeSync(fd);
      }
      if (hash.digest('hex') !== stored.archive) return `image ${name}: the archive read back from the registry does not match its hash`;
      await importImage(dataDir, file, { name });
      return undefined;
    } catch (error) {
      return `image ${name} could not be imported: ${(error as Error).message}`;
    } finally {
      rmSync(file, { force: true });
    }
  };
  return (name) => {
    let pending = pulling.get(name);
    if (!pending) {
      pending = pull(name).finally(() => pulling.delete(name));
      pulling.set(name, pending);
    }
    return pending;
  };
}

/** resolveImage, pulling the image first when this worker lacks it and a puller is given. */
export async function resolveOrPullImage(dataDir: string, name: string | undefined, puller?: ImagePuller): Promise<ImageRun | RunResult | undefined> {
  const found = resolveImage(dataDir, name);
  if (!found || isImageRun(found) || !puller) return found;
  const problem = await puller(name!);
  return problem ? sandboxError('image_missing', problem) : resolveImage(dataDir, name);
}
