/**
 * Importing users' images (rootfs/oci-import.ts). No registry here: the test
 * makes its own OCI image layouts and docker save archives (test/oci-archives.ts)
 * from the host's /bin/sh and its libraries, imports them
 * into the layer store, and runs a command in them on the real kernel. Then
 * the hostile images: each refused, or neutralised.
 */
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findImage, importImage, importImage as importImage_ } from '../rootfs/oci-import.js';
import { layerPath, mountImage, readImage } from '../rootfs/store.js';
import { getXattr } from '../sandbox/libc.js';
import { resolveLimits } from '../sandbox/limits.js';
import { config, job, sandbox } from './helpers.js';
import { http, startApi, TestRedis } from './service-helpers.js';
import { ImageRegistry } from '../queue/images.js';
import { ArchiveError } from '../archive/errors.js';
import { imagePuller } from '../worker/image.js';
import { dockerArchive, forgetImages, ociArchive, sha, shellEntries, tarOf } from './oci-archives.js';

const work = mkdtempSync(join(tmpdir(), 'runcell-oci-'));
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  forgetImages(config.dataDir, ['shell_1', 'docker_test_1', 'second', 'neutralised', 'uploaded', 'fleet-image']);
});

async function runIn(image: string, script: string) {
  const { sandbox: box, pool } = sandbox();
  const record = readImage(config.dataDir, image)!;
  const rootfs = mountImage(config.dataDir, record);
  return pool.withSlot(async (slot) => {
    const workspace = await box.createWorkspace(slot, 1024 * 1024);
    try {
      return await box.run({ slot, workspace, boxWritable: true, argv: ['/bin/sh', '-c', script], limits: resolveLimits({}), rootfs, imageEnv: record.config.env, cwd: record.config.workdir });
    } finally {
      await workspace.remove();
    }
  });
}

