/**
 * Importing a user's image: an OCI image layout archive (oci-layout,
 * index.json, blobs/sha256/...) or `docker save` / `podman save` output
 * (manifest.json, layer tars), as a tar file. Into the layer store
 * (store.ts): each layer extracted as hostile input (layer-extract.ts) into
 * layers/<diff id>, where every image with the same layer shares it, plus
 * runcell's mount-point layer on top; an ImageRecord with the config's safe
 * parts (Env, WorkingDir, Entrypoint, Cmd; never User).
 *
 * The outer tar is read by archive/ (caps on entries and bytes, symlinks only
 * inside it: docker save links shared layers); every blob named by a digest
 * is checked against it, every layer against the config's diff_ids.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, openSync, readFileSync, readSync, renameSync, writeSync } from 'node:fs';
import { join, posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { readArchive } from '../archive/index.js';
import { ArchiveError } from '../archive/errors.js';
import { ROOTFS_MOUNT_POINTS } from '../sandbox/mount.js';
import { openRoot } from '../sandbox/safe-fs.js';
import { extractLayer, type LayerLimits } from './layer-extract.js';
import { ensureStore, holdLayers, layerId, removeTree, layerPath, layersDir, listImages, readLayer, writeImage, writeLayerMeta, type ImageConfig, type ImageRecord } from './store.js';

export interface ImportLimits {
  /** Bytes of the archive itself (the upload). */
  maxArchiveBytes: number;
  /** Bytes of one layer's files, decompressed. */
  maxLayerBytes: number;
  /** Decompressed / compressed bytes of a gzip layer, judged past 16 MiB decompressed. */
  maxCompressionRatio: number;
  maxLayers: number;
  maxEntriesPerLayer: number;
}

const MiB = 1024 * 1024;
export const DEFAULT_IMPORT_LIMITS: ImportLimits = {
  maxArchiveBytes: 2048 * MiB,
  maxLayerBytes: 4096 * MiB,
  maxCompressionRatio: 100,
  maxLayers: 64,
  maxEntriesPerLayer: 200_000,
};
const RATIO_FLOOR = 16 * MiB;

/** An imported image: the store's record with the digest it can also be named by. */
export interface ImportedImage extends ImageRecord {
  digest: string;
}

export interface ImportReport {
  image: ImportedImage;
  /** Layer ids extracted by this import, and those already in the store (shared). */
  extracted: string[];
  shared: string[];
  dropped: { devices: number; fifos: number; setid: number };
}

interface Blob {
  file: string;
  sha256: string;
}

/** Copies the outer archive's regular files into `staging`, keyed by their path; symlinks resolved to their targets. */
async function stageArchive(file: string, staging: string, limits: ImportLimits): Promise<Map<string, Blob>> {
  const blobs = new Map<string, Blob>();
  const links = new Map<string, string>();
  let n = 0;
  const entries = readArchive({ path: file }, { allowSymlinks: true, maxEntries: 100_000, maxEntryBytes: limits.maxArchiveBytes, maxTotalBytes: limits.maxArchiveBytes, maxPathBytes: 1024 });
  for await (const entry of entries) {
    if (entry.kind === 'symlink') links.set(entry.path, posix.normalize(posix.join(posix.dirname(entry.path), entry.linkTarget ?? '')));
    if (entry.kind !== 'file' || !entry.stream) continue;
    const target = join(staging, String(n++));
    const fd = openSync(target, 'wx', 0o600);
    const hash = createHash('sha256');
    try {
      for await (const chunk of entry.stream as AsyncIterable<Buffer>) {
        hash.update(chunk);
        for (let offset = 0; offset < chunk.length; ) offset += writeSync(fd, chunk, offset);
      }
    } finally {
      closeSync(fd);
    }
    blobs.set(entry.path, { file: target, sha256: hash.digest('hex') });
  }
  for (const [path, target] of links) {
    const blob = blobs.get(target);
    if (blob) blobs.set(path, blob);
  }
  return blobs;
}

function fail(message: string): never {
  throw new ArchiveError('unsupported', message);
}

const DIGEST = /^sha256:([0-9a-f]{64})$/;

function blobByDigest(blobs: Map<string, Blob>, digest: string): Blob {
  const hex = DIGEST.exec(digest)?.[1] ?? fail(`not a sha256 digest: ${JSON.stringify(digest)}`);
  const blob = blobs.get(`blobs/sha256/${hex}`) ?? fail(`the archive has no blob ${digest}`);
  if (blob.sha256 !== hex) fail(`blob ${digest} does not match its digest`);
  return blob;
}

