/**
 * The compile cache: a compiled workspace (what /box held after a successful
 * compile step) kept for reuse by an identical later submission, so that
 * resubmitting, or judging with a checker used before, costs no compile.
 *
 * - Content-addressed: the key is the sha256 of a canonical encoding of every
 *   input of the compile (rootfs and toolchain version, language, compile
 *   argv, environment, limits, each file's path, mode and content digest), so
 *   different inputs never share an entry.
 * - One file per entry under <dataDir>/compile-cache, written whole and
 *   renamed into place (concurrent workers on one host see all or nothing).
 * - Expires `ttlSeconds` after it was made; the total size is capped, the
 *   least recently used entries (by mtime, touched on each hit) go first.
 * - What is stored was read with readTreeBeneath (never follows a link).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunResult } from '../sandbox/accounting.js';
import type { Limits } from '../sandbox/limits.js';
import type { WorkspaceFile } from '../sandbox/workspace.js';
import { readTreeBeneath, UnsafeTreeError } from './read-tree.js';

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
}

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

  constructor(private readonly options: CompileCacheOptions) {
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
    } catch {
      return undefined;
    }
    const entry = decodeEntry(raw);
    if (!entry || now - entry.header.created_at > this.options.ttlSeconds * 1000) {
      removeQuietly(path);
      return undefined;
    }
    try {
      utimesSync(path, new Date(now), new Date(now));
    } catch {
      /* evicted meanwhile: the content read is still good */
    }
    return { files: entry.files, compile: entry.header.compile };
  }

  /**
   * Stores the compiled workspace at `boxPath` under `key`. Answers false
   * (nothing stored) when the tree is unsafe (a link, a FIFO...) or too big.
   */
  put(key: string, boxPath: string, compile: RunResult, now = Date.now()): boolean {
    if (!this.enabled) return false;
    let files: WorkspaceFile[];
    try {
      files = readTreeBeneath(boxPath, { maxBytes: this.maxEntryBytes, maxFiles: this.maxEntryFiles });
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
    writeFileSync(staging, Buffer.concat([length, headerBytes, ...files.map((f) => f.content)]), { mode: 0o600 });
    renameSync(staging, path);
    this.evict(key, now);
    return true;
  }

  /** Removes the least recently used entries until the total fits; never the one just stored. */
  evict(keep?: string, now = Date.now()): void {
    const names = readdirSync(this.options.dir);
    // What a worker that died while storing left behind.
    for (const name of names.filter((n) => n.startsWith('.staging-'))) {
      try {
        if (now - statSync(join(this.options.dir, name)).mtimeMs > STALE_STAGING_MS) removeQuietly(join(this.options.dir, name));
      } catch {
        /* renamed or removed meanwhile */
      }
    }
    const entries = names
      .filter((name) => name.endsWith('.entry'))
      .flatMap((name) => {
        try {
          const stat = statSync(join(this.options.dir, name));
          return [{ name, bytes: stat.size, used: stat.mtimeMs }];
        } catch {
          return [];
        }
      })
      .sort((a, b) => a.used - b.used);
    let total = entries.reduce((sum, entry) => sum + entry.bytes, 0);
    for (const entry of entries) {
      if (total <= this.options.maxBytes) break;
      if (entry.name === `${keep}.entry`) continue;
      removeQuietly(join(this.options.dir, entry.name));
      total -= entry.bytes;
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

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}
