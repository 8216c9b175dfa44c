/**
 * The seccomp policies: data only, compiled by seccomp.ts. Every syscall rule
 * runcell applies is in this file and nowhere else; docs/security.md lists it
 * (test/seccomp-doc.test.ts keeps the two in step).
 *
 * An allow-list, modelled on Docker's default profile minus what untrusted
 * programs never need: a syscall this file does not allow fails with EPERM
 * and the job goes on. Where an allowed syscall's flags or arguments open
 * more kernel surface (socket protocols, huge pages, RWF_NOWAIT, TCP_ULP),
 * the rule says which values pass. Two profiles: `standard` (the default) and `judge`,
 * which is `standard` without socket(): nothing to connect to or listen on
 * (an unnamed AF_UNIX socketpair stays: the JVM cannot start without one).
 */
import { SECCOMP_PROFILE_NAMES, type SeccompProfileName } from '../contract/job-request.js';

export type Errno = 'EPERM' | 'ENOSYS' | 'EAFNOSUPPORT' | 'EOPNOTSUPP';

export const ERRNO: Record<Errno, number> = { EPERM: 1, ENOSYS: 38, EAFNOSUPPORT: 97, EOPNOTSUPP: 95 };

/** A comparison on one syscall argument. */
export type ArgCondition =
  | { arg: number; op: 'eq' | 'ge'; value: bigint }
  | { arg: number; op: 'masked_eq'; mask: bigint; value: bigint };

export interface SyscallRule {
  syscalls: string[];
  /** What the filter answers: run the call, or fail it with this errno. */
  action: 'allow' | Errno;
  /** The rule applies only when every condition holds. */
  when?: ArgCondition[];
  /**
   * The rule applies unless (argument & mask) is one of `values` (and, with
   * `when`, only when every condition there holds too); the compiler turns
   * it into the equivalent set of masked comparisons (BPF has no "not equal
   * under a mask").
   */
  unless?: { arg: number; mask: bigint; values: bigint[] };
  why: string;
}

export { SECCOMP_PROFILE_NAMES, type SeccompProfileName };
export const DEFAULT_SECCOMP_PROFILE: SeccompProfileName = 'standard';

export interface SeccompPolicy {
  /** A profile a job may ask for, or `egress`: the standard profile of a run with network egress. */
  name: SeccompProfileName | 'egress';
  /** Answer to every syscall no rule allows. */
  defaultErrno: 'EPERM';
  rules: SyscallRule[];
  /**
   * Syscall numbers above every one this policy names, up to `upTo`: newer
   * than the policy, answered as an older kernel would (ENOSYS), so that a
   * newer libc or runtime falls back instead of failing on EPERM.
   */
  newerSyscalls: { errno: Errno; upTo: number; why: string };
  /**
   * Syscalls this policy leaves out on purpose (they fail with the default
   * errno), with the reason: documentation, and what the test probe calls.
   */
  denied: { syscalls: string[]; why: string }[];
}

/** clone() flags that make a namespace: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET. */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000n;

const AF_UNIX = 1n;
const AF_INET = 2n;
const AF_INET6 = 10n;
/** Above this, no family exists (AF_MCTP = 45 in Linux 6.x). */
const HIGHEST_SOCKET_FAMILY = 45;
const SOCK_DGRAM = 2n;
const SOCK_STREAM = 1n;
/** The low bits of socket()'s type argument; the rest are SOCK_NONBLOCK and SOCK_CLOEXEC. */
const SOCK_TYPE_MASK = 0xfn;
/** socket()'s protocol: 0 picks the family's default (UDP for datagram). */
const IPPROTO_DEFAULT = 0n;
const IPPROTO_UDP = 17n;
const IPPROTO_TCP = 6n;
/** setsockopt(SOL_TCP, TCP_ULP, "tls"...) attaches an upper-layer protocol (kTLS, espintcp): CVE-2023-0461 and others. */
const SOL_TCP = 6n;
const TCP_ULP = 31n;

/** Pages from the huge page pool are charged to the hugetlb controller, not to the job's memory limit. */
const MAP_HUGETLB = 0x40000n;
const MFD_HUGETLB = 0x4n;
const SHM_HUGETLB = 0x800n;
/** preadv2/pwritev2 flag: fail with EAGAIN instead of waiting for the disk, i.e. tell cached pages from uncached ones. */
const RWF_NOWAIT = 0x8n;

const TIOCSTI = 0x5412n;
const TIOCLINUX = 0x541cn;
/** The kernel reads int arguments (ioctl's request, setsockopt's level and name) as 32 bits, whatever the upper bits say (CVE-2019-10063). */
const LOW_32_BITS = 0xffffffffn;

