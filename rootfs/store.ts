/**
 * The layer store: root filesystems as stacks of read-only layers shared on
 * disk by every image that uses them. The format (stable; rootfs/build.ts
 * writes built layers, OCI import writes imported ones):
 *
 *   <dataDir>/layers/<id>/       a layer's tree in overlayfs form: a deleted
 *                                path is a 0/0 character device (whiteout), a
 *                                directory replacing a lower one carries the
 *                                xattr trusted.overlay.opaque="y". No
 *                                redirect or metacopy xattrs: a layer stands
 *                                on its own (overlay's bookkeeping xattrs
 *                                origin/impure may remain; lowers ignore them).
 *   <dataDir>/layers/<id>.json   LayerMeta, written (atomically) last: a layer
 *                                without it is incomplete and never used.
 *                                id: for source "build", the sha256 of the
 *                                layer's inputs (layerId); for "oci", the
 *                                layer's digest hex (sha256 of its tar).
 *   <dataDir>/images/<name>.json ImageRecord: layer ids bottom-first, config.
 *   <dataDir>/mounts/<key>/      where an image of several layers is mounted
 *                                (mountImage): a read-only overlay of its
 *                                layers, no upper, mounted once and reused by
 *                                every run; key = hash of the layer list.
 *   <dataDir>/images/in-use/<pid>.json  InUseRecord of a running process:
 *                                the image it runs on and its running jobs' images.
 *
 * Writers build a layer under layers/.tmp-*, rename it to layers/<id> and
 * then write <id>.json; readers only trust a layer whose .json exists.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LayerMeta {
  id: string;
  source: 'build' | 'oci';
  /** What the layer was made from, without its parents' contents (build: parent id, packages, versions, recipe; oci: digest, media type). */
  inputs: Record<string, unknown>;
  /** Bytes of the layer's tree (du --apparent-size). */
  size: number;
  created: string;
  /** Seconds the build took (built layers). */
  build_seconds?: number;
  /** A short human description ("base", "python", "merge"...). */
  comment?: string;
}

export interface ImageConfig {
  env?: Record<string, string>;
  workdir?: string;
  entrypoint?: string[];
  cmd?: string[];
}

export interface ImageRecord {
  name: string;
  /** Layer ids, bottom first. */
  layers: string[];
  config: ImageConfig;
  /** Language ids the image offers (built images). */
  languages?: string[];
  /** Built images: the manifest hash of rootfs/build.ts (the marker's), by which runcell finds the image for its languages. */
  rootfs_hash?: string;
  created?: string;
  /** Images of the fleet's registry (queue/images.ts): the sha256 of the archive this copy was imported from. */
  archive?: string;
}

export interface InUseRecord {
  pid: number;
  images: string[];
  layers: string[];
  mounts: string[];
}

const LAYER_ID = /^[0-9a-f]{64}$/;
const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

export const layersDir = (dataDir: string) => join(dataDir, 'layers');
export const layerPath = (dataDir: string, id: string) => join(layersDir(dataDir), checkId(id));
export const layerMetaPath = (dataDir: string, id: string) => `${layerPath(dataDir, id)}.json`;
export const imagesDir = (dataDir: string) => join(dataDir, 'images');
export const imagePath = (dataDir: string, name: string) => join(imagesDir(dataDir), `${checkName(name)}.json`);
export const mountsDir = (dataDir: string) => join(dataDir, 'mounts');
export const inUseDir = (dataDir: string) => join(imagesDir(dataDir), 'in-use');

function checkId(id: string): string {
  if (!LAYER_ID.test(id)) throw new Error(`not a layer id: ${JSON.stringify(id)}`);
  return id;
}

function checkName(name: string): string {
  if (!IMAGE_NAME.test(name)) throw new Error(`not an image name: ${JSON.stringify(name)} (letters, digits, . _ + -)`);
  return name;
}

