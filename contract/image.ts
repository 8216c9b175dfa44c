/** Users' images as GET/DELETE /v1/images answer them (api/images.ts). */
import { z } from 'zod';

export const imageSchema = z
  .object({
    name: z.string().describe('what jobs name it by (`"image": NAME`)'),
    digest: z.string().nullable().describe('the image\'s digest (`sha256:...`), which jobs may name it by too; null until an import learned it (a worker\'s first pull, when the API process has no worker beside it)'),
    archive_sha256: z.string().describe('sha256 of the uploaded archive, as the registry stores it'),
    size_bytes: z.number().int().describe("the archive's bytes: what the owner's quota counts (RUNCELL_IMAGE_QUOTA_BYTES)"),
    created: z.string().describe('when it was uploaded (ISO 8601)'),
    last_used: z.string().nullable().describe('the last upload, accepted job or run naming it (ISO 8601); an image unused for RUNCELL_IMAGE_UNUSED_SECONDS is removed'),
  })
  .meta({ id: 'Image' });

export const imageListSchema = z.object({ images: z.array(imageSchema).describe("the asking client's images, by name") }).meta({ id: 'ImageList' });

export type ImageBody = z.infer<typeof imageSchema>;
