/**
 * One OCI/Docker layer (a tar, already decompressed) extracted as hostile
 * input into an empty directory, in the layer store's overlay form
 * (store.ts). Run as root on the host, so nothing in the tar is trusted:
 *
 * - names: relative, no `..` (archive/paths.ts normalizeEntryPath), and every
 *   parent directory opened with openat2 RESOLVE_BENEATH|NO_SYMLINKS|NO_XDEV
 *   (safe-fs.ts): a symlink in the layer is never followed, so "a link to /etc,
 *   then a file through it" is refused, not written to the host;
 * - hard links: the target resolved the same way, regular files only;
 * - device nodes and FIFOs are dropped (a layer cannot hand a job a device);
 * - setuid, setgid and every xattr (file capabilities, SELinux labels) are
 *   dropped: only mode & 01777 and the bytes are kept; everything is owned
 *   by root (an image's uids mean nothing on this host);
 * - whiteouts: `.wh.NAME` becomes a 0/0 character device NAME, `.wh..wh..opq`
 *   the xattr trusted.overlay.opaque=y on its directory (overlayfs' form);
 * - bounds: entries, bytes of the decompressed tar (the caller meters the
 *   decompression against the compressed size: a gzip bomb stops there).
 */
import { closeSync, constants, fchmodSync, futimesSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import koffi from 'koffi';
import * as tar from 'tar-stream';
import { ArchiveError } from '../archive/errors.js';
import { normalizeEntryPath } from '../archive/paths.js';
import { ensureDirectoryBeneath, openBeneath, UnsafePathError } from '../sandbox/safe-fs.js';

export interface LayerLimits {
  maxEntries: number;
  /** Bytes of the decompressed tar's files together. */
  maxBytes: number;
  maxPathBytes: number;
}

export interface LayerReport {
  entries: number;
  bytes: number;
  /** What was neutralised rather than refused: device nodes and FIFOs dropped, setuid/setgid bits cleared. */
  dropped: { devices: number; fifos: number; setid: number };
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const S_IFCHR = 0o020000;
const AT_EMPTY_PATH = 0x1000;
const AT_REMOVEDIR = 0x200;
const ENOENT = 2;
const EISDIR = 21;
const ENOTEMPTY = 39;

type Fn = (...args: unknown[]) => number;
const O_PATH = 0o10000000;
let fns: { symlinkat: Fn; mknodat: Fn; linkat: Fn; unlinkat: Fn; fsetxattr: Fn } | undefined;

function libc() {
  if (fns) return fns;
  const lib = koffi.load('libc.so.6');
  fns = {
    symlinkat: lib.func('int symlinkat(const char *target, int newdirfd, const char *linkpath)'),
    mknodat: lib.func('int mknodat(int dirfd, const char *pathname, uint32_t mode, uint64_t dev)'),
    linkat: lib.func('int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)'),
    unlinkat: lib.func('int unlinkat(int dirfd, const char *pathname, int flags)'),
    fsetxattr: lib.func('int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)'),
  };
  return fns;
}

function check(result: number, what: string, raw: string): void {
  if (result !== 0) throw new ArchiveError('corrupt', `${what}: errno ${koffi.errno()}`, raw);
}

/** Opens (creating as needed) the directory `parts` beneath `rootFd`, never through a symlink. */
function openParent(rootFd: number, parts: string[], raw: string): number {
  let fd = openBeneath(rootFd, '.', constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    for (const part of parts) {
      const next = ensureDirectoryBeneath(fd, part);
      closeSync(fd);
      fd = next;
    }
    return fd;
  } catch (error) {
    closeSync(fd);
    if (error instanceof UnsafePathError) throw new ArchiveError('path_conflict', `a parent directory is a symlink or not a directory (${error.code ?? error.message}): not followed`, raw);
    throw error;
  }
}

/** Removes what an earlier entry (or an earlier whiteout) left at `name`: a later entry of a tar replaces it. */
function clear(dirFd: number, name: string, raw: string, keepDirectory: boolean): void {
  if (libc().unlinkat(dirFd, name, 0) === 0) return;
  const errno = koffi.errno();
  if (errno === ENOENT) return;
  if (errno === EISDIR && keepDirectory) return;
  if (errno === EISDIR && libc().unlinkat(dirFd, name, AT_REMOVEDIR) === 0) return;
  throw new ArchiveError('path_conflict', `cannot replace an earlier entry (errno ${errno === EISDIR ? ENOTEMPTY : errno})`, raw);
}

async function writeFile(dirFd: number, name: string, header: tar.Header, stream: Readable, raw: string): Promise<number> {
  clear(dirFd, name, raw, false);
  const fd = openBeneath(dirFd, name, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, (header.mode ?? 0o644) & 0o1777);
  let bytes = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      for (let offset = 0; offset < chunk.length; ) offset += writeSync(fd, chunk, offset);
      bytes += chunk.length;
    }
    if (header.mtime) futimesSync(fd, header.mtime, header.mtime);
  } finally {
    closeSync(fd);
  }
  return bytes;
}

