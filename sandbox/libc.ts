/**
 * The few libc calls Node.js has no API for (mount, umount2, pipe2,
 * memfd_create, posix_spawn, waitpid, and for safe-fs.ts: syscall (openat2),
 * mkdirat, fdopendir/readdir64/closedir), bound with koffi in one place.
 */
import { closeSync, writeSync } from 'node:fs';
import koffi from 'koffi';

/** A koffi function also callable on a worker thread. */
type AsyncCapable = { async(...args: unknown[]): void };

interface Libc {
  mount(source: string, target: string, fsType: string, flags: number, data: string | null): number;
  umount2(target: string, flags: number): number;
  /** koffi stores the int[2] it reads back into out[0]. */
  pipe2(out: unknown[], flags: number): number;
  memfd_create(name: string, flags: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
  strerror(errno: number): string;
  posix_spawn(pid: number[], path: string, actions: Buffer, attr: Buffer, argv: (string | null)[], envp: (string | null)[]): number;
  actionsInit(actions: Buffer): number;
  actionsDestroy(actions: Buffer): number;
  actionsDup2(actions: Buffer, fd: number, target: number): number;
  actionsCloseFrom(actions: Buffer, from: number): number;
  actionsChdir(actions: Buffer, path: string): number;
  attrInit(attr: Buffer): number;
  attrDestroy(attr: Buffer): number;
  attrSetFlags(attr: Buffer, flags: number): number;
  attrSetSigMask(attr: Buffer, set: Buffer): number;
  attrSetSigDefault(attr: Buffer, set: Buffer): number;
  sigemptyset(set: Buffer): number;
  sigfillset(set: Buffer): number;
  sigaddset(set: Buffer, signum: number): number;
  waitpid(pid: number, status: number[], options: number): number;
  syscall(nr: number, ...typedArgs: unknown[]): number;
  mkdirat(dirFd: number, name: Buffer, mode: number): number;
  fdopendir(fd: number): unknown;
  readdir64(dir: unknown): unknown;
  closedir(dir: unknown): number;
  getxattr(path: string, name: string, value: Buffer | null, size: number): number;
  /** struct dirent64, to decode what readdir64 returns. */
  dirent: ReturnType<typeof koffi.struct>;
}

let libc: Libc | undefined;

/**
 * Runs a libc call on a worker thread: mount, umount and posix_spawn can wait
 * inside the kernel (cgroup v1 serializes process creation behind migrations
 * that wait for RCU), and the event loop must not wait with them.
 */
export function offThread(fn: unknown, ...args: unknown[]): Promise<number> {
  return new Promise((resolve, reject) => {
    (fn as AsyncCapable).async(...args, (error: unknown, result: number) => (error ? reject(error) : resolve(result)));
  });
}

export function loadLibc(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    mount: lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
    umount2: lib.func('int umount2(const char *target, int flags)'),
    pipe2: lib.func('pipe2', 'int', [koffi.out(koffi.pointer(koffi.array('int', 2))), 'int']),
    memfd_create: lib.func('int memfd_create(const char *name, unsigned int flags)'),
    fcntl: lib.func('int fcntl(int fd, int cmd, int arg)'),
    strerror: lib.func('const char *strerror(int errnum)'),
    posix_spawn: lib.func('int posix_spawn(_Out_ int *pid, const char *path, void *actions, void *attr, const char **argv, const char **envp)'),
    actionsInit: lib.func('int posix_spawn_file_actions_init(void *actions)'),
    actionsDestroy: lib.func('int posix_spawn_file_actions_destroy(void *actions)'),
    actionsDup2: lib.func('int posix_spawn_file_actions_adddup2(void *actions, int fd, int target)'),
    actionsCloseFrom: lib.func('int posix_spawn_file_actions_addclosefrom_np(void *actions, int from)'),
    actionsChdir: lib.func('int posix_spawn_file_actions_addchdir_np(void *actions, const char *path)'),
    attrInit: lib.func('int posix_spawnattr_init(void *attr)'),
    attrDestroy: lib.func('int posix_spawnattr_destroy(void *attr)'),
    attrSetFlags: lib.func('int posix_spawnattr_setflags(void *attr, short flags)'),
    attrSetSigMask: lib.func('int posix_spawnattr_setsigmask(void *attr, void *set)'),
    attrSetSigDefault: lib.func('int posix_spawnattr_setsigdefault(void *attr, void *set)'),
    sigemptyset: lib.func('int sigemptyset(void *set)'),
    sigfillset: lib.func('int sigfillset(void *set)'),
    sigaddset: lib.func('int sigaddset(void *set, int signum)'),
    waitpid: lib.func('int waitpid(int pid, _Out_ int *status, int options)'),
    syscall: lib.func('long syscall(long number, ...)'),
    mkdirat: lib.func('int mkdirat(int dirfd, const uint8_t *pathname, uint32_t mode)'),
    fdopendir: lib.func('void *fdopendir(int fd)'),
    readdir64: lib.func('void *readdir64(void *dirp)'),
    closedir: lib.func('int closedir(void *dirp)'),
    getxattr: lib.func('long getxattr(const char *path, const char *name, void *value, size_t size)'),
    dirent: koffi.struct('runcell_dirent64', {
      d_ino: 'uint64',
      d_off: 'int64',
      d_reclen: 'uint16',
      d_type: 'uint8',
      d_name: koffi.array('uint8', 256, 'Typed'),
    }),
  };
  return libc;
}

