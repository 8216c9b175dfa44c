/**
 * Facts about the host's kernel that decide what a test may expect. Probed
 * with programs built here and run outside any sandbox (the test's own).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let i386Signal: 'SIGSYS' | 'SIGSEGV' | undefined;

/**
 * The signal a sandboxed i386 syscall (int 0x80) ends with on this host: SIGSYS from runcell's filter where
 * the kernel runs i386 syscalls, SIGSEGV where it has no IA-32 emulation (ia32_emulation=0, or built without
 * it: this refusal comes before any filter). Either way no 32-bit syscall gets through.
 */
export function i386SyscallSignal(): 'SIGSYS' | 'SIGSEGV' {
  i386Signal ??= hostRunsInt80() ? 'SIGSYS' : 'SIGSEGV';
  return i386Signal;
}

function hostRunsInt80(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'runcell-int80-'));
  try {
    // getpid through the i386 entry point (20 in the 32-bit table).
    writeFileSync(join(dir, 'probe.c'), 'int main(void) { long ret; __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(20L) : "memory"); return ret > 0 ? 0 : 1; }');
    const build = spawnSync('gcc', ['-static', '-o', join(dir, 'probe'), join(dir, 'probe.c')], { encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`cannot build the int 0x80 probe: ${build.stderr}`);
    return spawnSync(join(dir, 'probe')).signal !== 'SIGSEGV';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
