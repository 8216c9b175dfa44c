/**
 * The compile cache: a compiled workspace (what /box held after a successful
 * compile step) kept for reuse by an identical later submission, so that
 * resubmitting, or judging with a checker used before, costs no compile.
 *
 * - Content-addressed: the key is the sha256 of a canonical encoding of every
 *   input of the compile (rootfs and toolchain version, language, compile
 *   argv, environment, limits, each file's path, mode and content digest,
 *   the seccomp profile), so different inputs never share an entry.
 * - One file per entry under <dataDir>/compile-cache, written whole and
 *   renamed into place (concurrent workers on one host see all or nothing).
 * - Expires `ttlSeconds` after it was made; the total size is capped, the
 *   least recently used entries (by mtime, touched on each hit) go first.
 * - What is stored was read with readCompiledTree (compiled-tree.ts: safe-fs's
 *   readTreeBeneath, which never follows a link, all or nothing).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, unlinkSync } from 'node:fs';
import { lstat, readdir, readFile, rename, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunResult } from '../sandbox/accounting.js';
import type { Limits } from '../sandbox/limits.js';
import type { WorkspaceFile } from '../sandbox/workspace.js';
import { readCompiledTree, UnsafeTreeError } from './compiled-tree.js';

export interface CompileCacheOptions {
  /** Where entries live: <dataDir>/compile-cache by convention (see cacheDir). */
  dir: string;
  /** Total size of all entries; the least recently used go beyond it. 0 disables the cache. */
  maxBytes: number;
  /** How long an entry is reused after it was made. */
  ttlSeconds: number;
  /** Identifies the toolchains: the rootfs image's hash (see rootfs/build.ts marker). */
  rootfsHash: string;
  /** Language id -> toolchain version of the rootfs. */
  versions: Record<string, string>;
  /** Most files one entry may hold. Default 1000. */
  maxEntryFiles?: number;
  /**
   * Most bytes one entry may hold. Default a quarter of maxBytes, at most
   * 32 MiB: compiled programs are far smaller, and the read back is
   * synchronous (it must not stall the worker's other runs for long).
   */
  maxEntryBytes?: number;
  /**
   * Where the cache reports what it could not do (read, touch or remove an
   * entry for another reason than its being gone already): the worker's
   * logger. Default: a process warning on stderr.
   */
  logger?: CacheLogger;
}

export interface CacheLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

const processWarning: CacheLogger = {
  warn: (fields, message) => process.emitWarning(`${message} ${JSON.stringify(fields)}`, 'RuncellCompileCacheWarning'),
};

/** Everything a compile's outcome depends on. */
export interface CompileInputs {
  language: string;
  argv: string[];
  files: WorkspaceFile[];
  env?: Record<string, string>;
  limits: Limits;
  /** The seccomp profile the compiler ran under. */
  seccompProfile?: string;
}

export interface CachedCompile {
  files: WorkspaceFile[];
  compile: RunResult;
}

interface EntryHeader {
  created_at: number;
  compile: RunResult;
  files: { path: string; size: number; executable: boolean }[];
}

const FORMAT = 'runcell-compile-cache-v1';
/** A staging file this old belongs to no store in progress. */
const STALE_STAGING_MS = 10 * 60 * 1000;

export function cacheDir(dataDir: string): string {
  return join(dataDir, 'compile-cache');
}

export class CompileCache {
  private readonly maxEntryFiles: number;
  private readonly maxEntryBytes: number;
  private readonly logger: CacheLogger;

  constructor(private readonly options: CompileCacheOptions) {
    this.logger = options.logger ?? processWarning;
    this.maxEntryFiles = options.maxEntryFiles ?? 1000;
    this.maxEntryBytes = options.maxEntryBytes ?? Math.min(Math.floor(options.maxBytes / 4), 32 * 1024 * 1024);
    if (this.enabled) mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  }

  get enabled(): boolean {
    return this.options.maxBytes > 0;
  }

