/**
 * Mounts: the host-side tmpfs mounts of a job's workspace (/box) and of each
 * run's /tmp (tmpfs has byte *and* inode caps, which bubblewrap 0.8's --size
 * cannot set), and the bubblewrap arguments that build the sandbox's
 * filesystem: read-only rootfs, fresh /proc, minimal /dev, no /sys.
 */
import { mkdir } from 'node:fs/promises';
import { lastError, loadLibc, offThread } from './libc.js';

const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MNT_DETACH = 0x2;
const UMOUNT_NOFOLLOW = 0x8;
const EINVAL = 22;
const ENOENT = 2;

export interface TmpfsOptions {
  sizeBytes: number;
  inodes: number;
  /** Owner of the tmpfs root (the slot's host uid, seen as the job's uid inside). */
  uid: number;
  gid: number;
  mode?: number;
}

/** Mounts a fresh tmpfs (nosuid, nodev) at `target`, creating the directory. */
export async function mountTmpfs(target: string, options: TmpfsOptions): Promise<void> {
  await mkdir(target, { recursive: true, mode: 0o711 });
  const mode = (options.mode ?? 0o755).toString(8);
  const data = `size=${options.sizeBytes},nr_inodes=${options.inodes},mode=${mode},uid=${options.uid},gid=${options.gid}`;
  if ((await offThread(loadLibc().mount, 'runcell', target, 'tmpfs', MS_NOSUID | MS_NODEV, data)) !== 0) {
    throw new Error(`cannot mount a tmpfs at ${target}: ${lastError().message}`);
  }
}

/**
 * Detaches a mount without following a symlink at `target`; the kernel frees
 * it once no process uses it. Answers false when nothing was mounted there.
 */
export async function unmount(target: string): Promise<boolean> {
  if ((await offThread(loadLibc().umount2, target, MNT_DETACH | UMOUNT_NOFOLLOW)) === 0) return true;
  const { errno, message } = lastError();
  if (errno === EINVAL || errno === ENOENT) return false;
  throw new Error(`cannot unmount ${target}: ${message}`);
}

export interface FilesystemLayout {
  rootfs: string;
  /** Host directory holding runcell-exec, bound read-only at HELPER_DIR. */
  helperDir: string;
  box: { source: string; writable: boolean };
  tmp: string;
}

/** Where the helper appears inside the sandbox; the rootfs build creates the mount point. */
export const HELPER_DIR = '/usr/lib/runcell';
/** Mount points that must exist in the rootfs, since it is read-only when bubblewrap mounts over it. */
export const ROOTFS_MOUNT_POINTS = [HELPER_DIR, '/box', '/tmp', '/proc', '/dev'];

/** Device nodes a program may need; nothing that reaches hardware, no tty. */
const DEVICES = ['null', 'zero', 'full', 'random', 'urandom'];

export function filesystemArgs(layout: FilesystemLayout): string[] {
  const args = ['--ro-bind', layout.rootfs, '/', '--ro-bind', layout.helperDir, HELPER_DIR];
  args.push(layout.box.writable ? '--bind' : '--ro-bind', layout.box.source, '/box');
  args.push('--bind', layout.tmp, '/tmp');
  args.push('--proc', '/proc');
  args.push('--tmpfs', '/dev');
  for (const device of DEVICES) args.push('--dev-bind', `/dev/${device}`, `/dev/${device}`);
  args.push(
    '--symlink', '/proc/self/fd', '/dev/fd',
    '--symlink', '/proc/self/fd/0', '/dev/stdin',
    '--symlink', '/proc/self/fd/1', '/dev/stdout',
    '--symlink', '/proc/self/fd/2', '/dev/stderr',
    // POSIX shared memory lands in the run's /tmp, under the same caps.
    '--symlink', '/tmp', '/dev/shm',
    '--remount-ro', '/dev',
  );
  return args;
}