/** The id of a built layer: sha256 of its inputs (keys sorted, so the same inputs always give the same id). */
export function layerId(inputs: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(inputs)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Creates the store's directories (0711: slot uids traverse to the mounted image, never list it). */
export function ensureStore(dataDir: string): void {
  for (const dir of [dataDir, layersDir(dataDir), imagesDir(dataDir), mountsDir(dataDir), inUseDir(dataDir)]) {
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    chmodSync(dir, 0o711);
  }
}

/** Writes a file under another name, then renames it: readers see the old or the new content, never a part. */
export function writeAtomically(path: string, content: string): void {
  const staging = `${path}.tmp-${process.pid}`;
  writeFileSync(staging, content, { mode: 0o644 });
  renameSync(staging, path);
}

export function readLayer(dataDir: string, id: string): LayerMeta | undefined {
  try {
    const meta = JSON.parse(readFileSync(layerMetaPath(dataDir, id), 'utf8')) as LayerMeta;
    return existsSync(layerPath(dataDir, id)) ? meta : undefined;
  } catch {
    return undefined;
  }
}

/** Marks a layer complete: its tree must already be at layerPath. */
export function writeLayerMeta(dataDir: string, meta: LayerMeta): void {
  writeAtomically(layerMetaPath(dataDir, meta.id), JSON.stringify(meta, null, 2));
}

/** Complete layers of the store. */
export function listLayers(dataDir: string): LayerMeta[] {
  if (!existsSync(layersDir(dataDir))) return [];
  const ids = readdirSync(layersDir(dataDir)).filter((name) => name.endsWith('.json')).map((name) => name.slice(0, -5));
  return ids.filter((id) => LAYER_ID.test(id)).map((id) => readLayer(dataDir, id)).filter((meta): meta is LayerMeta => meta !== undefined);
}

/** Removes a layer: its .json first, so that a half-removed layer is never taken for a complete one. */
export function removeLayer(dataDir: string, id: string): void {
  rmSync(layerMetaPath(dataDir, id), { force: true });
  removeTree(layerPath(dataDir, id));
}

export function readImage(dataDir: string, name: string): ImageRecord | undefined {
  try {
    return JSON.parse(readFileSync(imagePath(dataDir, name), 'utf8')) as ImageRecord;
  } catch {
    return undefined;
  }
}

export function writeImage(dataDir: string, image: ImageRecord): void {
  ensureStore(dataDir);
  for (const id of image.layers) if (!readLayer(dataDir, id)) throw new Error(`image ${image.name}: layer ${id} is not in the store`);
  writeAtomically(imagePath(dataDir, image.name), JSON.stringify(image, null, 2));
}

export function listImages(dataDir: string): ImageRecord[] {
  if (!existsSync(imagesDir(dataDir))) return [];
  return readdirSync(imagesDir(dataDir))
    .filter((name) => name.endsWith('.json'))
    .map((name) => readImage(dataDir, name.slice(0, -5)))
    .filter((image): image is ImageRecord => image !== undefined);
}

/** Where an image's root appears on the host: its only layer itself, or the overlay of its layers. */
export function imageRoot(dataDir: string, image: ImageRecord): string {
  if (image.layers.length === 1) return layerPath(dataDir, image.layers[0]);
  const key = createHash('sha256').update(image.layers.join(':')).digest('hex').slice(0, 16);
  return join(mountsDir(dataDir), key);
}

/** The mount points of this mount namespace, decoded from /proc/self/mountinfo. */
function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split(' ')[4].replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
}

/**
 * rm -rf that never crosses into a mount. A build killed mid-way leaves mmdebstrap's bind mounts of the
 * host's /dev, /dev/shm, /proc and /sys below its staging directory (seen: a recursive delete of such a
 * directory emptied the host's /dev/shm). Mounts at or below `path` are detached first, deepest first
 * (a lazy unmount removes the bind, never the host's tree); if one remains, nothing is deleted and it throws.
 */
export function removeTree(path: string): void {
  const below = (points: string[]) => points.filter((point) => point === path || point.startsWith(`${path}/`)).sort((a, b) => b.length - a.length);
  for (const point of below(mountPoints())) spawnSync('umount', ['--lazy', point], { encoding: 'utf8' });
  const left = below(mountPoints());
  if (left.length > 0) throw new Error(`not removing ${path}: still mounted below it: ${left.join(', ')}`);
  rmSync(path, { recursive: true, force: true });
}

