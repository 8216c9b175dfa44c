/**
 * The seccomp allow-list, from inside real sandboxes. Probes call what the
 * policy leaves out and print the errno they get; each runs once under the
 * real filter (the job sees the policy's errno and goes on) and, where it
 * matters, once under the same policy compiled to answer with an errno the
 * kernel never uses, which proves the filter (not a missing capability or
 * the kernel) answered.
 */
import { describe, expect, it } from 'vitest';
import { verifiedRootfs } from '../rootfs/build.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { compileSeccomp, complementConditions, syscallNumber } from '../sandbox/seccomp.js';
import { allowedSyscalls, JUDGE_POLICY, SECCOMP_POLICIES, STANDARD_POLICY, type SeccompProfileName } from '../sandbox/seccomp-policy.js';
import { SlotPool } from '../sandbox/slots.js';
import { summarize } from '../queue/submission.js';
import { toJobRequest, jobRequestProblem } from '../worker/request.js';
import { seccompProfileFor } from '../worker/plan.js';
import { LANGUAGES } from '../rootfs/languages.js';
import { LIMIT_TABLE } from '../sandbox/limits.js';
import { runJob } from '../worker/job.js';
import { config, job } from './helpers.js';
import { i386SyscallSignal } from './host-kernel.js';

const TRACER_ERRNO = 1234;
const EPERM = 1;
const ENOSYS = 38;
const EAFNOSUPPORT = 97;
const denied = [...new Set(STANDARD_POLICY.denied.flatMap((entry) => entry.syscalls))];

/** Calls each syscall by number (the C headers lack the newest) with harmless arguments (all zero; unshare asks for a user namespace) and prints "name errno". */
const deniedProbe = `
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#define TRY(name, nr, ...) do { errno = 0; long rc = syscall(nr, ##__VA_ARGS__); printf(#name " %d\\n", rc == -1 ? errno : 0); } while (0)
int main(void) {
${denied.map((name) => (name === 'unshare' ? `  TRY(unshare, ${syscallNumber(name)}, CLONE_NEWUSER);` : `  TRY(${name}, ${syscallNumber(name)}, 0, 0, 0, 0, 0);`)).join('\n')}
  /* A number beyond every table (x32 starts at 512): the kernel would say ENOSYS, the allow-list's default says EPERM. */
  errno = 0; printf("nr_1000 %d\\n", syscall(1000) == -1 ? errno : 0);
  /* Numbers newer than the policy: ENOSYS, as from an older kernel. */
  errno = 0; printf("nr_500 %d\\n", syscall(500) == -1 ? errno : 0);
  errno = 0; printf("map_shadow_stack %d\\n", syscall(453, 0, 0, 0) == -1 ? errno : 0);
  printf("survived 0\\n");
  return 0;
}`;

