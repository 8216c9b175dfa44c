/**
 * Users' images on a fleet: the uploaded archive (OCI layout or docker save) kept in Redis as one
 * content-addressed blob (1 MiB chunks, the stored problems' blob store of problems.ts: an identical upload
 * is stored once), and a record per image name. Why the archive and not its layers: the API never unpacks
 * a hostile image (it runs no sandbox code); each worker host imports it into its own layer store (a real
 * filesystem, where layers are shared by digest) the first time a job names it, and reuses it afterwards.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Readable } from 'node:stream';
import { ProblemStore } from './problems.js';
import { PREFIX } from './store.js';

export interface StoredImage {
  name: string;
  /** sha256 of the archive, its blob in Redis. */
  archive: string;
  size: number;
  created: string;
}

const imageKey = (name: string) => `${PREFIX}:image:${name}`;
// '/' is never in a problem id: no owner of a problem's revision (`<id>:<revision>`) can be an image's.
const owner = (name: string) => `image/${name}`;

export class ImageRegistry {
  private readonly blobs: ProblemStore;

  constructor(private readonly redis: Redis | Cluster) {
    this.blobs = new ProblemStore(redis);
  }

  /** Stores an archive under `name`, replacing (and releasing) an earlier one of that name. */
  async publish(name: string, archive: Readable): Promise<StoredImage> {
    const stored = await this.blobs.putBlob(owner(name), archive);
    const previous = await this.get(name);
    const image: StoredImage = { name, archive: stored.sha256, size: stored.size, created: new Date().toISOString() };
    await this.redis.set(imageKey(name), JSON.stringify(image));
    if (previous && previous.archive !== image.archive) await this.blobs.releaseBlobs(owner(name), [previous.archive]);
    return image;
  }

  async get(name: string): Promise<StoredImage | undefined> {
    const text = await this.redis.get(imageKey(name));
    return text ? (JSON.parse(text) as StoredImage) : undefined;
  }

  /** The archive's bytes, chunk by chunk. */
  readArchive(image: StoredImage): AsyncGenerator<Buffer> {
    return this.blobs.readBlob(image.archive);
  }
}