  /** The content address of a compile: sha256 of a canonical (fixed order, sorted, digested) encoding. */
  key(inputs: CompileInputs): string {
    const files = [...inputs.files]
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
      .map((file) => [file.path, file.executable === true, sha256(file.content)]);
    const env = Object.entries(inputs.env ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const limits = Object.entries(inputs.limits).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const canonical = JSON.stringify([
      FORMAT,
      this.options.rootfsHash,
      inputs.language,
      this.options.versions[inputs.language] ?? null,
      inputs.argv,
      env,
      limits,
      files,
      inputs.seccompProfile ?? null,
    ]);
    return sha256(Buffer.from(canonical));
  }

  /** The entry for `key` if it exists and has not expired; a hit makes it the most recently used. */
  async get(key: string, now = Date.now()): Promise<CachedCompile | undefined> {
    if (!this.enabled) return undefined;
    const path = this.entryPath(key);
    let raw: Buffer;
    try {
      raw = await readFile(path);
    } catch (error) {
      this.unlessGone(error, 'read', path); // gone: a plain miss
      return undefined;
    }
    const entry = decodeEntry(raw);
    if (!entry) this.logger.warn({ path }, 'compile cache: removing an entry that does not decode');
    if (!entry || now - entry.header.created_at > this.options.ttlSeconds * 1000) {
      this.removeEntry(path);
      return undefined;
    }
    // Gone (evicted meanwhile) is fine: the content read is still good.
    await utimes(path, new Date(now), new Date(now)).catch((error: unknown) => this.unlessGone(error, 'touch', path));
    return { files: entry.files, compile: entry.header.compile };
  }

  /**
   * Stores the compiled workspace at `boxPath` under `key`. Answers false
   * (nothing stored) when the tree is unsafe (a link, a FIFO...) or too big.
   */
  async put(key: string, boxPath: string, compile: RunResult, now = Date.now()): Promise<boolean> {
    if (!this.enabled) return false;
    let files: WorkspaceFile[];
    try {
      files = readCompiledTree(boxPath, { maxBytes: this.maxEntryBytes, maxFiles: this.maxEntryFiles });
    } catch (error) {
      if (error instanceof UnsafeTreeError || (error as NodeJS.ErrnoException).code === 'ELOOP') return false;
      throw error;
    }
    const header: EntryHeader = { created_at: now, compile, files: files.map((f) => ({ path: f.path, size: f.content.length, executable: f.executable === true })) };
    const headerBytes = Buffer.from(JSON.stringify(header));
    const length = Buffer.alloc(4);
    length.writeUInt32BE(headerBytes.length);
    const path = this.entryPath(key);
    const staging = join(this.options.dir, `.staging-${process.pid}-${randomBytes(4).toString('hex')}`);
    // Written and evicted off the event loop: the worker's other runs keep their CPU and wall timers.
    await writeFile(staging, Buffer.concat([length, headerBytes, ...files.map((f) => f.content)]), { mode: 0o600 });
    await rename(staging, path);
    await this.evict(key, now);
    return true;
  }

  /**
   * Removes entries unused for longer than the TTL (expired, since an entry is
   * never older than its last use), then the least recently used until the
   * total fits; never the one just stored.
   */
  async evict(keep?: string, now = Date.now()): Promise<void> {
    const names = await readdir(this.options.dir);
    const stats = await Promise.all(
      names.map(async (name) => {
        try {
          const stat = await lstat(join(this.options.dir, name));
          return [{ name, bytes: stat.size, used: stat.mtimeMs }];
        } catch {
          return []; // renamed or removed meanwhile
        }
      }),
    );
    const files = stats.flat();
    // What a worker that died while storing left behind.
    const stale = files.filter((file) => file.name.startsWith('.staging-') && now - file.used > STALE_STAGING_MS);
    const entries = files.filter((file) => file.name.endsWith('.entry') && file.name !== `${keep}.entry`).sort((a, b) => a.used - b.used);
    const expired = entries.filter((entry) => now - entry.used > this.options.ttlSeconds * 1000);
    let total = files.filter((file) => file.name.endsWith('.entry')).reduce((sum, entry) => sum + entry.bytes, 0);
    const doomed = [...stale, ...expired];
    total -= expired.reduce((sum, entry) => sum + entry.bytes, 0);
    for (const entry of entries.filter((e) => !expired.includes(e))) {
      if (total <= this.options.maxBytes) break;
      doomed.push(entry);
      total -= entry.bytes;
    }
    await Promise.all(
      doomed.map((file) => {
        const path = join(this.options.dir, file.name);
        // Gone: another worker of this host evicted it first.
        return unlink(path).catch((error: unknown) => this.unlessGone(error, 'remove', path));
      }),
    );
  }

  /** Logs a failed file operation, unless the file was simply gone (ENOENT), which the callers expect. */
  private unlessGone(error: unknown, what: string, path: string): void {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    this.logger.warn({ path, err: (error as Error).message }, `compile cache: cannot ${what} an entry`);
  }

  private removeEntry(path: string): void {
    try {
      unlinkSync(path);
    } catch (error) {
      this.unlessGone(error, 'remove', path);
    }
  }

  private entryPath(key: string): string {
    if (!/^[0-9a-f]{64}$/.test(key)) throw new Error(`bad compile cache key ${JSON.stringify(key)}`);
    return join(this.options.dir, `${key}.entry`);
  }
}

function decodeEntry(raw: Buffer): { header: EntryHeader; files: WorkspaceFile[] } | undefined {
  try {
    const headerLength = raw.readUInt32BE(0);
    const header = JSON.parse(raw.subarray(4, 4 + headerLength).toString('utf8')) as EntryHeader;
    let offset = 4 + headerLength;
    const files = header.files.map((file) => {
      const content = raw.subarray(offset, offset + file.size);
      offset += file.size;
      return { path: file.path, content, executable: file.executable };
    });
    return offset === raw.length ? { header, files } : undefined;
  } catch {
    return undefined;
  }
}

function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

