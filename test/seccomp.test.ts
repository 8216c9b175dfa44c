/**
 * The seccomp filter, from inside real sandboxes. A probe calls every
 * syscall the policy denies; run once under the real policy (the job sees
 * the policy's errno and goes on) and once under the same policy compiled to
 * answer with an errno the kernel never uses, which proves the filter (not a
 * missing capability) answered.
 */
import { describe, expect, it } from 'vitest';
import { verifiedRootfs } from '../rootfs/build.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { compileSeccomp } from '../sandbox/seccomp.js';
import { STANDARD_POLICY } from '../sandbox/seccomp-policy.js';
import { SlotPool } from '../sandbox/slots.js';
import { runJob } from '../worker/job.js';
import { c, config } from './helpers.js';

const TRACER_ERRNO = 1234;
const unconditional = [...new Set(STANDARD_POLICY.rules.filter((rule) => !rule.when).flatMap((rule) => rule.syscalls))];

/** Calls each syscall with harmless arguments (all zero; unshare asks for a user namespace) and prints "name errno". */
const probe = `
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#define TRY(name, ...) do { errno = 0; long rc = syscall(SYS_##name, ##__VA_ARGS__); printf(#name " %d\\n", rc == -1 ? errno : 0); } while (0)
int main(void) {
${unconditional.map((name) => (name === 'unshare' ? '  TRY(unshare, CLONE_NEWUSER);' : `  TRY(${name}, 0, 0, 0, 0, 0);`)).join('\n')}
  printf("survived\\n");
  return 0;
}`;

function parse(stdout: string): Record<string, number> {
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .filter((line) => line.includes(' '))
      .map((line) => [line.split(' ')[0], Number(line.split(' ')[1])]),
  );
}

async function withFilter(errnoOverride: number, source: string) {
  const sandbox = Sandbox.create({
    dataDir: config.dataDir,
    cgroupParent: config.cgroupParent,
    rootfs: verifiedRootfs(config.dataDir, config.languages),
    filter: compileSeccomp(STANDARD_POLICY, { errnoOverride }),
  });
  const pool = new SlotPool({ dataDir: config.dataDir, count: config.slots, uidBase: config.uidBase });
  const result = await pool.withSlot((slot) => runJob({ sandbox, slot }, { language: 'c', files: [{ path: 'p.c', content: Buffer.from(source) }] }));
  expect(result.compile?.status).toBe('ok');
  return result.run!;
}

describe('seccomp', () => {
  it(`denies each of the ${unconditional.length} syscalls of the policy, and the job goes on`, async () => {
    const real = await c(probe);
    expect(real.status).toBe('ok');
    expect(real.stdout).toContain('survived');
    const errnos = parse(real.stdout);
    for (const name of unconditional) {
      const expected = name === 'clone3' ? 38 /* ENOSYS */ : 1; /* EPERM */
      expect({ name, errno: errnos[name] }).toEqual({ name, errno: expected });
    }
  });

  it('the filter, not the kernel, answers every one of them', async () => {
    const traced = await withFilter(TRACER_ERRNO, probe);
    const errnos = parse(traced.stdout);
    for (const name of unconditional) expect({ name, errno: errnos[name] }).toEqual({ name, errno: TRACER_ERRNO });
  });

  it('filters clone by namespace flags, socket by family and ioctl by the low 32 bits of TIOCSTI', async () => {
    const source = `
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static void *thread(void *arg) { return arg; }
static int result(long rc) { return rc == -1 ? errno : 0; }
int main(void) {
  pthread_t t;
  printf("thread %d\\n", pthread_create(&t, NULL, thread, NULL) == 0 && pthread_join(t, NULL) == 0 ? 0 : 1);
  pid_t child = fork();
  if (child == 0) _exit(0);
  printf("fork %d\\n", child > 0 && waitpid(child, NULL, 0) == child ? 0 : 1);
  printf("clone_newuser %d\\n", result(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)));
  printf("clone_newnet %d\\n", result(syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0)));
  printf("clone_newns %d\\n", result(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0)));
  int fds[2];
  printf("unix %d\\n", result(socketpair(AF_UNIX, SOCK_STREAM, 0, fds)));
  printf("inet %d\\n", result(socket(AF_INET, SOCK_STREAM, 0)));
  printf("inet6 %d\\n", result(socket(AF_INET6, SOCK_DGRAM, 0)));
  printf("netlink %d\\n", result(socket(AF_NETLINK, SOCK_RAW, 0)));
  printf("packet %d\\n", result(socket(AF_PACKET, SOCK_RAW, 0)));
  printf("alg %d\\n", result(socket(AF_ALG, SOCK_SEQPACKET, 0)));
  printf("vsock %d\\n", result(socket(AF_VSOCK, SOCK_STREAM, 0)));
  printf("inet_high_bits %d\\n", result(syscall(SYS_socket, 0x100000000L | AF_INET, SOCK_STREAM, 0)));
  printf("tiocsti %d\\n", result(syscall(SYS_ioctl, 0, 0x5412L, "x")));
  printf("tiocsti_high_bits %d\\n", result(syscall(SYS_ioctl, 0, 0x100005412L, "x")));
  return 0;
}`;
    const traced = parse((await withFilter(TRACER_ERRNO, source)).stdout);
    // (Threads are checked under the real policy: the tracer errno replaces clone3's ENOSYS, so glibc does not fall back.)
    expect(traced).toMatchObject({ fork: 0, unix: 0, inet: 0, inet6: 0, netlink: 0 });
    for (const denied of ['clone_newuser', 'clone_newnet', 'clone_newns', 'packet', 'alg', 'vsock', 'inet_high_bits', 'tiocsti', 'tiocsti_high_bits']) {
      expect({ denied, errno: traced[denied] }).toEqual({ denied, errno: TRACER_ERRNO });
    }
    const real = parse((await c(source)).stdout);
    expect(real).toMatchObject({ thread: 0, fork: 0, inet: 0, clone_newuser: 1, packet: 97, alg: 97, vsock: 97, tiocsti: 1, tiocsti_high_bits: 1 });
  });

  it('kills x32 syscall numbers', async () => {
    const result = await c(`
#include <unistd.h>
#include <sys/syscall.h>
int main(void) { syscall(0x40000000 | SYS_getpid); return 0; }`);
    expect(result).toMatchObject({ status: 'signalled', signal: 'SIGSYS' });
  });

  it('kills 32-bit int 0x80 syscalls', async () => {
    const result = await c(`
int main(void) {
  long ret;
  /* getpid through the i386 entry point: 20 in the 32-bit table. */
  __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
  return ret > 0 ? 0 : 1;
}`);
    expect(result).toMatchObject({ status: 'signalled', signal: 'SIGSYS' });
  });
});