/** The argument filters: clone flags, socket families and types, ioctl requests, personality. */
const argumentProbe = `
#define _GNU_SOURCE
#include <errno.h>
#include <linux/netlink.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
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
  printf("clone3 %d\\n", result(syscall(SYS_clone3, 0, 0)));
  printf("clone_newuser %d\\n", result(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)));
  printf("clone_newnet %d\\n", result(syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0)));
  printf("clone_newns %d\\n", result(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0)));
  printf("clone_newpid %d\\n", result(syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0)));
  int fds[2];
  printf("socketpair %d\\n", result(socketpair(AF_UNIX, SOCK_STREAM, 0, fds)));
  printf("unix %d\\n", result(socket(AF_UNIX, SOCK_STREAM, 0)));
  printf("inet %d\\n", result(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)));
  printf("inet6 %d\\n", result(socket(AF_INET6, SOCK_DGRAM, 0)));
  printf("inet_raw %d\\n", result(socket(AF_INET, SOCK_RAW, 1)));
  printf("inet_seqpacket %d\\n", result(socket(AF_INET, SOCK_SEQPACKET, 0)));
  printf("netlink_route %d\\n", result(socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)));
  printf("netlink_audit %d\\n", result(socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT)));
  printf("netlink_uevent %d\\n", result(socket(AF_NETLINK, SOCK_DGRAM, NETLINK_KOBJECT_UEVENT)));
  printf("packet %d\\n", result(socket(AF_PACKET, SOCK_RAW, 0)));
  printf("alg %d\\n", result(socket(AF_ALG, SOCK_SEQPACKET, 0)));
  printf("vsock %d\\n", result(socket(AF_VSOCK, SOCK_STREAM, 0)));
  printf("family_99 %d\\n", result(socket(99, SOCK_STREAM, 0)));
  printf("inet_high_bits %d\\n", result(syscall(SYS_socket, 0x100000000L | AF_INET, SOCK_STREAM, 0)));
  printf("inet_tcp %d\\n", result(socket(AF_INET, SOCK_STREAM, 6)));
  printf("inet6_udp %d\\n", result(socket(AF_INET6, SOCK_DGRAM, 17)));
  printf("inet_mptcp %d\\n", result(socket(AF_INET, SOCK_STREAM, 262)));
  printf("inet6_udplite %d\\n", result(socket(AF_INET6, SOCK_DGRAM, 136)));
  printf("inet_udp_as_stream %d\\n", result(socket(AF_INET, SOCK_STREAM, 17)));
  int pipefd[2], queued = -1;
  pipe(pipefd);
  printf("fionread %d\\n", result(ioctl(pipefd[0], FIONREAD, &queued)));
  printf("tcgets_on_pipe %d\\n", result(syscall(SYS_ioctl, pipefd[0], TCGETS, 0)));
  printf("tiocsti %d\\n", result(syscall(SYS_ioctl, 0, 0x5412L, "x")));
  printf("tiocsti_high_bits %d\\n", result(syscall(SYS_ioctl, 0, 0x100005412L, "x")));
  printf("tioclinux %d\\n", result(syscall(SYS_ioctl, 0, 0x541cL, "x")));
  printf("personality_query %d\\n", result(syscall(SYS_personality, 0xffffffffL)));
  printf("personality_linux %d\\n", result(syscall(SYS_personality, PER_LINUX)));
  printf("personality_linux32 %d\\n", result(syscall(SYS_personality, PER_LINUX32)));
  printf("personality_no_aslr %d\\n", result(syscall(SYS_personality, ADDR_NO_RANDOMIZE)));
  struct sched_param normal = { .sched_priority = 0 }, realtime = { .sched_priority = 1 };
  printf("sched_other %d\\n", result(sched_setscheduler(0, SCHED_OTHER, &normal)));
  printf("sched_other_reset_on_fork %d\\n", result(sched_setscheduler(0, SCHED_OTHER | SCHED_RESET_ON_FORK, &normal)));
  printf("sched_fifo %d\\n", result(sched_setscheduler(0, SCHED_FIFO, &realtime)));
  return 0;
}`;

function parse(stdout: string): Record<string, number> {
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .filter((line) => /^\S+ -?\d+$/.test(line))
      .map((line) => [line.split(' ')[0], Number(line.split(' ')[1])]),
  );
}

const file = (source: string) => [{ path: 'main.c', content: Buffer.from(source) }];

/** Compiles and runs `source` with `profile` (both steps). */
async function probe(source: string, profile: SeccompProfileName = 'standard'): Promise<Record<string, number>> {
  const result = await job({ language: 'c', files: file(source), seccomp_profile: profile });
  expect(result.compile?.status).toBe('ok');
  expect(result.run?.status).toBe('ok');
  return parse(result.run!.stdout);
}

