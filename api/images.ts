/**
 * POST /v1/images: a user's image (an OCI image layout archive or docker/podman save output, a tar) as the
 * body, spooled to a temporary file up to the cap (413 past it), then imported by `importer`: the worker's
 * half of the process (rootfs/oci-import.ts, given by cli/service.ts where a worker runs on this host),
 * which the API never imports itself; and published to the fleet's registry in Redis (queue/images.ts),
 * where workers pull it from. Where no worker shares this process's data dir (`runcell api`), the archive is
 * only published (202, it needs ?name=): the first worker a job naming it reaches imports it, or refuses it.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { archiveErrorDetail, isArchiveError } from '../archive/index.js';
import { createReadStream } from 'node:fs';
import type { ImageRegistry } from '../queue/images.js';
import { ApiError } from './errors.js';
import { spool } from './problems-upload.js';

/** What an import answers (rootfs/oci-import.ts ImportReport, as JSON). */
export interface ImportedImageReport {
  image: { name: string; digest: string; layers: string[]; config: object };
  extracted: string[];
  shared: string[];
  dropped: Record<string, number>;
}

export type ImageImporter = (file: string, options: { name?: string }) => Promise<ImportedImageReport>;

export interface ImageRoutesOptions {
  importer?: ImageImporter;
  /** Where the fleet's workers pull images from (Redis): every accepted upload is published there too. */
  registry?: ImageRegistry;
  /** Bytes of the uploaded archive. */
  maxImageBytes: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

export function imageRoutes(options: ImageRoutesOptions): express.Router {
  const router = express.Router();
  router.post('/v1/images', async (req: Request, res: Response, next: NextFunction) => {
    try {
      const name = req.query.name;
      if (name !== undefined && (typeof name !== 'string' || !NAME.test(name))) throw new ApiError(400, 'bad_request', 'name must be letters, digits, . _ + - (at most 128)', [{ path: 'name', message: 'not an image name' }]);
      if (!options.importer && !options.registry) throw new ApiError(503, 'unavailable', 'images are imported where a worker runs (runcell serve, or runcell image import on the worker host)');
      if (!options.importer && name === undefined) throw new ApiError(400, 'bad_request', 'name is needed here: this API process does not read the image (its workers import it when a job names it)', [{ path: 'name', message: 'required' }]);
      const length = req.get('content-length');
      const spooled = await spool(req, options.maxImageBytes, length === undefined ? undefined : Number(length));
      try {
        // Imported here first when a worker shares this host: a hostile image is refused before it is published.
        const report = options.importer ? await options.importer(spooled.path, { name: name as string | undefined }) : undefined;
        const published = options.registry ? await options.registry.publish(report?.image.name ?? (name as string), createReadStream(spooled.path)) : undefined;
        if (report) res.status(201).location(`/v1/images/${report.image.name}`).json({ ...report, ...(published ? { archive_sha256: published.archive } : {}) });
        else res.status(202).location(`/v1/images/${published!.name}`).json({ image: { name: published!.name }, archive_sha256: published!.archive, size_bytes: published!.size, imported: false });
      } catch (error) {
        if (!isArchiveError(error)) throw error;
        const detail = archiveErrorDetail(error, 'image');
        throw new ApiError(422, 'invalid_request', `the image was refused: ${error.message}`, [detail]);
      } finally {
        await spooled.dispose();
      }
    } catch (error) {
      next(error);
    }
  });
  return router;
}
