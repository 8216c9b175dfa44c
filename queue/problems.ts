/**
 * Stored problems in Redis: file contents by sha256 in 1 MiB chunks (so a
 * problem's data may reach 1 GiB without one huge value), shared by every
 * problem that holds the same bytes; one manifest per problem revision; the
 * current revision of each problem; the index of problems.
 *
 * Garbage collection is by owner sets: each blob has the set of problem
 * revisions (`<id>:<revision>`) that refer to it. Claiming a blob and
 * releasing it are Lua scripts, so a blob is deleted exactly when its last
 * owner lets go, and an upload that claims a blob while another problem's
 * deletion releases it never finds it gone. Every key carries the {runcell}
 * hash tag (one Cluster slot), like the job store's.
 */
import { randomUUID } from 'node:crypto';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Cluster, Redis } from 'ioredis';
import { problemManifestSchema, type ProblemManifest, type StoredFile } from '../contract/problem.js';
import { PREFIX } from './store.js';

export const BLOB_CHUNK_BYTES = 1024 * 1024;
/** An upload's chunks before their hash is known; they expire if the uploader dies. */
const UPLOAD_TTL_SECONDS = 3600;

export const problemKeys = {
  index: `${PREFIX}:problems`,
  current: (id: string) => `${PREFIX}:problem:${id}:current`,
  revisions: (id: string) => `${PREFIX}:problem:${id}:revisions`,
  manifest: (id: string, revision: number) => `${PREFIX}:problem:${id}:rev:${revision}`,
  blob: (sha: string) => `${PREFIX}:blob:${sha}`,
  blobChunk: (sha: string, index: number) => `${PREFIX}:blob:${sha}:${index}`,
  blobOwners: (sha: string) => `${PREFIX}:blob:${sha}:owners`,
  uploadChunk: (upload: string, index: number) => `${PREFIX}:upload:${upload}:${index}`,
};

/*
  Claims a blob for an owner and, when nobody stored it yet, makes the upload's chunks the blob's.
    KEYS[1] blob hash, KEYS[2] blob owners
    ARGV[1] owner, ARGV[2] size, ARGV[3] chunk count, ARGV[4] upload chunk key prefix, ARGV[5] blob chunk key prefix
    Returns 1 when the blob was there already (the upload's chunks are dropped), 0 when this upload made it.
*/
const CLAIM = `
redis.call('SADD', KEYS[2], ARGV[1])
local chunks = tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 1 then
  for i = 0, chunks - 1 do redis.call('DEL', ARGV[4] .. i) end
  return 1
end
for i = 0, chunks - 1 do
  redis.call('RENAME', ARGV[4] .. i, ARGV[5] .. i)
  redis.call('PERSIST', ARGV[5] .. i)
end
redis.call('HSET', KEYS[1], 'size', ARGV[2], 'chunks', ARGV[3])
return 0
`;

/*
  Lets go of a blob; the last owner's release deletes it.
    KEYS[1] blob hash, KEYS[2] blob owners; ARGV[1] owner, ARGV[2] blob chunk key prefix
    Returns 1 when the blob was deleted.
*/
const RELEASE = `
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('SCARD', KEYS[2]) > 0 then return 0 end
local chunks = tonumber(redis.call('HGET', KEYS[1], 'chunks') or '0')
for i = 0, chunks - 1 do redis.call('DEL', ARGV[2] .. i) end
redis.call('DEL', KEYS[1])
return 1
`;

/*
  Makes a revision current unless a later one already is.
    KEYS[1] current, KEYS[2] index; ARGV[1] id, ARGV[2] revision
    Returns the revision it replaces (0: none), or -1 when a later revision is current (this one is stale).
*/
const PROMOTE = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current > tonumber(ARGV[2]) then return -1 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return current
`;

/* Removes a problem from the index. KEYS[1] current, KEYS[2] index; ARGV[1] id. Returns the revision it had (0: none). */
const REMOVE = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return current
`;

export function revisionOwner(id: string, revision: number): string {
  return `${id}:${revision}`;
}

/** Every blob a revision refers to: tests and validators. */
export function blobsOf(manifest: Pick<ProblemManifest, 'tests' | 'output_validator' | 'input_validators' | 'checker'>): string[] {
  const shas = new Set<string>();
  for (const test of manifest.tests) shas.add(test.input.sha256).add(test.answer.sha256);
  for (const program of [manifest.output_validator, manifest.checker, ...manifest.input_validators]) for (const file of program?.files ?? []) shas.add(file.sha256);
  return [...shas];
}

export class ProblemStore {
  constructor(private readonly redis: Redis | Cluster) {}

