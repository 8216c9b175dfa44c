/**
 * Entry names as hostile input: one normalized relative form, and the
 * bookkeeping that refuses duplicates, entries below files or symlinks, and
 * symlinks that leave the root (lexically, and through other symlinks).
 */
import { ArchiveError } from './errors.js';

// C0 controls and DEL: no test data needs them in a name, and they make logs lie.
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * `./a//b/` -> `a/b`. Refuses what cannot be a safe relative path. Returns ''
 * for the root itself (`./`), which callers skip.
 */
export function normalizeEntryPath(raw: string, maxBytes: number): string {
  if (CONTROL.test(raw)) throw new ArchiveError('bad_path', 'the name holds NUL or a control character', raw);
  if (raw.includes('\\')) throw new ArchiveError('bad_path', 'the name holds a backslash', raw);
  if (raw.startsWith('/')) throw new ArchiveError('bad_path', 'the name is absolute', raw);
  const parts = raw.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw new ArchiveError('bad_path', 'the name holds a ".." segment', raw);
  const path = parts.join('/');
  if (Buffer.byteLength(path) > maxBytes) throw new ArchiveError('bad_path', `the name is longer than ${maxBytes} bytes`, raw);
  if (parts.some((part) => Buffer.byteLength(part) > 255)) throw new ArchiveError('bad_path', 'a segment is longer than 255 bytes', raw);
  return path;
}

/** Decodes a name that must be UTF-8 (zip without the language flag is CP437 by the spec; ASCII is the same in both). */
export function decodeName(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ArchiveError('bad_path', 'the name is not valid UTF-8', bytes.toString('latin1'));
  }
}

function prefixes(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

export type EntryKind = 'file' | 'directory' | 'symlink';

/** What the archive has laid so far, to judge each new entry against. */
export class EntryBook {
  private readonly kinds = new Map<string, EntryKind>();
  /** Directories implied as parents of earlier entries. */
  private readonly impliedDirs = new Set<string>();
  /** Paths that an earlier symlink's target went up from with `..`: they must never be symlinks. */
  private readonly climbedFrom = new Set<string>();

  add(path: string, kind: EntryKind, raw: string, linkTarget?: string): void {
    if (this.kinds.has(path)) throw new ArchiveError('duplicate_entry', 'the path is in the archive twice', raw);
    for (const parent of prefixes(path)) {
      const parentKind = this.kinds.get(parent);
      if (parentKind === 'file' || parentKind === 'symlink') {
        throw new ArchiveError('path_conflict', `"${parent}" is a ${parentKind}, not a directory`, raw);
      }
    }
    if (kind !== 'directory' && this.impliedDirs.has(path)) {
      throw new ArchiveError('path_conflict', 'an earlier entry has this path as its directory', raw);
    }
    if (kind === 'symlink') this.checkSymlink(path, linkTarget ?? '', raw);
    this.kinds.set(path, kind);
    for (const parent of prefixes(path)) this.impliedDirs.add(parent);
  }

  /**
   * The target must stay inside lexically, and no `..` of any symlink's target
   * may climb out of another symlink (`d/x -> ..` then `d/y -> x/../..` stays
   * inside on paper and leaves on disk).
   */
  private checkSymlink(path: string, target: string, raw: string): void {
    if (this.climbedFrom.has(path)) throw new ArchiveError('symlink_escape', 'an earlier symlink climbs out of this one with ".."', raw);
    if (target === '' || target.startsWith('/') || CONTROL.test(target) || target.includes('\\')) {
      throw new ArchiveError('symlink_escape', `the target "${target}" is empty, absolute or holds a control character`, raw);
    }
    const walk = path.split('/').slice(0, -1);
    const fromTarget: boolean[] = walk.map(() => false);
    for (const part of target.split('/')) {
      if (part === '' || part === '.') continue;
      if (part !== '..') {
        walk.push(part);
        fromTarget.push(true);
        continue;
      }
      if (walk.length === 0) throw new ArchiveError('symlink_escape', `the target "${target}" leaves the archive's root`, raw);
      const left = walk.join('/');
      if (fromTarget.pop()) {
        if (this.kinds.get(left) === 'symlink') throw new ArchiveError('symlink_escape', `the target climbs out of the symlink "${left}"`, raw);
        this.climbedFrom.add(left);
      }
      walk.pop();
    }
  }
}
