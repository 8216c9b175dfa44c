/**
 * npx tsx scripts/language-syscalls.ts
 *
 * The system calls each installed language's toolchain and runtime make for
 * hello world (compile step and run step), for whoever maintains the seccomp
 * policy: an allow-list must permit these, or the language breaks. Traced
 * with strace (apt-get install strace) around bubblewrap on the installed
 * rootfs, with the job's uid, mounts and environment, but not through
 * runcell's launcher, so no seccomp filter interferes. Hello world is a
 * floor: real programs make more calls (files, time, threads).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HELLO } from '../bench/hello-world.js';
import { loadConfig } from '../cli/config.js';
import { readMarker, verifiedRootfs } from '../rootfs/build.js';
import { LANGUAGES, type Language } from '../rootfs/languages.js';
import { ensureHelper } from '../sandbox/helper.js';
import { HELPER_DIR } from '../sandbox/mount.js';
import { environmentArgs, JOB_GID, JOB_UID } from '../sandbox/namespaces.js';
import { plan } from '../worker/plan.js';

const config = loadConfig();
const rootfs = verifiedRootfs(config.dataDir, config.languages);
const installed = readMarker(rootfs).languages;
// C and C++ link the helper directory's thread-stack.o, bound where every step sees it.
const helper = ensureHelper(config.dataDir);
const SYSCALL_LINE = /^(\d+)\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]/;

/**
 * Syscall names of the traced job: strace shows host pids, clone returns
 * namespace pids, so a process counts as the job's when it first appears
 * after the job's first exec (bubblewrap's own processes exist before it).
 */
function jobSyscalls(trace: string): Set<string> {
  const lines = readFileSync(trace, 'utf8').split('\n');
  const firstSeen = new Map<string, number>();
  let root: string | undefined;
  let rootLine = Infinity;
  lines.forEach((line, index) => {
    const match = SYSCALL_LINE.exec(line);
    if (!match) return;
    if (!firstSeen.has(match[1])) firstSeen.set(match[1], index);
    if (root === undefined && match[2] === 'execve' && !line.includes('bwrap') && / = 0$/.test(line)) {
      root = match[1];
      rootLine = index;
    }
  });
  const names = new Set<string>();
  lines.forEach((line, index) => {
    const match = SYSCALL_LINE.exec(line);
    if (!match || index < rootLine) return;
    if (match[1] !== root && firstSeen.get(match[1])! < rootLine) return;
    names.add(match[2]);
  });
  return names;
}

function trace(language: Language): Set<string> {
  const box = mkdtempSync(join(tmpdir(), 'runcell-syscalls-'));
  const traceFile = `${box}.strace`;
  try {
    writeFileSync(join(box, language.defaultFile), HELLO[language.id]);
    chmodSync(box, 0o777);
    // The job's own plan: the same commands, limits and environment runcell would use.
    const steps = plan({ language: language.id, files: [{ path: language.defaultFile, content: Buffer.from(HELLO[language.id]) }] }, config.limits);
    const env = environmentArgs(steps.env);
    const names = new Set<string>();
    for (const argv of [steps.compile?.argv, steps.run.argv].filter((argv): argv is string[] => argv !== undefined)) {
      execFileSync('strace', ['-f', '-qq', '-o', traceFile, 'bwrap', '--ro-bind', rootfs, '/', '--ro-bind', helper.dir, HELPER_DIR, '--bind', box, '/box', '--tmpfs', '/tmp', '--proc', '/proc', '--dev', '/dev',
        '--chdir', '/box', '--unshare-all', '--uid', String(JOB_UID), '--gid', String(JOB_GID), '--die-with-parent', ...env, '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
      for (const name of jobSyscalls(traceFile)) names.add(name);
    }
    return names;
  } finally {
    rmSync(box, { recursive: true, force: true });
    rmSync(traceFile, { force: true });
  }
}

const union = new Set<string>();
for (const language of LANGUAGES.filter((l) => l.id in installed)) {
  const names = trace(language);
  for (const name of names) union.add(name);
  process.stdout.write(`${language.id} (${names.size}): ${[...names].sort().join(' ')}\n`);
}
process.stdout.write(`all (${union.size}): ${[...union].sort().join(' ')}\n`);
