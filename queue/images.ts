/**
 * Users' images on a fleet: the uploaded archive (OCI layout or docker save) kept in Redis as one
 * content-addressed blob (1 MiB chunks, the stored problems' blob store of problems.ts: an identical upload
 * is stored once), and a record per image name. Why the archive and not its layers: the API never unpacks
 * a hostile image (it runs no sandbox code); each worker host imports it into its own layer store (a real
 * filesystem, where layers are shared by digest) the first time a job names it, and reuses it afterwards.
 *
 * Keys (all under PREFIX's hash tag, so the scripts below touch one slot):
 *   image:<name>            StoredImage (JSON)
 *   images:owner:<owner>    hash name -> archive bytes: a client's images, what its quota counts
 *   images:used             sorted set name -> last use (ms): a publish, an accepted job, a run
 *   images:pending:<owner> hash upload -> bytes:expiry, uploads under way (reserved before their blob is stored)
 *   image-digest:<digest>   set of the names of the images with that digest, once an import learned it
 *                           (several clients may upload one public image: deleting one leaves the others)
 * Every change of a record is one Lua script: API replicas share the counts, and two uploads racing
 * for the last byte of a quota cannot both pass. Each publication claims its blob under its own
 * owner tag (`ref`), so that releasing an old publication never drops a newer one's identical blob.
 */
import { randomUUID } from 'node:crypto';
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
  /** Who published it (api/images.ts clientId); absent on records of before owners, which are `anonymous`'s (ownerOf). */
  owner?: string;
  /** This publication's claim on the blob (ProblemStore owner tag). */
  ref?: string;
  /** The image's digest ("sha256:..."), once known: at an import beside the API, or a worker's first pull. */
  digest?: string;
}

export interface ImageView extends StoredImage {
  /** ISO time of the last publish, accepted job or run naming it. */
  last_used: string | null;
}

export interface ImageQuota {
  /** Archive bytes one owner may keep; 0 = no cap. */
  maxBytes: number;
  /** Images one owner may keep; 0 = no cap. */
  maxCount: number;
}

export class ImageQuotaError extends Error {
  constructor(
    readonly field: 'bytes' | 'count' | 'name',
    message: string,
  ) {
    super(message);
  }
}

export const imageKeys = {
  image: (name: string) => `${PREFIX}:image:${name}`,
  owner: (owner: string) => `${PREFIX}:images:owner:${owner}`,
  used: `${PREFIX}:images:used`,
  digest: (digest: string) => `${PREFIX}:image-digest:${digest}`,
  /** hash upload id -> "<bytes>:<expiry ms>": an owner's uploads under way (RESERVE), counted against its bytes. */
  pending: (owner: string) => `${PREFIX}:images:pending:${owner}`,
};
// Long enough to copy a 2 GiB spooled archive into Redis; a reservation of an API process that died lapses then.
const RESERVATION_MS = 3600_000;
const IMAGE_PREFIX = `${PREFIX}:image:`;
const OWNER_PREFIX = `${PREFIX}:images:owner:`;
const DIGEST_PREFIX = `${PREFIX}:image-digest:`;

// A digest's set of names (`key`); a mapping of before (one name, a string) is turned into one first.
const DIGEST_SET = `
local function digestSet(key)
  if redis.call('TYPE', key).ok == 'string' then
    local only = redis.call('GET', key)
    redis.call('DEL', key)
    redis.call('SADD', key, only)
  end
  return key
end
`;

// Removes a record and everything that points at it; `rec` is its decoded JSON, `name` its name.
const FORGET = `${DIGEST_SET}
local function forget(name, rec)
  redis.call('DEL', ARGV_IMAGE .. name)
  if rec.owner then redis.call('HDEL', ARGV_OWNER .. rec.owner, name) end
  redis.call('ZREM', KEYS[1], name)
  if rec.digest then redis.call('SREM', digestSet(ARGV_DIGEST .. rec.digest), name) end
end
`;
const header = (first: number) => `local ARGV_IMAGE, ARGV_OWNER, ARGV_DIGEST = ARGV[${first}], ARGV[${first + 1}], ARGV[${first + 2}]\n${FORGET}`;

