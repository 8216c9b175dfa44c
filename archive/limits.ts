/**
 * What the archive reader admits. Every cap holds on the bytes actually
 * decompressed, not only on the sizes the headers declare (headers lie).
 */
export interface ArchiveLimits {
  /** Entries of every kind, directories included. */
  maxEntries: number;
  /** Uncompressed bytes of one file. */
  maxEntryBytes: number;
  /** Uncompressed bytes of all files together. */
  maxTotalBytes: number;
  /**
   * Uncompressed / compressed, for one zip entry and for the whole archive
   * (zip or gzip). Judged only past `ratioFloorBytes` uncompressed, so a small
   * file of zeros is not a bomb.
   */
  maxCompressionRatio: number;
  ratioFloorBytes: number;
  /** Symlinks are admitted only when true, and only when they resolve inside the archive. */
  allowSymlinks: boolean;
  /** Bytes of a normalized path. */
  maxPathBytes: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxEntries: 10_000,
  maxEntryBytes: 1024 * MiB,
  maxTotalBytes: 1024 * MiB,
  maxCompressionRatio: 200,
  ratioFloorBytes: 16 * MiB,
  allowSymlinks: false,
  maxPathBytes: 1024,
};

export function archiveLimits(overrides: Partial<ArchiveLimits> = {}): ArchiveLimits {
  return { ...DEFAULT_ARCHIVE_LIMITS, ...overrides };
}
