/**
 * Why an uploaded archive (a problem package, a job's files) was refused: the
 * code, and the entry it is about when there is one. The API answers 422 with
 * these in the error's details (path `archive/<entry>`), so a client can name the
 * offending file.
 */
import { z } from 'zod';

export const ARCHIVE_ERROR_CODES = [
  /** Neither zip, tar nor gzip-compressed tar (by magic bytes). */
  'unknown_format',
  /** The container is damaged: truncated, bad headers, sizes that do not match. */
  'corrupt',
  /** A feature the reader refuses: encryption, an unknown compression method, multi-disk zips. */
  'unsupported',
  /** An absolute path, `..`, NUL or control characters, a backslash, invalid UTF-8, too long. */
  'bad_path',
  /** The same normalized path twice. */
  'duplicate_entry',
  /** An entry below a file or a symlink, or a file where a directory was implied. */
  'path_conflict',
  /** A device, FIFO, hard link, or a symlink where the caller allows none. */
  'forbidden_type',
  /** A symlink whose target is absolute or resolves outside the archive's root. */
  'symlink_escape',
  'too_many_entries',
  'entry_too_large',
  'total_too_large',
  /** Uncompressed size out of proportion to the compressed size: a zip bomb. */
  'compression_ratio',
  /** Zip entries whose data overlap (the overlapping-file zip bomb). */
  'overlapping_entries',
] as const;
export const archiveErrorCodeSchema = z.enum(ARCHIVE_ERROR_CODES);
export type ArchiveErrorCode = z.infer<typeof archiveErrorCodeSchema>;
