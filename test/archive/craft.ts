/**
 * Crafts archives byte by byte, hostile ones included: names no archiver
 * would write (`../x`, absolute, NUL), modes of devices and FIFOs, lying
 * sizes, central-directory records that share one local file's data.
 */
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';

export interface ZipItem {
  name: string | Buffer;
  data?: Buffer | string;
  /** Unix mode with its type bits (0o100644 file, 0o120777 symlink, 0o010644 FIFO...). */
  mode?: number;
  deflate?: boolean;
  /** Declared uncompressed size, when it should lie. */
  declaredSize?: number;
  /** Point this central record at item N's local header instead of writing data of its own. */
  sameDataAs?: number;
  encrypted?: boolean;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

export function craftZip(items: ZipItem[]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  const offsets: number[] = [];
  const metas: Array<{ crc: number; compressed: number; size: number; method: number }> = [];
  let offset = 0;
  items.forEach((item, i) => {
    const name = Buffer.isBuffer(item.name) ? item.name : Buffer.from(item.name, 'utf8');
    const data = Buffer.from(item.data ?? '');
    const method = item.deflate ? 8 : 0;
    const packed = item.deflate ? deflateRawSync(data) : data;
    // Traditional encryption puts a 12-byte header before the data (its content does not matter here).
    const body = item.encrypted ? Buffer.concat([Buffer.alloc(12, 0xaa), packed]) : packed;
    const flags = (item.encrypted ? 1 : 0) | 0x800;
    if (item.sameDataAs === undefined) {
      const meta = { crc: crc32(data), compressed: body.length, size: item.declaredSize ?? data.length, method };
      const local = Buffer.concat([u32(0x04034b50), u16(20), u16(flags), u16(method), u16(0), u16(0), u32(meta.crc), u32(meta.compressed), u32(meta.size), u16(name.length), u16(0), name, body]);
      offsets.push(offset);
      metas.push(meta);
      locals.push(local);
      offset += local.length;
    } else {
      offsets.push(offsets[item.sameDataAs]);
      metas.push(metas[item.sameDataAs]);
    }
    const meta = metas[i];
    const external = ((item.mode ?? 0) << 16) >>> 0;
    central.push(Buffer.concat([
      u32(0x02014b50), u16((3 << 8) | 20), u16(20), u16(flags), u16(meta.method), u16(0), u16(0), u32(meta.crc), u32(meta.compressed), u32(meta.size),
      u16(name.length), u16(0), u16(0), u16(0), u16(0), u32(external), u32(offsets[i]), name,
    ]));
  });
  const dir = Buffer.concat(central);
  const end = Buffer.concat([u32(0x06054b50), u16(0), u16(0), u16(items.length), u16(items.length), u32(dir.length), u32(offset), u16(0)]);
  return Buffer.concat([...locals, dir, end]);
}

export interface TarItem {
  name: string;
  type?: tar.Header['type'];
  data?: Buffer | string;
  linkname?: string;
  mode?: number;
}

export async function craftTar(items: TarItem[], gzip = false): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = new Promise<void>((resolve, reject) => {
    pack.on('data', (chunk) => chunks.push(chunk as Buffer));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const item of items) {
    const type = item.type ?? 'file';
    const data = type === 'file' ? Buffer.from(item.data ?? '') : undefined;
    await new Promise<void>((resolve, reject) => {
      const header = { name: item.name, type, mode: item.mode ?? (type === 'directory' ? 0o755 : 0o644), linkname: item.linkname };
      if (data) pack.entry(header, data, (error) => (error ? reject(error) : resolve()));
      else pack.entry(header, (error) => (error ? reject(error) : resolve())).end(Buffer.alloc(0));
    });
  }
  pack.finalize();
  await collected;
  const bytes = Buffer.concat(chunks);
  return gzip ? gzipSync(bytes) : bytes;
}
