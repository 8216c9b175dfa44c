import type { Readable } from 'node:stream';
import type { EntryKind } from './paths.js';

export type { EntryKind };

/** One validated entry. Only what passed every check is ever yielded. */
export interface ArchiveEntry {
  /** Normalized: relative, `/`-separated, no `.`/`..`/empty segment, no trailing slash. */
  path: string;
  /** The name as the archive spells it (for messages). */
  raw: string;
  kind: EntryKind;
  /** Bytes of a file (0 for directories and symlinks). */
  size: number;
  /** Any execute bit in the archive's mode. */
  executable: boolean;
  /** A symlink's target, relative, known to resolve inside the root. */
  linkTarget?: string;
  /**
   * A file's bytes, metered: the stream fails with an ArchiveError past a cap.
   * Read it, or leave it, before asking for the next entry (the reader drains
   * what is left; archives are read front to back).
   */
  stream?: Readable;
}