function readJson(blob: Blob | undefined, what: string): Record<string, any> {
  if (!blob) fail(`no ${what}`);
  try {
    return JSON.parse(readFileSync(blob.file, 'utf8'));
  } catch {
    return fail(`${what} is not JSON`);
  }
}

interface Parsed {
  config: Record<string, any>;
  /** Layer blobs bottom first. */
  layers: Blob[];
  /** The image's digest (the manifest's for OCI, the config's for docker save) and a name it suggests. */
  digest: string;
  suggestedName?: string;
}

/** OCI image layout: index.json -> (nested index ->) manifest -> config and layers. */
function parseOci(blobs: Map<string, Blob>): Parsed {
  let index = readJson(blobs.get('index.json'), 'index.json');
  let descriptor = index.manifests?.[0] ?? fail('index.json lists no manifest');
  const suggestedName = descriptor.annotations?.['org.opencontainers.image.ref.name'];
  for (let depth = 0; descriptor.mediaType?.endsWith('image.index.v1+json') || descriptor.mediaType?.endsWith('manifest.list.v2+json'); depth++) {
    if (depth > 2) fail('indexes nested too deep');
    index = readJson(blobByDigest(blobs, descriptor.digest), 'an index');
    descriptor = index.manifests?.find((m: any) => !m.platform || (m.platform.os === 'linux' && m.platform.architecture === 'amd64')) ?? fail('no linux/amd64 manifest');
  }
  const manifest = readJson(blobByDigest(blobs, descriptor.digest), 'the manifest');
  const config = readJson(blobByDigest(blobs, manifest.config?.digest), 'the config');
  const layers = (manifest.layers ?? []).map((layer: any) => blobByDigest(blobs, layer.digest));
  return { config, layers, digest: descriptor.digest, suggestedName };
}

/** docker save / podman save: manifest.json -> Config and Layers, by path. */
function parseDocker(blobs: Map<string, Blob>): Parsed {
  const manifest = readJson(blobs.get('manifest.json'), 'manifest.json') as unknown as any[];
  const entry = (Array.isArray(manifest) && manifest[0]) || fail('manifest.json lists no image');
  const configBlob = blobs.get(posix.normalize(entry.Config ?? '')) ?? fail(`no config ${entry.Config}`);
  const layers = (entry.Layers ?? []).map((path: string) => blobs.get(posix.normalize(path)) ?? fail(`no layer ${path}`));
  return { config: readJson(configBlob, 'the config'), layers, digest: `sha256:${configBlob.sha256}`, suggestedName: entry.RepoTags?.[0] };
}

/** The archive's metadata, read as hostile JSON: a field of the wrong shape (a number for a path, say) refuses the image. */
function parseArchive(blobs: Map<string, Blob>): Parsed {
  try {
    return blobs.has('index.json') ? parseOci(blobs) : blobs.has('manifest.json') ? parseDocker(blobs) : fail('neither an OCI image layout (index.json) nor docker save output (manifest.json)');
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    return fail(`the image's metadata is malformed: ${(error as Error).message}`);
  }
}

