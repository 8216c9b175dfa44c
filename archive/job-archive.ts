/**
 * A job's input archive (`archive: {format, content}`): read whole, with the
 * job's /box size as the cap on what it unpacks to, symlinks refused. The API
 * reads it on arrival (a bad archive is a 422 naming the entry) and the worker
 * reads it again before writing it into /box.
 */
import { ArchiveError } from './errors.js';
import { readArchiveToMemory, sniffFormat, type ArchiveFile, type ArchiveFormat } from './index.js';

export async function readJobArchive(archive: { format: ArchiveFormat; content: Buffer }, boxBytes: number): Promise<ArchiveFile[]> {
  const source = { buffer: archive.content };
  const { format } = await sniffFormat(source);
  if (format !== archive.format) throw new ArchiveError('unknown_format', `archive.format says ${archive.format}, but the content is a ${format}`);
  return readArchiveToMemory(source, { maxTotalBytes: boxBytes, maxEntryBytes: boxBytes, allowSymlinks: false });
}