/** Whether something is mounted at `path` (per /proc/self/mountinfo). */
export function isMounted(path: string): boolean {
  const escaped = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((line) => line.split(' ')[4] === escaped);
}

/**
 * The one read-only directory the sandbox binds as / for `image`: mounts a
 * read-only overlay of its layers (no upper: nothing can write to it) at a
 * fixed place the first time, and returns it as it is afterwards. Per-run
 * cost stays that of a plain directory: runs bind it like any other.
 */
export function mountImage(dataDir: string, image: ImageRecord): string {
  for (const id of image.layers) if (!readLayer(dataDir, id)) throw new Error(`image ${image.name}: layer ${id} is missing or incomplete`);
  const root = imageRoot(dataDir, image);
  if (image.layers.length === 1 || isMounted(root)) return root;
  ensureStore(dataDir);
  mkdirSync(root, { recursive: true, mode: 0o755 });
  // Relative lower dirs (cwd = layers/): the mount options fit in a page with dozens of layers.
  // overlay lists lower dirs top first. nodev: whiteouts are 0/0 devices; nosuid: no job needs setuid.
  const lower = [...image.layers].reverse().join(':');
  const options = `ro,nosuid,nodev,lowerdir=${lower},redirect_dir=nofollow,metacopy=off`;
  const result = spawnSync('mount', ['-t', 'overlay', 'runcell-image', '-o', options, root], { cwd: layersDir(dataDir), encoding: 'utf8' });
  // Another process may have mounted it meanwhile: that mount is as good.
  if (result.status !== 0 && !isMounted(root)) throw new Error(`cannot mount image ${image.name} at ${root}: ${result.stderr.trim()}`);
  return root;
}

/** Unmounts an image's overlay, if mounted (lazily: runs still using it keep it until they end). */
export function unmountImage(dataDir: string, image: ImageRecord): void {
  if (image.layers.length > 1) unmountAt(imageRoot(dataDir, image));
}

/** Unmounts whatever is mounted at `root` (lazily) and removes the mount point. */
export function unmountAt(root: string): void {
  if (isMounted(root)) {
    const result = spawnSync('umount', ['--lazy', root], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`cannot unmount ${root}: ${result.stderr.trim()}`);
  }
  try {
    rmdirSync(root);
  } catch {
    // Already gone.
  }
}

/** Bytes on disk of `dirs` together, a file hard-linked into several counted once (du). */
export function diskUsage(dirs: string[]): number {
  const present = dirs.filter((dir) => existsSync(dir));
  if (present.length === 0) return 0;
  const result = spawnSync('du', ['-scb', ...present], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const total = /(\d+)\s+total\s*$/.exec(result.stdout.trim());
  return total ? Number(total[1]) : 0;
}

const inUsePath = (dataDir: string, pid: number) => join(inUseDir(dataDir), `${pid}.json`);

/** This process's images: those it runs on (recordInUse) and those its running jobs use, counted per job. */
const processImages = new Map<string, { records: ImageRecord[]; jobs: Map<string, { image: ImageRecord; count: number }>; held: Map<string, number> }>();

function writeInUse(dataDir: string): void {
  const mine = processImages.get(dataDir)!;
  const images = [...mine.records, ...[...mine.jobs.values()].map((entry) => entry.image)];
  const record: InUseRecord = {
    pid: process.pid,
    images: images.map((image) => image.name),
    layers: [...new Set([...images.flatMap((image) => image.layers), ...mine.held.keys()])],
    mounts: images.map((image) => imageRoot(dataDir, image)),
  };
  writeAtomically(inUsePath(dataDir, process.pid), JSON.stringify(record));
}

/**
 * Layers an import of this process is storing, before its image is recorded: prune (and the unused-image
 * sweep's) keep them meanwhile. Returns the release.
 */
export function holdLayers(dataDir: string, ids: string[]): () => void {
  ensureStore(dataDir);
  const held = processEntry(dataDir).held;
  for (const id of ids) held.set(id, (held.get(id) ?? 0) + 1);
  writeInUse(dataDir);
  return () => {
    for (const id of ids) {
      const count = (held.get(id) ?? 1) - 1;
      if (count > 0) held.set(id, count);
      else held.delete(id);
    }
    writeInUse(dataDir);
  };
}

function processEntry(dataDir: string) {
  let mine = processImages.get(dataDir);
  if (!mine) processImages.set(dataDir, (mine = { records: [], jobs: new Map(), held: new Map() }));
  return mine;
}

/**
 * A job of this process runs in `image` until the returned release is called: prune and the unused-image
 * sweep keep it (layers and mount) meanwhile; its image file's mtime says when it was last used on this host.
 */
export function useImage(dataDir: string, image: ImageRecord): () => void {
  ensureStore(dataDir);
  const jobs = processEntry(dataDir).jobs;
  // By name and layers: jobs on two publications of one name (a pull replaced it meanwhile) keep both.
  const key = `${image.name}:${image.layers.join(',')}`;
  const entry = jobs.get(key) ?? { image, count: 0 };
  entry.count++;
  jobs.set(key, entry);
  writeInUse(dataDir);
  touchImage(dataDir, image.name);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--entry.count === 0 && jobs.get(key) === entry) jobs.delete(key);
    writeInUse(dataDir);
    touchImage(dataDir, image.name);
  };
}