export function lastError(): { errno: number; message: string } {
  const errno = koffi.errno();
  return { errno, message: loadLibc().strerror(errno) };
}

const O_CLOEXEC = 0o2000000;

/** A real pipe (not the socketpair Node makes): opening /dev/stdout works on it. Both ends close-on-exec. */
export function pipe(): { read: number; write: number } {
  const out: unknown[] = [null];
  if (loadLibc().pipe2(out, O_CLOEXEC) !== 0) throw new Error(`pipe2: ${lastError().message}`);
  const fds = out[0] as ArrayLike<number>;
  return { read: fds[0], write: fds[1] };
}

const MFD_CLOEXEC = 0x1;
const MFD_ALLOW_SEALING = 0x2;
const F_ADD_SEALS = 1033;
const F_SEAL_SEAL = 0x1;
const F_SEAL_SHRINK = 0x2;
const F_SEAL_GROW = 0x4;
const F_SEAL_WRITE = 0x8;

/**
 * An anonymous in-memory file holding `content`, sealed so that nobody can
 * change it any more, with its offset at 0. Nothing on any filesystem.
 */
export function sealedMemfd(name: string, content: Buffer): number {
  const c = loadLibc();
  const fd = c.memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) throw new Error(`memfd_create: ${lastError().message}`);
  try {
    // Positional writes leave the offset at 0, where the reader starts.
    for (let offset = 0; offset < content.length; ) offset += writeSync(fd, content, offset, content.length - offset, offset);
    if (c.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) !== 0) {
      throw new Error(`sealing a memfd: ${lastError().message}`);
    }
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

// glibc x86_64 sizes, with room to spare.
const FILE_ACTIONS_BYTES = 128;
const SPAWNATTR_BYTES = 512;
const SIGSET_BYTES = 128;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
/**
 * A session of its own: a signal to runcell's process group (a terminal's
 * Ctrl-C, systemd's stop) must not kill the runs in progress, which runcell
 * lets finish or hands back to the queue; the launcher still dies with
 * runcell (PR_SET_PDEATHSIG).
 */
const POSIX_SPAWN_SETSID = 0x80;
const F_DUPFD_CLOEXEC = 1030;
/** Where the fds to hand over are parked while the child's 0..n-1 are filled in. */
const PARK_FDS_FROM = 100;
const WNOHANG = 1;