/** The same, in a sandbox whose every profile is `profile` compiled to answer TRACER_ERRNO. */
async function traced(source: string, profile: SeccompProfileName = 'standard'): Promise<Record<string, number>> {
  const sandbox = Sandbox.create({
    dataDir: config.dataDir,
    cgroupParent: config.cgroupParent,
    rootfs: verifiedRootfs(config.dataDir, config.languages),
    filter: compileSeccomp(SECCOMP_POLICIES[profile], { errnoOverride: TRACER_ERRNO }),
  });
  const pool = new SlotPool({ dataDir: config.dataDir, count: config.slots, uidBase: config.uidBase });
  const result = await pool.withSlot((slot) => runJob({ sandbox, slot }, { language: 'c', files: file(source) }));
  expect(result.compile?.status).toBe('ok');
  expect(result.run?.status).toBe('ok');
  return parse(result.run!.stdout);
}

const errnoOf = (errnos: Record<string, number>, names: string[]) => Object.fromEntries(names.map((name) => [name, errnos[name]]));
const all = (names: string[], errno: number) => Object.fromEntries(names.map((name) => [name, errno]));

describe('seccomp policy (data)', () => {
  it('is an allow-list: nothing it leaves out on purpose is allowed, in either profile', () => {
    for (const policy of Object.values(SECCOMP_POLICIES)) {
      const allowed = new Set(allowedSyscalls(policy));
      const leaks = policy.denied.flatMap((entry) => entry.syscalls).filter((name) => allowed.has(name));
      expect({ policy: policy.name, leaks }).toEqual({ policy: policy.name, leaks: [] });
    }
    expect(allowedSyscalls(JUDGE_POLICY)).not.toContain('socket');
    expect(allowedSyscalls(STANDARD_POLICY)).toContain('socket');
  });

  it('turns "unless" into masked comparisons that cover exactly the other values', () => {
    const excluded = [0x5412n, 0x541cn];
    const conditions = complementConditions({ arg: 1, mask: 0xffffffffn, values: excluded });
    const matches = (value: bigint) => conditions.filter((c) => c.op === 'masked_eq' && (value & c.mask) === c.value).length;
    for (const value of excluded) expect(matches(value)).toBe(0);
    for (const value of [0n, 0x5401n, 0x5413n, 0x541dn, 0x5412n | (1n << 20n), 0xffffffffn, 0x80045412n]) expect(matches(value)).toBe(1);
    // Upper 32 bits are outside the mask: the kernel ignores them, so does the rule.
    expect(matches(0x100005412n)).toBe(0);
  });

  it('compiles both profiles, each once per sandbox', () => {
    const sandbox = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs: verifiedRootfs(config.dataDir, config.languages) });
    expect(sandbox.filters.standard.policy).toBe('standard');
    expect(sandbox.filters.judge.policy).toBe('judge');
    expect(sandbox.filters.standard.digest).not.toBe(sandbox.filters.judge.digest);
  });

  it('the API submission carries the profile to the worker and into the job record', () => {
    const submission = { command: ['/bin/true'], seccomp_profile: 'judge' as const, stdin_encoding: 'utf8' as const };
    expect(toJobRequest(submission).seccomp_profile).toBe('judge');
    expect(summarize(submission).seccomp_profile).toBe('judge');
    const rules = { limits: LIMIT_TABLE, languages: LANGUAGES.map((l) => l.id) };
    expect(jobRequestProblem({ command: ['/bin/true'], seccomp_profile: 'none' as SeccompProfileName }, rules)).toMatch(/seccomp_profile must be one of standard, judge/);
  });

  it('a request names the profile, else the language, else standard', () => {
    expect(seccompProfileFor({}, undefined)).toBe('standard');
    expect(seccompProfileFor({}, { seccompProfile: 'judge' })).toBe('judge');
    expect(seccompProfileFor({ seccomp_profile: 'standard' }, { seccompProfile: 'judge' })).toBe('standard');
    expect(seccompProfileFor({ seccomp_profile: 'judge' }, {})).toBe('judge');
  });
});

