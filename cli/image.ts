/**
 * `runcell image ls | build | rm | prune`: the layered images of the data
 * dir's store (rootfs/store.ts). Sizes count a layer once however many
 * images share it; "in use" comes from the records running workers and
 * `runcell run` keep under images/in-use/ (a record of a dead process is
 * ignored and removed). Nothing a live record or the configured image
 * (RUNCELL_LANGUAGES) needs is ever removed.
 */
import { rmSync, statSync } from 'node:fs';
import { rootfsLocation } from '../rootfs/build.js';
import {
  diskUsage, imagePath, imageRoot, isMounted, layerPath, listImages, listLayers, liveInUse, readImage, unmountImage,
  type ImageRecord, type InUseRecord, type LayerMeta,
} from '../rootfs/store.js';

export interface ImageListing {
  images: { name: string; layers: string[]; bytes: number; languages?: string[]; in_use_by: number[]; configured: boolean; mounted: boolean; from_registry: boolean; last_used: string }[];
  layers: { id: string; bytes: number; source: string; comment?: string; build_seconds?: number; images: string[]; in_use: boolean }[];
  /** Bytes of every layer together, each counted once (du, hard links once too). */
  total_bytes: number;
  /** The layers' sizes added up: what they would take without the files they share by hard links. */
  layer_bytes_sum: number;
  /** What the images would take each on its own: the sum of their sizes. */
  unshared_bytes: number;
}

/** The image the configuration (RUNCELL_LANGUAGES) runs on, if it is a layered one. */
export function configuredImage(dataDir: string, languages?: string[]): ImageRecord | undefined {
  try {
    return rootfsLocation(dataDir, languages).image;
  } catch {
    return undefined;
  }
}

export function listStore(dataDir: string, languages?: string[]): ImageListing {
  const images = listImages(dataDir);
  const layers = listLayers(dataDir);
  const live = liveInUse(dataDir);
  const configured = configuredImage(dataDir, languages)?.name;
  const imageRows = images.map((image) => ({
    name: image.name,
    layers: image.layers,
    bytes: diskUsage(image.layers.map((id) => layerPath(dataDir, id))),
    languages: image.languages,
    in_use_by: live.filter((record) => record.images.includes(image.name)).map((record) => record.pid),
    configured: image.name === configured,
    mounted: image.layers.length === 1 || isMounted(imageRoot(dataDir, image)),
    // A copy of the fleet's registry (POST /v1/images): the worker's sweep drops it once unused here.
    from_registry: image.archive !== undefined,
    last_used: lastUsed(dataDir, image.name),
  }));
  const usedLayers = new Set(live.flatMap((record) => record.layers));
  const layerRows = layers.map((layer: LayerMeta) => ({
    id: layer.id,
    bytes: layer.size,
    source: layer.source,
    comment: layer.comment,
    build_seconds: layer.build_seconds,
    images: images.filter((image) => image.layers.includes(layer.id)).map((image) => image.name),
    in_use: usedLayers.has(layer.id),
  }));
  return {
    images: imageRows,
    layers: layerRows,
    total_bytes: diskUsage(layers.map((layer) => layerPath(dataDir, layer.id))),
    layer_bytes_sum: layerRows.reduce((sum, layer) => sum + layer.bytes, 0),
    unshared_bytes: imageRows.reduce((sum, image) => sum + image.bytes, 0),
  };
}

/** When a job last used the image on this host (its record's mtime, see rootfs/store.ts useImage). */
function lastUsed(dataDir: string, name: string): string {
  try {
    return statSync(imagePath(dataDir, name)).mtime.toISOString();
  } catch {
    return '';
  }
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export function formatListing(listing: ImageListing): string {
  const lines = [`${'IMAGE'.padEnd(26)} LAYERS  SIZE        IN USE BY     LANGUAGES`];
  for (const image of listing.images) {
    const use = [image.configured ? 'configured' : '', image.from_registry ? 'registry' : '', image.in_use_by.length ? `pid ${image.in_use_by.join(',')}` : ''].filter(Boolean).join(' ') || '-';
    lines.push(`${image.name.padEnd(26)} ${String(image.layers.length).padEnd(7)} ${mb(image.bytes).padEnd(11)} ${use.padEnd(13)} ${(image.languages ?? []).join(',')}`);
  }
  lines.push('', 'LAYER         SIZE        BUILT IN  CONTENT       IMAGES');
  for (const layer of listing.layers) {
    const built = layer.build_seconds === undefined ? layer.source : `${layer.build_seconds.toFixed(1)} s`;
    lines.push(`${layer.id.slice(0, 12)}  ${mb(layer.bytes).padEnd(11)} ${built.padEnd(9)} ${(layer.comment ?? '').padEnd(13)} ${layer.images.join(',') || '(none: prune removes it)'}${layer.in_use ? ' [in use]' : ''}`);
  }
  lines.push('', `disk: ${mb(listing.total_bytes)} for all layers, shared files once (their sizes add up to ${mb(listing.layer_bytes_sum)}); the images each on its own would take ${mb(listing.unshared_bytes)}`);
  return `${lines.join('\n')}\n`;
}

/** Why `name` may not be removed now, or undefined. */
function removalProblem(dataDir: string, name: string, languages: string[] | undefined, live: InUseRecord[]): string | undefined {
  const users = live.filter((record) => record.images.includes(name)).map((record) => record.pid);
  if (users.length > 0) return `image ${name} is in use by pid ${users.join(', ')}`;
  if (configuredImage(dataDir, languages)?.name === name) return `image ${name} is the configured image (RUNCELL_LANGUAGES); give --force to remove it anyway`;
  return undefined;
}

/** `runcell image rm`: unmounts the image and forgets it; its layers go at the next prune unless shared. */
export function removeImage(dataDir: string, name: string, options: { languages?: string[]; force?: boolean } = {}): void {
  const image = readImage(dataDir, name);
  if (!image) throw new Error(`no image ${name}`);
  const live = liveInUse(dataDir);
  const problem = removalProblem(dataDir, name, options.languages, live);
  if (problem && !(options.force && live.every((record) => !record.images.includes(name)))) throw new Error(problem);
  unmountImage(dataDir, image);
  rmSync(imagePath(dataDir, name), { force: true });
}

export { pruneStore, type PruneResult } from '../rootfs/store.js';
