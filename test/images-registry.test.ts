/**
 * Users' images on a fleet (queue/images.ts, api/images.ts, worker/image.ts, rootfs/store.ts): owners and
 * quotas counted in a real redis-server, GET/DELETE /v1/images, last_used, the registry's sweep of unused
 * images (two replicas at once), a job naming an image by digest on a worker that lacks it, a replaced or
 * deleted image on a worker that has a copy, and a worker host's sweep of its unused copies. The archives
 * are made by the test (test/oci-archives.ts) and imported for real; jobs run in the real sandbox.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageKeys, ImageQuotaError, ImageRegistry } from '../queue/images.js';
import { problemKeys } from '../queue/problems.js';
import { connect, parseRedisUrl } from '../queue/connection.js';
import { importImage } from '../rootfs/oci-import.js';
import { collectUnusedImages, holdLayers, imagePath, layerPath, liveInUse, mountImage, pruneStore, readImage, unmountAll, useImage } from '../rootfs/store.js';
import { imagePuller, localImageCollector, sweepHostImages } from '../worker/image.js';
import { imageCollector } from '../api/images.js';
import { imageImporter } from '../cli/worker-role.js';
import { listStore } from '../cli/image.js';
import { config, job } from './helpers.js';
import { forgetImages, ociArchive, sha, shellEntries, tarOf } from './oci-archives.js';
import { http, startApi, startWorker, TestRedis, waitFor, type TestApi } from './service-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'runcell-images-'));
const redis = new TestRedis();
beforeAll(() => redis.start());
afterAll(async () => {
  await redis.destroy();
  forgetImages(config.dataDir, ['fleet-digest', 'served', 'over', 'e2e']);
  rmSync(work, { recursive: true, force: true });
});

/** A registry on its own connection to the test's Redis, ready; the connection closed after `use`. */
async function withRegistry(name: string, use: (registry: ImageRegistry, client: Redis | Cluster) => Promise<void>): Promise<void> {
  const client = connect(parseRedisUrl(redis.url), 'api', name);
  try {
    await waitFor(() => client.status === 'ready', 5000, 'the connection');
    await use(new ImageRegistry(client), client);
  } finally {
    client.disconnect();
  }
}

const KEYS = ['key-one', 'key-two', 'key-three'];
const as = (key: string) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/x-tar' });
const upload = (api: TestApi, key: string, name: string, body: Buffer) => http(`${api.url}/v1/images?name=${name}`, { method: 'POST', body: new Uint8Array(body), headers: as(key) });
const blobStored = (api: TestApi, archive: string) => api.queue.redis.exists(problemKeys.blob(archive)).then((n) => n === 1);
const lines = () => {
  const seen: { object: object; message?: string }[] = [];
  return { seen, info: (object: object, message?: string) => seen.push({ object, message }), warn: () => {}, error: () => {} };
};

