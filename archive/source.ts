/** Where an archive's bytes come from, which format they are, and stream helpers shared by the readers. */
import { open } from 'node:fs/promises';
import type { Readable, Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
import { ArchiveError } from './errors.js';

/** A file on disk (an upload spooled to a temporary file: up to 1 GiB), or bytes in memory. */
export type ArchiveSource = { path: string } | { buffer: Buffer };

export type ArchiveFormat = 'zip' | 'tar' | 'tar.gz';

const SNIFF_BYTES = 512;

async function head(source: ArchiveSource): Promise<{ bytes: Buffer; size: number }> {
  if ('buffer' in source) return { bytes: source.buffer.subarray(0, SNIFF_BYTES), size: source.buffer.length };
  const handle = await open(source.path, 'r');
  try {
    const { size } = await handle.stat();
    const bytes = Buffer.alloc(Math.min(SNIFF_BYTES, size));
    await handle.read(bytes, 0, bytes.length, 0);
    return { bytes, size };
  } finally {
    await handle.close();
  }
}

/** By magic bytes, never by a name the client chose. */
export async function sniffFormat(source: ArchiveSource): Promise<{ format: ArchiveFormat; size: number }> {
  const { bytes, size } = await head(source);
  const at = (offset: number, magic: string) => bytes.subarray(offset, offset + magic.length).toString('latin1') === magic;
  if (at(0, 'PK\x03\x04') || at(0, 'PK\x05\x06')) return { format: 'zip', size };
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return { format: 'tar.gz', size };
  if (at(257, 'ustar')) return { format: 'tar', size };
  throw new ArchiveError('unknown_format', 'not a zip, a tar (ustar, GNU or pax) nor a gzip-compressed tar');
}

/** The source's bytes piped through the meter; the source's own errors (bad inflate, truncation) fail the metered stream too. */
export function metered(source: Readable, meter: Transform, raw: string): Transform {
  source.on('error', (error) => {
    meter.destroy(error instanceof ArchiveError ? error : new ArchiveError('corrupt', `unreadable: ${error.message}`, raw));
  });
  return source.pipe(meter);
}

/** Reads what the consumer left of an entry, so the next one can come; the entry's errors are the archive's errors. */
export async function drain(stream: Readable): Promise<void> {
  if (stream.readableEnded) return;
  if (stream.destroyed) {
    const error = stream.errored;
    if (error) throw error;
    return;
  }
  stream.resume();
  await finished(stream);
}

export async function readSmall(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
