/**
 * Every status of a run, each produced by a real program hitting the real limit.
 */
import { describe, expect, it } from 'vitest';
import { THREAD_STACK_OBJECT_PATH } from '../rootfs/languages.js';
import { THREAD_STACK_OBJECT } from '../sandbox/helper.js';
import { HELPER_DIR } from '../sandbox/mount.js';
import { c, MiB, python, sh, timingAsserted } from './helpers.js';

describe('run statuses', () => {
  it('ok', async () => {
    const result = await sh('echo hello');
    expect(result).toMatchObject({ status: 'ok', exit_code: 0, signal: null, stdout: 'hello\n', message: null, oom_killed: false });
  });

  it('infinite loop -> time_limit with cpu_ms near the limit', async () => {
    const result = await sh('while :; do :; done', { cpu_ms: 500, wall_ms: 10_000 });
    expect(result.status).toBe('time_limit');
    expect(result.cpu_ms).toBeGreaterThanOrEqual(500);
    if (timingAsserted) expect(result.cpu_ms).toBeLessThan(700);
    expect(result.message).toMatch(/CPU time limit of 500 ms/);
  });

  it('CPU of every thread and child counts', async () => {
    // Two busy children: together they pass the limit in about half the wall time.
    const result = await sh('(while :; do :; done) & (while :; do :; done) & wait', { cpu_ms: 600, wall_ms: 10_000 });
    expect(result.status).toBe('time_limit');
    expect(result.cpu_ms).toBeGreaterThanOrEqual(600);
  });

  it('sleep -> wall_time_limit', async () => {
    const result = await sh('sleep 30', { wall_ms: 400 });
    expect(result.status).toBe('wall_time_limit');
    expect(result.wall_ms).toBeGreaterThanOrEqual(400);
    if (timingAsserted) {
      expect(result.wall_ms).toBeLessThan(3000);
      expect(result.cpu_ms).toBeLessThan(100);
    }
  });

  it('a job that stops itself with SIGSTOP still ends at the wall limit', async () => {
    const result = await sh('kill -STOP $$; echo never', { wall_ms: 500 });
    expect(result.status).toBe('wall_time_limit');
    expect(result.stdout).toBe('');
  });

  it('allocating twice the limit -> memory_limit, oom_killed', async () => {
    const result = await python('a = bytearray(128 * 1024 * 1024)\nprint(len(a))', { memory_bytes: 64 * MiB });
    expect(result.status).toBe('memory_limit');
    expect(result.oom_killed).toBe(true);
    expect(result.stdout).toBe('');
    expect(result.memory_peak_bytes).toBeLessThanOrEqual(64 * MiB);
    expect(result.memory_peak_bytes).toBeGreaterThan(32 * MiB);
  });

  it('fork bomb is contained and the next run works', async () => {
    const bomb = await c(
      `#include <unistd.h>
int main(void) { for (;;) fork(); }`,
      { pids: 32, cpu_ms: 1000, wall_ms: 2000 },
    );
    expect(['time_limit', 'wall_time_limit']).toContain(bomb.status);
    const next = await sh('echo still here');
    expect(next).toMatchObject({ status: 'ok', stdout: 'still here\n' });
  });

  it('pids limit holds: at most the limit of processes exist at once', async () => {
    const result = await c(
      `#include <stdio.h>
#include <unistd.h>
int main(void) {
  int made = 0;
  for (int i = 0; i < 100; i++) {
    pid_t pid = fork();
    if (pid == 0) { pause(); _exit(0); }
    if (pid > 0) made++;
  }
  printf("%d\\n", made);
  return 0;
}`,
      { pids: 16 },
    );
    expect(result.status).toBe('ok');
    // The job itself is one of the 16: it can make at most 15 children.
    const made = Number(result.stdout.trim());
    expect(made).toBeGreaterThan(5);
    expect(made).toBeLessThanOrEqual(15);
  });

  it('yes -> output_limit with stdout exactly output_bytes long', async () => {
    const result = await sh('yes', { output_bytes: 10_000 });
    expect(result.status).toBe('output_limit');
    expect(result.stdout.length).toBe(10_000);
    expect(result.stdout.startsWith('y\ny\n')).toBe(true);
    expect(result.stdout_truncated).toBe(true);
    expect(result.stderr_truncated).toBe(false);
  });

  it('output just under the cap is not truncated', async () => {
    const result = await sh('head -c 9999 /dev/zero', { output_bytes: 10_000 });
    expect(result.status).toBe('ok');
    expect(result.stdout.length).toBe(9999);
    expect(result.stdout_truncated).toBe(false);
  });

  it('stderr flood -> output_limit on stderr', async () => {
    const result = await sh('yes >&2', { output_bytes: 4096 });
    expect(result.status).toBe('output_limit');
    expect(result.stderr.length).toBe(4096);
    expect(result.stderr_truncated).toBe(true);
    expect(result.message).toMatch(/stderr/);
  });

  it('exit 3 -> nonzero_exit', async () => {
    const result = await sh('exit 3');
    expect(result).toMatchObject({ status: 'nonzero_exit', exit_code: 3, signal: null });
  });

  it('exit 139 is an exit code, not a signal', async () => {
    const result = await sh('exit 139');
    expect(result).toMatchObject({ status: 'nonzero_exit', exit_code: 139, signal: null });
  });

  it('SIGSEGV -> signalled', async () => {
    const result = await c('int main(void) { volatile int *p = 0; return *p; }');
    expect(result).toMatchObject({ status: 'signalled', signal: 'SIGSEGV', exit_code: null });
  });

  it('a process that double-forks and sleeps is gone after the run', async () => {
    const marker = `runcell-orphan-${process.pid}`;
    const result = await sh(`(setsid sh -c "exec -a ${marker} sleep 60" &) ; echo started`);
    expect(result.status).toBe('ok');
    const { execFileSync } = await import('node:child_process');
    const survivors = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((line) => line.includes(marker));
    expect(survivors).toEqual([]);
  });

  it('a file over file_size_bytes -> SIGXFSZ', async () => {
    const result = await sh('exec head -c 2000000 /dev/zero > /tmp/big', { file_size_bytes: 1_000_000 });
    expect(result.status).toBe('signalled');
    expect(result.message).toMatch(/file size limit/);
  });

  it('/tmp is capped at workspace_bytes', async () => {
    const result = await sh('head -c 3000000 /dev/zero > /tmp/a; echo rc=$?; du -k /tmp/a | cut -f1', { workspace_bytes: 1024 * 1024, file_size_bytes: 10 * MiB });
    expect(result.stdout).toMatch(/No space left on device|rc=1/);
    expect(Number(result.stdout.trim().split('\n').pop())).toBeLessThanOrEqual(1024);
  });

  it('inodes of /tmp are capped', async () => {
    const result = await sh('i=0; while [ $i -lt 20000 ] && : > /tmp/f$i 2>/dev/null; do i=$((i+1)); done; echo $i', { cpu_ms: 20_000, wall_ms: 30_000 });
    expect(Number(result.stdout.trim())).toBeLessThan(20000);
  });

  it('a command that does not exist -> nonzero_exit 127 with a message', async () => {
    const { job } = await import('./helpers.js');
    const result = await job({ command: ['/no/such/program'] });
    expect(result.run).toMatchObject({ status: 'nonzero_exit', exit_code: 127 });
    expect(result.run!.message).toMatch(/ENOENT/);
  });

  it('no core file is written', async () => {
    const result = await sh('ulimit -c; sh -c "kill -SEGV \\$\\$"; ls /box /tmp | grep -c core');
    expect(result.stdout.split('\n')[0]).toBe('0');
    expect(result.stdout.trim().split('\n').pop()).toBe('0');
  });
});

