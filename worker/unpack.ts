/**
 * Writes a job's input archive into /box before its first step, through
 * safe-fs: every directory made or opened with mkdirat/openat2 beneath /box
 * (never through a link), every file created new (O_EXCL, O_NOFOLLOW), all
 * owned by the job's slot uid so that its steps can change them. Only the
 * archive reader's validated entries get here (files and directories:
 * symlinks are refused when it reads the archive).
 */
import { closeSync, fchownSync } from 'node:fs';
import type { ArchiveFile } from '../archive/index.js';
import { readJobArchive } from '../archive/job-archive.js';
import { createFileBeneath, ensureDirectoryBeneath, withRoot } from '../sandbox/safe-fs.js';
import type { Workspace } from '../sandbox/workspace.js';
import type { Slot } from '../sandbox/slots.js';

export async function unpackArchive(workspace: Workspace, slot: Slot, archive: { format: 'tar' | 'tar.gz' | 'zip'; content: Buffer }, boxBytes: number): Promise<void> {
  const entries = await readJobArchive(archive, boxBytes);
  withRoot(workspace.boxPath, (boxFd) => {
    for (const entry of entries) writeEntry(boxFd, entry, slot);
  });
}

function writeEntry(boxFd: number, entry: ArchiveFile, slot: Slot): void {
  const parts = entry.path.split('/');
  const dirs = entry.kind === 'directory' ? parts : parts.slice(0, -1);
  const opened: number[] = [];
  try {
    let dirFd = boxFd;
    for (const part of dirs) {
      dirFd = ensureDirectoryBeneath(dirFd, part);
      opened.push(dirFd);
      fchownSync(dirFd, slot.uid, slot.gid);
    }
    if (entry.kind === 'file') {
      createFileBeneath(dirFd, parts[parts.length - 1], entry.data ?? Buffer.alloc(0), { mode: entry.executable ? 0o755 : 0o644, uid: slot.uid, gid: slot.gid });
    } else if (entry.kind !== 'directory') {
      // The reader admits symlinks only when asked to; the job's archive never asks. Fail closed all the same.
      throw new Error(`archive entry ${entry.path} is a ${entry.kind}: only files and directories are unpacked`);
    }
  } finally {
    for (const fd of opened) closeSync(fd);
  }
}
