/**
 * Zip through yauzl, as hostile input: the central directory is read whole
 * first (entry count, declared sizes, ratios and overlapping data are judged
 * before one byte is inflated), names are decoded and checked here rather than
 * by yauzl so every refusal names its entry.
 */
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { ArchiveError } from './errors.js';
import type { ArchiveEntry } from './entry.js';
import type { ArchiveLimits } from './limits.js';
import { ByteMeter } from './meter.js';
import { decodeName, EntryBook, type EntryKind, normalizeEntryPath } from './paths.js';
import { drain, metered, readSmall, type ArchiveSource } from './source.js';

const S_IFMT = 0o170000;
const MODE_KINDS: Record<number, EntryKind> = { 0o100000: 'file', 0o040000: 'directory', 0o120000: 'symlink' };
const UNIX = 3;
const LOCAL_HEADER_BYTES = 30;

const OPTIONS = { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, autoClose: false } as const;

function openZip(source: ArchiveSource): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, zip?: yauzl.ZipFile) => (error || !zip ? reject(corrupt(error)) : resolve(zip));
    if ('buffer' in source) yauzl.fromBuffer(source.buffer, OPTIONS, done);
    else yauzl.open(source.path, OPTIONS, done);
  });
}

function corrupt(error: unknown, raw?: string): ArchiveError {
  if (error instanceof ArchiveError) return error;
  return new ArchiveError('corrupt', `not a readable zip: ${(error as Error | null)?.message ?? 'unknown error'}`, raw);
}

/** Every central-directory record, refusing past the entry cap. */
function centralDirectory(zip: yauzl.ZipFile, limits: ArchiveLimits): Promise<yauzl.Entry[]> {
  if (zip.entryCount > limits.maxEntries) {
    return Promise.reject(new ArchiveError('too_many_entries', `${zip.entryCount} entries, more than ${limits.maxEntries}`));
  }
  return new Promise((resolve, reject) => {
    const entries: yauzl.Entry[] = [];
    zip.on('entry', (entry: yauzl.Entry) => {
      entries.push(entry);
      zip.readEntry();
    });
    zip.on('end', () => resolve(entries));
    zip.on('error', (error: Error) => reject(corrupt(error)));
    zip.readEntry();
  });
}

function rawName(entry: yauzl.Entry): string {
  return decodeName(entry.fileName as unknown as Buffer);
}

/** The overlapping-file bomb: many records pointing into the same compressed data. */
function refuseOverlaps(entries: yauzl.Entry[]): void {
  const sorted = [...entries].sort((a, b) => a.relativeOffsetOfLocalHeader - b.relativeOffsetOfLocalHeader);
  for (let i = 1; i < sorted.length; i++) {
    const before = sorted[i - 1];
    const end = before.relativeOffsetOfLocalHeader + LOCAL_HEADER_BYTES + before.fileNameLength + before.compressedSize;
    if (end > sorted[i].relativeOffsetOfLocalHeader) {
      throw new ArchiveError('overlapping_entries', `its data overlaps the data of ${rawName(before)}`, rawName(sorted[i]));
    }
  }
}

function refuseBomb(entries: yauzl.Entry[], archiveBytes: number, limits: ArchiveLimits, meter: ByteMeter): void {
  let declared = 0;
  for (const entry of entries) {
    const raw = rawName(entry);
    meter.admitDeclared(raw, entry.uncompressedSize);
    declared += entry.uncompressedSize;
    if (declared > limits.maxTotalBytes) throw new ArchiveError('total_too_large', `the files pass the ${limits.maxTotalBytes} bytes admitted in all`, raw);
    if (entry.uncompressedSize > limits.ratioFloorBytes && entry.uncompressedSize / Math.max(entry.compressedSize, 1) > limits.maxCompressionRatio) {
      throw new ArchiveError('compression_ratio', `${entry.uncompressedSize} bytes from ${entry.compressedSize}, more than ${limits.maxCompressionRatio}:1`, raw);
    }
  }
  if (declared > limits.ratioFloorBytes && declared / Math.max(archiveBytes, 1) > limits.maxCompressionRatio) {
    throw new ArchiveError('compression_ratio', `${declared} bytes from a ${archiveBytes}-byte archive, more than ${limits.maxCompressionRatio}:1`);
  }
}

function kindOf(entry: yauzl.Entry, raw: string): { kind: EntryKind; mode: number } {
  const mode = entry.versionMadeBy >> 8 === UNIX ? (entry.externalFileAttributes >>> 16) & 0xffff : 0;
  const byName: EntryKind = raw.endsWith('/') ? 'directory' : 'file';
  if ((mode & S_IFMT) === 0) return { kind: byName, mode };
  const kind = MODE_KINDS[mode & S_IFMT];
  if (!kind) throw new ArchiveError('forbidden_type', `mode ${(mode & S_IFMT).toString(8)} is not a file, directory or symlink`, raw);
  return { kind, mode };
}

function openEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, raw: string): Promise<Readable> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (error, stream) => (error || !stream ? reject(corrupt(error, raw)) : resolve(stream)));
  });
}

export async function* zipEntries(source: ArchiveSource, limits: ArchiveLimits, archiveBytes: number): AsyncGenerator<ArchiveEntry> {
  const zip = await openZip(source);
  try {
    const records = await centralDirectory(zip, limits);
    const meter = new ByteMeter(limits);
    refuseOverlaps(records);
    refuseBomb(records, archiveBytes, limits, meter);
    const book = new EntryBook();
    for (const record of records) {
      const entry = await describe(zip, record, limits, book, meter);
      if (!entry) continue;
      yield entry;
      if (entry.stream) await drain(entry.stream);
    }
  } finally {
    zip.close();
  }
}

async function describe(zip: yauzl.ZipFile, record: yauzl.Entry, limits: ArchiveLimits, book: EntryBook, meter: ByteMeter): Promise<ArchiveEntry | undefined> {
  const raw = rawName(record);
  if (record.isEncrypted()) throw new ArchiveError('unsupported', 'the entry is encrypted', raw);
  if (record.compressionMethod !== 0 && record.compressionMethod !== 8) {
    throw new ArchiveError('unsupported', `compression method ${record.compressionMethod} (only stored and deflate)`, raw);
  }
  const path = normalizeEntryPath(raw, limits.maxPathBytes);
  const { kind, mode } = kindOf(record, raw);
  if (path === '') {
    if (kind === 'directory') return undefined;
    throw new ArchiveError('bad_path', 'the name is empty', raw);
  }
  const executable = kind === 'file' && (mode & 0o111) !== 0;
  if (kind === 'directory') {
    book.add(path, kind, raw);
    return { path, raw, kind, size: 0, executable };
  }
  if (kind === 'symlink') {
    if (!limits.allowSymlinks) throw new ArchiveError('forbidden_type', 'symlinks are not admitted here', raw);
    if (record.uncompressedSize > 4096) throw new ArchiveError('symlink_escape', 'the target is longer than 4096 bytes', raw);
    const linkTarget = decodeName(await readSmall(metered(await openEntry(zip, record, raw), meter.entryStream(raw, record.uncompressedSize), raw)));
    book.add(path, kind, raw, linkTarget);
    return { path, raw, kind, size: 0, executable: false, linkTarget };
  }
  book.add(path, kind, raw);
  const stream = metered(await openEntry(zip, record, raw), meter.entryStream(raw, record.uncompressedSize), raw);
  return { path, raw, kind, size: record.uncompressedSize, executable, stream };
}
