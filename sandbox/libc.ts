/**
 * The few libc calls Node.js has no API for (mount, umount2, pipe2, memfd_create), bound
 * with koffi.
 */
import { closeSync, writeSync } from 'node:fs';
import koffi from 'koffi';

interface Libc {
  mount(source: string, target: string, fsType: string, flags: number, data: string | null): number;
  umount2(target: string, flags: number): number;
  /** koffi stores the int[2] it reads back into out[0]. */
  pipe2(out: unknown[], flags: number): number;
  memfd_create(name: string, flags: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
  strerror(errno: number): string;
}

let libc: Libc | undefined;

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
