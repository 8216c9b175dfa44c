/**
 * A minimal POSIX tar (ustar, with a pax header for names longer than 100
 * bytes) writer for GET /v1/jobs/:id/artifacts.tar: regular files only,
 * owned by root, mode from the file, in the order given.
 */
const BLOCK = 512;

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(name: string, size: number, mode: number, type: '0' | 'x', mtime: number): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(name, 0, 100, 'utf8');
  block.write(octal(mode, 8), 100, 'ascii');
  block.write(octal(0, 8), 108, 'ascii');
  block.write(octal(0, 8), 116, 'ascii');
  block.write(octal(size, 12), 124, 'ascii');
  block.write(octal(mtime, 12), 136, 'ascii');
  block.write('        ', 148, 'ascii'); // the checksum counts its own field as spaces
  block.write(type, 156, 'ascii');
  block.write('ustar\0', 257, 'ascii');
  block.write('00', 263, 'ascii');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}

function padded(content: Buffer): Buffer[] {
  const rest = content.length % BLOCK;
  return rest === 0 ? [content] : [content, Buffer.alloc(BLOCK - rest)];
}

/** A pax record "<length> path=<name>\n", the length counting itself. */
function paxPath(name: string): Buffer {
  const body = ` path=${name}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length++;
  return Buffer.from(`${length}${body}`);
}

export interface TarEntry {
  path: string;
  content: Buffer;
  mode?: number;
}

export function tarOf(entries: TarEntry[], mtime = Math.floor(Date.now() / 1000)): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const mode = entry.mode ?? 0o644;
    if (Buffer.byteLength(entry.path) > 100) {
      const pax = paxPath(entry.path);
      parts.push(header('PaxHeader', pax.length, 0o644, 'x', mtime), ...padded(pax));
    }
    parts.push(header(Buffer.from(entry.path).subarray(0, 100).toString('utf8'), entry.content.length, mode, '0', mtime), ...padded(entry.content));
  }
  // Two zero blocks end the archive.
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}
