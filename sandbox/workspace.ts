/**
 * The workspace of a job: a tmpfs (bytes and inodes capped) mounted on the
 * host at <dataDir>/work/<id>/box and bound at /box in each of the job's
 * runs; plus one fresh tmpfs per run for /tmp. The worker writes the job's
 * files into /box through safe-fs.ts (openat2, no link followed), and never
 * walks what the job left: removal is an unmount, which follows no link.
 * Whatever reads a finished workspace back uses safe-fs.ts's readTreeBeneath.
 */
import { chmodSync, closeSync, fchownSync, mkdirSync } from 'node:fs';
import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { filePathProblem } from '../contract/file-path.js';
import { FIXED_LIMITS } from './limits.js';
import { mountTmpfs, unmount } from './mount.js';
import { createFileBeneath, ensureDirectoryBeneath, withRoot } from './safe-fs.js';
import type { Slot } from './slots.js';

export interface WorkspaceFile {
  /** Relative path inside /box, e.g. "main.c" or "src/util.h". */
  path: string;
  content: Buffer;
  executable?: boolean;
}

export interface WorkspaceOptions {
  dataDir: string;
  id: string;
  slot: Slot;
  bytes: number;
}

export { filePathProblem };

const preparedDataDirs = new Set<string>();

/**
 * Traversable, not listable: the slot uid (bubblewrap) must reach the mounts,
 * nothing more. Once per data directory and process, not on every job.
 */
function prepareWorkDir(dataDir: string): void {
  if (preparedDataDirs.has(dataDir)) return;
  for (const dir of [dataDir, join(dataDir, 'work')]) {
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    chmodSync(dir, 0o711);
  }
  preparedDataDirs.add(dataDir);
}

export class Workspace {
  readonly root: string;
  readonly boxPath: string;
  private readonly tmps = new Set<string>();
  private removed = false;

  private constructor(private readonly options: WorkspaceOptions) {
    this.root = join(options.dataDir, 'work', options.id);
    this.boxPath = join(this.root, 'box');
  }

  static async create(options: WorkspaceOptions): Promise<Workspace> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(options.id)) throw new Error(`bad workspace id ${JSON.stringify(options.id)}`);
    const workspace = new Workspace(options);
    prepareWorkDir(options.dataDir);
    await mkdir(workspace.root, { mode: 0o711 });
    await workspace.mount(workspace.boxPath);
    return workspace;
  }

  private mount(path: string, bytes = this.options.bytes): Promise<void> {
    return mountTmpfs(path, {
      sizeBytes: bytes,
      inodes: FIXED_LIMITS.workspaceInodes,
      uid: this.options.slot.uid,
      gid: this.options.slot.gid,
    });
  }

  /**
   * Writes the job's files into /box. Every directory and file is created
   * relative to a directory fd with openat2 (safe-fs.ts): never through a
   * link, never over an existing file, never outside /box, even when a run
   * has already left things there.
   */
  writeFiles(files: WorkspaceFile[]): void {
    const owner = { uid: this.options.slot.uid, gid: this.options.slot.gid };
    withRoot(this.boxPath, (boxFd) => {
      for (const file of files) {
        const problem = filePathProblem(file.path);
        if (problem) throw new Error(problem);
        const parts = file.path.split('/');
        const opened: number[] = [];
        try {
          let dirFd = boxFd;
          for (const part of parts.slice(0, -1)) {
            dirFd = ensureDirectoryBeneath(dirFd, part);
            opened.push(dirFd);
            // Owned by the job so that a writable run can add files beside the given ones.
            fchownSync(dirFd, owner.uid, owner.gid);
          }
          createFileBeneath(dirFd, parts[parts.length - 1], file.content, { mode: file.executable ? 0o755 : 0o644, ...owner });
        } finally {
          for (const fd of opened) closeSync(fd);
        }
      }
    });
  }

  /** Mounts a fresh /tmp of `bytes` for one run and returns its host path. */
  async createTmp(runId: string, bytes: number): Promise<string> {
    const path = join(this.root, `tmp-${runId}`);
    await this.mount(path, bytes);
    this.tmps.add(path);
    return path;
  }

  async releaseTmp(path: string): Promise<void> {
    if (!this.tmps.delete(path)) return;
    await unmountAndRemove(path);
  }

  /** Unmounts everything and removes the (then empty) mount points. Safe to call twice. */
  async remove(): Promise<void> {
    if (this.removed) return;
    for (const tmp of this.tmps) await unmountAndRemove(tmp);
    this.tmps.clear();
    await unmountAndRemove(this.boxPath);
    await rmdirQuietly(this.root);
    this.removed = true;
  }
}

async function unmountAndRemove(path: string): Promise<void> {
  await unmount(path);
  await rmdirQuietly(path);
}

async function rmdirQuietly(path: string): Promise<void> {
  try {
    await rmdir(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new Error(`cannot remove ${path}: ${code}`);
  }
}
