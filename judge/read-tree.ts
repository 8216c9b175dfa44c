/**
 * Reads back what a compile step left in its workspace, for the compile
 * cache. That tree was written by untrusted code (the compiler ran on the
 * submitter's source, and may be anything the source tricks it into), so:
 * every entry is opened with O_PATH | O_NOFOLLOW relative to its parent's
 * descriptor (a symlink is never followed, a FIFO or device never opened for
 * reading), fstat'ed, and only regular files and directories are accepted;
 * the total size, the file count and the depth are capped. Anything else and
 * the tree is refused as a whole (the job still runs, it is just not cached).
 *
 * Node has no openat(); `/proc/self/fd/<dirfd>/<name>` with a single-component
 * name and O_NOFOLLOW resolves exactly like openat(dirfd, name, O_NOFOLLOW):
 * the magic link is our own directory descriptor, the name is the only
 * component looked up. This is the one place to swap for an openat2
 * (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) primitive.
 */
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { filePathProblem, type WorkspaceFile } from '../sandbox/workspace.js';

/** linux/x86_64 and arm64 O_PATH (Node's fs.constants does not export it). */
const O_PATH = 0o10000000;

export interface TreeCaps {
  /** Total bytes of all files. */
  maxBytes: number;
  /** Regular files. */
  maxFiles: number;
}

export class UnsafeTreeError extends Error {}

/** The regular files under `root` (paths relative to it, in a stable order), or throws UnsafeTreeError. */
export function readTreeBeneath(root: string, caps: TreeCaps): WorkspaceFile[] {
  const files: WorkspaceFile[] = [];
  const budget = { bytes: caps.maxBytes, files: caps.maxFiles };
  const rootFd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    readDirectory(rootFd, '', files, budget);
  } finally {
    closeSync(rootFd);
  }
  return files;
}

function readDirectory(dirFd: number, prefix: string, files: WorkspaceFile[], budget: { bytes: number; files: number }): void {
  for (const name of readdirSync(`/proc/self/fd/${dirFd}`).sort()) {
    const path = prefix + name;
    const problem = filePathProblem(path);
    if (problem) throw new UnsafeTreeError(problem);
    const pathFd = openSync(`/proc/self/fd/${dirFd}/${name}`, O_PATH | constants.O_NOFOLLOW);
    try {
      const stat = fstatSync(pathFd);
      if (stat.isDirectory()) {
        const fd = openSync(`/proc/self/fd/${pathFd}`, constants.O_RDONLY | constants.O_DIRECTORY);
        try {
          readDirectory(fd, `${path}/`, files, budget);
        } finally {
          closeSync(fd);
        }
      } else if (stat.isFile()) {
        if (--budget.files < 0) throw new UnsafeTreeError('too many files to cache');
        if (stat.size > budget.bytes) throw new UnsafeTreeError('too many bytes to cache');
        budget.bytes -= stat.size;
        files.push({ path, content: readRegular(pathFd, stat.size), executable: (stat.mode & 0o100) !== 0 });
      } else {
        throw new UnsafeTreeError(`${JSON.stringify(path)} is neither a regular file nor a directory`);
      }
    } finally {
      closeSync(pathFd);
    }
  }
}

/** Reopens an O_PATH descriptor of a regular file for reading; reads exactly the size fstat gave. */
function readRegular(pathFd: number, size: number): Buffer {
  // The magic link is the very inode fstat checked (no path lookup), so no O_NOFOLLOW: it would refuse the link itself.
  const fd = openSync(`/proc/self/fd/${pathFd}`, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.size !== size) throw new UnsafeTreeError('a file changed while it was read');
    const content = Buffer.alloc(size);
    for (let offset = 0; offset < size; ) {
      const read = readSync(fd, content, offset, size - offset, offset);
      if (read === 0) throw new UnsafeTreeError('a file shrank while it was read');
      offset += read;
    }
    return content;
  } finally {
    closeSync(fd);
  }
}
