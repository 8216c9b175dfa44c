/**
 * The compile cache's storage and its reading back of compiled workspaces,
 * which untrusted code wrote: a "compile" that is a shell script plants
 * symlinks (to host files and directories) and FIFOs; none is followed or
 * opened, and such a workspace is not cached at all.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CompileCache } from '../worker/compile-cache.js';
import { readCompiledTree, UnsafeTreeError } from '../worker/compiled-tree.js';
import { resolveLimits } from '../sandbox/limits.js';
import type { RunResult } from '../sandbox/accounting.js';
import { compileInto } from '../worker/compile.js';
import { config, MiB, sandbox } from './helpers.js';

const dir = mkdtempSync(join(config.dataDir, 'compile-cache-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const newCache = (name: string, maxBytes = 64 * MiB, ttlSeconds = 600, maxEntryBytes?: number) =>
  new CompileCache({ dir: join(dir, name), maxBytes, ttlSeconds, maxEntryBytes, rootfsHash: 'test-rootfs', versions: { c: '12.2.0' } });

/** Runs `script` as a compile step (writable /box) in a fresh workspace, then hands the workspace to `inspect`. */
async function afterCompile<T>(script: string, inspect: (boxPath: string) => T | Promise<T>): Promise<T> {
  const { sandbox: box, pool } = sandbox();
  return pool.withSlot(async (slot) => {
    const workspace = await box.createWorkspace(slot, 16 * MiB);
    try {
      const run = await box.run({ slot, workspace, boxWritable: true, argv: ['/bin/sh', '-c', script], limits: resolveLimits({}, { phase: 'compile' }) });
      expect(run).toMatchObject({ status: 'ok', stderr: '' });
      return await inspect(workspace.boxPath);
    } finally {
      await workspace.remove();
    }
  });
}

const caps = { maxBytes: MiB, maxFiles: 100 };

describe('readCompiledTree', () => {
  it('reads regular files and directories, with their executable bit', async () => {
    const files = await afterCompile('printf hi > a.txt; mkdir -p d/e; printf x > d/e/f; printf "#!/bin/sh" > run; chmod 755 run', (box) => readCompiledTree(box, caps));
    expect(files.map((f) => [f.path, f.content.toString(), f.executable])).toEqual([
      ['a.txt', 'hi', false],
      ['d/e/f', 'x', false],
      ['run', '#!/bin/sh', true],
    ]);
  });

  for (const [what, script] of [
    ['a symlink to a host file', 'ln -s /etc/shadow main'],
    ['a symlink to the host root', 'mkdir sub; ln -s / sub/root'],
    ['a dangling symlink', 'ln -s /nonexistent main'],
    ['a FIFO (never opened: it would block)', 'mkfifo main'],
    ['a UNIX socket', 'python3 -c "import socket; socket.socket(socket.AF_UNIX).bind(\'sock\')"'],
  ] as const) {
    it(`refuses a tree holding ${what}`, async () => {
      await afterCompile(`printf ok > first; ${script}`, (box) => {
        expect(() => readCompiledTree(box, caps)).toThrow(UnsafeTreeError);
      });
    });
  }

  it('refuses a tree a cache hit could not write back (deeper than a request may be, as javac packages make)', async () => {
    await afterCompile('mkdir -p a/b/c/d/e/f/g/h && printf x > a/b/c/d/e/f/g/h/Main.class && printf y > ok', (box) => {
      expect(() => readCompiledTree(box, caps)).toThrow(/cannot be restored/);
    });
  });

  it('refuses more entries or bytes than its caps', async () => {
    await afterCompile('for i in 1 2 3 4 5; do printf 12345 > f$i; done', (box) => {
      expect(() => readCompiledTree(box, { maxBytes: MiB, maxFiles: 4 })).toThrow(/too big to cache: more than 4 entries/);
      expect(() => readCompiledTree(box, { maxBytes: 24, maxFiles: 100 })).toThrow(/too big to cache: f5 .* over the cap of 4$/);
      expect(readCompiledTree(box, { maxBytes: 25, maxFiles: 5 })).toHaveLength(5);
    });
  });
});