function hardLink(rootFd: number, dirFd: number, name: string, target: string, raw: string): void {
  const path = normalizeEntryPath(target, 4096);
  let source: number;
  try {
    source = openBeneath(rootFd, path, O_PATH | constants.O_NOFOLLOW);
  } catch (error) {
    throw new ArchiveError('symlink_escape', `a hard link to ${JSON.stringify(target)}, which is not a file of this layer (${(error as UnsafePathError).code})`, raw);
  }
  try {
    clear(dirFd, name, raw, false);
    // AT_EMPTY_PATH: links the inode openat2 found, with no second lookup of the name.
    if (libc().linkat(source, '', dirFd, name, AT_EMPTY_PATH) !== 0) throw new ArchiveError('symlink_escape', `cannot hard-link to ${JSON.stringify(target)} (errno ${koffi.errno()})`, raw);
  } finally {
    closeSync(source);
  }
}

/** One entry, beneath its already-opened parent directory. Returns the bytes written. */
async function extractEntry(rootFd: number, dirFd: number, name: string, header: tar.Header, stream: Readable, raw: string, report: LayerReport): Promise<number> {
  if (name === OPAQUE) {
    check(libc().fsetxattr(dirFd, 'trusted.overlay.opaque', Buffer.from('y'), 1, 0), 'opaque directory', raw);
    return 0;
  }
  if (name.startsWith(WHITEOUT)) {
    const hidden = name.slice(WHITEOUT.length);
    if (hidden === '' || hidden === '.' || hidden === '..') throw new ArchiveError('bad_path', 'a whiteout of nothing', raw);
    clear(dirFd, hidden, raw, false);
    check(libc().mknodat(dirFd, hidden, S_IFCHR, 0), 'whiteout', raw);
    return 0;
  }
  if (((header.mode ?? 0) & 0o6000) !== 0) report.dropped.setid++;
  switch (header.type) {
    case 'file':
    case 'contiguous-file':
      return writeFile(dirFd, name, header, stream, raw);
    case 'directory': {
      clear(dirFd, name, raw, true);
      const fd = ensureDirectoryBeneath(dirFd, name);
      // fchmod on a directory fd: never a link.
      fchmodSync(fd, (header.mode ?? 0o755) & 0o1777);
      closeSync(fd);
      return 0;
    }
    case 'symlink':
      clear(dirFd, name, raw, false);
      // The target is only stored: runcell never follows a layer's link, the job's kernel does, inside its own root.
      check(libc().symlinkat(header.linkname ?? '', dirFd, name), 'symlink', raw);
      return 0;
    case 'link':
      hardLink(rootFd, dirFd, name, header.linkname ?? '', raw);
      return 0;
    case 'character-device':
    case 'block-device':
      report.dropped.devices++;
      return 0;
    case 'fifo':
      report.dropped.fifos++;
      return 0;
    default:
      throw new ArchiveError('forbidden_type', `a ${header.type ?? 'typeless'} entry`, raw);
  }
}

/** Extracts the tar `input` (decompressed) into the directory `rootFd`; see the file's comment. */
export async function extractLayer(input: Readable, rootFd: number, limits: LayerLimits): Promise<LayerReport> {
  const report: LayerReport = { entries: 0, bytes: 0, dropped: { devices: 0, fifos: 0, setid: 0 } };
  const extract = tar.extract();
  input.on('error', (error) => extract.destroy(error));
  input.pipe(extract);
  let raw = '';
  try {
    for await (const item of extract) {
      raw = item.header.name;
      if (++report.entries > limits.maxEntries) throw new ArchiveError('too_many_entries', `more than ${limits.maxEntries} entries in a layer`, raw);
      const path = normalizeEntryPath(raw, limits.maxPathBytes);
      if (path === '') {
        item.resume();
        continue;
      }
      const declared = item.header.size ?? 0;
      if (report.bytes + declared > limits.maxBytes) throw new ArchiveError('total_too_large', `the layer's files exceed ${limits.maxBytes} bytes`, raw);
      const parts = path.split('/');
      const dirFd = openParent(rootFd, parts.slice(0, -1), raw);
      try {
        report.bytes += await extractEntry(rootFd, dirFd, parts[parts.length - 1], item.header, item as unknown as Readable, raw, report);
      } finally {
        closeSync(dirFd);
      }
      item.resume();
    }
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    throw new ArchiveError('corrupt', `layer: ${(error as Error).message}`, raw);
  } finally {
    input.destroy();
    extract.destroy();
  }
  return report;
}
