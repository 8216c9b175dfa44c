/**
 * Tar and tar.gz through tar-stream, read front to back: each header is
 * judged (type, name, declared size) before its data, and the data is metered
 * as it comes out (for tar.gz the meter also sees the compressed bytes read so
 * far, so a gzip bomb stops at the ratio cap, not at the disk's end).
 */
import { createReadStream } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { ArchiveError } from './errors.js';
import type { ArchiveEntry } from './entry.js';
import type { ArchiveLimits } from './limits.js';
import { ByteMeter } from './meter.js';
import { EntryBook, type EntryKind, normalizeEntryPath } from './paths.js';
import { drain, metered, type ArchiveSource } from './source.js';

const TAR_KINDS: Partial<Record<string, EntryKind>> = { file: 'file', 'contiguous-file': 'file', directory: 'directory', symlink: 'symlink' };

function asArchiveError(error: unknown, raw?: string): ArchiveError {
  if (error instanceof ArchiveError) return error;
  return new ArchiveError('corrupt', `not a readable tar: ${(error as Error)?.message ?? String(error)}`, raw);
}

/** input -> (counted) -> gunzip? -> extract, every stage's error ending the extraction. */
function plumb(source: ArchiveSource, gzipped: boolean): { extract: tar.Extract; input: Readable; compressed: () => number } {
  const input = 'buffer' in source ? Readable.from([source.buffer]) : createReadStream(source.path);
  const extract = tar.extract();
  let compressedBytes = 0;
  const counter = new PassThrough();
  counter.on('data', (chunk: Buffer) => (compressedBytes += chunk.length));
  const fail = (error: Error) => extract.destroy(asArchiveError(error));
  input.on('error', fail).pipe(counter);
  if (gzipped) counter.pipe(createGunzip().on('error', (e) => fail(new ArchiveError('corrupt', `not valid gzip: ${e.message}`)))).pipe(extract);
  else counter.pipe(extract);
  return { extract, input, compressed: () => compressedBytes };
}

function kindOf(header: tar.Header, raw: string, limits: ArchiveLimits): EntryKind {
  const kind = header.type ? TAR_KINDS[header.type] : undefined;
  if (!kind) throw new ArchiveError('forbidden_type', `a ${header.type ?? 'typeless'} entry is not a file, directory or symlink`, raw);
  if (kind === 'symlink' && !limits.allowSymlinks) throw new ArchiveError('forbidden_type', 'symlinks are not admitted here', raw);
  return kind;
}

export async function* tarEntries(source: ArchiveSource, limits: ArchiveLimits, gzipped: boolean): AsyncGenerator<ArchiveEntry> {
  const { extract, input, compressed } = plumb(source, gzipped);
  const meter = new ByteMeter(limits, gzipped ? compressed : undefined);
  const book = new EntryBook();
  let count = 0;
  let raw: string | undefined;
  try {
    for await (const item of extract) {
      const header = item.header;
      raw = header.name;
      if (++count > limits.maxEntries) throw new ArchiveError('too_many_entries', `more than ${limits.maxEntries} entries`, raw);
      const path = normalizeEntryPath(raw, limits.maxPathBytes);
      const kind = kindOf(header, raw, limits);
      if (path === '') {
        if (kind !== 'directory') throw new ArchiveError('bad_path', 'the name is empty', raw);
        item.resume();
        continue;
      }
      const executable = kind === 'file' && ((header.mode ?? 0) & 0o111) !== 0;
      if (kind !== 'file') {
        book.add(path, kind, raw, header.linkname ?? undefined);
        item.resume();
        yield { path, raw, kind, size: 0, executable, ...(kind === 'symlink' ? { linkTarget: header.linkname ?? '' } : {}) };
        continue;
      }
      const size = header.size ?? 0;
      book.add(path, kind, raw);
      meter.admitDeclared(raw, size);
      const stream = metered(Readable.from(item), meter.entryStream(raw, size), raw);
      yield { path, raw, kind, size, executable, stream };
      await drain(stream);
    }
  } catch (error) {
    throw asArchiveError(error, raw);
  } finally {
    input.destroy();
    extract.destroy();
  }
}