  /**
   * Stores a stream's bytes as a blob owned by `owner`, chunk by chunk as
   * they come (never the whole file in memory); answers its hash and size.
   */
  async putBlob(owner: string, stream: Readable): Promise<StoredFile> {
    const upload = randomUUID();
    const hash = createHash('sha256');
    let size = 0;
    let chunks = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      await this.redis.set(problemKeys.uploadChunk(upload, chunks++), Buffer.concat(pending), 'EX', UPLOAD_TTL_SECONDS);
      pending = [];
      pendingBytes = 0;
    };
    for await (const chunk of stream) {
      const bytes = chunk as Buffer;
      hash.update(bytes);
      size += bytes.length;
      pending.push(bytes);
      pendingBytes += bytes.length;
      if (pendingBytes >= BLOB_CHUNK_BYTES) await flush();
    }
    if (pendingBytes > 0 || chunks === 0) await flush();
    const sha256 = hash.digest('hex');
    await this.redis.eval(CLAIM, 2, problemKeys.blob(sha256), problemKeys.blobOwners(sha256), owner, size, chunks, `${PREFIX}:upload:${upload}:`, `${PREFIX}:blob:${sha256}:`);
    return { sha256, size };
  }

  async releaseBlobs(owner: string, shas: Iterable<string>): Promise<number> {
    let deleted = 0;
    for (const sha of new Set(shas)) {
      deleted += Number(await this.redis.eval(RELEASE, 2, problemKeys.blob(sha), problemKeys.blobOwners(sha), owner, `${PREFIX}:blob:${sha}:`));
    }
    return deleted;
  }

  /** A blob's chunks in order, or undefined when it is not stored. */
  async *readBlob(sha: string): AsyncGenerator<Buffer> {
    const chunks = await this.redis.hget(problemKeys.blob(sha), 'chunks');
    if (chunks === null) throw new Error(`blob ${sha} is not stored (its problem was replaced or deleted)`);
    for (let i = 0; i < Number(chunks); i++) {
      const chunk = await this.redis.getBuffer(problemKeys.blobChunk(sha, i));
      if (!chunk) throw new Error(`blob ${sha} lost chunk ${i} (its problem was replaced or deleted)`);
      yield chunk;
    }
  }

  async blobExists(sha: string): Promise<boolean> {
    return (await this.redis.exists(problemKeys.blob(sha))) === 1;
  }

  /** The next revision number of a problem (never reused, even after a delete). */
  nextRevision(id: string): Promise<number> {
    return this.redis.incr(problemKeys.revisions(id));
  }

  async saveManifest(manifest: ProblemManifest): Promise<void> {
    await this.redis.set(problemKeys.manifest(manifest.id, manifest.revision), JSON.stringify(manifest));
  }

  /** Rewrites a revision's manifest only while it exists (a deleted problem stays deleted). */
  async updateManifest(id: string, revision: number, change: (manifest: ProblemManifest) => ProblemManifest): Promise<ProblemManifest | undefined> {
    const manifest = await this.manifest(id, revision);
    if (!manifest) return undefined;
    const changed = change(manifest);
    const written = await this.redis.set(problemKeys.manifest(id, revision), JSON.stringify(changed), 'XX');
    return written === 'OK' ? changed : undefined;
  }

  async manifest(id: string, revision: number): Promise<ProblemManifest | undefined> {
    const text = await this.redis.get(problemKeys.manifest(id, revision));
    return text === null ? undefined : problemManifestSchema.parse(JSON.parse(text));
  }

  async currentRevision(id: string): Promise<number | undefined> {
    const text = await this.redis.get(problemKeys.current(id));
    return text === null ? undefined : Number(text);
  }

  async current(id: string): Promise<ProblemManifest | undefined> {
    const revision = await this.currentRevision(id);
    return revision === undefined ? undefined : this.manifest(id, revision);
  }

  async list(): Promise<ProblemManifest[]> {
    const ids = (await this.redis.smembers(problemKeys.index)).sort();
    const manifests = await Promise.all(ids.map((id) => this.current(id)));
    return manifests.filter((m): m is ProblemManifest => m !== undefined);
  }

  /** Makes a stored revision current; the one it replaces is dropped. 'stale' when a later revision got there first (this one is dropped). */
  async promote(manifest: ProblemManifest): Promise<'created' | 'replaced' | 'stale'> {
    const { id, revision } = manifest;
    const previous = Number(await this.redis.eval(PROMOTE, 2, problemKeys.current(id), problemKeys.index, id, revision));
    if (previous === -1) {
      await this.dropRevision(id, revision);
      return 'stale';
    }
    if (previous > 0) await this.dropRevision(id, previous);
    return previous > 0 ? 'replaced' : 'created';
  }

  /** Deletes a problem: out of the index at once, then its current revision's manifest and blobs. */
  async remove(id: string): Promise<boolean> {
    const revision = Number(await this.redis.eval(REMOVE, 2, problemKeys.current(id), problemKeys.index, id));
    if (revision === 0) return false;
    await this.dropRevision(id, revision);
    return true;
  }

  /** A revision's manifest goes, and its hold on every blob (blobs no other revision holds are deleted). */
  async dropRevision(id: string, revision: number): Promise<void> {
    const manifest = await this.manifest(id, revision);
    await this.redis.del(problemKeys.manifest(id, revision));
    if (manifest) await this.releaseBlobs(revisionOwner(id, revision), blobsOf(manifest));
  }
}
