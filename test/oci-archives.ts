/**
 * OCI image archives the tests make themselves (no registry here): OCI image layouts and docker save
 * output, built with tar-stream and node:crypto from given layers; and the host's /bin/sh with its libraries
 * as a layer, so that an image can run a command.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { imagePath, pruneStore, readImage, unmountImage } from '../rootfs/store.js';

export interface Entry {
  name: string;
  type?: tar.Header['type'];
  mode?: number;
  content?: Buffer | string;
  linkname?: string;
}

export async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
  const done = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const entry of entries) {
    const content = entry.content === undefined ? undefined : Buffer.from(entry.content);
    const header = { name: entry.name, type: entry.type ?? 'file', mode: entry.mode ?? 0o644, linkname: entry.linkname, size: content?.length ?? 0, uid: 1234, gid: 1234, ...(entry.type === 'character-device' ? { devmajor: 1, devminor: 3 } : {}) };
    if (content) pack.entry(header, content);
    else pack.entry(header, Buffer.alloc(0));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** An OCI image layout archive of these layers (each a tar), gzip-compressed unless `plain`. */
export async function ociArchive(work: string, layers: Buffer[], imageConfig: Record<string, unknown> = {}, options: { plain?: boolean; name?: string } = {}): Promise<string> {
  const blobs = new Map<string, Buffer>();
  const add = (data: Buffer) => (blobs.set(sha(data), data), `sha256:${sha(data)}`);
  const layerDescriptors = layers.map((layer) => {
    const blob = options.plain ? layer : gzipSync(layer);
    return { mediaType: `application/vnd.oci.image.layer.v1.tar${options.plain ? '' : '+gzip'}`, digest: add(blob), size: blob.length };
  });
  const configBlob = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: imageConfig, rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha(l)}`) } }));
  const configDigest = add(configBlob);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: configBlob.length }, layers: layerDescriptors }));
  const manifestDigest = add(manifest);
  const index = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': options.name ?? 'test:latest' } }] };
  const outer = await tarOf([
    { name: 'oci-layout', content: '{"imageLayoutVersion": "1.0.0"}' },
    { name: 'index.json', content: JSON.stringify(index) },
    { name: 'blobs/', type: 'directory', mode: 0o755 },
    { name: 'blobs/sha256/', type: 'directory', mode: 0o755 },
    ...[...blobs].map(([hex, data]) => ({ name: `blobs/sha256/${hex}`, content: data })),
  ]);
  const file = join(work, `${sha(outer).slice(0, 12)}.tar`);
  writeFileSync(file, outer);
  return file;
}

/** docker save's layout: manifest.json, <id>.json, <id>/layer.tar (the second image's shared layer as a symlink, as docker does). */
export async function dockerArchive(work: string, layers: Buffer[], imageConfig: Record<string, unknown>): Promise<string> {
  const configBlob = Buffer.from(JSON.stringify({ config: imageConfig, rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha(l)}`) } }));
  const configName = `${sha(configBlob)}.json`;
  const entries: Entry[] = [{ name: configName, content: configBlob }];
  layers.forEach((layer, i) => entries.push({ name: `l${i}/`, type: 'directory', mode: 0o755 }, { name: `l${i}/layer.tar`, content: layer }));
  entries.push({ name: 'manifest.json', content: JSON.stringify([{ Config: configName, RepoTags: ['docker/test:1'], Layers: layers.map((_, i) => `l${i}/layer.tar`) }]) });
  const file = join(work, `docker-${sha(configBlob).slice(0, 12)}.tar`);
  writeFileSync(file, await tarOf(entries));
  return file;
}

/** The host's /bin/sh and the libraries it loads, as layer entries (paths as in the host, real files). */
export function shellEntries(): Entry[] {
  const libs = execFileSync('ldd', ['/bin/sh'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => /(\/\S+) \(0x/.exec(line)?.[1])
    .filter((path): path is string => !!path);
  const dirs = new Set<string>();
  for (const path of ['/bin/sh', ...libs]) for (let d = path.slice(0, path.lastIndexOf('/')); d; d = d.slice(0, d.lastIndexOf('/'))) dirs.add(d);
  return [
    ...[...dirs].sort().map((d) => ({ name: `${d.slice(1)}/`, type: 'directory' as const, mode: 0o755 })),
    ...['/bin/sh', ...libs].map((path) => ({ name: path.slice(1), mode: 0o755, content: readFileSync(statSync(path).isFile() ? path : readlinkSync(path)) })),
  ];
}


/**
 * Unmounts and forgets the images a test file imported into `dataDir`, then prunes their layers: left, they
 * would count in `runcell image ls` as no image's (test/image.test.ts).
 */
export function forgetImages(dataDir: string, names: string[]): void {
  for (const name of names) {
    const image = readImage(dataDir, name);
    if (image) unmountImage(dataDir, image);
    rmSync(imagePath(dataDir, name), { force: true });
  }
  pruneStore(dataDir);
}
