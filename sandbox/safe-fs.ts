/**
 * Host-side file safety: the only way the worker touches a path inside a
 * job's workspace. A job can leave anything in /box (symlinks to host files,
 * hard links, FIFOs, device nodes, sockets, deep trees, huge files), and the
 * worker runs as root: Judge0's CVE-2024-28185 and -28189 came from a worker
 * writing through a link the job had planted.
 *
 * Every path is resolved by the kernel with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) from a
 * directory fd: no component may be a symlink, ".." cannot climb out, and
 * the walk cannot cross into another mount. What is opened is then checked
 * with fstat on the fd (never a second lookup by name), only regular files
 * and directories are accepted, FIFOs are opened non-blocking so they cannot
 * hang the worker, and every read is capped.
 *
 * API for readers of a finished workspace (the compile cache among them):
 *   readTreeBeneath(root, { maxBytes, maxFiles }) -> { files, directories, rejected }
 */
import { closeSync, fchownSync, fstatSync, readSync, writeSync, type Stats } from 'node:fs';
import { constants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import koffi from 'koffi';
import { loadLibc } from './libc.js';

const SYS_OPENAT2 = 437;
const AT_FDCWD = -100;
const RESOLVE_NO_XDEV = 0x01;
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_NO_SYMLINKS = 0x04;
const RESOLVE_BENEATH = 0x08;
/** How every path inside a workspace is resolved. */
export const RESOLVE_SAFELY = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
const O_CLOEXEC = 0o2000000;
const OPEN_HOW_BYTES = 24;
const F_DUPFD_CLOEXEC = 1030;
const EEXIST = 17;

/** Refused by the kernel or by a check here; `code` is the errno name when the kernel refused. */
export class UnsafePathError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'UnsafePathError';
  }
}

/** A cap of readTreeBeneath was reached. */
export class TreeLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TreeLimitError';
  }
}

function errnoName(errno: number): string {
  return Object.entries(osConstants.errno).find(([, value]) => value === errno)?.[0] ?? `errno ${errno}`;
}

function cString(text: string | Buffer): Buffer {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  if (bytes.includes(0)) throw new UnsafePathError('a path contains a NUL byte');
  return Buffer.concat([bytes, Buffer.from([0])]);
}

/**
 * openat2 relative to `dirFd`, resolved with RESOLVE_SAFELY. `path` must be
 * relative ("" is not allowed; use "."). Throws UnsafePathError with the
 * errno name (ELOOP for a symlink, EXDEV for an escape or another mount).
 */
export function openBeneath(dirFd: number, path: string | Buffer, flags: number, mode = 0): number {
  return openat2(dirFd, path, flags, mode, RESOLVE_SAFELY);
}

function openat2(dirFd: number, path: string | Buffer, flags: number, mode: number, resolve: number): number {
  const how = Buffer.alloc(OPEN_HOW_BYTES);
  how.writeBigUInt64LE(BigInt(flags | O_CLOEXEC), 0);
  how.writeBigUInt64LE(BigInt(mode), 8);
  how.writeBigUInt64LE(BigInt(resolve), 16);
  const fd = Number(loadLibc().syscall(SYS_OPENAT2, 'int', dirFd, 'uint8_t *', cString(path), 'uint8_t *', how, 'size_t', OPEN_HOW_BYTES));
  if (fd < 0) {
    const code = errnoName(koffi.errno());
    throw new UnsafePathError(`cannot open ${JSON.stringify(path.toString())} safely: ${code}`, code);
  }
  return fd;
}

/**
 * Opens a workspace root the worker itself made (e.g. <dataDir>/work/<id>/box)
 * as a directory fd, refusing a symlink in any component of the absolute path.
 */
