/**
 * Reading an uploaded problem package into the store: the body spooled to a
 * temporary file (up to the cap, never in memory), read with the safe archive
 * reader, every relevant file streamed into Redis by hash, the package's
 * layout read into a manifest. On any refusal the blobs this upload claimed
 * are released, so a refused package leaves nothing behind.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parse as parseYaml } from 'yaml';
import { archiveErrorDetail, isArchiveError, readArchive } from '../archive/index.js';
import type { LimitRanges } from '../contract/limits.js';
import { readProblemPackage, type PackageFile } from '../contract/problem-package.js';
import type { ProblemManifest } from '../contract/problem.js';
import { revisionOwner, type ProblemStore, blobsOf } from '../queue/problems.js';
import { ApiError } from './errors.js';

/** Files of the package runcell reads; the rest (statements, submissions, attachments) is skipped unread. */
const RELEVANT = /^(problem\.yaml|\.timelimit|data\/(sample|secret)\/.+\.(in|ans)|output_validators\/.+|input_validators\/.+)$/;
const SMALL_FILES = new Set(['problem.yaml', '.timelimit']);
const SMALL_FILE_BYTES = 1024 * 1024;
/** Deflate cannot pass about 1032:1; beyond that only a trick (overlapping data, nesting) gets. */
const PACKAGE_MAX_RATIO = 1100;

export interface UploadOptions {
  store: ProblemStore;
  limits: LimitRanges;
  /** Bytes of the archive, and of the package's files unpacked. */
  maxBytes: number;
}

/** The body into a temporary file, refused with 413 past the cap. */
export async function spool(body: Readable, maxBytes: number, declaredLength: number | undefined): Promise<{ path: string; dispose: () => Promise<void> }> {
  if (declaredLength !== undefined && declaredLength > maxBytes) throw tooLarge(maxBytes);
  const dir = await mkdtemp(join(tmpdir(), 'runcell-problem-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  const path = join(dir, 'package');
  let seen = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      done(seen > maxBytes ? tooLarge(maxBytes) : null, chunk);
    },
  });
  try {
    await pipeline(body, meter, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
    return { path, dispose };
  } catch (error) {
    await dispose();
    // The client cut the upload short or sent what is not HTTP: its error, not ours (no 500, no error log).
    if (!(error instanceof ApiError)) throw new ApiError(400, 'aborted', `the upload could not be read: ${(error as Error).message}`);
    throw error;
  }
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, 'payload_too_large', `the package is larger than ${maxBytes} bytes`, [{ path: '(body)', message: `at most ${maxBytes} bytes` }]);
}

function packageError(details: { path: string; message: string }[]): ApiError {
  return new ApiError(422, 'invalid_request', details.map((d) => `${d.path}: ${d.message}`).join('; '), details);
}

/** Both readings of a path: at the archive's root, and below one top folder (`shortname/problem.yaml`). */
function candidates(path: string): string[] {
  const slash = path.indexOf('/');
  return slash === -1 ? [path] : [path, path.slice(slash + 1)];
}

interface Unpacked {
  files: Map<string, PackageFile>;
  small: Map<string, string>;
  claimed: Set<string>;
}

/** Fills `unpacked` as it goes, so that a refusal half-way still knows every blob claimed. */
async function unpack(archivePath: string, owner: string, options: UploadOptions, unpacked: Unpacked): Promise<void> {
  // Test data is often repetitive (a max test of one number repeated compresses past 500:1): the ratio cap is
  // deflate's own bound here, and what bounds a bomb is the total cap (all of it released on refusal).
  const limits = { maxEntryBytes: options.maxBytes, maxTotalBytes: options.maxBytes, maxEntries: 100_000, maxCompressionRatio: PACKAGE_MAX_RATIO };
  for await (const entry of readArchive({ path: archivePath }, limits)) {
    if (entry.kind !== 'file' || !candidates(entry.path).some((path) => RELEVANT.test(path))) continue;
    if (candidates(entry.path).some((path) => SMALL_FILES.has(path))) {
      if (entry.size > SMALL_FILE_BYTES) throw packageError([{ path: `archive/${entry.raw}`, message: `more than ${SMALL_FILE_BYTES} bytes` }]);
      const chunks: Buffer[] = [];
      for await (const chunk of entry.stream!) chunks.push(chunk as Buffer);
      unpacked.small.set(entry.path, Buffer.concat(chunks).toString('utf8'));
      continue;
    }
    const stored = await options.store.putBlob(owner, entry.stream!);
    unpacked.claimed.add(stored.sha256);
    unpacked.files.set(entry.path, { path: entry.path, ...stored, executable: entry.executable });
  }
}

/** The package's root: where problem.yaml is, at the top or in the one top folder. */
function rootOf(unpacked: Unpacked): string {
  if (unpacked.small.has('problem.yaml')) return '';
  const roots = [...unpacked.small.keys()].filter((path) => /^[^/]+\/problem\.yaml$/.test(path));
  if (roots.length !== 1) throw packageError([{ path: 'archive/problem.yaml', message: roots.length === 0 ? 'no problem.yaml at the root or in a top folder' : 'problem.yaml in several top folders' }]);
  return roots[0].slice(0, roots[0].indexOf('/') + 1);
}

function under<T>(map: Map<string, T>, root: string): Map<string, T> {
  return new Map([...map].filter(([path]) => path.startsWith(root)).map(([path, value]) => [path.slice(root.length), value]));
}

function parseProblemYaml(text: string): unknown {
  try {
    return parseYaml(text, { maxAliasCount: 100 }) ?? {};
  } catch (error) {
    throw packageError([{ path: 'problem.yaml', message: `not valid YAML: ${(error as Error).message}` }]);
  }
}

/**
 * Reads the package at `archivePath` into revision `revision` of problem `id`:
 * its blobs stored and owned by that revision, its manifest answered (not yet
 * saved). Throws a 422 naming the entry or the package path at fault.
 */
export async function readPackage(archivePath: string, id: string, revision: number, options: UploadOptions): Promise<ProblemManifest> {
  const owner = revisionOwner(id, revision);
  const unpacked: Unpacked = { files: new Map(), small: new Map(), claimed: new Set() };
  try {
    await unpack(archivePath, owner, options, unpacked).catch((error: unknown) => {
      if (isArchiveError(error)) throw packageError([archiveErrorDetail(error)]);
      throw error;
    });
    const root = rootOf(unpacked);
    const small = under(unpacked.small, root);
    const files = [...under(unpacked.files, root).entries()].map(([path, file]) => ({ ...file, path }));
    const reading = readProblemPackage(files, parseProblemYaml(small.get('problem.yaml')!), small.get('.timelimit'), options.limits, root.replace(/\/$/, '') || id);
    if (!reading.manifest) throw packageError(reading.issues.map((issue) => ({ path: `package/${issue.path}`, message: issue.message })));
    const manifest: ProblemManifest = {
      ...reading.manifest,
      id,
      revision,
      status: reading.manifest.input_validators.length > 0 ? 'validating' : 'ready',
      created_at: new Date().toISOString(),
    };
    const used = new Set(blobsOf(manifest));
    await options.store.releaseBlobs(owner, [...unpacked.claimed].filter((sha) => !used.has(sha)));
    return manifest;
  } catch (error) {
    // Blobs claimed before the refusal (the reader may stop anywhere) go back.
    await options.store.releaseBlobs(owner, unpacked.claimed);
    throw error;
  }
}
