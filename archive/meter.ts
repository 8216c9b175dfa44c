/**
 * Counts the bytes actually decompressed, per entry and in all, and fails the
 * entry's stream the moment a cap is passed: headers declare sizes, but a
 * hostile archive's headers lie, so the caps hold on what comes out.
 */
import { Transform } from 'node:stream';
import { ArchiveError } from './errors.js';
import type { ArchiveLimits } from './limits.js';

export class ByteMeter {
  private total = 0;

  constructor(
    private readonly limits: ArchiveLimits,
    /** Compressed bytes read so far, for a stream-compressed archive (tar.gz); undefined for zip. */
    private readonly compressedSoFar?: () => number,
  ) {}

  get totalBytes(): number {
    return this.total;
  }

  /** Refuses an entry by the size its header declares, before a byte is read. */
  admitDeclared(raw: string, declared: number): void {
    if (declared > this.limits.maxEntryBytes) {
      throw new ArchiveError('entry_too_large', `${declared} bytes, more than the ${this.limits.maxEntryBytes} admitted for one file`, raw);
    }
    if (this.total + declared > this.limits.maxTotalBytes) {
      throw new ArchiveError('total_too_large', `the files pass the ${this.limits.maxTotalBytes} bytes admitted in all`, raw);
    }
  }

  /** A pass-through that counts one entry's bytes against its declared size and every cap. */
  entryStream(raw: string, declared: number): Transform {
    let seen = 0;
    return new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        seen += chunk.length;
        this.total += chunk.length;
        done(this.overrun(raw, seen, declared), chunk);
      },
      flush: (done) => done(seen === declared ? null : new ArchiveError('corrupt', `${seen} bytes where the header says ${declared}`, raw)),
    });
  }

  private overrun(raw: string, seen: number, declared: number): ArchiveError | null {
    const { limits } = this;
    if (seen > declared) return new ArchiveError('corrupt', `more bytes than the ${declared} the header declares`, raw);
    if (seen > limits.maxEntryBytes) return new ArchiveError('entry_too_large', `more than ${limits.maxEntryBytes} bytes`, raw);
    if (this.total > limits.maxTotalBytes) return new ArchiveError('total_too_large', `the files pass ${limits.maxTotalBytes} bytes in all`, raw);
    const compressed = this.compressedSoFar?.();
    if (compressed !== undefined && this.total > limits.ratioFloorBytes && this.total / Math.max(compressed, 1) > limits.maxCompressionRatio) {
      return new ArchiveError('compression_ratio', `${this.total} bytes out of ${compressed} compressed, more than ${limits.maxCompressionRatio}:1`, raw);
    }
    return null;
  }
}
