/**
 * Reads back what a compile step left in its workspace, for the compile
 * cache. That tree was written by untrusted code (the compiler ran on the
 * submitter's source), so it is read through sandbox/safe-fs.ts: openat2
 * beneath the workspace, no symlink or magic link followed, only regular
 * files with one link read, FIFOs and devices never opened for reading,
 * bytes, entries and depth capped. The cache is all or nothing: anything
 * safe-fs had to reject, or a tree past the caps, and the tree is refused
 * as a whole (the job still runs, it is just not cached).
 */
import { readTreeBeneath, TreeLimitError } from '../sandbox/safe-fs.js';
import { filePathProblem, type WorkspaceFile } from '../sandbox/workspace.js';

export interface TreeCaps {
  /** Total bytes of all files. */
  maxBytes: number;
  /** Files and directories together. */
  maxFiles: number;
}

export class UnsafeTreeError extends Error {}

/** The regular files under `root` (paths relative to it, in safe-fs's stable order), or throws UnsafeTreeError. */
export function readCompiledTree(root: string, caps: TreeCaps): WorkspaceFile[] {
  let tree;
  try {
    tree = readTreeBeneath(root, { maxBytes: caps.maxBytes, maxFiles: caps.maxFiles });
  } catch (error) {
    if (error instanceof TreeLimitError) throw new UnsafeTreeError(`too big to cache: ${error.message}`);
    throw error;
  }
  const [rejected] = tree.rejected;
  if (rejected) throw new UnsafeTreeError(`${JSON.stringify(rejected.path)} is a ${rejected.kind}: ${rejected.reason}`);
  // A cache hit writes the files back with writeFiles: a path it would refuse (deeper or longer than a
  // request's may be, e.g. javac's package directories) would fail every later identical job.
  for (const file of tree.files) {
    const problem = filePathProblem(file.path);
    if (problem) throw new UnsafeTreeError(`cannot be restored: ${problem}`);
  }
  return tree.files.map((file) => ({ path: file.path, content: file.content, executable: (file.mode & 0o100) !== 0 }));
}
