/**
 * Layered images (rootfs/store.ts, rootfs/layered.ts, `runcell image`):
 * against the real kernel's overlayfs, real apt installs and the CLI.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { manifestHash, readManifest, readMarker, rootfsLocation, rootfsProblem } from '../rootfs/build.js';
import { buildLayered, clearNeedlessOpaque, groupLanguages, mergeStanzas } from '../rootfs/layered.js';
import { getXattr, OPAQUE_XATTR, setXattr } from '../rootfs/xattr.js';
import {
  imageRoot, isMounted, layerPath, layersDir, liveInUse, mountImage, readImage, removeTree, unmountAll, unmountImage, writeImage, writeLayerMeta, type ImageRecord,
} from '../rootfs/store.js';
import { listStore, pruneStore, removeImage } from '../cli/image.js';
import { ROOTFS_MOUNT_POINTS } from '../sandbox/mount.js';
import { config } from './helpers.js';

const BIN = join(import.meta.dirname, '..', 'bin', 'runcell.js');
mkdirSync(config.dataDir, { recursive: true });
const scratch = mkdtempSync(join(config.dataDir, '.image-test-'));
afterAll(() => {
  unmountAll(scratch);
  rmSync(scratch, { recursive: true, force: true });
});

/** A hand-made layer: files, then whiteouts (0/0 devices) and opaque directories in overlay's form. */
function makeLayer(dataDir: string, id: string, files: Record<string, string>, whiteouts: string[] = [], opaque: string[] = []): void {
  const root = layerPath(dataDir, id);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  for (const path of whiteouts) execFileSync('mknod', [join(root, path), 'c', '0', '0']);
  for (const path of opaque) setXattr(join(root, path), OPAQUE_XATTR, Buffer.from('y'));
  writeLayerMeta(dataDir, { id, source: 'oci', inputs: {}, size: 0, created: new Date().toISOString() });
}

const id = (n: number) => String(n).repeat(64);

describe('the layer store', () => {
  const dataDir = join(scratch, 'store');
  const image: ImageRecord = { name: 'hand', layers: [id(1), id(2)], config: {} };
  mkdirSync(dataDir);
  makeLayer(dataDir, id(1), { a: 'bottom a', 'd/x': 'x', gone: 'gone', keep: 'keep' });
  makeLayer(dataDir, id(2), { a: 'top a', 'd/y': 'y' }, ['gone'], ['d']);

  it('mounts an image once, read-only, with whiteouts and opaque directories honoured', () => {
    writeImage(dataDir, image);
    const root = mountImage(dataDir, image);
    expect(root.startsWith(join(dataDir, 'mounts'))).toBe(true);
    expect(isMounted(root)).toBe(true);
    expect(readFileSync(join(root, 'a'), 'utf8')).toBe('top a');
    expect(readFileSync(join(root, 'keep'), 'utf8')).toBe('keep');
    expect(readdirSync(root).sort()).toEqual(['a', 'd', 'keep']);
    expect(readdirSync(join(root, 'd'))).toEqual(['y']);
    expect(() => writeFileSync(join(root, 'new'), 'x')).toThrow(/EROFS/);
    // Idempotent: the same mount point, still one mount there.
    expect(mountImage(dataDir, image)).toBe(root);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((line) => line.split(' ')[4] === root);
    expect(mounts).toHaveLength(1);
    expect(mounts[0]).toMatch(/ ro,nosuid,nodev/);
    unmountImage(dataDir, image);
    expect(isMounted(root)).toBe(false);
  });

  it('refuses an image whose layer is incomplete (no .json)', () => {
    mkdirSync(layerPath(dataDir, id(3)));
    expect(() => mountImage(dataDir, { name: 'broken', layers: [id(1), id(3)], config: {} })).toThrow(/layer 3+ is missing or incomplete/);
    expect(() => writeImage(dataDir, { name: 'broken', layers: [id(3)], config: {} })).toThrow(/not in the store/);
  });

  it('prune keeps what images and live processes use, rm refuses an image in use or configured', async () => {
    makeLayer(dataDir, id(4), { orphan: 'o' });
    makeLayer(dataDir, id(5), { used: 'u' });
    writeImage(dataDir, { name: 'used', layers: [id(1), id(5)], config: {} });
    // The configured image: one whose rootfs hash is that of the configuration's languages.
    const configured = { name: 'configured', layers: [id(1), id(2)], config: {}, rootfs_hash: manifestHash(readManifest(undefined)) };
    writeImage(dataDir, configured);
    const holder = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
      const { readImage, recordInUse } = await import(${JSON.stringify(join(import.meta.dirname, '..', 'rootfs', 'store.ts'))});
      recordInUse(${JSON.stringify(dataDir)}, [readImage(${JSON.stringify(dataDir)}, 'used')]);
      console.log('recorded');
      setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((resolve) => holder.stdout.once('data', resolve));
      expect(liveInUse(dataDir).map((record) => record.pid)).toEqual([holder.pid]);
      expect(() => removeImage(dataDir, 'used')).toThrow(new RegExp(`in use by pid ${holder.pid}`));
      expect(() => removeImage(dataDir, 'configured')).toThrow(/configured image/);
      rmSync(join(dataDir, 'images', 'used.json'));
      const listing = listStore(dataDir);
      expect(listing.layers.find((layer) => layer.id === id(5))).toMatchObject({ images: [], in_use: true });
      expect(listing.images.find((row) => row.name === 'configured')).toMatchObject({ configured: true });
      expect(pruneStore(dataDir).layers).toEqual([id(4)]);
      expect(readdirSync(layersDir(dataDir))).toContain(id(5));
    } finally {
      holder.kill('SIGKILL');
      await new Promise((resolve) => holder.once('exit', resolve));
    }
    expect(liveInUse(dataDir)).toEqual([]);
    expect(pruneStore(dataDir).layers).toEqual([id(5)]);
    removeImage(dataDir, 'configured', { force: true });
    removeImage(dataDir, 'hand');
    expect(pruneStore(dataDir).layers.sort()).toEqual([id(1), id(2)]);
  });
});