/** Marks an image used now on this host (its record's mtime; the record's content stays as it is). */
export function touchImage(dataDir: string, name: string): void {
  const now = new Date();
  try {
    utimesSync(imagePath(dataDir, name), now, now);
  } catch {
    // Removed meanwhile: nothing to mark.
  }
}

/**
 * Records that this process (a worker, `runcell serve`) uses `images`: prune
 * keeps their layers and mounts while the process lives. Replaced on every call.
 */
export function recordInUse(dataDir: string, images: ImageRecord[]): void {
  ensureStore(dataDir);
  processEntry(dataDir).records = images;
  writeInUse(dataDir);
}

export function releaseInUse(dataDir: string): void {
  processImages.delete(dataDir);
  rmSync(inUsePath(dataDir, process.pid), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Records of live processes; a dead process's record is removed. */
export function liveInUse(dataDir: string): InUseRecord[] {
  if (!existsSync(inUseDir(dataDir))) return [];
  const records: InUseRecord[] = [];
  for (const name of readdirSync(inUseDir(dataDir)).filter((entry) => /^\d+\.json$/.test(entry))) {
    const path = join(inUseDir(dataDir), name);
    try {
      const record = JSON.parse(readFileSync(path, 'utf8')) as InUseRecord;
      if (alive(record.pid)) records.push(record);
      else rmSync(path, { force: true });
    } catch {
      rmSync(path, { force: true });
    }
  }
  return records;
}

/**
 * Puts `image` and its layers into another data dir's store as hard links
 * (no space; a copy when hard links cannot cross file systems), each layer
 * under another name first, its .json last. The image is mounted there on
 * first use, at that data dir's own mount point.
 */
export function shareImage(fromDataDir: string, toDataDir: string, image: ImageRecord): void {
  ensureStore(toDataDir);
  for (const id of image.layers) {
    if (readLayer(toDataDir, id)) continue;
    const staging = join(layersDir(toDataDir), `.link-${id}-${process.pid}`);
    removeTree(staging);
    let copy = spawnSync('cp', ['-al', layerPath(fromDataDir, id), staging], { encoding: 'utf8' });
    if (copy.status !== 0) {
      removeTree(staging);
      copy = spawnSync('cp', ['-a', layerPath(fromDataDir, id), staging], { encoding: 'utf8' });
      if (copy.status !== 0) throw new Error(`cannot copy layer ${id}: ${copy.stderr.trim()}`);
    }
    removeTree(layerPath(toDataDir, id));
    renameSync(staging, layerPath(toDataDir, id));
    writeAtomically(layerMetaPath(toDataDir, id), readFileSync(layerMetaPath(fromDataDir, id), 'utf8'));
  }
  writeImage(toDataDir, image);
}

/** Unmounts every image overlay of a data dir (before the data dir itself is removed: rm would meet read-only mounts). */
export function unmountAll(dataDir: string): void {
  if (!existsSync(mountsDir(dataDir))) return;
  for (const name of readdirSync(mountsDir(dataDir))) unmountAt(join(mountsDir(dataDir), name));
}

export interface PruneResult {
  layers: string[];
  mounts: string[];
  bytes: number;
}

/**
 * `runcell image prune`: removes layers no image and no live process uses,
 * the overlay mounts of images no longer recorded and not in use, and
 * staging trees of builds that died (older than a day).
 */
export function pruneStore(dataDir: string): PruneResult {
  const live = liveInUse(dataDir);
  const images = listImages(dataDir);
  const keepLayers = new Set([...images.flatMap((image) => image.layers), ...live.flatMap((record) => record.layers)]);
  const keepMounts = new Set([...images.map((image) => imageRoot(dataDir, image)), ...live.flatMap((record) => record.mounts)]);
  const result: PruneResult = { layers: [], mounts: [], bytes: 0 };
  for (const mount of existsSync(mountsDir(dataDir)) ? readdirSync(mountsDir(dataDir)).map((name) => join(mountsDir(dataDir), name)) : []) {
    if (keepMounts.has(mount)) continue;
    unmountAt(mount);
    result.mounts.push(mount);
  }
  for (const layer of listLayers(dataDir).filter((meta) => !keepLayers.has(meta.id))) {
    result.bytes += diskUsage([layerPath(dataDir, layer.id)]);
    removeLayer(dataDir, layer.id);
    result.layers.push(layer.id);
  }
  removeDeadStaging(dataDir);
  return result;
}

const DAY_MS = 24 * 3600 * 1000;

function removeDeadStaging(dataDir: string): void {
  if (!existsSync(layersDir(dataDir))) return;
  for (const name of readdirSync(layersDir(dataDir)).filter((entry) => entry.startsWith('.tmp-') || entry.startsWith('.link-'))) {
    const path = join(layersDir(dataDir), name);
    if (Date.now() - statSync(path).mtimeMs <= DAY_MS) continue;
    try {
      removeTree(path);
    } catch (error) {
      console.error(`runcell image prune: left ${path}: ${(error as Error).message}`);
    }
  }
}

/**
 * Drops this host's copies of the fleet's images (records with `archive`: the registry holds them, a job
 * pulls them again) that no job used here for `unusedSeconds` (the record's mtime, see useImage), or that the
 * registry no longer holds as they are (`stale`, NAME@ARCHIVE: deleted or replaced there; unused for a minute),
 * and no live process uses; then
 * prunes the layers and mounts nothing needs any more (those of copies replaced by a pull too). Images
 * imported or built on this host alone are never dropped: there is no other copy of them.
 */
export function collectUnusedImages(dataDir: string, unusedSeconds: number, stale: ReadonlySet<string> = new Set()): { images: string[]; pruned: PruneResult } {
  const cutoff = Date.now() - unusedSeconds * 1000;
  // A stale copy unused for a minute: not one a pull has just written, between its pull and its job's use.
  const staleCutoff = Date.now() - Math.min(unusedSeconds, 60) * 1000;
  const busy = new Set(liveInUse(dataDir).flatMap((record) => record.images));
  const images: string[] = [];
  for (const image of listImages(dataDir)) {
    if (!image.archive || busy.has(image.name)) continue;
    try {
      // By name and archive: a copy pulled again since the registry was read is another, current one.
      if (statSync(imagePath(dataDir, image.name)).mtimeMs > (stale.has(`${image.name}@${image.archive}`) ? staleCutoff : cutoff)) continue;
    } catch {
      continue;
    }
    rmSync(imagePath(dataDir, image.name), { force: true });
    images.push(image.name);
  }
  return { images, pruned: pruneStore(dataDir) };
}
