/**
 * A job's image (an imported OCI image of the layer store): where its root
 * is mounted, and what of its config a run takes (Env, WorkingDir,
 * Entrypoint; never User). Resolved by the worker from its own data
 * directory, after imagePuller has made this host's copy the fleet
 * registry's (pulled when missing or replaced there, refused when deleted
 * there); an image neither has fails the job with image_missing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { RunResult } from '../contract/run-result.js';
import type { ImageRegistry, StoredImage } from '../queue/images.js';
import { findImage, importImage } from '../rootfs/oci-import.js';
import { collectUnusedImages, imagesDir, listImages, mountImage, readImage, useImage } from '../rootfs/store.js';
import { sandboxError } from '../sandbox/sandbox.js';

export interface ImageRun {
  rootfs: string;
  imageEnv?: Record<string, string>;
  cwd?: string;
  /** Goes before the command (the command replaces the image's Cmd, as `docker run IMAGE COMMAND` does). */
  entrypoint: string[];
  /** The job is over: the image is no longer in use by it (see useImage). */
  release: () => void;
}

/** The run options of `name` (a name or a digest), or the run result that says it is missing. */
export function resolveImage(dataDir: string, name: string | undefined): ImageRun | RunResult | undefined {
  if (name === undefined) return undefined;
  const image = findImage(dataDir, name);
  if (!image) return sandboxError('image_missing', `no image ${JSON.stringify(name)} on this worker: import it first (POST /v1/images or runcell image import)`);
  // In use before it is mounted: the unused-image sweep must not take it between the two.
  const release = useImage(dataDir, image);
  try {
    return { rootfs: mountImage(dataDir, image), imageEnv: image.config.env, cwd: image.config.workdir, entrypoint: image.config.entrypoint ?? [], release };
  } catch (error) {
    release();
    throw error;
  }
}

export function isImageRun(value: ImageRun | RunResult | undefined): value is ImageRun {
  return value !== undefined && 'rootfs' in value;
}

/** The sandbox options of an image run (none without an image). */
export function imageSpec(image: ImageRun | undefined): { rootfs?: string; imageEnv?: Record<string, string>; cwd?: string } {
  return image ? { rootfs: image.rootfs, imageEnv: image.imageEnv, cwd: image.cwd } : {};
}

/**
 * Makes this host's copy of a job's image (a name or a digest) the fleet registry's: answers undefined when
 * the job may resolve it locally now, else why not. One Redis round trip per image job (which also records
 * the image's last use); none for jobs that name no image.
 */
export type ImagePuller = (nameOrDigest: string) => Promise<string | undefined>;

type Registry = Pick<ImageRegistry, 'use' | 'readArchive' | 'noteDigest'>;

/**
 * The registry's copy decides: pulled when this host lacks it or holds another publication of the name
 * (replaced), refused when this host's copy came from the registry and the registry no longer has it
 * (deleted or collected). An image imported on this host alone (`runcell image import`, no archive recorded)
 * is used as it is. One pull per publication at a time, however many jobs wait for it.
 */
export function imagePuller(dataDir: string, registry: Registry): ImagePuller {
  const pulling = new Map<string, Promise<string | undefined>>();
  return async (nameOrDigest) => {
    let stored: StoredImage | undefined;
    try {
      stored = await registry.use(nameOrDigest);
    } catch (error) {
      return `the fleet's image registry cannot be read: ${(error as Error).message}`;
    }
    const local = findImage(dataDir, nameOrDigest);
    if (!stored) {
      if (local && !local.archive) return undefined;
      return local ? `image ${JSON.stringify(nameOrDigest)} was deleted from the fleet's registry` : `no image ${JSON.stringify(nameOrDigest)} on this worker nor in the fleet's registry: import it first (POST /v1/images)`;
    }
    if (local && !local.archive) return undefined;
    const current = readImage(dataDir, stored.name);
    // Never over an image of the host's own (the configured one, say): a client could name a registry image so.
    if (current && !current.archive) return `image ${JSON.stringify(nameOrDigest)}: this host has an image of its own named ${stored.name}; the registry's is not pulled over it`;
    if (current?.archive === stored.archive) return undefined;
    const key = `${stored.name}@${stored.archive}`;
    let pending = pulling.get(key);
    if (!pending) {
      pending = pull(dataDir, registry, stored, nameOrDigest).finally(() => pulling.delete(key));
      pulling.set(key, pending);
    }
    return pending;
  };
}

/** The archive written to a temporary file (its sha256 checked), then imported like `runcell image import` (every layer as hostile input). */
async function pull(dataDir: string, registry: Registry, stored: StoredImage, asked: string): Promise<string | undefined> {
  const name = stored.name;
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
    const report = await importImage(dataDir, file, { name, archive: stored.archive });
    if (stored.digest !== report.image.digest) await registry.noteDigest(name, stored.archive, report.image.digest);
    if (asked.startsWith('sha256:') && report.image.digest !== asked) return `image ${asked}: the registry's ${name} has digest ${report.image.digest} now`;
    return undefined;
  } catch (error) {
    return `image ${name} could not be imported: ${(error as Error).message}`;
  } finally {
    rmSync(file, { force: true });
  }
}

/** resolveImage, after the puller (when given) has made this host's copy the registry's. */
export async function resolveOrPullImage(dataDir: string, name: string | undefined, puller?: ImagePuller): Promise<ImageRun | RunResult | undefined> {
  if (name === undefined) return undefined;
  const problem = puller ? await puller(name) : undefined;
  return problem ? sandboxError('image_missing', problem) : resolveImage(dataDir, name);
}

export interface ImageSweepLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
}

/**
 * One sweep of this host (localImageCollector): copies unused here for `unusedSeconds`, and copies the registry
 * no longer holds as they are (deleted or replaced there: a client's upload, run, delete loop would otherwise
 * leave every copy on this disk for `unusedSeconds`), are dropped with the layers nothing else uses.
 */
export async function sweepHostImages(dataDir: string, unusedSeconds: number, registry: Pick<ImageRegistry, 'get'> | undefined, logger: ImageSweepLogger): Promise<void> {
  const stale = new Set<string>();
  for (const image of registry ? listImages(dataDir).filter((record) => record.archive) : []) {
    if ((await registry!.get(image.name))?.archive !== image.archive) stale.add(`${image.name}@${image.archive}`);
  }
  const { images, pruned } = collectUnusedImages(dataDir, unusedSeconds, stale);
  if (images.length > 0 || pruned.layers.length > 0) logger.info({ images, layers: pruned.layers.length, bytes: pruned.bytes }, `images unused on this host for ${unusedSeconds} s or gone from the registry dropped from its store`);
}

/**
 * This host's sweep: every `unusedSeconds / 4` (at least 1 s, at most an hour), the fleet's images no job
 * used here for `unusedSeconds` are dropped, with the layers no other image uses (collectUnusedImages: never
 * one a running job uses). Returns its stop; 0 seconds starts nothing.
 */
export function localImageCollector(dataDir: string, unusedSeconds: number, logger: ImageSweepLogger, registry?: Pick<ImageRegistry, 'get'>): () => void {
  if (unusedSeconds <= 0) return () => {};
  let running = false;
  const timer = setInterval(
    () => {
      if (running) return;
      running = true;
      sweepHostImages(dataDir, unusedSeconds, registry, logger)
        .catch((error: Error) => logger.warn({ err: error.message }, 'local image sweep failed'))
        .finally(() => (running = false));
    },
    Math.min(3600, Math.max(1, unusedSeconds / 4)) * 1000,
  );
  timer.unref();
  return () => clearInterval(timer);
}
