/**
 * Mounts: the host-side tmpfs mounts of a job's workspace (/box) and of each
 * run's /tmp (tmpfs has byte *and* inode caps, which bubblewrap 0.8's --size
 * cannot set), and the bubblewrap arguments that build the sandbox's
 * filesystem: read-only rootfs, fresh /proc with the host's parts masked,
 * minimal /dev, no /sys.
 */
import { lstatSync, readdirSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { lchown, mkdir } from 'node:fs/promises';
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
  // No uid= or gid=: the mount options are in the job's /proc/self/mountinfo, and would show the
  // slot's host uid. The root is given to the slot after the mount instead.
  const data = `size=${options.sizeBytes},nr_inodes=${options.inodes},mode=${mode}`;
  if ((await offThread(loadLibc().mount, 'runcell', target, 'tmpfs', MS_NOSUID | MS_NODEV, data)) !== 0) {
    throw new Error(`cannot mount a tmpfs at ${target}: ${lastError().message}`);
  }
  // lchown: were `target` ever a link, the link would change, not what it points to.
  await lchown(target, options.uid, options.gid);
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
  /**
   * The view runcell-exec launch builds on this directory, in a mount
   * namespace of its own (see viewOptions): root/ (the rootfs), helper/,
   * dev/ and empty/. Everything is bound from there, so that the job's
   * mount table shows paths inside those mounts, never host paths.
   */
  view: string;
  box: { source: string; writable: boolean };
  tmp: string;
  /** 'writable': the view's root/ is a per-run overlay (writableRootOptions), bound read-write. Default 'read-only'. */
  root?: RootMode;
}

/** A run's /: the rootfs bound read-only (the default), or a copy-on-write overlay of it that vanishes with the run. */
export type RootMode = 'read-only' | 'writable';

/**
 * The directories of a writable root that the job owns (it is uid 1000, not root: the image's root-owned
 * directories stay closed to it): /usr/local and every directory under it (pip, npm -g, make install),
 * /opt, and WRITABLE_ROOT_HOME, its $HOME. Made in the overlay's upper layer by the launcher before the job
 * starts; each exists only in that run.
 */
export const WRITABLE_ROOT_HOME = '/home/runcell';
const OWNED_TREES = ['usr/local'];
const OWNED_DIRS = ['opt', WRITABLE_ROOT_HOME.slice(1)];
/** Enough for Debian's /usr/local; an image with more has the rest root-owned. */
const MAX_OWNED = 256;

const ownedByRootfs = new Map<string, string[]>();

/** The directories to own for `rootfs` (walked once: a rootfs never changes; read-only and root-owned, nothing of a job's). */
export function ownedDirectories(rootfs: string): string[] {
  let owned = ownedByRootfs.get(rootfs);
  if (owned) return owned;
  owned = [];
  const walk = (relative: string) => {
    if (owned!.length >= MAX_OWNED) return;
    let entries: Dirent[];
    try {
      entries = readdirSync(join(rootfs, relative), { withFileTypes: true });
    } catch {
      return;
    }
    owned!.push(relative);
    for (const entry of entries) if (entry.isDirectory() && /^[A-Za-z0-9._+-]+$/.test(entry.name)) walk(`${relative}/${entry.name}`);
  };
  for (const tree of OWNED_TREES) walk(tree);
  owned.push(...OWNED_DIRS);
  ownedByRootfs.set(rootfs, owned);
  return owned;
}

/** The runcell-exec launch options of a writable root on a tmpfs of `bytes` (after viewOptions). */
export function writableRootOptions(rootfs: string, bytes: number, inodes: number, workdir?: string): string[] {
  // An image's working directory is the job's too (a WORKDIR is where its program works); /box is already.
  const extra = workdir && workdir !== '/box' ? [workdir.slice(1)] : [];
  return [`--writable-root=${bytes},${inodes}`, `--own=${[...ownedDirectories(rootfs), ...extra].join(',')}`];
}

/** Where the helper appears inside the sandbox; the rootfs build creates the mount point. */
export const HELPER_DIR = '/usr/lib/runcell';
/** Mount points that must exist in the rootfs, since it is read-only when bubblewrap mounts over it. */
export const ROOTFS_MOUNT_POINTS = [HELPER_DIR, '/box', '/tmp', '/proc', '/dev'];

/** Device nodes a program may need; nothing that reaches hardware, no tty. The view has a file for each. */
const DEVICES = ['null', 'zero', 'full', 'random', 'urandom'];

/**
 * /proc entries a job does not see: Docker's masked and read-only paths, and
 * what tells of the host's hardware or of other tenants' activity. A file
 * fails to open with EACCES (/dev/null bound over it read-only and nodev),
 * a directory is empty. Only those this kernel has are masked (nothing can
 * be mounted over a missing path). docs/security.md lists them (checked
 * by test/security/kernel.test.ts). runcell-exec launch mounts them
 * (procMaskOptions); bubblewrap arguments did before (bubblewrapMaskArgs).
 */
