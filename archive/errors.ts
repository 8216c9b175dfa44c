/** The one error the archive reader throws: a code of contract/archive.ts and the entry it is about. */
import type { ArchiveErrorCode } from '../contract/archive.js';

export class ArchiveError extends Error {
  constructor(
    readonly code: ArchiveErrorCode,
    message: string,
    /** The entry's name as the archive spells it (not normalized), when the refusal is about one entry. */
    readonly entry?: string,
  ) {
    super(entry === undefined ? message : `${entry}: ${message}`);
    this.name = 'ArchiveError';
  }
}

export function isArchiveError(error: unknown): error is ArchiveError {
  return error instanceof ArchiveError;
}