/*
  Publishes a record within its owner's quota. KEYS[1] used set.
  ARGV[1] name, [2] owner, [3] size, [4] max bytes, [5] max count, [6] record JSON, [7] now ms, [8..10] prefixes.
  Returns {'ok', previous JSON or ''} or {'bytes'|'count'|'name', detail}.
*/
const PUBLISH = `${header(8)}
local name, owner, size = ARGV[1], ARGV[2], tonumber(ARGV[3])
local prev = redis.call('GET', ARGV_IMAGE .. name)
local prevSize = 0
local rec
if prev then
  rec = cjson.decode(prev)
  -- A record of before owners is anonymous's (every client's when there are no API keys), no keyed client's.
  if (rec.owner or 'anonymous') ~= owner then return {'name', 'taken'} end
  prevSize = tonumber(rec.size)
end
local mine = rec ~= nil and rec.owner == owner
local sizes = redis.call('HVALS', ARGV_OWNER .. owner)
local bytes = 0
for _, v in ipairs(sizes) do bytes = bytes + tonumber(v) end
if mine then bytes = bytes - prevSize end
if not mine and tonumber(ARGV[5]) > 0 and #sizes + 1 > tonumber(ARGV[5]) then return {'count', tostring(#sizes)} end
if tonumber(ARGV[4]) > 0 and bytes + size > tonumber(ARGV[4]) then return {'bytes', tostring(bytes)} end
if rec and rec.digest then redis.call('SREM', digestSet(ARGV_DIGEST .. rec.digest), name) end
local new = cjson.decode(ARGV[6])
redis.call('SET', ARGV_IMAGE .. name, ARGV[6])
redis.call('HSET', ARGV_OWNER .. owner, name, size)
redis.call('ZADD', KEYS[1], ARGV[7], name)
if new.digest then redis.call('SADD', digestSet(ARGV_DIGEST .. new.digest), name) end
return {'ok', prev or ''}
`;

/*
  Reserves an upload's bytes before its archive is copied into Redis: uploads at once cannot each pass a check
  and then all be stored (Redis' memory), only to be refused but one. KEYS[1] the owner's pending hash;
  ARGV[1] name, [2] owner, [3] size, [4] max bytes, [5] upload id, [6] now ms, [7] lifetime ms, [8] image
  prefix, [9] owner prefix. Returns {'ok', ''} or {'bytes'|'name', detail}; publish's PUBLISH decides again, then it is dropped.
*/
const RESERVE = `
local owner, size, now = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[6])
local pendingKey = KEYS[1]
local bytes = 0
local entries = redis.call('HGETALL', pendingKey)
for i = 1, #entries, 2 do
  local reserved, expires = string.match(entries[i + 1], '^(%d+):(%d+)$')
  if reserved and tonumber(expires) > now then bytes = bytes + tonumber(reserved) else redis.call('HDEL', pendingKey, entries[i]) end
end
for _, v in ipairs(redis.call('HVALS', ARGV[9] .. owner)) do bytes = bytes + tonumber(v) end
local prev = redis.call('GET', ARGV[8] .. ARGV[1])
if prev then
  local rec = cjson.decode(prev)
  if (rec.owner or 'anonymous') ~= owner then return {'name', 'taken'} end
  if rec.owner == owner then bytes = bytes - tonumber(rec.size) end
end
if tonumber(ARGV[4]) > 0 and bytes + size > tonumber(ARGV[4]) then return {'bytes', tostring(bytes)} end
redis.call('HSET', pendingKey, ARGV[5], ARGV[3] .. ':' .. tostring(now + tonumber(ARGV[7])))
redis.call('PEXPIRE', pendingKey, ARGV[7])
return {'ok', ''}
`;

/* Removes `name` if owned by ARGV[2] (any owner when ''). KEYS[1] used set. Returns the record's JSON or false. */
const REMOVE = `${header(3)}
local prev = redis.call('GET', ARGV_IMAGE .. ARGV[1])
if not prev then return false end
local rec = cjson.decode(prev)
if ARGV[2] ~= '' and (rec.owner or 'anonymous') ~= ARGV[2] then return false end
forget(ARGV[1], rec)
return prev
`;

/* Removes `name` if its last use is at or before ARGV[2] (ms). KEYS[1] used set. Returns the record's JSON or false. */
const EXPIRE = `${header(3)}
local used = redis.call('ZSCORE', KEYS[1], ARGV[1])
if used and tonumber(used) > tonumber(ARGV[2]) then return false end
local prev = redis.call('GET', ARGV_IMAGE .. ARGV[1])
if not prev then redis.call('ZREM', KEYS[1], ARGV[1]) return false end
forget(ARGV[1], cjson.decode(prev))
return prev
`;

