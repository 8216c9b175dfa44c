/**
 * A worker's local cache of stored problems' files, by sha256, in
 * `<data dir>/problem-cache/<aa>/<sha256>`: fetched from Redis once (chunk by
 * chunk into a temporary file, the hash checked before the rename), then read
 * from disk by every job of the problem. Bounded: past `maxBytes` the least
 * recently used files go, never one a running job holds.
 *
 * Only the worker reads these files (jobs get copies of a test's bytes on
 * stdin, never a path), and every name is a hash the worker computed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';

export interface BlobSource {
  readBlob(sha: string): AsyncGenerator<Buffer>;
}

export interface CacheLogger {
  warn(object: object, message?: string): void;
}

const SHA256 = /^[0-9a-f]{64}$/;

export function problemCacheDir(dataDir: string): string {
  return join(dataDir, 'problem-cache');
}

/** The files a job holds: their paths, and the release that lets eviction have them again. */
export interface HeldFiles {
  path(sha: string): string;
  release(): void;
}

export class ProblemCache {
  private readonly pins = new Map<string, number>();
  private readonly fetching = new Map<string, Promise<void>>();

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
    private readonly source: BlobSource,
    private readonly logger: CacheLogger = { warn() {} },
  ) {
    // Made by the first fetch, not here: a worker whose data dir is full still starts, and its jobs fail saying why.
    // Parts of fetches a dead worker left.
    for (const part of this.files().filter((f) => f.name.includes('.part-'))) rmSync(part.path, { force: true });
  }

  pathOf(sha: string): string {
    if (!SHA256.test(sha)) throw new Error(`not a sha256: ${JSON.stringify(sha)}`);
    return join(this.dir, sha.slice(0, 2), sha);
  }

  /** Makes every file local and holds it until release(); fetches what is missing (once, however many jobs ask). */
  async hold(shas: string[]): Promise<HeldFiles> {
    const unique = [...new Set(shas)];
    for (const sha of unique) this.pins.set(sha, (this.pins.get(sha) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      for (const sha of unique) {
        const left = (this.pins.get(sha) ?? 1) - 1;
        if (left <= 0) this.pins.delete(sha);
        else this.pins.set(sha, left);
      }
    };
    try {
      let fetched = false;
      for (const sha of unique) fetched = (await this.ensure(sha)) || fetched;
      if (fetched) this.evict();
    } catch (error) {
      release();
      throw error;
    }
    return { path: (sha) => this.pathOf(sha), release };
  }

  /** True when the file had to be fetched. */
  private async ensure(sha: string): Promise<boolean> {
    const path = this.pathOf(sha);
    if (existsSync(path)) {
      const now = new Date();
      utimesSync(path, now, now); // recency, for eviction
      return false;
    }
    let pending = this.fetching.get(sha);
    if (!pending) {
      pending = this.fetch(sha, path).finally(() => this.fetching.delete(sha));
      this.fetching.set(sha, pending);
    }
    await pending;
    return true;
  }

  private async fetch(sha: string, path: string): Promise<void> {
    mkdirSync(join(this.dir, sha.slice(0, 2)), { recursive: true, mode: 0o700 });
    const part = `${path}.part-${randomBytes(4).toString('hex')}`;
    const out = createWriteStream(part, { flags: 'wx', mode: 0o600 });
    const hash = createHash('sha256');
    try {
      for await (const chunk of this.source.readBlob(sha)) {
        hash.update(chunk);
        if (!out.write(chunk)) await once(out, 'drain');
      }
      out.end();
      await once(out, 'finish');
      const got = hash.digest('hex');
      if (got !== sha) throw new Error(`blob ${sha} read back as ${got}`);
      renameSync(part, path);
    } catch (error) {
      out.destroy();
      rmSync(part, { force: true });
      throw error;
    }
  }

  private files(): Array<{ name: string; path: string; size: number; used: number }> {
    const found: Array<{ name: string; path: string; size: number; used: number }> = [];
    if (!existsSync(this.dir)) return found;
    for (const sub of readdirSync(this.dir)) {
      const subdir = join(this.dir, sub);
      for (const name of readdirSync(subdir)) {
        try {
          const stat = statSync(join(subdir, name));
          found.push({ name, path: join(subdir, name), size: stat.size, used: stat.mtimeMs });
        } catch {
          /* gone meanwhile */
        }
      }
    }
    return found;
  }

  /** Total bytes of the cache now. */
  bytes(): number {
    return this.files().reduce((sum, file) => sum + file.size, 0);
  }

  /** Least recently used first, until the cache fits (held files stay, even past the bound). */
  private evict(): void {
    const files = this.files().filter((file) => SHA256.test(file.name));
    let total = files.reduce((sum, file) => sum + file.size, 0);
    for (const file of files.sort((a, b) => a.used - b.used)) {
      if (total <= this.maxBytes) break;
      if (this.pins.has(file.name)) continue;
      try {
        unlinkSync(file.path);
        total -= file.size;
      } catch (error) {
        this.logger.warn({ file: file.path, err: (error as Error).message }, 'cannot evict a problem file');
      }
    }
  }
}
