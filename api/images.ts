/**
 * Users' images: POST /v1/images takes an image (an OCI image layout archive or docker/podman save output, a
 * tar) as the body, spooled to a temporary file up to the cap (413 past it), then imported by `importer`: the
 * worker's half of the process (rootfs/oci-import.ts, given by cli/service.ts where a worker runs on this
 * host), which the API never imports itself; and published to the fleet's registry in Redis (queue/images.ts),
 * where workers pull it from. Where no worker shares this process's data dir (`runcell api`), the archive is
 * only published (202, it needs ?name=): the first worker a job naming it reaches imports it, or refuses it.
 *
 * Each image belongs to the client that published it (clientId: its API key's digest), within that client's
 * quota of bytes and images; GET /v1/images lists the client's own, DELETE removes one of them. Images no
 * job used for RUNCELL_IMAGE_UNUSED_SECONDS are removed by imageCollector's sweep.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { archiveErrorDetail, isArchiveError } from '../archive/index.js';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { ImageQuotaError, ownerOf, type ImageQuota, type ImageRegistry, type ImageView } from '../queue/images.js';
import type { ImageBody } from '../contract/image.js';
import { ApiError } from './errors.js';
import { spool } from './problems-upload.js';

/** What an import answers (rootfs/oci-import.ts ImportReport, as JSON). */
export interface ImportedImageReport {
  image: { name: string; digest: string; layers: string[]; config: object };
  extracted: string[];
  shared: string[];
  dropped: Record<string, number>;
}

/**
 * Imports an archive into this host's store. `admit` is called with the image's name before its layers are
 * extracted there (it throws to refuse: another client's name, a quota); `forget` drops an imported image
 * whose publication failed after all.
 */
export interface ImageImporter {
  (file: string, options: { name?: string; admit?: (name: string) => Promise<void> }): Promise<ImportedImageReport>;
  forget?: (name: string) => void;
}

export interface ImageRoutesOptions {
  importer?: ImageImporter;
  /** Where the fleet's workers pull images from (Redis): every accepted upload is published there too. */
  registry: ImageRegistry;
  /** Bytes of the uploaded archive. */
  maxImageBytes: number;
  /** Per client (RUNCELL_IMAGE_QUOTA_BYTES, RUNCELL_IMAGE_QUOTA_COUNT). */
  quota: ImageQuota;
  /** Who is asking (app.ts clientId): an image's owner. */
  clientId: (req: Request) => string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

function checkedName(name: unknown, path: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) throw new ApiError(400, 'bad_request', `${path} must be letters, digits, . _ + - (at most 128)`, [{ path, message: 'not an image name' }]);
  return name;
}

/** The registry's refusal as the API says it: 409 for a name another client has, 413 past a quota. */
function quotaApiError(error: ImageQuotaError): ApiError {
  if (error.field === 'name') return new ApiError(409, 'conflict', `image name taken: ${error.message}; choose another name`, [{ path: 'name', message: error.message }]);
  return new ApiError(413, 'quota_exceeded', error.message, [{ path: error.field === 'bytes' ? 'quota.bytes' : 'quota.count', message: error.message }]);
}

function imageBody(view: ImageView): ImageBody {
  return { name: view.name, digest: view.digest ?? null, archive_sha256: view.archive, size_bytes: view.size, created: view.created, last_used: view.last_used };
}

export function imageRoutes(options: ImageRoutesOptions, needsQueue: (req: Request, res: Response, next: NextFunction) => void): express.Router {
  const { registry } = options;
  const router = express.Router();
  router.post('/v1/images', needsQueue, async (req: Request, res: Response) => {
    const name = req.query.name === undefined ? undefined : checkedName(req.query.name, 'name');
    if (!options.importer && name === undefined) throw new ApiError(400, 'bad_request', 'name is needed here: this API process does not read the image (its workers import it when a job names it)', [{ path: 'name', message: 'required' }]);
    const owner = options.clientId(req);
    const length = req.get('content-length');
    const spooled = await spool(req, options.maxImageBytes, length === undefined ? undefined : Number(length));
    try {
      const size = (await stat(spooled.path)).size;
      const admit = (imageName: string) => registry.admits(imageName, owner, size, options.quota);
      // Imported here first when a worker shares this host: a hostile image is refused before it is published,
      // and the quota and the name are checked before the import extracts a layer.
      const report = options.importer ? await options.importer(spooled.path, { name, admit }) : (await admit(name!), undefined);
      const imageName = report?.image.name ?? name!;
      const published = await registry.publish(imageName, createReadStream(spooled.path), { owner, quota: options.quota, digest: report?.image.digest, size }).catch((error: unknown) => {
        // Lost a race for the quota or the name after the import: this host's copy goes too.
        if (report && error instanceof ImageQuotaError) options.importer?.forget?.(imageName);
        throw error;
      });
      const body = { archive_sha256: published.archive, size_bytes: published.size };
      if (report) res.status(201).location(`/v1/images/${imageName}`).json({ ...report, ...body });
      else res.status(202).location(`/v1/images/${imageName}`).json({ image: { name: imageName }, ...body, imported: false });
    } catch (error) {
      if (error instanceof ImageQuotaError) throw quotaApiError(error);
      if (!isArchiveError(error)) throw error;
      const detail = archiveErrorDetail(error, 'image');
      throw new ApiError(422, 'invalid_request', `the image was refused: ${error.message}`, [detail]);
    } finally {
      await spooled.dispose();
    }
  });

  router.get('/v1/images', needsQueue, async (req, res) => {
    res.json({ images: (await registry.list(options.clientId(req))).map(imageBody) });
  });

  // Another client's image answers 404 like a missing one: names of others' images are not disclosed.
  const own = async (req: Request): Promise<ImageView> => {
    const name = checkedName(req.params.name, 'name');
    const view = await registry.view(name);
    if (!view || ownerOf(view) !== options.clientId(req)) throw new ApiError(404, 'not_found', `you have no image ${JSON.stringify(name)}`);
    return view;
  };

  router.get('/v1/images/:name', needsQueue, async (req, res) => {
    res.json(imageBody(await own(req)));
  });

  router.delete('/v1/images/:name', needsQueue, async (req, res) => {
    const view = await own(req);
    if (!(await registry.remove(view.name, ownerOf(view)))) throw new ApiError(404, 'not_found', `you have no image ${JSON.stringify(view.name)}`);
    res.json(imageBody(view));
  });
  return router;
}

export interface ImageCollectorLogger {
  info(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

/**
 * The registry's sweep: every `unusedSeconds / 4` (at least 1 s, at most an hour), images no job used for
 * `unusedSeconds` are removed and their blobs released. Safe with several API replicas (registry.collect).
 * Returns its stop; 0 seconds starts nothing.
 */
export function imageCollector(registry: ImageRegistry, unusedSeconds: number, logger?: ImageCollectorLogger): () => void {
  if (unusedSeconds <= 0) return () => {};
  const every = Math.min(3600, Math.max(1, unusedSeconds / 4)) * 1000;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    registry
      .collect(unusedSeconds)
      .then((removed) => {
        for (const image of removed) logger?.info({ image: image.name, owner: image.owner, archive: image.archive, size: image.size }, `image unused for ${unusedSeconds} s removed from the registry`);
      })
      .catch((error: Error) => logger?.error({ err: error.message }, 'image sweep failed'))
      .finally(() => (running = false));
  }, every);
  timer.unref();
  return () => clearInterval(timer);
}