/*
  A job names ARGV[1] (a name or a digest): its record, its last use set to ARGV[2] (ms) when it exists. A
  digest marks every image that has it used (identical content) and answers the first by name.
  KEYS[1] used set; ARGV[3] image prefix, ARGV[4] digest prefix. Returns the record's JSON or false.
*/
const USE = `${DIGEST_SET}
local names = {ARGV[1]}
if string.sub(ARGV[1], 1, 7) == 'sha256:' then
  names = redis.call('SMEMBERS', digestSet(ARGV[4] .. ARGV[1]))
  table.sort(names)
end
local found = false
for _, name in ipairs(names) do
  local rec = redis.call('GET', ARGV[3] .. name)
  if rec then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], name)
    found = found or rec
  end
end
return found
`;

/* Records the digest of publication ARGV[2] (its archive) of ARGV[1]: only if the record still holds that archive. */
const NOTE_DIGEST = `${DIGEST_SET}
local prev = redis.call('GET', ARGV[4] .. ARGV[1])
if not prev then return 0 end
local rec = cjson.decode(prev)
if rec.archive ~= ARGV[2] then return 0 end
if rec.digest then redis.call('SREM', digestSet(ARGV[5] .. rec.digest), ARGV[1]) end
rec.digest = ARGV[3]
redis.call('SET', ARGV[4] .. ARGV[1], cjson.encode(rec))
redis.call('SADD', digestSet(ARGV[5] .. ARGV[3]), ARGV[1])
return 1
`;

/** An image's owner: a record of before owners is `anonymous`'s, never a keyed client's to replace or delete. */
export const ownerOf = (image: StoredImage): string => image.owner ?? 'anonymous';

const legacyRef = (name: string) => `image/${name}`;
// '/' is never in a problem id: no owner of a problem's revision (`<id>:<revision>`) can be an image's.
const newRef = (name: string) => `image/${name}/${randomUUID()}`;

export class ImageRegistry {
  private readonly blobs: ProblemStore;

  constructor(private readonly redis: Redis | Cluster) {
    this.blobs = new ProblemStore(redis);
  }

  /**
   * Stores an archive under `name` for `owner` within `quota`, replacing (and releasing) the owner's earlier
   * one of that name. Throws ImageQuotaError (nothing kept) past the quota or when another owner has the name.
   */
  async publish(name: string, archive: Readable, options: { owner?: string; quota?: ImageQuota; digest?: string; size?: number } = {}): Promise<StoredImage> {
    const owner = options.owner ?? 'anonymous';
    const quota = options.quota ?? { maxBytes: 0, maxCount: 0 };
    if (options.size === undefined) return this.store(name, archive, owner, quota, options.digest);
    // The archive's size known beforehand (a spooled upload): its bytes reserved before they go to Redis.
    const upload = randomUUID();
    const [status, detail] = (await this.redis.eval(RESERVE, 1, imageKeys.pending(owner), name, owner, options.size, quota.maxBytes, upload, Date.now(), RESERVATION_MS, IMAGE_PREFIX, OWNER_PREFIX)) as [string, string];
    if (status !== 'ok') throw quotaError(status, detail, options.size, quota);
    try {
      return await this.store(name, archive, owner, quota, options.digest);
    } finally {
      await this.redis.hdel(imageKeys.pending(owner), upload);
    }
  }

  private async store(name: string, archive: Readable, owner: string, quota: ImageQuota, digest: string | undefined): Promise<StoredImage> {
    const ref = newRef(name);
    const stored = await this.blobs.putBlob(ref, archive);
    const image: StoredImage = { name, archive: stored.sha256, size: stored.size, created: new Date().toISOString(), owner, ref, ...(digest ? { digest } : {}) };
    const [status, detail] = (await this.redis.eval(PUBLISH, 1, imageKeys.used, name, owner, stored.size, quota.maxBytes, quota.maxCount, JSON.stringify(image), Date.now(), IMAGE_PREFIX, OWNER_PREFIX, DIGEST_PREFIX)) as [string, string];
    if (status !== 'ok') {
      await this.blobs.releaseBlobs(ref, [stored.sha256]);
      throw quotaError(status, detail, stored.size, quota);
    }
    if (detail) await this.release(JSON.parse(detail) as StoredImage);
    return image;
  }