describe('seccomp in the sandbox', () => {
  it(`denies each of the ${denied.length} syscalls left out on purpose with EPERM, and the job goes on`, async () => {
    const errnos = await probe(deniedProbe);
    expect(errnos.survived).toBe(0);
    expect(errnoOf(errnos, denied)).toEqual(all(denied, EPERM));
    expect(errnoOf(errnos, ['nr_1000', 'nr_500', 'map_shadow_stack'])).toEqual({ nr_1000: EPERM, nr_500: ENOSYS, map_shadow_stack: ENOSYS });
  });

  it('the filter, not the kernel, answers every one of them', async () => {
    const errnos = await traced(deniedProbe);
    const answered = [...denied, 'nr_1000', 'nr_500', 'map_shadow_stack'];
    expect(errnoOf(errnos, answered)).toEqual(all(answered, TRACER_ERRNO));
  });

  it('standard: clone without namespace flags, clone3 ENOSYS, sockets by family, type and protocol (unix and UDP, no TCP), ioctl but TIOCSTI, personality by value, sched_setscheduler SCHED_OTHER only', async () => {
    const real = await probe(argumentProbe);
    expect(real).toMatchObject({
      thread: 0, fork: 0, clone3: ENOSYS,
      clone_newuser: EPERM, clone_newnet: EPERM, clone_newns: EPERM, clone_newpid: EPERM,
      socketpair: 0, unix: 0, inet: EPERM, inet6: 0, inet_tcp: EPERM, inet6_udp: 0,
      inet_raw: EPERM, inet_seqpacket: EPERM, inet_mptcp: EPERM, inet6_udplite: EPERM, inet_udp_as_stream: EPERM,
      netlink_route: EAFNOSUPPORT, netlink_audit: EAFNOSUPPORT, netlink_uevent: EAFNOSUPPORT,
      packet: EAFNOSUPPORT, alg: EAFNOSUPPORT, vsock: EAFNOSUPPORT, family_99: EAFNOSUPPORT, inet_high_bits: EAFNOSUPPORT,
      fionread: 0, tcgets_on_pipe: 25 /* ENOTTY: the kernel answered */,
      tiocsti: EPERM, tiocsti_high_bits: EPERM, tioclinux: EPERM,
      personality_query: 0, personality_linux: 0, personality_linux32: EPERM, personality_no_aslr: EPERM,
      sched_other: 0, sched_other_reset_on_fork: EPERM, sched_fifo: EPERM,
    });
    // Under the tracer errno (which also replaces clone3's ENOSYS, so threads are checked above only).
    const filtered = await traced(argumentProbe);
    const byFilter = ['clone3', 'clone_newuser', 'clone_newnet', 'clone_newns', 'clone_newpid', 'inet', 'inet_tcp', 'inet_raw', 'inet_seqpacket', 'inet_mptcp', 'inet6_udplite', 'inet_udp_as_stream', 'netlink_route', 'netlink_audit', 'netlink_uevent', 'packet', 'alg', 'vsock', 'inet_high_bits', 'tiocsti', 'tiocsti_high_bits', 'tioclinux', 'personality_linux32', 'personality_no_aslr', 'sched_other_reset_on_fork', 'sched_fifo'];
    expect(errnoOf(filtered, byFilter)).toEqual(all(byFilter, TRACER_ERRNO));
    expect(filtered).toMatchObject({ fork: 0, socketpair: 0, unix: 0, inet6: 0, inet6_udp: 0, fionread: 0, tcgets_on_pipe: 25, personality_query: 0, sched_other: 0 });
  });

  it('judge: no socket of any family; a socketpair, threads and processes still work', async () => {
    const real = await probe(argumentProbe, 'judge');
    expect(real).toMatchObject({ thread: 0, fork: 0, socketpair: 0, unix: EPERM, inet: EPERM, inet6: EPERM, netlink_route: EPERM, packet: EPERM, vsock: EPERM });
    const filtered = await traced(argumentProbe, 'judge');
    expect(errnoOf(filtered, ['unix', 'inet', 'inet6', 'netlink_route'])).toEqual(all(['unix', 'inet', 'inet6', 'netlink_route'], TRACER_ERRNO));
  });

  it('judge is chosen per job, for language and command jobs', async () => {
    const source = `
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
int main(void) { int fd = socket(AF_INET, SOCK_DGRAM, 0); printf("%d %d\\n", fd, fd < 0 ? errno : 0); return 0; }`;
    const judged = await job({ language: 'c', files: file(source), seccomp_profile: 'judge' });
    expect(judged.run).toMatchObject({ status: 'ok', stdout: `-1 ${EPERM}\n` });
    const standard = await job({ language: 'c', files: file(source) });
    expect(standard.run?.stdout).toMatch(/^\d+ 0\n$/);
    const command = await job({ command: ['python3', '-c', 'import socket; socket.socket()'], seccomp_profile: 'judge' });
    expect(command.run).toMatchObject({ status: 'nonzero_exit' });
    expect(command.run!.stderr).toMatch(/PermissionError: \[Errno 1\]/);
  });

  for (const profile of ['standard', 'judge'] as const) {
    it(`${profile}: runtimes keep their threads, processes, event loops and pools`, async () => {
      const py = `
import asyncio, multiprocessing, subprocess, threading, os
def square(x): return x * x
async def main(): await asyncio.sleep(0.01); return 'asyncio'
t = threading.Thread(target=lambda: None); t.start(); t.join()
with multiprocessing.Pool(2) as pool: squares = pool.map(square, range(4))
out = subprocess.run(['echo', 'child'], capture_output=True, text=True).stdout.strip()
print(squares, out, asyncio.run(main()), os.cpu_count() > 0)
`;
      const python = await job({ language: 'python3', files: [{ path: 'main.py', content: Buffer.from(py) }], seccomp_profile: profile });
      expect(python.run).toMatchObject({ status: 'ok', stdout: "[0, 1, 4, 9] child asyncio True\n" });
      const cpp = '#include <thread>\n#include <future>\n#include <iostream>\nint main(){auto f=std::async(std::launch::async,[]{return 6*7;});std::thread t([]{});t.join();std::cout<<f.get()<<"\\n";}';
      const threads = await job({ language: 'cpp', files: [{ path: 'main.cpp', content: Buffer.from(cpp) }], seccomp_profile: profile });
      expect(threads.run).toMatchObject({ status: 'ok', stdout: '42\n' });
      const perl = await job({ command: ['perl', '-e', 'my $p = fork; if (!$p) { exit 7 } waitpid($p, 0); print $? >> 8, "\\n"'], seccomp_profile: profile });
      expect(perl.run).toMatchObject({ status: 'ok', stdout: '7\n' });
    });

    it(`${profile}: kills x32 syscall numbers`, async () => {
      const result = await job({
        language: 'c',
        seccomp_profile: profile,
        files: file('#include <unistd.h>\n#include <sys/syscall.h>\nint main(void) { syscall(0x40000000 | SYS_getpid); return 0; }'),
      });
      expect(result.run).toMatchObject({ status: 'signalled', signal: 'SIGSYS' });
    });

    it(`${profile}: kills 32-bit int 0x80 syscalls`, async () => {
      // getpid through the i386 entry point: 20 in the 32-bit table.
      const source = 'int main(void) { long ret; __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(20L) : "memory"); return ret > 0 ? 0 : 1; }';
      const result = await job({ language: 'c', seccomp_profile: profile, files: file(source) });
      // A kernel without IA-32 emulation (ia32_emulation=0, or built without it) refuses int 0x80 itself with
      // SIGSEGV before any filter sees it: then no 32-bit syscall can get through on this host at all.
      expect(result.run).toMatchObject({ status: 'signalled', signal: i386SyscallSignal() });
    });
  }
});