describe('OCI image import', () => {
  it('imports an OCI layout (two gzip layers, a whiteout, an opaque directory) and runs a command with its own libraries', async () => {
    const base = await tarOf([...shellEntries(), { name: 'etc/', type: 'directory', mode: 0o755 }, { name: 'etc/gone', content: 'x' }, { name: 'data/', type: 'directory', mode: 0o755 }, { name: 'data/old', content: 'old' }, { name: 'srv/', type: 'directory', mode: 0o755 }]);
    const top = await tarOf([
      { name: 'etc/', type: 'directory', mode: 0o755 },
      { name: 'etc/.wh.gone', content: '' },
      { name: 'etc/greeting', content: 'hello from the image\n' },
      { name: 'data/', type: 'directory', mode: 0o755 },
      { name: 'data/.wh..wh..opq', content: '' },
      { name: 'data/new', content: 'new' },
    ]);
    const file = await ociArchive(work, [base, top], { Env: ['GREETING_FILE=/etc/greeting', 'PATH=/bin'], WorkingDir: '/srv', Cmd: ['/bin/sh'], User: 'root' }, { name: 'shell:1' });
    const report = await importImage(config.dataDir, file);
    expect(report.image.name).toBe('shell_1');
    expect(report.image.config).toEqual({ env: { GREETING_FILE: '/etc/greeting', PATH: '/bin' }, workdir: '/srv', cmd: ['/bin/sh'] });
    expect(report.image.layers).toHaveLength(3);
    // Overlay form on disk: the whiteout a 0/0 character device, the opaque directory marked.
    const whiteout = lstatSync(join(layerPath(config.dataDir, report.image.layers[1]), 'etc/gone'));
    expect(whiteout.isCharacterDevice() && whiteout.rdev === 0).toBe(true);
    expect(getXattr(join(layerPath(config.dataDir, report.image.layers[1]), 'data'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    const run = await runIn('shell_1', 'read line < $GREETING_FILE; echo "$line"; pwd; echo $PATH; for f in /etc/gone /data/old /data/new /usr/bin/python3; do [ -e $f ] && echo "has $f"; done; echo end');
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('hello from the image\n/srv\n/bin\nhas /data/new\nend\n');
    expect(findImage(config.dataDir, report.image.digest)?.name).toBe('shell_1');
  });

  it('runs a job that names the image (by name or digest), its WorkingDir and Env applied, with a writable root over it', async () => {
    const digest = findImage(config.dataDir, 'shell_1') as unknown as { digest: string };
    const result = await job({ image: digest.digest, command: ['/bin/sh', '-c', 'echo made > /srv/new; read line < /srv/new; echo "$line in $PWD, $GREETING_FILE, HOME=$HOME"'], root: 'writable' });
    expect(result.run!.stderr).toBe('');
    expect(result.run!.stdout).toBe('made in /srv, /etc/greeting, HOME=/home/runcell\n');
    // Read-only by default, as any root.
    const readOnly = await job({ image: 'shell_1', command: ['/bin/sh', '-c', 'echo x > /srv/new'] });
    expect(readOnly.run!.stderr).toContain('Read-only file system');
    const missing = await job({ image: 'no-such-image', command: ['/bin/true'] });
    expect(missing.run).toMatchObject({ status: 'sandbox_error', error_code: 'image_missing' });
  });

  it('imports docker save output, and shares a layer two images have', async () => {
    const base = await tarOf(shellEntries());
    const first = await importImage(config.dataDir, await dockerArchive(work, [base, await tarOf([{ name: 'one', content: '1' }])], { Entrypoint: ['/bin/sh', '-c'] }));
    const second = await importImage(config.dataDir, await dockerArchive(work, [base, await tarOf([{ name: 'two', content: '2' }])], {}), { name: 'second' });
    expect(first.image.name).toBe('docker_test_1');
    expect(first.image.config.entrypoint).toEqual(['/bin/sh', '-c']);
    expect(second.shared).toContain(first.image.layers[0]);
    expect(second.extracted).toHaveLength(1);
    const run = await runIn('second', '[ -e /two ] && echo two; [ -e /one ] || echo no-one');
    expect(run.stdout).toBe('two\nno-one\n');
  });

  it('refuses a layer with ../ entries or an absolute name', async () => {
    for (const name of ['../escape', 'a/../../escape', '/etc/escape']) {
      const file = await ociArchive(work, [await tarOf([{ name, content: 'x' }])]);
      await expect(importImage(config.dataDir, file, { name: 'hostile' })).rejects.toThrow(/"\.\." segment|absolute/);
    }
    expect(existsSync(join(config.dataDir, 'escape'))).toBe(false);
    expect(readImage(config.dataDir, 'hostile')).toBeUndefined();
  });

  it('refuses a symlink out followed by a file through it, and writes nothing outside', async () => {
    const target = mkdtempSync(join(work, 'target-'));
    const file = await ociArchive(work, [await tarOf([{ name: 'out', type: 'symlink', linkname: target }, { name: 'out/planted', content: 'pwned' }])]);
    await expect(importImage(config.dataDir, file, { name: 'hostile' })).rejects.toThrow(/symlink or not a directory.*not followed/);
    expect(existsSync(join(target, 'planted'))).toBe(false);
    // A hard link to a host file (outside the layer) is refused too.
    const hard = await ociArchive(work, [await tarOf([{ name: 'passwd', type: 'link', linkname: '../../../../etc/passwd' }])]);
    await expect(importImage(config.dataDir, hard, { name: 'hostile' })).rejects.toThrow(/"\.\." segment/);
  });

  it('drops device nodes, FIFOs, setuid and setgid bits', async () => {
    const file = await ociArchive(work, [await tarOf([
      { name: 'dev-mem', type: 'character-device', mode: 0o666 },
      { name: 'fifo', type: 'fifo', mode: 0o666 },
      { name: 'suid', mode: 0o4755, content: '#!/bin/sh\n' },
      { name: 'sgid-dir/', type: 'directory', mode: 0o2775 },
    ])]);
    const report = await importImage(config.dataDir, file, { name: 'neutralised' });
    expect(report.dropped).toEqual({ devices: 1, fifos: 1, setid: 2 });
    const layer = layerPath(config.dataDir, report.image.layers[0]);
    expect(existsSync(join(layer, 'dev-mem'))).toBe(false);
    expect(existsSync(join(layer, 'fifo'))).toBe(false);
    expect(statSync(join(layer, 'suid')).mode & 0o7777).toBe(0o755);
    expect(statSync(join(layer, 'sgid-dir')).mode & 0o7777).toBe(0o775);
    // Owned by root, not by the tar's uid 1234 (a uid of this host).
    expect(statSync(join(layer, 'suid')).uid).toBe(0);
  });

  it('stops a decompression bomb at the ratio cap', async () => {
    const bomb = await tarOf([{ name: 'zeros', content: Buffer.alloc(64 * 1024 * 1024) }]);
    const file = await ociArchive(work, [bomb]);
    await expect(importImage(config.dataDir, file, { name: 'bomb' })).rejects.toThrow(/decompression bomb/);
    // And a plain layer past the byte cap.
    await expect(importImage(config.dataDir, await ociArchive(work, [bomb], {}, { plain: true }), { name: 'bomb', limits: { maxLayerBytes: 8 * 1024 * 1024 } })).rejects.toThrow(/exceed 8388608 bytes/);
  });

  it('refuses a blob that does not match its digest', async () => {
    const file = await ociArchive(work, [await tarOf([{ name: 'a', content: 'a' }])]);
    const bytes = readFileSync(file);
    const at = bytes.indexOf(Buffer.from('"imageLayoutVersion"'));
    // Corrupt the compressed layer: find a gzip header past the small files and flip a byte after it.
    const gz = bytes.indexOf(Buffer.from([0x1f, 0x8b, 0x08]), at);
    bytes[gz + 20] ^= 0xff;
    writeFileSync(file, bytes);
    await expect(importImage(config.dataDir, file, { name: 'corrupt' })).rejects.toThrow(/does not match its digest/);
  });

  it("names an image whose archive suggests a name that is not a string by its digest (no TypeError, a 500 at the API)", async () => {
    const dataDir = mkdtempSync(join(work, 'store-'));
    const file = await ociArchive(work, [await tarOf([{ name: 'a', content: 'odd' }])], {}, { name: { not: 'a string' } as never });
    const report = await importImage(dataDir, file);
    expect(report.image.name).toBe(`sha256-${report.image.digest.slice(7, 19)}`);
  });

  it('refuses archives whose metadata has the wrong shapes as refused images (422), not as internal errors', async () => {
    const dataDir = mkdtempSync(join(work, 'store-'));
    const shapes = [
      [{ name: 'manifest.json', content: JSON.stringify([{ Config: 5, Layers: [] }]) }],
      [{ name: 'manifest.json', content: JSON.stringify([{ Config: 'c.json', Layers: 'l.tar' }]) }, { name: 'c.json', content: '{}' }, { name: 'l.tar', content: 'x' }],
      [{ name: 'manifest.json', content: JSON.stringify([{ Config: 'c.json', Layers: [] }]) }, { name: 'c.json', content: JSON.stringify({ rootfs: { diff_ids: 'ab' } }) }],
      [{ name: 'index.json', content: JSON.stringify({ manifests: { 0: { mediaType: 'application/vnd.oci.image.index.v1+json', digest: 'x' } } }) }],
    ];
    for (const entries of shapes) {
      const file = join(work, `shape-${randomUUID()}.tar`);
      writeFileSync(file, await tarOf(entries));
      await expect(importImage(dataDir, file)).rejects.toBeInstanceOf(ArchiveError);
    }
  });

  it('POST /v1/images imports a streamed archive, 413 past the cap, 422 naming a refused one', async () => {
    const redis = new TestRedis();
    await redis.start();
    const importImage = (file: string, options: { name?: string }) => importImage_(config.dataDir, file, options);
    const api = await startApi(redis.url, { importImage, maxImageBytes: 1024 * 1024 });
    const bare = await startApi(redis.url);
    try {
      const good = readFileSync(await ociArchive(work, [await tarOf([{ name: 'hello', content: 'hi' }])]));
      const created = await http(`${api.url}/v1/images?name=uploaded`, { method: 'POST', body: good, headers: { 'content-type': 'application/x-tar' } });
      expect(created.status).toBe(201);
      expect(created.body.image.name).toBe('uploaded');
      expect(readImage(config.dataDir, 'uploaded')?.layers).toHaveLength(2);
      const big = Buffer.alloc(2 * 1024 * 1024);
      const tooLarge = await http(`${api.url}/v1/images`, { method: 'POST', body: big, headers: { 'content-type': 'application/x-tar' } });
      expect(tooLarge.status).toBe(413);
      const hostile = readFileSync(await ociArchive(work, [await tarOf([{ name: '../escape', content: 'x' }])]));
      const refused = await http(`${api.url}/v1/images?name=hostile`, { method: 'POST', body: hostile, headers: { 'content-type': 'application/x-tar' } });
      expect(refused.status).toBe(422);
      expect(refused.body.error.details[0].path).toMatch(/^image/);
      expect(refused.body.error.message).toContain('segment');
      // An API process with no worker beside it does not read images: it needs the name.
      expect((await http(`${bare.url}/v1/images`, { method: 'POST', body: good })).status).toBe(400);
    } finally {
      await api.close();
      await bare.close();
      await redis.stop();
    }
  });

  it('on a fleet: an API process with no worker publishes the archive to Redis, a worker pulls and imports it when a job names it', async () => {
    const redis = new TestRedis();
    await redis.start();
    const api = await startApi(redis.url, { maxImageBytes: 64 * 1024 * 1024 });
    try {
      const archive = readFileSync(await ociArchive(work, [await tarOf(shellEntries()), await tarOf([{ name: 'fleet', content: 'pulled\n' }])]));
      expect((await http(`${api.url}/v1/images`, { method: 'POST', body: archive })).status).toBe(400);
      const published = await http(`${api.url}/v1/images?name=fleet-image`, { method: 'POST', body: archive });
      expect(published.status).toBe(202);
      expect(published.body).toMatchObject({ image: { name: 'fleet-image' }, archive_sha256: sha(archive), imported: false });
      expect(readImage(config.dataDir, 'fleet-image')).toBeUndefined();
      // The worker's side: its host lacks the image, pulls it from the registry, imports it, runs in it.
      const pullImage = imagePuller(config.dataDir, new ImageRegistry(api.queue.redis));
      const result = await job({ image: 'fleet-image', command: ['/bin/sh', '-c', 'read line < /fleet; echo "$line"'] }, { pullImage });
      expect(result.run!.stdout).toBe('pulled\n');
      expect(readImage(config.dataDir, 'fleet-image')).toBeDefined();
      // A name the registry does not have either.
      const missing = await job({ image: 'nowhere', command: ['/bin/true'] }, { pullImage });
      expect(missing.run).toMatchObject({ status: 'sandbox_error', error_code: 'image_missing' });
      expect(missing.run!.message).toContain("nor in the fleet's registry");
    } finally {
      await api.close();
      await redis.stop();
    }
  });
});
