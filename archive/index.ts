/**
 * The safe archive reader: zip, tar and tar.gz as hostile input. It yields
 * only validated entries (normalized relative paths; files and directories,
 * symlinks only when allowed and only inside), streams file data through
 * meters that hold every cap on the bytes actually produced, and fails with an
 * ArchiveError {code, entry} that the API turns into a 422 naming the entry.
 *
 * It writes nothing: callers write entries where they belong (a job's box via
 * safe-fs, a problem's store by hash).
 */
import { ArchiveError } from './errors.js';
import type { ArchiveEntry } from './entry.js';
import { archiveLimits, type ArchiveLimits } from './limits.js';
import { readSmall, sniffFormat, type ArchiveSource } from './source.js';
import { tarEntries } from './tar.js';
import { zipEntries } from './zip.js';

export { ArchiveError, isArchiveError } from './errors.js';
export type { ArchiveEntry, EntryKind } from './entry.js';
export { archiveLimits, DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits } from './limits.js';
export { normalizeEntryPath } from './paths.js';
export { sniffFormat, type ArchiveFormat, type ArchiveSource } from './source.js';

/**
 * Every entry of the archive, in archive order. A file's `stream` must be read
 * (or left alone) before the next entry is asked for; breaking out of the loop
 * closes the archive.
 */
export async function* readArchive(source: ArchiveSource, overrides: Partial<ArchiveLimits> = {}): AsyncGenerator<ArchiveEntry> {
  const limits = archiveLimits(overrides);
  const { format, size } = await sniffFormat(source);
  if (format === 'zip') yield* zipEntries(source, limits, size);
  else yield* tarEntries(source, limits, format === 'tar.gz');
}

/** A whole archive's files in memory: for small archives (a job's files, tests). */
export interface ArchiveFile {
  path: string;
  kind: ArchiveEntry['kind'];
  executable: boolean;
  data?: Buffer;
  linkTarget?: string;
}

export async function readArchiveToMemory(source: ArchiveSource, overrides: Partial<ArchiveLimits> = {}): Promise<ArchiveFile[]> {
  const files: ArchiveFile[] = [];
  for await (const entry of readArchive(source, overrides)) {
    const data = entry.stream ? await readSmall(entry.stream) : undefined;
    files.push({ path: entry.path, kind: entry.kind, executable: entry.executable, data, linkTarget: entry.linkTarget });
  }
  return files;
}

/** The error body detail for a refused archive: path `archive/<entry>` (or `archive`), the code and why. */
export function archiveErrorDetail(error: ArchiveError, field = 'archive'): { path: string; message: string } {
  return { path: error.entry === undefined ? field : `${field}/${error.entry}`, message: `${error.code}: ${error.message}` };
}