export function openRoot(absolutePath: string): number {
  if (!absolutePath.startsWith('/')) throw new UnsafePathError(`workspace root ${absolutePath} is not absolute`);
  try {
    return openat2(AT_FDCWD, absolutePath, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW, 0, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  } catch (error) {
    if ((error as UnsafePathError).code !== 'ELOOP') throw error;
    // Fail closed, and say how to fix it: the data directory is the administrator's to name.
    throw new UnsafePathError(`${absolutePath} has a symlink in its path: set RUNCELL_DATA_DIR to the real path (realpath)`, 'ELOOP');
  }
}

/** Runs `work` with a directory fd of `root`, closed after. */
export function withRoot<T>(root: string, work: (rootFd: number) => T): T {
  const fd = openRoot(root);
  try {
    return work(fd);
  } finally {
    closeSync(fd);
  }
}

/** A directory beneath `dirFd`, created when missing; never through a link. Returns its fd. */
export function ensureDirectoryBeneath(dirFd: number, name: string, mode = 0o755): number {
  if (name.includes('/') || name === '' || name === '.' || name === '..') throw new UnsafePathError(`bad directory name ${JSON.stringify(name)}`);
  // mkdirat never follows a symlink at its last component: it fails with EEXIST.
  if (loadLibc().mkdirat(dirFd, cString(name), mode) !== 0) {
    const errno = koffi.errno();
    if (errno !== EEXIST) throw new UnsafePathError(`cannot create directory ${name}: ${errnoName(errno)}`, errnoName(errno));
  }
  // O_DIRECTORY with RESOLVE_NO_SYMLINKS: a symlink, FIFO or file planted under that name is refused.
  return openBeneath(dirFd, name, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
}

/** Creates a new file beneath `dirFd` (never an existing one, never through a link) and writes `content`. */
export function createFileBeneath(dirFd: number, name: string, content: Buffer, options: { mode: number; uid?: number; gid?: number }): void {
  const fd = openBeneath(dirFd, name, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, options.mode);
  try {
    for (let offset = 0; offset < content.length; ) offset += writeSync(fd, content, offset);
    if (options.uid !== undefined && options.gid !== undefined) fchownSync(fd, options.uid, options.gid);
  } finally {
    closeSync(fd);
  }
}

/** What a tree entry is, from fstat on its own fd. */
function kindOf(stat: Stats): string {
  if (stat.isFile()) return 'file';
  if (stat.isDirectory()) return 'directory';
  if (stat.isSymbolicLink()) return 'symlink';
  if (stat.isFIFO()) return 'fifo';
  if (stat.isSocket()) return 'socket';
  if (stat.isCharacterDevice()) return 'character device';
  if (stat.isBlockDevice()) return 'block device';
  return 'unknown';
}

/**
 * Opens an entry for reading without side effects: O_NONBLOCK so a FIFO
 * opens (and is then refused) instead of waiting for a writer, O_NOCTTY,
 * O_NOFOLLOW and RESOLVE_SAFELY against links.
 */
function openForInspection(dirFd: number, path: string | Buffer): number {
  return openBeneath(dirFd, path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | constants.O_NOFOLLOW);
}

function readCapped(fd: number, stat: Stats, maxBytes: number, what: string): Buffer {
  if (stat.size > maxBytes) throw new TreeLimitError(`${what} is ${stat.size} bytes, over the cap of ${maxBytes}`);
  // One byte more than the cap, in case the file grew since fstat.
  const buffer = Buffer.alloc(Math.min(stat.size, maxBytes) + 1);
  let length = 0;
  for (;;) {
    const got = readSync(fd, buffer, length, buffer.length - length, null);
    if (got === 0) break;
    length += got;
    if (length > maxBytes) throw new TreeLimitError(`${what} is over the cap of ${maxBytes} bytes`);
    if (length === buffer.length) break;
  }
  return buffer.subarray(0, length);
}

function regularFileProblem(stat: Stats): string | undefined {
  if (!stat.isFile()) return `is a ${kindOf(stat)}, not a regular file`;
  // A second name for the same inode could be a file the job should not have been able to name.
  if (stat.nlink !== 1) return `has ${stat.nlink} hard links`;
  return undefined;
}

export interface TreeOptions {
  /** Total bytes of all files together; default 64 MiB. */
  maxBytes?: number;
  /** Files and directories together; default 10,000. */
  maxFiles?: number;
  /** Deepest directory nesting; default 32. */
  maxDepth?: number;
}

export interface TreeFile {
  /** Relative to the root, "/"-separated, e.g. "main" or "out/lib.o". */
  path: string;
  /** Permission bits (0o777 at most: setuid, setgid and sticky bits are dropped). */
  mode: number;
  content: Buffer;
}

export interface RejectedEntry {
  path: string;
  /** symlink, fifo, socket, character device, block device, hard link, name (not UTF-8). */
  kind: string;
  reason: string;
}

export interface Tree {
  files: TreeFile[];
  /** Every directory below the root, parents before children. */
  directories: string[];
  /** What was not read: anything but a regular file with one link or a directory. */
  rejected: RejectedEntry[];
}

export const TREE_DEFAULTS: Required<TreeOptions> = { maxBytes: 64 * 1024 * 1024, maxFiles: 10_000, maxDepth: 32 };

/**
 * Reads every regular file beneath `root` (a workspace a job has written
 * to) without following any link. Symlinks, FIFOs, sockets, device nodes,
 * hard-linked files and names that are not UTF-8 are never opened for
 * reading: they are listed in `rejected` (a caller that wants an exact copy
 * treats a non-empty `rejected` as failure). Throws TreeLimitError when the
 * tree is larger than the caps: a job controls it.
 */
export function readTreeBeneath(root: string, options: TreeOptions = {}): Tree {
  const caps = { ...TREE_DEFAULTS, ...options };
  const tree: Tree = { files: [], directories: [], rejected: [] };
  let bytes = 0;
  let entries = 0;

  const visit = (dirFd: number, prefix: string, depth: number) => {
    for (const rawName of listDirectory(dirFd, caps.maxFiles - entries + 1)) {
      const name = rawName.toString('utf8');
      const path = prefix === '' ? name : `${prefix}/${name}`;
      if (++entries > caps.maxFiles) throw new TreeLimitError(`more than ${caps.maxFiles} entries beneath ${root}`);
      if (!Buffer.from(name, 'utf8').equals(rawName)) {
        tree.rejected.push({ path, kind: 'name', reason: 'the name is not UTF-8' });
        continue;
      }
      let fd: number;
      try {
        fd = openForInspection(dirFd, rawName);
      } catch (error) {
        // ELOOP: a symlink (RESOLVE_NO_SYMLINKS); EXDEV: a mount point; EACCES/ENXIO: a device or socket refused by open.
        const code = (error as UnsafePathError).code;
        tree.rejected.push({ path, kind: code === 'ELOOP' ? 'symlink' : 'unopenable', reason: (error as Error).message });
        continue;
      }
      try {
        const stat = fstatSync(fd);
        if (stat.isDirectory()) {
          if (depth + 1 > caps.maxDepth) throw new TreeLimitError(`${path} is nested deeper than ${caps.maxDepth}`);
          tree.directories.push(path);
          visit(fd, path, depth + 1);
          continue;
        }
        const problem = regularFileProblem(stat);
        if (problem) {
          tree.rejected.push({ path, kind: stat.isFile() ? 'hard link' : kindOf(stat), reason: problem });
          continue;
        }
        const content = readCapped(fd, stat, caps.maxBytes - bytes, `${path} (with the files before it)`);
        bytes += content.length;
        tree.files.push({ path, mode: stat.mode & 0o777, content });
      } finally {
        closeSync(fd);
      }
    }
  };

  withRoot(root, (rootFd) => visit(rootFd, '', 0));
  return tree;
}

/** The names in a directory fd (not "." or ".."), as raw bytes, at most `limit` of them. The fd stays open. */
function listDirectory(dirFd: number, limit: number): Buffer[] {
  const c = loadLibc();
  // fdopendir takes over the fd it is given: give it a copy.
  const copy = loadLibc().fcntl(dirFd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) throw new UnsafePathError(`cannot duplicate a directory fd: ${errnoName(koffi.errno())}`);
  const dir = c.fdopendir(copy);
  if (!dir) {
    closeSync(copy);
    throw new UnsafePathError(`cannot list a directory: ${errnoName(koffi.errno())}`);
  }
  const names: Buffer[] = [];
  try {
    for (;;) {
      koffi.errno(0);
      const entry = c.readdir64(dir);
      if (!entry) {
        const errno = koffi.errno();
        if (errno !== 0) throw new UnsafePathError(`cannot list a directory: ${errnoName(errno)}`);
        break;
      }
      const record = koffi.decode(entry, c.dirent) as { d_name: Uint8Array };
      const end = record.d_name.indexOf(0);
      const name = Buffer.from(record.d_name.subarray(0, end < 0 ? record.d_name.length : end));
      if (name.equals(Buffer.from('.')) || name.equals(Buffer.from('..'))) continue;
      names.push(name);
      // Enough to tell the caller its cap is reached, without holding a job's million names.
      if (names.length >= limit) break;
    }
  } finally {
    c.closedir(dir);
  }
  return names.sort(Buffer.compare);
}

export interface SelectOptions {
  /** Whether the regular file at this path is wanted. */
  wants: (path: string) => boolean;
  /** Whether the directory at this path may hold wanted files (the others are not looked into). */
  descend: (path: string) => boolean;
  /** Most files kept; the wanted ones past it are rejected with kind "cap". */
  maxFiles: number;
  /** Most bytes of the kept files together; a wanted file that would pass it is rejected with kind "cap". */
  maxBytes: number;
  /** Most entries looked at (a job controls the tree's size); past it the walk stops, said in `rejected`. */
  maxEntries: number;
  maxDepth: number;
}

/**
 * Reads the wanted regular files beneath `root` (a workspace a job has
 * written to), as readTreeBeneath does: never through a link, and a wanted
 * name that is a symlink, FIFO, socket, device, hard-linked file or not
 * UTF-8 is never read, only reported in `rejected`. Caps are reported, not
 * thrown: what fits is kept.
 */
export function selectFilesBeneath(root: string, options: SelectOptions): { files: TreeFile[]; rejected: RejectedEntry[] } {
  const files: TreeFile[] = [];
  const rejected: RejectedEntry[] = [];
  let bytes = 0;
  let entries = 0;
  let stopped = false;
  const visit = (dirFd: number, prefix: string, depth: number) => {
    for (const rawName of listDirectory(dirFd, options.maxEntries - entries + 1)) {
      if (stopped) return;
      const name = rawName.toString('utf8');
      const path = prefix === '' ? name : `${prefix}/${name}`;
      if (++entries > options.maxEntries) {
        stopped = true;
        rejected.push({ path, kind: 'cap', reason: `more than ${options.maxEntries} entries beneath the workspace: the rest was not looked at` });
        return;
      }
      // Cheap name checks first: most of a workspace is neither wanted nor on the way to something wanted.
      const wanted = options.wants(path);
      if (!wanted && !options.descend(path)) continue;
      if (!Buffer.from(name, 'utf8').equals(rawName)) {
        if (wanted) rejected.push({ path, kind: 'name', reason: 'the name is not UTF-8' });
        continue;
      }
      let fd: number;
      try {
        fd = openForInspection(dirFd, rawName);
      } catch (error) {
        const code = (error as UnsafePathError).code;
        if (wanted) rejected.push({ path, kind: code === 'ELOOP' ? 'symlink' : 'unopenable', reason: (error as Error).message });
        continue;
      }
      try {
        const stat = fstatSync(fd);
        if (stat.isDirectory()) {
          if (options.descend(path) && depth + 1 <= options.maxDepth) visit(fd, path, depth + 1);
          continue;
        }
        if (!wanted) continue;
        const problem = regularFileProblem(stat);
        if (problem) rejected.push({ path, kind: stat.isFile() ? 'hard link' : kindOf(stat), reason: problem });
        else if (files.length >= options.maxFiles) rejected.push({ path, kind: 'cap', reason: `more than ${options.maxFiles} files` });
        else if (bytes + stat.size > options.maxBytes) rejected.push({ path, kind: 'cap', reason: `${stat.size} bytes would pass the cap of ${options.maxBytes} bytes in all` });
        else {
          try {
            const content = readCapped(fd, stat, options.maxBytes - bytes, path);
            bytes += content.length;
            files.push({ path, mode: stat.mode & 0o777, content });
          } catch (error) {
            if (!(error instanceof TreeLimitError)) throw error;
            rejected.push({ path, kind: 'cap', reason: error.message });
          }
        }
      } finally {
        closeSync(fd);
      }
    }
  };
  withRoot(root, (rootFd) => visit(rootFd, '', 0));
  return { files, rejected };
}