describe('removing a staging tree', () => {
  it('never deletes through a mount below it: a killed build\'s bind of a host directory survives, the tree goes', () => {
    const host = mkdtempSync(join(scratch, 'host-'));
    writeFileSync(join(host, 'precious'), 'host data');
    const staging = mkdtempSync(join(scratch, '.tmp-'));
    mkdirSync(join(staging, 'dev', 'shm'), { recursive: true });
    writeFileSync(join(staging, 'own-file'), 'staging');
    execFileSync('mount', ['--bind', host, join(staging, 'dev', 'shm')]);
    expect(isMounted(join(staging, 'dev', 'shm'))).toBe(true);
    removeTree(staging);
    expect(readdirSync(scratch)).not.toContain(staging.split('/').pop());
    expect(readFileSync(join(host, 'precious'), 'utf8')).toBe('host data');
  });
});

describe('the layered build', () => {
  it('groups languages that share a package into one layer', () => {
    const groups = groupLanguages([
      { id: 'a', packages: ['x'], version: [] },
      { id: 'b', packages: ['y'], version: [] },
      { id: 'c', packages: ['z', 'x'], version: [] },
      { id: 'd', packages: ['y', 'w'], version: [] },
    ]);
    expect(groups.map((group) => group.map((language) => language.id))).toEqual([['a', 'c'], ['b', 'd']]);
  });

  it('keeps the opaque mark only on a directory that replaces one of the lower layers', () => {
    const dir = join(scratch, 'opaque');
    for (const path of ['lower/usr/lib', 'layer/usr/lib/gcc/12', 'layer/usr/lib/replaced']) mkdirSync(join(dir, path), { recursive: true });
    mkdirSync(join(dir, 'lower/usr/lib/replaced'));
    for (const path of ['usr/lib/gcc', 'usr/lib/replaced']) setXattr(join(dir, 'layer', path), OPAQUE_XATTR, Buffer.from('y'));
    clearNeedlessOpaque(join(dir, 'layer'), [join(dir, 'lower')]);
    expect(getXattr(join(dir, 'layer/usr/lib/gcc'), OPAQUE_XATTR)).toBeUndefined();
    expect(getXattr(join(dir, 'layer/usr/lib/replaced'), OPAQUE_XATTR)?.toString()).toBe('y');
  });

  it('merges dpkg status files one stanza per package, the upper layer winning', () => {
    const merged = mergeStanzas(['Package: a\nArchitecture: amd64\nVersion: 1\n\nPackage: b\nArchitecture: amd64\nVersion: 1\n', undefined, 'Package: a\nArchitecture: amd64\nVersion: 2\n\nPackage: c\nArchitecture: all\nVersion: 1\n']);
    expect(merged).toBe('Package: a\nArchitecture: amd64\nVersion: 2\n\nPackage: b\nArchitecture: amd64\nVersion: 1\n\nPackage: c\nArchitecture: all\nVersion: 1\n');
  });

  it('a language added to the catalog builds its layer (and the merge layer) only, the others are reused', { timeout: 1_800_000 }, async () => {
    // In the suite's store: its base layer is reused when the default image is layered.
    const dataDir = config.dataDir;
    const bc = { id: 'test-bc', packages: ['bc'], version: ['bc', '--version'] };
    const jq = { id: 'test-jq', packages: ['jq'], version: ['jq', '--version'] };
    const log = () => undefined;
    try {
      const first = await buildLayered({ dataDir, catalog: [bc], name: 'test-layers', log });
      const before = readdirSync(layersDir(dataDir)).filter((name) => /^[0-9a-f]{64}$/.test(name));
      const second = await buildLayered({ dataDir, catalog: [bc, jq], name: 'test-layers', log });
      const after = readdirSync(layersDir(dataDir)).filter((name) => /^[0-9a-f]{64}$/.test(name));
      const added = after.filter((name) => !before.includes(name));
      expect(added).toHaveLength(2);
      expect(second.built).toEqual(added.sort((a, b) => second.image.layers.indexOf(a) - second.image.layers.indexOf(b)));
      expect(second.image.layers).toHaveLength(4);
      // base and bc reused, jq new, merge new.
      expect(second.image.layers.slice(0, 2)).toEqual(first.image.layers.slice(0, 2));
      expect(second.built).toEqual(second.image.layers.slice(2));
      const marker = readMarker(second.root);
      expect(Object.keys(marker.languages).sort()).toEqual(['test-bc', 'test-jq']);
      expect(marker.languages['test-jq']).toMatch(/^jq-1\./);
      const status = readFileSync(join(second.root, 'var/lib/dpkg/status'), 'utf8');
      for (const pkg of ['bc', 'jq', 'coreutils']) expect(status).toMatch(new RegExp(`^Package: ${pkg}$`, 'm'));
      for (const dir of ROOTFS_MOUNT_POINTS) expect(readdirSync(second.root)).toContain(dir.split('/')[1]);
      // Built again: nothing to build.
      expect((await buildLayered({ dataDir, catalog: [bc, jq], name: 'test-layers', log })).built).toEqual([]);
    } finally {
      removeImage(dataDir, 'test-layers', { force: true });
      pruneStore(dataDir);
    }
  });

  it('the default image is found, mounted and complete (when the store has it)', () => {
    const location = rootfsLocation(config.dataDir, config.languages);
    if (!location.image) return;
    expect(rootfsProblem(location)).toBeUndefined();
    expect(location.path).toBe(imageRoot(config.dataDir, location.image));
    expect(isMounted(location.path)).toBe(true);
    expect(readImage(config.dataDir, location.image.name)?.layers).toEqual(location.image.layers);
  });

  it('`runcell image ls` lists images, layers and the disk they share', () => {
    const result = spawnSync(process.execPath, [BIN, 'image', 'ls', '--json'], { env: { ...process.env, RUNCELL_DATA_DIR: config.dataDir }, encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    const listing = JSON.parse(result.stdout) as ReturnType<typeof listStore>;
    for (const image of listing.images) for (const layer of image.layers) expect(listing.layers.map((row) => row.id)).toContain(layer);
    expect(listing.total_bytes).toBeLessThanOrEqual(listing.unshared_bytes || listing.total_bytes);
  });
});