describe('CompileCache', () => {
  it('a compile that plants links and FIFOs runs, but is never cached', async () => {
    const cache = newCache('planted');
    const { sandbox: box, pool } = sandbox();
    const spec = { language: 'c', argv: ['/bin/sh', '-c', 'printf binary > main; ln -s /etc/shadow shadow; mkfifo pipe'], files: [{ path: 'main.c', content: Buffer.from('x') }], limits: resolveLimits({}, { phase: 'compile' }) };
    for (let attempt = 0; attempt < 2; attempt++) {
      const result = await pool.withSlot(async (slot) => {
        const workspace = await box.createWorkspace(slot, 16 * MiB);
        try {
          return await compileInto({ ...spec, sandbox: box, slot, workspace, cache });
        } finally {
          await workspace.remove();
        }
      });
      expect(result).toMatchObject({ status: 'ok', cached: false });
    }
    expect(readdirSync(join(dir, 'planted'))).toEqual([]);
  });

  const okRun = { status: 'ok', stdout: '', stderr: '' } as RunResult;
  const source = (name: string, bytes: number) => {
    const path = join(dir, 'sources', name);
    mkdirSync(path, { recursive: true });
    writeFileSync(join(path, 'main'), Buffer.alloc(bytes, 1));
    return path;
  };
  const key = (cache: CompileCache, text: string) => cache.key({ language: 'c', argv: ['cc'], files: [{ path: 'main.c', content: Buffer.from(text) }], limits: resolveLimits({}) });

  it('keys differ for any difference in the inputs, and only then', () => {
    const cache = newCache('keys');
    const base = { language: 'c', argv: ['gcc', 'main.c'], files: [{ path: 'main.c', content: Buffer.from('int main(){}') }, { path: 'a.h', content: Buffer.from('') }], limits: resolveLimits({}) };
    const k = cache.key(base);
    expect(cache.key({ ...base, files: [...base.files].reverse() })).toBe(k);
    expect(cache.key({ ...base, files: [{ path: 'main.c', content: Buffer.from('int main(){} ') }, base.files[1]] })).not.toBe(k);
    expect(cache.key({ ...base, files: [{ ...base.files[0], executable: true }, base.files[1]] })).not.toBe(k);
    expect(cache.key({ ...base, argv: ['gcc', '-O2', 'main.c'] })).not.toBe(k);
    expect(cache.key({ ...base, language: 'cpp' })).not.toBe(k);
    expect(cache.key({ ...base, env: { A: '1' } })).not.toBe(k);
    expect(cache.key({ ...base, limits: resolveLimits({ memory_bytes: 64 * MiB }) })).not.toBe(k);
    const otherCompiler = new CompileCache({ dir: join(dir, 'keys'), maxBytes: MiB, ttlSeconds: 1, rootfsHash: 'test-rootfs', versions: { c: '13.1.0' } });
    expect(otherCompiler.key(base)).not.toBe(k);
    expect(k).toMatch(/^[0-9a-f]{64}$/);
  });

  it('stores and returns files and the compile result; evicts the least recently used beyond its size', async () => {
    const cache = newCache('lru', 2500, 600, 1000);
    const [a, b, c] = ['a', 'b', 'c'].map((t) => key(cache, t));
    expect(await cache.put(a, source('a', 1000), { ...okRun, stdout: 'from a' }, 1_000)).toBe(true);
    expect(await cache.put(b, source('b', 1000), okRun, 2_000)).toBe(true);
    const entry = join(dir, 'lru', `${a}.entry`);
    utimesSync(entry, new Date(1_000), new Date(1_000));
    utimesSync(join(dir, 'lru', `${b}.entry`), new Date(2_000), new Date(2_000));
    // A hit makes `a` the most recently used...
    const hit = await cache.get(a, 3_000);
    expect(hit?.compile.stdout).toBe('from a');
    expect(hit?.files.map((f) => [f.path, f.content.length])).toEqual([['main', 1000]]);
    expect(statSync(entry).mtimeMs).toBe(3_000);
    // ...so storing `c` pushes out `b`.
    expect(await cache.put(c, source('c', 1000), okRun, 4_000)).toBe(true);
    expect(await cache.get(b, 5_000)).toBeUndefined();
    expect(await cache.get(a, 5_000)).toBeDefined();
    expect(await cache.get(c, 5_000)).toBeDefined();
  });

  it('an expired entry is removed when asked for; a corrupt one is a miss, removed and reported', async () => {
    const warnings: string[] = [];
    const cache = new CompileCache({
      dir: join(dir, 'ttl'),
      maxBytes: MiB,
      ttlSeconds: 10,
      rootfsHash: 'test-rootfs',
      versions: { c: '12.2.0' },
      logger: { warn: (fields, message) => warnings.push(`${message} ${JSON.stringify(fields)}`) },
    });
    const k = key(cache, 'x');
    await cache.put(k, source('x', 10), okRun, 1_000);
    expect(await cache.get(k, 10_999)).toBeDefined();
    expect(await cache.get(k, 11_001)).toBeUndefined();
    expect(readdirSync(join(dir, 'ttl'))).toEqual([]);
    const corrupt = key(cache, 'corrupt');
    writeFileSync(join(dir, 'ttl', `${corrupt}.entry`), 'garbage');
    expect(warnings).toEqual([]); // an expired entry, or a miss, is no news
    expect(await cache.get(corrupt)).toBeUndefined();
    expect(readdirSync(join(dir, 'ttl'))).toEqual([]);
    expect(warnings).toEqual([`compile cache: removing an entry that does not decode ${JSON.stringify({ path: join(dir, 'ttl', `${corrupt}.entry`) })}`]);
  });

  it('storing an entry removes those unused for longer than the TTL, even with room to spare', async () => {
    const cache = newCache('expire', MiB, 10);
    const [old, fresh] = [key(cache, 'old'), key(cache, 'fresh')];
    expect(await cache.put(old, source('old', 10), okRun)).toBe(true);
    const past = new Date(Date.now() - 20_000);
    utimesSync(join(dir, 'expire', `${old}.entry`), past, past);
    expect(await cache.put(fresh, source('fresh', 10), okRun)).toBe(true);
    expect(readdirSync(join(dir, 'expire'))).toEqual([`${fresh}.entry`]);
  });

  it('removes staging files a dead worker left, once they are stale', async () => {
    const cache = newCache('staging');
    const stale = join(dir, 'staging', '.staging-1-dead');
    const fresh = join(dir, 'staging', '.staging-2-busy');
    writeFileSync(stale, 'x');
    writeFileSync(fresh, 'x');
    utimesSync(stale, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    await cache.evict();
    expect(readdirSync(join(dir, 'staging'))).toEqual(['.staging-2-busy']);
  });

  it('an entry larger than its cap (a quarter of the cache by default) is not stored', async () => {
    const cache = newCache('entry-cap', 4000);
    expect(await cache.put(key(cache, 'big'), source('big', 1001), okRun)).toBe(false);
    expect(await cache.put(key(cache, 'small'), source('small', 1000), okRun)).toBe(true);
    expect(readdirSync(join(dir, 'entry-cap'))).toHaveLength(1);
  });

  it('size 0 turns it off', async () => {
    const cache = newCache('off', 0);
    const k = key(cache, 'off');
    expect(await cache.put(k, source('off', 10), okRun)).toBe(false);
    expect(await cache.get(k)).toBeUndefined();
  });
});
