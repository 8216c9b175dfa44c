/**
 * Extended attributes of layer trees (Node.js has no API for them): overlay
 * marks an opaque directory with trusted.overlay.opaque. Bound with koffi,
 * never following a symbolic link (the l* calls).
 */
import koffi from 'koffi';

interface XattrCalls {
  lgetxattr: (path: string, name: string, value: Buffer | null, size: number) => number;
  lsetxattr: (path: string, name: string, value: Buffer, size: number, flags: number) => number;
  lremovexattr: (path: string, name: string) => number;
}

let calls: XattrCalls | undefined;

function load(): XattrCalls {
  if (calls) return calls;
  const lib = koffi.load('libc.so.6');
  calls = {
    lgetxattr: lib.func('long lgetxattr(const char *path, const char *name, void *value, size_t size)') as XattrCalls['lgetxattr'],
    lsetxattr: lib.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)') as XattrCalls['lsetxattr'],
    lremovexattr: lib.func('int lremovexattr(const char *path, const char *name)') as XattrCalls['lremovexattr'],
  };
  return calls;
}

export const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** The attribute's value, or undefined when `path` has none. */
export function getXattr(path: string, name: string): Buffer | undefined {
  const size = load().lgetxattr(path, name, null, 0);
  if (size < 0) return undefined;
  const value = Buffer.alloc(size);
  return load().lgetxattr(path, name, value, size) === size ? value : undefined;
}

export function setXattr(path: string, name: string, value: Buffer): void {
  if (load().lsetxattr(path, name, value, value.length, 0) !== 0) throw new Error(`cannot set ${name} on ${path}`);
}

export function removeXattr(path: string, name: string): void {
  if (load().lremovexattr(path, name) !== 0) throw new Error(`cannot remove ${name} from ${path}`);
}