describe('image owners, quotas and the registry', () => {
  it('counts each client in Redis: 413 quota_exceeded naming the quota with nothing stored, a replace counts the difference, 409 for a name another client has', async () => {
    const api = await startApi(redis.url, { apiKeys: KEYS, imageQuota: { maxBytes: 3000, maxCount: 2 } });
    try {
      expect((await upload(api, 'key-one', 'a', randomBytes(1000))).status).toBe(202);
      expect((await upload(api, 'key-one', 'b', randomBytes(1000))).status).toBe(202);
      const third = randomBytes(10);
      const count = await upload(api, 'key-one', 'c', third);
      expect(count.status).toBe(413);
      expect(count.body.error).toMatchObject({ code: 'quota_exceeded', details: [{ path: 'quota.count' }] });
      expect(count.body.error.message).toContain('RUNCELL_IMAGE_QUOTA_COUNT');
      expect(await blobStored(api, sha(third))).toBe(false);
      // Replacing a (1000) by 1900 bytes: 2900 in all, within 3000; b by 1200 would make 3100.
      expect((await upload(api, 'key-one', 'a', randomBytes(1900))).status).toBe(202);
      const bigger = randomBytes(1200);
      const bytes = await upload(api, 'key-one', 'b', bigger);
      expect(bytes.status).toBe(413);
      expect(bytes.body.error).toMatchObject({ code: 'quota_exceeded', details: [{ path: 'quota.bytes' }] });
      expect(await blobStored(api, sha(bigger))).toBe(false);
      // Another client: its own quota, not the name of someone else's image.
      const taken = await upload(api, 'key-two', 'a', randomBytes(10));
      expect(taken.status).toBe(409);
      expect(taken.body.error.details[0].path).toBe('name');
      expect((await upload(api, 'key-two', 'z', randomBytes(10))).status).toBe(202);
      const mine = await http(`${api.url}/v1/images`, { headers: as('key-one') });
      expect(mine.body.images.map((image: { name: string; size_bytes: number }) => [image.name, image.size_bytes])).toEqual([['a', 1900], ['b', 1000]]);
      expect(Object.keys(mine.body.images[0]).sort()).toEqual(['archive_sha256', 'created', 'digest', 'last_used', 'name', 'size_bytes']);
      expect((await http(`${api.url}/v1/images`, { headers: as('key-two') })).body.images.map((image: { name: string }) => image.name)).toEqual(['z']);
    } finally {
      await api.close();
    }
  });

  it('GET and DELETE /v1/images/:name: the owner only (404 for others), the blob released', async () => {
    const api = await startApi(redis.url, { apiKeys: KEYS });
    try {
      const body = randomBytes(500);
      expect((await upload(api, 'key-one', 'gone', body)).status).toBe(202);
      const own = await http(`${api.url}/v1/images/gone`, { headers: as('key-one') });
      expect(own.body).toMatchObject({ name: 'gone', archive_sha256: sha(body), size_bytes: 500, digest: null });
      expect((await http(`${api.url}/v1/images/gone`, { headers: as('key-two') })).status).toBe(404);
      expect((await http(`${api.url}/v1/images/gone`, { method: 'DELETE', headers: as('key-two') })).status).toBe(404);
      expect(await blobStored(api, sha(body))).toBe(true);
      const deleted = await http(`${api.url}/v1/images/gone`, { method: 'DELETE', headers: as('key-one') });
      expect(deleted.status).toBe(200);
      expect(deleted.body.name).toBe('gone');
      expect(await blobStored(api, sha(body))).toBe(false);
      expect((await http(`${api.url}/v1/images/gone`, { headers: as('key-one') })).status).toBe(404);
      expect((await http(`${api.url}/v1/images/bad..name/`, { headers: as('key-one') })).status).toBe(404);
    } finally {
      await api.close();
    }
  });

  it("an image recorded before owners (no owner) is anonymous's: a keyed client can neither replace nor delete it", async () => {
    const api = await startApi(redis.url, { apiKeys: KEYS });
    try {
      const legacy = { name: 'legacy', archive: 'c'.repeat(64), size: 10, created: new Date().toISOString() };
      await api.queue.redis.set(imageKeys.image('legacy'), JSON.stringify(legacy));
      const taken = await upload(api, 'key-two', 'legacy', randomBytes(10));
      expect(taken.status).toBe(409);
      expect((await http(`${api.url}/v1/images/legacy`, { method: 'DELETE', headers: as('key-two') })).status).toBe(404);
      expect(JSON.parse((await api.queue.redis.get(imageKeys.image('legacy')))!)).toEqual(legacy);
    } finally {
      await api.queue.redis.del(imageKeys.image('legacy'));
      await api.close();
    }
  });

  it('is race-safe: six uploads at once against a quota of three images, exactly three kept', async () => {
    await withRegistry('race', async (registry, client) => {
      const bodies = Array.from({ length: 6 }, () => randomBytes(100));
      const results = await Promise.allSettled(bodies.map((body, i) => registry.publish(`race-${i}`, [body] as never, { owner: 'racer', quota: { maxBytes: 0, maxCount: 3 } })));
      expect(results.filter((result) => result.status === 'fulfilled'), String(results.map((result) => (result as PromiseRejectedResult).reason))).toHaveLength(3);
      for (const result of results.filter((result) => result.status === 'rejected')) expect((result as PromiseRejectedResult).reason).toBeInstanceOf(ImageQuotaError);
      expect(await client.hlen(imageKeys.owner('racer'))).toBe(3);
      const stored = await Promise.all(bodies.map((body) => client.exists(problemKeys.blob(sha(body)))));
      expect(stored.filter((n) => n === 1)).toHaveLength(3);
    });
  });

  it("a digest names every image that has it: one client deleting its copy of a public image leaves another's found by digest, and a job by digest marks each used", async () => {
    await withRegistry('digests', async (registry, client) => {
      const digest = `sha256:${'d'.repeat(64)}`;
      const body = randomBytes(50);
      await registry.publish('dig-a', [body] as never, { owner: 'one', digest });
      await registry.publish('dig-b', [body] as never, { owner: 'two', digest });
      const before = Number(await client.zscore(imageKeys.used, 'dig-a'));
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect((await registry.use(digest))?.digest).toBe(digest);
      expect(Number(await client.zscore(imageKeys.used, 'dig-a'))).toBeGreaterThan(before);
      expect(await registry.remove('dig-b', 'two')).toBe(true);
      expect((await registry.use(digest))?.name).toBe('dig-a');
      // A mapping of before (one name, a string) is read and kept up the same way.
      await client.set(imageKeys.digest(digest), 'dig-a');
      expect((await registry.use(digest))?.name).toBe('dig-a');
      expect(await registry.remove('dig-a', 'one')).toBe(true);
      expect(await registry.use(digest)).toBeUndefined();
      expect(await client.exists(imageKeys.digest(digest))).toBe(0);
    });
  });

  it('reserves an upload\'s bytes before its archive goes to Redis: uploads at once past the bytes quota are refused before they are stored', async () => {
    await withRegistry('reserve', async (registry, client) => {
      const quota = { maxBytes: 1000, maxCount: 0 };
      const slow = (body: Buffer) =>
        (async function* () {
          await new Promise((resolve) => setTimeout(resolve, 300));
          yield body;
        })();
      const first = randomBytes(600);
      const second = randomBytes(600);
      const a = registry.publish('reserve-a', slow(first) as never, { owner: 'reserver', quota, size: 600 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const b = registry.publish('reserve-b', slow(second) as never, { owner: 'reserver', quota, size: 600 });
      await expect(b).rejects.toMatchObject({ field: 'bytes' });
      expect(await client.exists(problemKeys.blob(sha(second)))).toBe(0);
      expect((await a).name).toBe('reserve-a');
      expect(await client.hlen(imageKeys.pending('reserver'))).toBe(0);
      await registry.remove('reserve-a', 'reserver');
    });
  });

  it('records last_used when a job naming the image is accepted, with no Redis script call for a job without one', async () => {
    const api = await startApi(redis.url, { apiKeys: KEYS });
    try {
      expect((await upload(api, 'key-one', 'used', randomBytes(10))).status).toBe(202);
      const before = (await http(`${api.url}/v1/images/used`, { headers: as('key-one') })).body.last_used;
      const evals = async () => Number(/cmdstat_eval:calls=(\d+)/.exec(await api.queue.redis.info('commandstats'))?.[1] ?? 0);
      const submit = async (request: object) => expect((await http(`${api.url}/v1/jobs`, { method: 'POST', json: request, headers: { authorization: 'Bearer key-one' } })).status).toBe(202);
      await submit({ command: ['/bin/true'] });
      let start = await evals();
      await submit({ command: ['/bin/true'] });
      const plain = (await evals()) - start;
      await new Promise((resolve) => setTimeout(resolve, 5));
      start = await evals();
      await submit({ image: 'used', command: ['/bin/true'] });
      expect((await evals()) - start).toBe(plain + 1);
      const after = (await http(`${api.url}/v1/images/used`, { headers: as('key-one') })).body.last_used;
      expect(Date.parse(after)).toBeGreaterThan(Date.parse(before));
    } finally {
      await api.close();
    }
  });

  it("the registry's sweep removes images unused for the configured time (blob released, logged), keeps fresh ones, and two replicas sweeping at once remove each image once", async () => {
    const api = await startApi(redis.url, { apiKeys: KEYS });
    const other = connect(parseRedisUrl(redis.url), 'api', 'replica');
    try {
      const registry = api.queue.images;
      const old = randomBytes(64);
      expect((await upload(api, 'key-one', 'old', old)).status).toBe(202);
      expect((await upload(api, 'key-one', 'fresh', randomBytes(64))).status).toBe(202);
      await api.queue.redis.zadd(imageKeys.used, Date.now() - 10_000, 'old');
      const log = lines();
      const stop = imageCollector(registry, 3, log);
      try {
        await waitFor(async () => !(await registry.get('old')), 4000, 'the sweep');
      } finally {
        stop();
      }
      expect(await blobStored(api, sha(old))).toBe(false);
      expect(await registry.get('fresh')).toBeDefined();
      expect(log.seen.map((line) => (line.object as { image: string }).image)).toEqual(['old']);
      // Two replicas at once.
      const names = Array.from({ length: 8 }, (_, i) => `stale-${i}`);
      for (const name of names) await registry.publish(name, [randomBytes(32)] as never, { owner: 'sweeper' });
      for (const name of names) await api.queue.redis.zadd(imageKeys.used, Date.now() - 10_000, name);
      await waitFor(() => other.status === 'ready', 5000, 'the connection');
      const [one, two] = await Promise.all([registry.collect(5), new ImageRegistry(other).collect(5)]);
      expect([...one, ...two].map((image) => image.name).sort()).toEqual(names.sort());
      expect(await api.queue.redis.hlen(imageKeys.owner('sweeper'))).toBe(0);
    } finally {
      other.disconnect();
      await api.close();
    }
  });
});

describe('images on the workers of a fleet', () => {
  it('a job names an image by digest on a worker that lacks it (pulled by the digest the first pull reported); a replaced image is pulled again, a deleted one refused', async () => {
    const api = await startApi(redis.url, { apiKeys: KEYS, maxImageBytes: 64 * 1024 * 1024 });
    try {
      const shell = await tarOf(shellEntries());
      const v1 = readFileSync(await ociArchive(work, [shell, await tarOf([{ name: 'v', content: 'one\n' }])]));
      expect((await upload(api, 'key-one', 'fleet-digest', v1)).status).toBe(202);
      const pullImage = imagePuller(config.dataDir, api.queue.images);
      const read = (image: string) => job({ image, command: ['/bin/sh', '-c', 'read line < /v; echo "$line"'] }, { pullImage });
      expect((await read('fleet-digest')).run!.stdout).toBe('one\n');
      const digest = (await http(`${api.url}/v1/images/fleet-digest`, { headers: as('key-one') })).body.digest as string;
      expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(readImage(config.dataDir, 'fleet-digest')?.archive).toBe(sha(v1));
      // Another worker (this one, its copy gone): by digest only.
      rmSync(imagePath(config.dataDir, 'fleet-digest'));
      expect((await read(digest)).run!.stdout).toBe('one\n');
      // Replaced in the registry: this worker's copy is stale, pulled again; the old digest names nothing now.
      const v2 = readFileSync(await ociArchive(work, [shell, await tarOf([{ name: 'v', content: 'two\n' }])]));
      expect((await upload(api, 'key-one', 'fleet-digest', v2)).status).toBe(202);
      expect((await read('fleet-digest')).run!.stdout).toBe('two\n');
      expect((await read(digest)).run).toMatchObject({ status: 'sandbox_error', error_code: 'image_missing' });
      // Deleted: the copy this worker has is refused.
      expect((await http(`${api.url}/v1/images/fleet-digest`, { method: 'DELETE', headers: as('key-one') })).status).toBe(200);
      const refused = await read('fleet-digest');
      expect(refused.run).toMatchObject({ status: 'sandbox_error', error_code: 'image_missing' });
      expect(refused.run!.message).toContain('deleted');
      // A registry image named like the host's own (its configured image) is never pulled over it.
      const fake = `sha256:${'e'.repeat(64)}`;
      await api.queue.images.publish('default', [v1] as never, { owner: 'someone', digest: fake });
      const kept = readImage(config.dataDir, 'default');
      const notOver = await read(fake);
      expect(notOver.run).toMatchObject({ status: 'sandbox_error', error_code: 'image_missing' });
      expect(notOver.run!.message).toContain('of its own');
      expect(readImage(config.dataDir, 'default')).toEqual(kept);
      await api.queue.images.remove('default', 'someone');
    } finally {
      await api.close();
    }
  });

  it('end to end: a queued job names the image by digest, a worker process pulls and runs it, and its own sweep drops the copy once unused', async () => {
    const api = await startApi(redis.url, { apiKeys: KEYS, maxImageBytes: 64 * 1024 * 1024 });
    const log = lines();
    const worker = await startWorker(redis.url, { imageUnusedSeconds: 2, logger: log });
    try {
      const archive = readFileSync(await ociArchive(work, [await tarOf(shellEntries()), await tarOf([{ name: 'e2e', content: 'end to end\n' }])]));
      expect((await upload(api, 'key-one', 'e2e', archive)).status).toBe(202);
      const submit = async (image: string) => {
        const accepted = await http(`${api.url}/v1/jobs`, { method: 'POST', json: { image, command: ['/bin/sh', '-c', 'read line < /e2e; echo "$line"'] }, headers: { authorization: 'Bearer key-one' } });
        expect(accepted.status).toBe(202);
        let view: { status: string; result: { run: { stdout: string } } } | undefined;
        const ended = async () => {
          view = (await http(`${api.url}/v1/jobs/${accepted.body.id}`, { headers: { authorization: 'Bearer key-one' } })).body;
          return ['completed', 'cancelled', 'failed'].includes(view!.status);
        };
        await waitFor(ended, 60_000, 'the job');
        return view!;
      };
      expect((await submit('e2e')).result.run.stdout).toBe('end to end\n');
      const digest = (await http(`${api.url}/v1/images/e2e`, { headers: as('key-one') })).body.digest as string;
      expect((await submit(digest)).result.run.stdout).toBe('end to end\n');
      const past = new Date(Date.now() - 60_000);
      utimesSync(imagePath(config.dataDir, 'e2e'), past, past);
      await waitFor(() => readImage(config.dataDir, 'e2e') === undefined, 3000, "the worker's sweep");
      expect(log.seen.some((line) => (line.object as { images?: string[] }).images?.includes('e2e'))).toBe(true);
      // Still in the registry: the next job pulls it again.
      expect((await submit(digest)).result.run.stdout).toBe('end to end\n');
    } finally {
      await worker.close();
      await api.close();
    }
  });

  it('beside a worker (runcell serve): the quota is checked before the import records the image; what is kept records its archive', async () => {
    const api = await startApi(redis.url, { apiKeys: KEYS, importImage: imageImporter(config.dataDir), imageQuota: { maxBytes: 0, maxCount: 1 } });
    try {
      const layers = new Map<string, Buffer>();
      const archive = async (content: string) => ociArchive(work, [layers.set(content, await tarOf([{ name: 'f', content }])).get(content)!]);
      // A refused upload is refused before its layers are extracted: none is left on the host's disk.
      const leftNoLayer = (content: string) => expect(existsSync(layerPath(config.dataDir, sha(layers.get(content)!)))).toBe(false);
      const first = readFileSync(await archive('served'));
      const served = await upload(api, 'key-three', 'served', first);
      expect(served.status).toBe(201);
      expect(served.body.image.digest).toMatch(/^sha256:/);
      expect(readImage(config.dataDir, 'served')?.archive).toBe(sha(first));
      expect((await http(`${api.url}/v1/images/served`, { headers: as('key-three') })).body.digest).toBe(served.body.image.digest);
      // Never over an image of the host's own: the configured image's name is refused, the image left as it was.
      const own = readImage(config.dataDir, 'default');
      expect(own).toBeDefined();
      const swap = await upload(api, 'key-one', 'default', readFileSync(await archive('swap')));
      expect(swap.status).toBe(409);
      expect(swap.body.error.message).toContain('of its own');
      expect(readImage(config.dataDir, 'default')).toEqual(own);
      leftNoLayer('swap');
      const over = await upload(api, 'key-three', 'over', readFileSync(await archive('over')));
      expect(over.status).toBe(413);
      expect(readImage(config.dataDir, 'over')).toBeUndefined();
      leftNoLayer('over');
    } finally {
      await api.close();
    }
  });

  it("a worker host's sweep drops its copies of the fleet's images unused for the configured time, with their own layers, never one in use nor one imported on the host alone", async () => {
    const dataDir = mkdtempSync(join(work, 'host-'));
    try {
      const shared = await tarOf([{ name: 'shared', content: 'shared' }]);
      const pulled = await importImage(dataDir, await ociArchive(work, [shared, await tarOf([{ name: 'own', content: 'own' }])]), { name: 'pulled', archive: 'a'.repeat(64) });
      const busy = await importImage(dataDir, await ociArchive(work, [shared, await tarOf([{ name: 'busy', content: 'busy' }])]), { name: 'busy', archive: 'b'.repeat(64) });
      await importImage(dataDir, await ociArchive(work, [await tarOf([{ name: 'local', content: 'local' }])]), { name: 'local' });
      const listed = listStore(dataDir).images;
      expect(listed.map((image) => [image.name, image.from_registry])).toEqual(expect.arrayContaining([['pulled', true], ['busy', true], ['local', false]]));
      const past = new Date(Date.now() - 60_000);
      for (const name of ['pulled', 'busy', 'local']) utimesSync(imagePath(dataDir, name), past, past);
      // A job runs in busy: its mount and layers stay.
      const root = mountImage(dataDir, busy.image);
      const release = useImage(dataDir, busy.image);
      utimesSync(imagePath(dataDir, 'busy'), past, past);
      const log = lines();
      const stop = localImageCollector(dataDir, 2, log);
      try {
        await waitFor(() => log.seen.length > 0, 3000, 'the host sweep');
      } finally {
        stop();
      }
      expect((log.seen[0].object as { images: string[] }).images).toEqual(['pulled']);
      expect(readImage(dataDir, 'pulled')).toBeUndefined();
      expect(existsSync(layerPath(dataDir, pulled.image.layers[1]))).toBe(false);
      expect(existsSync(layerPath(dataDir, pulled.image.layers[0]))).toBe(true);
      expect(readFileSync(join(root, 'busy'), 'utf8')).toBe('busy');
      expect(readImage(dataDir, 'local')).toBeDefined();
      // Released (and used just now): kept until unused for the time again.
      release();
      expect(liveInUse(dataDir).flatMap((record) => record.images)).not.toContain('busy');
      expect(collectUnusedImages(dataDir, 2).images).toEqual([]);
      utimesSync(imagePath(dataDir, 'busy'), past, past);
      expect(collectUnusedImages(dataDir, 2).images).toEqual(['busy']);
      // Layers an import is storing (its image not recorded yet) are held: a sweep's prune meanwhile keeps them.
      const orphan = await importImage(dataDir, await ociArchive(work, [await tarOf([{ name: 'orphan', content: 'orphan' }])]), { name: 'orphan' });
      rmSync(imagePath(dataDir, 'orphan'));
      const releaseLayers = holdLayers(dataDir, orphan.image.layers);
      expect(pruneStore(dataDir).layers).not.toContain(orphan.image.layers[0]);
      releaseLayers();
      expect(pruneStore(dataDir).layers).toContain(orphan.image.layers[0]);
    } finally {
      unmountAll(dataDir);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a job keeps the copy it runs on even after the name was pulled again twice (in-use records by image, not by name)', async () => {
    const dataDir = mkdtempSync(join(work, 'host-'));
    try {
      const copy = async (content: string, archive: string) => importImage(dataDir, await ociArchive(work, [await tarOf([{ name: 'f', content }])]), { name: 'x', archive });
      const v1 = await copy('one', 'a'.repeat(64));
      const release1 = useImage(dataDir, v1.image);
      const v2 = await copy('two', 'b'.repeat(64));
      const release2 = useImage(dataDir, v2.image);
      release1();
      await copy('three', 'c'.repeat(64));
      pruneStore(dataDir);
      expect(existsSync(layerPath(dataDir, v2.image.layers[0]))).toBe(true);
      release2();
      expect(pruneStore(dataDir).layers).toContain(v2.image.layers[0]);
    } finally {
      unmountAll(dataDir);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("a worker host's sweep drops its copies the registry no longer holds (deleted, replaced) at once, with their layers: upload, run, delete in a loop cannot fill a host's disk", async () => {
    const dataDir = mkdtempSync(join(work, 'host-'));
    const client = connect(parseRedisUrl(redis.url), 'api', 'host-sweep');
    try {
      await waitFor(() => client.status === 'ready', 5000, 'the connection');
      const registry = new ImageRegistry(client);
      const copy = async (name: string, content: string, archive: string) => importImage(dataDir, await ociArchive(work, [await tarOf([{ name: 'f', content }])]), { name, archive });
      const keptBody = randomBytes(40);
      await registry.publish('host-kept', [keptBody] as never, { owner: 'one' });
      const kept = await copy('host-kept', 'kept', sha(keptBody));
      const deleted = await copy('host-deleted', 'deleted', 'd'.repeat(64));
      await registry.publish('host-replaced', [randomBytes(40)] as never, { owner: 'one' });
      const replaced = await copy('host-replaced', 'replaced', 'e'.repeat(64));
      const busy = await copy('host-busy', 'busy', 'f'.repeat(64));
      const release = useImage(dataDir, busy.image);
      // Unused for a minute (a copy pulled just now is kept a minute: its job is about to use it).
      const past = new Date(Date.now() - 61_000);
      for (const name of ['host-kept', 'host-deleted', 'host-replaced', 'host-busy']) utimesSync(imagePath(dataDir, name), past, past);
      const log = lines();
      await sweepHostImages(dataDir, 3600, registry, log);
      expect((log.seen[0].object as { images: string[] }).images.sort()).toEqual(['host-deleted', 'host-replaced']);
      for (const image of [deleted, replaced]) expect(existsSync(layerPath(dataDir, image.image.layers[0]))).toBe(false);
      for (const image of [kept, busy]) expect(existsSync(layerPath(dataDir, image.image.layers[0]))).toBe(true);
      expect(readImage(dataDir, 'host-busy')).toBeDefined();
      release();
      await registry.remove('host-kept', 'one');
      await registry.remove('host-replaced', 'one');
    } finally {
      client.disconnect();
      unmountAll(dataDir);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
