/**
 * Builds runcell-exec (helper/runcell-exec.c) once per source version, as a
 * static binary, and thread-stack.o (helper/thread-stack.c, linked into the
 * C and C++ programs runcell compiles), into <dataDir>/helper/<hash>/. The
 * directory is bound read-only into every sandbox, so it holds nothing else.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCES = dirname(fileURLToPath(import.meta.url));
const SOURCE = join(SOURCES, 'helper', 'runcell-exec.c');
const THREAD_STACK_SOURCE = join(SOURCES, 'helper', 'thread-stack.c');
export const HELPER_NAME = 'runcell-exec';
/** The object that sets the default thread stack (8 MiB) of C and C++ programs; see thread-stack.c. */
export const THREAD_STACK_OBJECT = 'thread-stack.o';

export interface Helper {
  /** Directory to bind into the sandbox. */
  dir: string;
  /** Path of the binary on the host. */
  path: string;
}

export function helperFor(dataDir: string): Helper {
  const hash = createHash('sha256').update(readFileSync(SOURCE)).update(readFileSync(THREAD_STACK_SOURCE)).digest('hex').slice(0, 16);
  const dir = join(dataDir, 'helper', hash);
  return { dir, path: join(dir, HELPER_NAME) };
}

/** Returns the helper, compiling it first when this version is not built yet. */
export function ensureHelper(dataDir: string): Helper {
  const helper = helperFor(dataDir);
  if (existsSync(helper.path)) return helper;
  const staging = `${helper.dir}.build-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true, mode: 0o755 });
  try {
    execFileSync('gcc', ['-static', '-O2', '-Wall', '-o', join(staging, HELPER_NAME), SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('gcc', ['-c', '-O2', '-Wall', '-fPIC', '-o', join(staging, THREAD_STACK_OBJECT), THREAD_STACK_SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`cannot build ${HELPER_NAME} (needs gcc and libc6-dev): ${stderr || (error as Error).message}`);
  }
  chmodSync(staging, 0o755);
  try {
    renameSync(staging, helper.dir);
  } catch (error) {
    // Another process built the same version first: use theirs.
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(helper.path)) throw error;
  }
  return helper;
}