/** sched_setscheduler's default, time-sharing policy; the real-time ones are SCHED_FIFO (1) and SCHED_RR (2). */
const SCHED_OTHER = 0n;

const PER_LINUX = 0n;
/** personality(0xffffffff) only reads the current persona. */
const PERSONALITY_QUERY = 0xffffffffn;

const allow = (why: string, ...syscalls: string[]): SyscallRule => ({ syscalls, action: 'allow', why });

/** A syscall allowed only with one flag clear. */
const withoutFlag = (syscall: string, arg: number, flag: bigint, name: string): SyscallRule => ({
  syscalls: [syscall],
  action: 'allow',
  when: [{ arg, op: 'masked_eq', mask: flag, value: 0n }],
  why: `without ${name}: huge pages are charged to the hugetlb controller, outside the job's memory limit`,
});

/** What every program may do: the groups below, each allowed as a whole. */
const BASE_RULES: SyscallRule[] = [
  allow('memory', 'brk', 'munmap', 'mremap', 'mprotect', 'madvise', 'msync', 'mlock', 'mlock2', 'munlock', 'mlockall', 'munlockall', 'membarrier', 'pkey_alloc', 'pkey_free', 'pkey_mprotect', 'remap_file_pages'),
  allow(
    "page residency of the caller's own mappings: since Linux 5.0 mincore reports a shared file's page cache only to who may write the file, and the job can write only its own /box and /tmp (the rootfs answers for its own page tables alone)",
    'mincore',
  ),
  withoutFlag('mmap', 3, MAP_HUGETLB, 'MAP_HUGETLB'),
  withoutFlag('memfd_create', 1, MFD_HUGETLB, 'MFD_HUGETLB'),
  withoutFlag('shmget', 2, SHM_HUGETLB, 'SHM_HUGETLB'),
  allow(
    'processes and threads (clone is allowed below, without namespace flags)',
    'fork', 'vfork', 'execve', 'execveat', 'exit', 'exit_group', 'wait4', 'waitid', 'kill', 'tkill', 'tgkill',
    'getpid', 'getppid', 'gettid', 'getpgid', 'getpgrp', 'setpgid', 'getsid', 'setsid',
    'set_tid_address', 'set_robust_list', 'get_robust_list', 'rseq', 'arch_prctl', 'prctl', 'futex', 'futex_waitv',
    'sched_yield', 'sched_getaffinity', 'sched_setaffinity', 'sched_getparam', 'sched_getscheduler', 'sched_getattr',
    'sched_get_priority_max', 'sched_get_priority_min', 'sched_rr_get_interval', 'getpriority', 'setpriority', 'getcpu',
    'pidfd_open', 'pidfd_send_signal', 'seccomp',
  ),
  allow('identity, read only', 'getuid', 'geteuid', 'getgid', 'getegid', 'getgroups', 'getresuid', 'getresgid', 'capget'),
  allow(
    'signals',
    'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'rt_sigpending', 'rt_sigsuspend', 'rt_sigtimedwait', 'rt_sigqueueinfo',
    'rt_tgsigqueueinfo', 'sigaltstack', 'signalfd', 'signalfd4', 'pause', 'alarm', 'restart_syscall',
  ),
  allow(
    'clocks and timers (reading the clock, not setting it)',
    'clock_gettime', 'clock_getres', 'clock_nanosleep', 'nanosleep', 'gettimeofday', 'time', 'times', 'getitimer', 'setitimer',
    'timer_create', 'timer_settime', 'timer_gettime', 'timer_getoverrun', 'timer_delete', 'timerfd_create', 'timerfd_settime', 'timerfd_gettime',
  ),
  allow(
    'files and directories (the mounts decide what is visible and writable)',
    'read', 'write', 'readv', 'writev', 'pread64', 'pwrite64', 'preadv', 'pwritev',
    'open', 'openat', 'openat2', 'creat', 'close', 'close_range', 'lseek', 'dup', 'dup2', 'dup3', 'fcntl', 'flock',
    'fsync', 'fdatasync', 'sync_file_range', 'truncate', 'ftruncate', 'fallocate', 'fadvise64', 'readahead',
    'stat', 'fstat', 'lstat', 'newfstatat', 'statx', 'statfs', 'fstatfs', 'access', 'faccessat', 'faccessat2',
    'getdents', 'getdents64', 'getcwd', 'chdir', 'fchdir', 'mkdir', 'mkdirat', 'rmdir', 'rename', 'renameat', 'renameat2',
    'link', 'linkat', 'symlink', 'symlinkat', 'unlink', 'unlinkat', 'readlink', 'readlinkat',
    'chmod', 'fchmod', 'fchmodat', 'fchmodat2', 'chown', 'fchown', 'fchownat', 'lchown', 'umask', 'utime', 'utimes', 'utimensat', 'futimesat',
    'mknod', 'mknodat',
    'getxattr', 'lgetxattr', 'fgetxattr', 'listxattr', 'llistxattr', 'flistxattr', 'setxattr', 'lsetxattr', 'fsetxattr',
    'removexattr', 'lremovexattr', 'fremovexattr',
    'copy_file_range', 'sendfile', 'splice', 'tee', 'vmsplice',
    'inotify_init', 'inotify_init1', 'inotify_add_watch', 'inotify_rm_watch',
  ),
  {
    syscalls: ['preadv2', 'pwritev2'],
    action: 'allow',
    when: [{ arg: 5, op: 'masked_eq', mask: RWF_NOWAIT, value: 0n }],
    why: 'without RWF_NOWAIT (below)',
  },
  {
    syscalls: ['preadv2', 'pwritev2'],
    action: 'EOPNOTSUPP',
    when: [{ arg: 5, op: 'masked_eq', mask: RWF_NOWAIT, value: RWF_NOWAIT }],
    why: 'RWF_NOWAIT fails with EAGAIN exactly when a page is not in the page cache: a residency side channel on the shared rootfs, as cachestat is. EOPNOTSUPP is what a file without NOWAIT support answers, so callers retry without it',
  },
  allow('waiting for events', 'poll', 'ppoll', 'select', 'pselect6', 'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_wait', 'epoll_pwait', 'epoll_pwait2', 'eventfd', 'eventfd2'),
  allow(
    'pipes and System V / POSIX IPC (the job has an IPC namespace of its own)',
    'pipe', 'pipe2', 'shmat', 'shmdt', 'shmctl', 'semget', 'semop', 'semtimedop', 'semctl', 'msgget', 'msgsnd', 'msgrcv', 'msgctl',
    'mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedreceive', 'mq_notify', 'mq_getsetattr',
  ),
  allow('system information and own resource limits', 'uname', 'sysinfo', 'getrlimit', 'setrlimit', 'prlimit64', 'getrusage', 'getrandom'),
  {
    syscalls: ['clone'],
    action: 'allow',
    when: [{ arg: 0, op: 'masked_eq', mask: CLONE_NAMESPACE_FLAGS, value: 0n }],
    why: 'threads and processes, but no new namespace (they widen the kernel attack surface, user namespaces above all)',
  },
  {
    syscalls: ['clone3'],
    action: 'ENOSYS',
    why: 'its flags live in memory a filter cannot read; ENOSYS makes glibc fall back to clone, which is filtered',
  },
  {
    syscalls: ['ioctl'],
    action: 'allow',
    unless: { arg: 1, mask: LOW_32_BITS, values: [TIOCSTI, TIOCLINUX] },
    why: 'every request but TIOCSTI and TIOCLINUX, which push input into a terminal (compared on the low 32 bits, as the kernel reads them)',
  },
  {
    syscalls: ['socketpair'],
    action: 'allow',
    when: [
      { arg: 0, op: 'eq', value: AF_UNIX },
      { arg: 2, op: 'eq', value: IPPROTO_DEFAULT },
    ],
    why: 'an unnamed, connected pair of unix sockets reaches nothing outside the job; the JVM and libuv (node\'s child processes) need one',
  },
  allow('using a socket pair', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg', 'sendmmsg', 'recvmmsg', 'shutdown', 'getsockopt', 'getsockname', 'getpeername'),
  {
    syscalls: ['setsockopt'],
    action: 'allow',
    unless: { arg: 1, mask: LOW_32_BITS, values: [SOL_TCP] },
    why: 'every option of every level but TCP (below)',
  },
  {
    syscalls: ['setsockopt'],
    action: 'allow',
    when: [{ arg: 1, op: 'masked_eq', mask: LOW_32_BITS, value: SOL_TCP }],
    unless: { arg: 2, mask: LOW_32_BITS, values: [TCP_ULP] },
    why: 'TCP options but TCP_ULP: upper-layer protocols (kernel TLS) are kernel surface with a CVE record (CVE-2023-0461) no job needs',
  },
  ...[PER_LINUX, PERSONALITY_QUERY].map(
    (value): SyscallRule => ({
      syscalls: ['personality'],
      action: 'allow',
      when: [{ arg: 0, op: 'eq', value }],
      why: 'only the plain Linux persona and the query; other personas change address-space layout and ABI details',
    }),
  ),
  {
    syscalls: ['sched_setscheduler'],
    action: 'allow',
    when: [{ arg: 1, op: 'eq', value: SCHED_OTHER }],
    why: "SCHED_OTHER only (whose one priority is 0: the policy every job already has; no SCHED_RESET_ON_FORK bit). Mono sets each new thread's priority with pthread_setschedparam, keeping its policy, and prints a warning on the program's stdout when that fails; real-time policies stay denied",
  },
];

/** socket() of one type over IPv4 and IPv6, with protocol 0 or the one given: nothing else of that type. */
function inetSocketRules(type: bigint, protocol: bigint, why: string): SyscallRule[] {
  return [AF_INET, AF_INET6].flatMap((family) =>
    [IPPROTO_DEFAULT, protocol].map(
      (value): SyscallRule => ({
        syscalls: ['socket'],
        action: 'allow',
        when: [
          { arg: 0, op: 'eq', value: family },
          { arg: 1, op: 'masked_eq', mask: SOCK_TYPE_MASK, value: type },
          { arg: 2, op: 'eq', value },
        ],
        why,
      }),
    ),
  );
}

/**
 * Sockets of the standard profile only: unix, and UDP over IPv4/IPv6
 * (loopback only), with its default protocol or named as such. No TCP: the
 * kernel charges a TCP connection's memory to a cgroup only once a process
 * accept()s it, so connections a job makes to its own listener and never
 * accepts held their buffers for no cgroup (198 to 443 MiB under a 32 MiB
 * limit, up to the host-wide TCP pool, which the API's sockets share), and
 * every accepted socket may queue one segment past the cgroup's limit. No
 * count of them can be capped per job (they are not open files). No
 * netlink: its queued replies are charged to no cgroup (a job held 173 MiB
 * with a 32 MiB limit), and getifaddrs() is the only thing that wants it.
 */
const SOCKET_RULES: SyscallRule[] = [
  allow('naming, connecting and listening', 'bind', 'listen', 'accept', 'accept4', 'connect'),
  {
    syscalls: ['socket'],
    action: 'allow',
    when: [
      { arg: 0, op: 'eq', value: AF_UNIX },
      { arg: 2, op: 'eq', value: IPPROTO_DEFAULT },
    ],
    why: 'unix sockets (the job has no path to any host socket, and its own network namespace hides abstract ones)',
  },
  ...inetSocketRules(
    SOCK_DGRAM,
    IPPROTO_UDP,
    'UDP (protocol 0 or IPPROTO_UDP), charged to the job from its first byte; the network namespace has only lo. No TCP (a connection nobody accepts is charged to no cgroup), raw sockets, MPTCP, UDP-Lite or SCTP (EPERM)',
  ),
  ...otherSocketFamilies().map(
    (condition): SyscallRule => ({
      syscalls: ['socket'],
      action: 'EAFNOSUPPORT',
      when: [condition],
      why: 'every other family (netlink, packet, vsock, alg, bluetooth...): "not supported" lets programs fall back (glibc\'s getaddrinfo then assumes both IPv4 and IPv6; getifaddrs fails)',
    }),
  ),
];

/** Left out of every profile (the default EPERM answers them); the test probe calls each. */
const DENIED: SeccompPolicy['denied'] = [
  { syscalls: ['mount', 'umount2', 'pivot_root', 'chroot', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree', 'mount_setattr'], why: 'the mount table is set up by bubblewrap before the job starts and never changes after' },
  { syscalls: ['unshare', 'setns'], why: 'no new namespaces' },
  { syscalls: ['ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp', 'pidfd_getfd', 'process_madvise', 'process_mrelease'], why: 'no reading or steering other processes' },
  { syscalls: ['keyctl', 'add_key', 'request_key'], why: 'the kernel keyring is not namespaced' },
  { syscalls: ['bpf', 'perf_event_open', 'userfaultfd', 'modify_ldt'], why: 'frequent kernel exploit primitives' },
  { syscalls: ['io_uring_setup', 'io_uring_enter', 'io_uring_register', 'io_setup', 'io_submit', 'io_getevents', 'io_pgetevents', 'io_cancel', 'io_destroy'], why: 'asynchronous I/O interfaces: io_uring bypasses syscall filtering and is a frequent exploit target; Linux AIO is not needed' },
  { syscalls: ['kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'reboot'], why: 'kernel code and power state' },
  { syscalls: ['swapon', 'swapoff', 'acct', 'quotactl', 'quotactl_fd', 'syslog', 'vhangup', 'sync', 'syncfs', 'sethostname', 'setdomainname', 'lookup_dcookie', 'fanotify_init', 'fanotify_mark'], why: 'host administration; sync and syncfs would flush the host\'s disks' },
  { syscalls: ['settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex'], why: "the clock is the host's" },
  { syscalls: ['open_by_handle_at', 'name_to_handle_at'], why: 'file handles open files outside the mount namespace (the "shocker" escape)' },
  { syscalls: ['setuid', 'setgid', 'setreuid', 'setregid', 'setresuid', 'setresgid', 'setgroups', 'setfsuid', 'setfsgid', 'capset'], why: 'a job never changes identity' },
  { syscalls: ['sched_setparam', 'sched_setattr', 'ioprio_set', 'ioprio_get', 'mbind', 'set_mempolicy', 'get_mempolicy', 'migrate_pages', 'move_pages'], why: 'real-time scheduling (sched_setscheduler is allowed for SCHED_OTHER alone, above), I/O priority and NUMA placement are the host\'s' },
  { syscalls: ['landlock_create_ruleset', 'landlock_add_rule', 'landlock_restrict_self', 'memfd_secret', 'uselib', 'ustat', 'sysfs'], why: 'rarely used kernel interfaces a job does not need' },
  { syscalls: ['cachestat'], why: 'page-cache residency of files the job can open: a side channel on other users of the same files' },
];

const JUDGE_DENIED: SeccompPolicy['denied'] = [
  { syscalls: ['socket', 'connect', 'bind', 'listen', 'accept', 'accept4'], why: 'judge profile: no socket at all (only the unnamed socketpair above, which reaches nothing)' },
];

const NEWER_SYSCALLS: SeccompPolicy['newerSyscalls'] = {
  errno: 'ENOSYS',
  // 512 and above are the x32 ABI's, killed by the architecture check.
  upTo: 511,
  why: 'newer than this policy: "not implemented", as an older kernel says, so libc falls back (map_shadow_stack, mseal, ...)',
};

export const STANDARD_POLICY: SeccompPolicy = {
  name: 'standard',
  defaultErrno: 'EPERM',
  rules: [...BASE_RULES, ...SOCKET_RULES],
  newerSyscalls: NEWER_SYSCALLS,
  denied: DENIED,
};

/**
 * TCP, only for runs with network egress (RunSpec.network): what a CI script
 * needs to fetch a dependency. The attack that keeps TCP out of the standard
 * profile (connections nobody accepts, charged to no cgroup) needs a
 * listener the job can reach: an egress run's namespace drops every inbound
 * SYN (network.ts), its own loopback included, and runcell's NAT lets no
 * connection in from outside.
 */
const EGRESS_SOCKET_RULES: SyscallRule[] = inetSocketRules(
  SOCK_STREAM,
  IPPROTO_TCP,
  "egress runs only: outbound TCP (protocol 0 or IPPROTO_TCP); the run's namespace drops inbound SYNs, so no connection to the job can wait unaccepted",
);

/** The standard profile of a run with network egress: standard plus outbound TCP. Never asked for by name. */
export const EGRESS_POLICY: SeccompPolicy = {
  name: 'egress',
  defaultErrno: 'EPERM',
  rules: [...BASE_RULES, ...SOCKET_RULES, ...EGRESS_SOCKET_RULES],
  newerSyscalls: NEWER_SYSCALLS,
  denied: DENIED,
};

export const JUDGE_POLICY: SeccompPolicy = {
  name: 'judge',
  defaultErrno: 'EPERM',
  rules: BASE_RULES,
  newerSyscalls: NEWER_SYSCALLS,
  denied: [...DENIED, ...JUDGE_DENIED],
};

export const SECCOMP_POLICIES: Record<SeccompProfileName, SeccompPolicy> = { standard: STANDARD_POLICY, judge: JUDGE_POLICY };

/** One equality per family that is not allowed, and everything above the highest known. */
function otherSocketFamilies(): ArgCondition[] {
  const allowed = [AF_UNIX, AF_INET, AF_INET6];
  const conditions: ArgCondition[] = [];
  for (let family = 0n; family <= BigInt(HIGHEST_SOCKET_FAMILY); family++) {
    if (!allowed.includes(family)) conditions.push({ arg: 0, op: 'eq', value: family });
  }
  // Anything larger, including values with upper bits set that the kernel would truncate.
  conditions.push({ arg: 0, op: 'ge', value: BigInt(HIGHEST_SOCKET_FAMILY + 1) });
  return conditions;
}

/** Every syscall a policy lets run (with or without argument conditions). */
export function allowedSyscalls(policy: SeccompPolicy): string[] {
  return [...new Set(policy.rules.filter((rule) => rule.action === 'allow').flatMap((rule) => rule.syscalls))].sort();
}