export const PROC_MASKS: { path: string; kind: 'file' | 'dir'; why: string }[] = [
  ...['kcore', 'kmsg', 'kpageflags', 'kpagecount', 'kpagecgroup', 'iomem', 'ioports', 'vmallocinfo'].map((path) => ({ path, kind: 'file' as const, why: 'physical memory, kernel log and kernel addresses (Docker masks kcore)' })),
  ...['keys', 'key-users'].map((path) => ({ path, kind: 'file' as const, why: 'the kernel keyring is not namespaced: keys and key counts of every user (Docker masks keys)' })),
  ...['timer_list', 'timer_stats', 'sched_debug', 'latency_stats', 'schedstat'].map((path) => ({ path, kind: 'file' as const, why: 'timers, scheduling and latency of every process on the host (Docker masks the first four)' })),
  { path: 'sysrq-trigger', kind: 'file', why: 'host magic keys (Docker: read-only)' },
  ...['loadavg', 'interrupts', 'softirqs', 'diskstats'].map((path) => ({ path, kind: 'file' as const, why: "host load, thread count, interrupt and disk counters: other tenants' activity (interrupt counts time keystrokes and packets)" })),
  ...['zoneinfo', 'buddyinfo', 'pagetypeinfo', 'slabinfo', 'swaps', 'partitions', 'cmdline', 'config.gz', 'consoles', 'devices', 'dma', 'mtrr', 'misc', 'fb'].map((path) => ({ path, kind: 'file' as const, why: "the host's memory layout, disks, devices and boot command line" })),
  ...['acpi', 'asound', 'scsi', 'irq', 'bus', 'fs', 'driver', 'tty', 'dynamic_debug'].map((path) => ({ path, kind: 'dir' as const, why: "the host's hardware and drivers (Docker masks acpi, asound, scsi; makes irq, bus, fs read-only)" })),
  { path: 'pressure', kind: 'dir', why: 'pressure stall information of the whole host: how busy the CPUs, memory and disks are' },
];

let presentMasks: typeof PROC_MASKS | undefined;

/** The masks this kernel has a path for (checked once: every run has the same kernel). */
function masksPresent(): typeof PROC_MASKS {
  presentMasks ??= PROC_MASKS.filter((mask) => {
    try {
      // Never a symbolic link (such as /proc/mounts): mount(2) would follow it.
      const entry = lstatSync(`/proc/${mask.path}`);
      return mask.kind === 'dir' ? entry.isDirectory() : entry.isFile();
    } catch {
      return false;
    }
  });
  return presentMasks;
}

/**
 * How /proc is masked. 'launcher' (the default): runcell-exec launch mounts
 * the masks in the sandbox's mount namespace once bubblewrap is done and
 * before init starts the job (about a tenth of the cost, docs/performance.md).
 * 'bubblewrap': one --ro-bind argument each, as before; kept so that
 * bench:sandbox can measure both side by side.
 */
export type ProcMasking = 'launcher' | 'bubblewrap';

/** The runcell-exec launch options that mask /proc (see runcell-exec.c, mask_proc). */
export function procMaskOptions(): string[] {
  const names = (kind: 'file' | 'dir') => masksPresent().filter((mask) => mask.kind === kind).map((mask) => mask.path).join(',');
  const options: string[] = [];
  if (names('file')) options.push(`--mask-files=${names('file')}`);
  if (names('dir')) options.push(`--mask-dirs=${names('dir')}`);
  return options;
}

/** The runcell-exec launch options that build the view of `rootfs` and `helperDir` on `view`. */
export function viewOptions(view: string, rootfs: string, helperDir: string): string[] {
  return [`--view=${view}`, `--rootfs=${rootfs}`, `--helper-dir=${helperDir}`];
}

export function filesystemArgs(layout: FilesystemLayout, masking: ProcMasking = 'launcher'): string[] {
  const { view } = layout;
  const args = [layout.root === 'writable' ? '--bind' : '--ro-bind', `${view}/root`, '/', '--ro-bind', `${view}/helper`, HELPER_DIR];
  args.push(layout.box.writable ? '--bind' : '--ro-bind', layout.box.source, '/box');
  args.push('--bind', layout.tmp, '/tmp');
  args.push('--proc', '/proc');
  if (masking === 'bubblewrap') args.push(...bubblewrapMaskArgs(view));
  // The view's dev/ has the links (fd, stdin, stdout, stderr, shm -> /tmp) and a file to bind each device onto.
  args.push('--ro-bind', `${view}/dev`, '/dev');
  for (const device of DEVICES) args.push('--dev-bind', `/dev/${device}`, `/dev/${device}`);
  return args;
}

/** The masks as bubblewrap arguments: a path resolution, a mount table parse and a remount each. */
function bubblewrapMaskArgs(view: string): string[] {
  return masksPresent().flatMap((mask) => ['--ro-bind', mask.kind === 'file' ? '/dev/null' : `${view}/empty`, `/proc/${mask.path}`]);
}