  /** Whether `owner` could publish `size` more bytes under `name` now (a check before the work; publish decides). */
  async admits(name: string, owner: string, size: number, quota: ImageQuota): Promise<void> {
    const [previous, sizes] = await Promise.all([this.get(name), this.redis.hvals(imageKeys.owner(owner))]);
    if (previous && ownerOf(previous) !== owner) throw quotaError('name', 'taken', size, quota);
    const mine = previous?.owner === owner;
    const bytes = sizes.reduce((sum, value) => sum + Number(value), 0) - (mine ? previous.size : 0);
    if (!mine && quota.maxCount > 0 && sizes.length + 1 > quota.maxCount) throw quotaError('count', String(sizes.length), size, quota);
    if (quota.maxBytes > 0 && bytes + size > quota.maxBytes) throw quotaError('bytes', String(bytes), size, quota);
  }

  async get(name: string): Promise<StoredImage | undefined> {
    const text = await this.redis.get(imageKeys.image(name));
    return text ? (JSON.parse(text) as StoredImage) : undefined;
  }

  /** An image with its last use, or undefined. */
  async view(name: string): Promise<ImageView | undefined> {
    const [image, used] = await Promise.all([this.get(name), this.redis.zscore(imageKeys.used, name)]);
    return image && { ...image, last_used: used === null ? null : new Date(Number(used)).toISOString() };
  }

  /** An owner's images, by name. */
  async list(owner: string): Promise<ImageView[]> {
    const names = (await this.redis.hkeys(imageKeys.owner(owner))).sort();
    const views = await Promise.all(names.map((name) => this.view(name)));
    return views.filter((view): view is ImageView => view !== undefined && view.owner === owner);
  }

  /** Deletes `name` if `owner` owns it, releasing its blob; false when there is no such image of theirs. */
  async remove(name: string, owner: string): Promise<boolean> {
    const removed = (await this.redis.eval(REMOVE, 1, imageKeys.used, name, owner, IMAGE_PREFIX, OWNER_PREFIX, DIGEST_PREFIX)) as string | null;
    if (removed) await this.release(JSON.parse(removed) as StoredImage);
    return Boolean(removed);
  }

  /**
   * A job names `nameOrDigest` (accepted or run): its record, with its last use set to now. One round trip;
   * undefined when the registry has no such image (a digest no import has reported yet included).
   */
  async use(nameOrDigest: string): Promise<StoredImage | undefined> {
    const text = (await this.redis.eval(USE, 1, imageKeys.used, nameOrDigest, Date.now(), IMAGE_PREFIX, DIGEST_PREFIX)) as string | null;
    return text ? (JSON.parse(text) as StoredImage) : undefined;
  }

  /** A worker imported publication `archive` of `name` and learned its digest: jobs may name it by that digest now. */
  async noteDigest(name: string, archive: string, digest: string): Promise<void> {
    await this.redis.eval(NOTE_DIGEST, 1, imageKeys.used, name, archive, digest, IMAGE_PREFIX, DIGEST_PREFIX);
  }

  /**
   * Removes images no publish, job or run used since `unusedSeconds` ago, releasing their blobs. Each removal
   * is one script that checks the last use again: several API replicas may sweep at once, one removes.
   */
  async collect(unusedSeconds: number): Promise<StoredImage[]> {
    const cutoff = Date.now() - unusedSeconds * 1000;
    const names = await this.redis.zrangebyscore(imageKeys.used, '-inf', cutoff);
    const removed: StoredImage[] = [];
    for (const name of names) {
      const text = (await this.redis.eval(EXPIRE, 1, imageKeys.used, name, cutoff, IMAGE_PREFIX, OWNER_PREFIX, DIGEST_PREFIX)) as string | null;
      if (!text) continue;
      const image = JSON.parse(text) as StoredImage;
      await this.release(image);
      removed.push(image);
    }
    return removed;
  }

  /** The archive's bytes, chunk by chunk. */
  readArchive(image: StoredImage): AsyncGenerator<Buffer> {
    return this.blobs.readBlob(image.archive);
  }

  private async release(image: StoredImage): Promise<void> {
    await this.blobs.releaseBlobs(image.ref ?? legacyRef(image.name), [image.archive]);
  }
}

function quotaError(status: string, detail: string, size: number, quota: ImageQuota): ImageQuotaError {
  if (status === 'name') return new ImageQuotaError('name', 'another client has an image of this name');
  if (status === 'count') return new ImageQuotaError('count', `you have ${detail} images, the most one client may keep is ${quota.maxCount} (RUNCELL_IMAGE_QUOTA_COUNT): delete one first (DELETE /v1/images/NAME)`);
  return new ImageQuotaError('bytes', `your images take ${detail} bytes; ${size} more would pass the ${quota.maxBytes} bytes one client may keep (RUNCELL_IMAGE_QUOTA_BYTES)`);
}