function check(rc: number, what: string): void {
  if (rc !== 0) throw new Error(`${what}: ${loadLibc().strerror(rc)}`);
}

/**
 * Starts `path` with exactly `fds` as its fds 0..n-1 (nothing else open),
 * no environment, every signal at its default and none blocked but `held`, in
 * `cwd`, in a new session. `held`: glibc's child takes its new session only
 * after the clone, so a signal sent to runcell's process group in between
 * (Ctrl-C, systemd's stop) reaches it; blocked, it stays pending across exec for
 * the program to discard (runcell-exec does) instead of killing it unseen.
 * glibc's posix_spawn uses clone(CLONE_VM | CLONE_VFORK): it does not copy
 * this process's page tables, as Node's fork-based spawn does, which costs
 * milliseconds in a large process. Returns the pid; reap it with reap().
 */
export async function spawnWithFds(path: string, argv: string[], fds: number[], options: { cwd?: string; held?: number[] } = {}): Promise<number> {
  const c = loadLibc();
  // Park the sources above the targets, so that one dup2 cannot clobber the source of the next.
  const parked = fds.map((fd) => {
    const copy = c.fcntl(fd, F_DUPFD_CLOEXEC, PARK_FDS_FROM);
    if (copy < 0) throw new Error(`fcntl(F_DUPFD_CLOEXEC): ${lastError().message}`);
    return copy;
  });
  const actions = Buffer.alloc(FILE_ACTIONS_BYTES);
  const attr = Buffer.alloc(SPAWNATTR_BYTES);
  const none = Buffer.alloc(SIGSET_BYTES);
  const all = Buffer.alloc(SIGSET_BYTES);
  check(c.actionsInit(actions), 'posix_spawn_file_actions_init');
  check(c.attrInit(attr), 'posix_spawnattr_init');
  try {
    parked.forEach((fd, target) => check(c.actionsDup2(actions, fd, target), 'posix_spawn_file_actions_adddup2'));
    check(c.actionsCloseFrom(actions, fds.length), 'posix_spawn_file_actions_addclosefrom_np');
    check(c.actionsChdir(actions, options.cwd ?? '/'), 'posix_spawn_file_actions_addchdir_np');
    c.sigemptyset(none);
    c.sigfillset(all);
    for (const signal of options.held ?? []) if (c.sigaddset(none, signal) !== 0) throw new Error(`sigaddset(${signal}) failed`);
    check(c.attrSetSigMask(attr, none), 'posix_spawnattr_setsigmask');
    check(c.attrSetSigDefault(attr, all), 'posix_spawnattr_setsigdefault');
    check(c.attrSetFlags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID), 'posix_spawnattr_setflags');
    const pid = [0];
    check(await offThread(c.posix_spawn, pid, path, actions, attr, [...argv, null], [null]), `cannot start ${path}`);
    return pid[0];
  } finally {
    c.actionsDestroy(actions);
    c.attrDestroy(attr);
    for (const fd of parked) closeSync(fd);
  }
}

export interface ExitStatus {
  code: number | null;
  signal: number | null;
}

/** Reaps a child started by spawnWithFds without blocking; undefined while it still runs. */
export function reap(pid: number): ExitStatus | undefined {
  const status = [0];
  const rc = loadLibc().waitpid(pid, status, WNOHANG);
  if (rc === 0) return undefined;
  if (rc < 0) return { code: null, signal: null }; // not ours any more (already reaped)
  const raw = status[0];
  const signal = raw & 0x7f;
  return signal === 0 ? { code: (raw >> 8) & 0xff, signal: null } : { code: null, signal };
}

/** The value of extended attribute `name` of `path` (following links), undefined when it has none. */
export function getXattr(path: string, name: string): Buffer | undefined {
  const value = Buffer.alloc(256);
  const length = loadLibc().getxattr(path, name, value, value.length);
  return length < 0 ? undefined : value.subarray(0, length);
}