describe('stacks', () => {
  const GiB = 1024 * MiB;
  const threads = `#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
static void *work(void *arg) { char buf[1 << 20]; memset(buf, 1, sizeof buf); return (void *)(long)buf[arg != 0]; }
/* Recursion that touches about 1 KiB of stack per level. */
static long deep(long n) { volatile char pad[1000]; pad[0] = (char)n; return n == 0 ? pad[0] : deep(n - 1) + pad[0]; }
int main(int argc, char **argv) {
  pthread_attr_t attr; size_t size = 0;
  pthread_getattr_default_np(&attr); pthread_attr_getstacksize(&attr, &size);
  struct rlimit stack; getrlimit(RLIMIT_STACK, &stack);
  printf("thread_stack %zu\\nmain_stack %llu\\n", size, (unsigned long long)stack.rlim_cur);
  pthread_t t[400]; int made = 0;
  for (int i = 0; i < 400 && pthread_create(&t[i], NULL, work, NULL) == 0; i++) made++;
  for (int i = 0; i < made; i++) pthread_join(t[i], NULL);
  printf("threads %d\\n", made);
  /* A thread that asks for its own stack size still gets it. */
  pthread_attr_t big; pthread_attr_init(&big); pthread_attr_setstacksize(&big, 64 << 20);
  pthread_t b; pthread_create(&b, &big, work, &big); pthread_getattr_np(b, &attr); pthread_attr_getstacksize(&attr, &size); pthread_join(b, NULL);
  printf("asked_64m %zu\\n", size);
  printf("deep %ld\\n", deep(argc > 1 ? 200000 : 10) != 0);
  return 0;
}`;

  it('C: the main thread may recurse as deep as the memory limit allows, threads get 8 MiB stacks (400 of them under a 4 GiB limit)', async () => {
    const run = await c(threads, { memory_bytes: 4 * GiB, pids: 410 }, ['deep']);
    expect(run).toMatchObject({ status: 'ok', stdout: `thread_stack ${8 * MiB}\nmain_stack ${4 * GiB}\nthreads 400\nasked_64m ${64 * MiB}\ndeep 1\n` });
  });

  it('the C and C++ compile commands link the helper directory\'s thread-stack object', () => {
    expect(THREAD_STACK_OBJECT_PATH).toBe(`${HELPER_DIR}/${THREAD_STACK_OBJECT}`);
  });

  it('C: recursion past the memory limit ends as memory_limit, not a stack overflow at 8 MiB', async () => {
    const run = await c(threads.replace('200000', '2000000'), { memory_bytes: 256 * MiB, pids: 410 }, ['deep']);
    expect(run.status).toBe('memory_limit');
  });
});