/** Env, WorkingDir, Entrypoint and Cmd, each checked for shape; User and everything else ignored. */
function safeConfig(config: Record<string, any>): ImageConfig {
  const c = config.config ?? {};
  const strings = (value: unknown) => (Array.isArray(value) && value.every((s) => typeof s === 'string' && !s.includes('\0')) ? (value as string[]) : undefined);
  const env: Record<string, string> = {};
  for (const pair of strings(c.Env) ?? []) {
    const at = pair.indexOf('=');
    if (at > 0 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(pair.slice(0, at))) env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  // Plain names only (no `.`, `..`, commas or spaces): a writable root makes it the job's (mount.ts writableRootOptions).
  const parts = typeof c.WorkingDir === 'string' && c.WorkingDir.startsWith('/') ? (c.WorkingDir as string).split('/').filter(Boolean) : undefined;
  const workdir = parts && parts.length > 0 && parts.every((part: string) => /^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$/.test(part) && part !== '..') ? `/${parts.join('/')}` : undefined;
  return { env, ...(workdir ? { workdir } : {}), ...(strings(c.Entrypoint) ? { entrypoint: strings(c.Entrypoint) } : {}), ...(strings(c.Cmd) ? { cmd: strings(c.Cmd) } : {}) };
}

/** A layer's bytes decompressed (gzip or plain tar; zstd refused), metered against the ratio and byte caps. */
function decompressed(blob: Blob, limits: ImportLimits, diffHash: ReturnType<typeof createHash>): Readable {
  const magic = Buffer.alloc(4);
  const fd = openSync(blob.file, 'r');
  readSync(fd, magic, 0, 4, 0);
  closeSync(fd);
  if (magic.readUInt32BE(0) === 0x28b52ffd) fail('zstd layers are not supported (gzip or plain tar)');
  const input = createReadStream(blob.file);
  let compressed = 0;
  input.on('data', (chunk) => (compressed += chunk.length));
  const gzipped = magic[0] === 0x1f && magic[1] === 0x8b;
  let out = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      out += chunk.length;
      if (out > limits.maxLayerBytes) return done(new ArchiveError('total_too_large', `a layer decompresses to more than ${limits.maxLayerBytes} bytes`));
      if (gzipped && out > RATIO_FLOOR && out / Math.max(compressed, 1) > limits.maxCompressionRatio) {
        return done(new ArchiveError('compression_ratio', `a layer decompresses more than ${limits.maxCompressionRatio} times its size: a decompression bomb`));
      }
      diffHash.update(chunk);
      done(null, chunk);
    },
  });
  const fail_ = (error: Error) => meter.destroy(error);
  input.on('error', fail_);
  if (gzipped) input.pipe(createGunzip().on('error', (e) => fail_(new ArchiveError('corrupt', `a layer is not valid gzip: ${e.message}`)))).pipe(meter);
  else input.pipe(meter);
  // Its errors (a cap, bad gzip) reach extractLayer, which ends the extraction with them.
  return meter;
}

/** Extracts one layer into the store unless it is there already; answers whether it did. */
async function storeLayer(dataDir: string, blob: Blob, diffId: string, limits: ImportLimits, dropped: ImportReport['dropped']): Promise<boolean> {
  const hex = DIGEST.exec(diffId)?.[1] ?? fail(`not a sha256 diff id: ${JSON.stringify(diffId)}`);
  if (readLayer(dataDir, hex)) return false;
  const staging = join(layersDir(dataDir), `.tmp-oci-${randomBytes(6).toString('hex')}`);
  mkdirSync(staging, { mode: 0o755 });
  try {
    const hash = createHash('sha256');
    const layerLimits: LayerLimits = { maxEntries: limits.maxEntriesPerLayer, maxBytes: limits.maxLayerBytes, maxPathBytes: 4096 };
    const report = await withRootAsync(staging, (fd) => extractLayer(decompressed(blob, limits, hash), fd, layerLimits));
    if (hash.digest('hex') !== hex) fail(`a layer does not match its diff id ${diffId}`);
    for (const key of Object.keys(dropped) as (keyof typeof dropped)[]) dropped[key] += report.dropped[key];
    if (!publishLayer(dataDir, staging, hex)) return false;
    writeLayerMeta(dataDir, { id: hex, source: 'oci', inputs: { diff_id: diffId, blob_sha256: blob.sha256 }, size: report.bytes, created: new Date().toISOString() });
    return true;
  } finally {
    removeTree(staging);
  }
}

/**
 * Renames a finished staging tree to layers/<id>. False when another import finished the same layer first (it is
 * shared, never replaced: an image may have it mounted). A tree there without its .json is a crashed import's:
 * replaced. Staging trees are runcell's own (no mounts below them), so removing one recursively is safe.
 */
function publishLayer(dataDir: string, staging: string, id: string): boolean {
  if (readLayer(dataDir, id)) return false;
  try {
    renameSync(staging, layerPath(dataDir, id));
  } catch {
    if (readLayer(dataDir, id)) return false;
    removeTree(layerPath(dataDir, id));
    renameSync(staging, layerPath(dataDir, id));
  }
  return true;
}

async function withRootAsync<T>(root: string, work: (fd: number) => Promise<T>): Promise<T> {
  const fd = openRoot(root);
  try {
    return await work(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * runcell's own top layer of every imported image: the mount points bubblewrap needs (the image is
 * read-only when it mounts over it). One layer, shared by all imported images.
 */
const mountPointLayerId = layerId({ runcell: 'oci-mount-points', dirs: ROOTFS_MOUNT_POINTS });

function mountPointLayer(dataDir: string): string {
  const id = mountPointLayerId;
  if (readLayer(dataDir, id)) return id;
  const staging = join(layersDir(dataDir), `.tmp-mp-${randomBytes(6).toString('hex')}`);
  for (const dir of ROOTFS_MOUNT_POINTS) mkdirSync(join(staging, dir), { recursive: true, mode: 0o755 });
  if (!publishLayer(dataDir, staging, id)) {
    removeTree(staging);
    return id;
  }
  writeLayerMeta(dataDir, { id, source: 'build', inputs: { runcell: 'oci-mount-points', dirs: ROOTFS_MOUNT_POINTS }, size: 0, created: new Date().toISOString(), comment: 'mount points of imported images' });
  return id;
}

/** An image name from a suggestion ("repo/name:tag" -> "repo_name_tag"), or from the digest. */
function imageName(name: unknown, digest: string): string {
  // The archive's JSON: a tag may be anything there.
  const cleaned = (typeof name === 'string' ? name : '').replace(/[^A-Za-z0-9._+-]/g, '_').replace(/^[^A-Za-z0-9]+/, '').slice(0, 128);
  return cleaned || `sha256-${digest.slice(7, 19)}`;
}

export interface ImportOptions {
  name?: string;
  limits?: Partial<ImportLimits>;
  /** Called with the image's name before its layers are extracted; throws to refuse it (the API's quota and owner check). */
  admit?: (name: string) => Promise<void>;
  /** sha256 of the archive as the fleet's registry holds it: recorded, so that a worker sees when it was replaced. */
  archive?: string;
}

/** Imports the archive at `file`; see the file's comment. */
export async function importImage(dataDir: string, file: string, options: ImportOptions = {}): Promise<ImportReport> {
  const limits = { ...DEFAULT_IMPORT_LIMITS, ...options.limits };
  ensureStore(dataDir);
  const staging = join(layersDir(dataDir), `.tmp-import-${randomBytes(6).toString('hex')}`);
  mkdirSync(staging, { mode: 0o700 });
  try {
    const blobs = await stageArchive(file, staging, limits);
    const parsed = parseArchive(blobs);
    const diffIds: unknown = parsed.config.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || !diffIds.every((id) => typeof id === 'string')) fail('the config has no rootfs.diff_ids (a list of digests)');
    if (diffIds.length !== parsed.layers.length) fail(`the config names ${diffIds.length} layers, the manifest ${parsed.layers.length}`);
    if (parsed.layers.length > limits.maxLayers) fail(`more than ${limits.maxLayers} layers`);
    const report: ImportReport = { extracted: [], shared: [], dropped: { devices: 0, fifos: 0, setid: 0 } } as unknown as ImportReport;
    // Held from before the first is stored until the image is recorded: a prune meanwhile must not take them.
    const release = holdLayers(dataDir, [...diffIds.map((id) => id.slice(7)), mountPointLayerId]);
    try {
      report.image = await storeImage(dataDir, parsed, diffIds, limits, report, options);
    } finally {
      release();
    }
    return report;
  } finally {
    removeTree(staging);
  }
}

/** Stores the layers (noting each as extracted or shared in `report`), then records the image. */
async function storeImage(dataDir: string, parsed: Parsed, diffIds: string[], limits: ImportLimits, report: ImportReport, options: ImportOptions): Promise<ImportedImage> {
  const name = options.name ?? imageName(parsed.suggestedName, parsed.digest);
  // Before any layer is extracted: a refused upload (a quota, another's name) costs no disk. publish decides again.
  await options.admit?.(name);
  for (const [i, blob] of parsed.layers.entries()) {
    const hex = diffIds[i].slice(7);
    ((await storeLayer(dataDir, blob, diffIds[i], limits, report.dropped)) ? report.extracted : report.shared).push(hex);
  }
  const image: ImportedImage = {
    name,
    layers: [...diffIds.map((id) => id.slice(7)), mountPointLayer(dataDir)],
    config: safeConfig(parsed.config),
    digest: parsed.digest,
    created: new Date().toISOString(),
    ...(options.archive ? { archive: options.archive } : {}),
  };
  writeImage(dataDir, image);
  return image;
}

/** An image of the store by name, or by digest ("sha256:..." of an imported image). */
export function findImage(dataDir: string, nameOrDigest: string): ImageRecord | undefined {
  return listImages(dataDir).find((image) => image.name === nameOrDigest || (image as Partial<ImportedImage>).digest === nameOrDigest);
}

