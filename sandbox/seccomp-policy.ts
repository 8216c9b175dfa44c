/**
 * The seccomp policy: data only, compiled by seccomp.ts. Every syscall rule
 * runcell applies is in this file and nowhere else; docs/security.md lists it.
 *
 * This first policy is a deny-list on top of "allow": what a sandboxed
 * program never needs and what has served kernel exploits or escapes.
 * (A later hardening turns it into an allow-list.)
 */

export type Errno = 'EPERM' | 'ENOSYS' | 'EAFNOSUPPORT';

export const ERRNO: Record<Errno, number> = { EPERM: 1, ENOSYS: 38, EAFNOSUPPORT: 97 };

/** A comparison on one syscall argument; the rule applies only when it holds. */
export type ArgCondition =
  | { arg: number; op: 'eq' | 'ge'; value: bigint }
  | { arg: number; op: 'masked_eq'; mask: bigint; value: bigint };

export interface SyscallRule {
  syscalls: string[];
  errno: Errno;
  /** Rule applies only when this argument condition holds (one rule per condition). */
  when?: ArgCondition;
  why: string;
}

export interface SeccompPolicy {
  name: string;
  /** Action for syscalls no rule names. */
  defaultAction: 'allow';
  /**
   * Syscalls from another ABI (int 0x80 i386 entry, x32 numbers) kill the
   * process: libseccomp compiles this into the architecture check.
   */
  foreignArchAction: 'kill_process';
  rules: SyscallRule[];
}

const CLONE_NAMESPACE_FLAGS: Record<string, bigint> = {
  CLONE_NEWNS: 0x00020000n,
  CLONE_NEWCGROUP: 0x02000000n,
  CLONE_NEWUTS: 0x04000000n,
  CLONE_NEWIPC: 0x08000000n,
  CLONE_NEWUSER: 0x10000000n,
  CLONE_NEWPID: 0x20000000n,
  CLONE_NEWNET: 0x40000000n,
};

/** Socket families a job may open: unix, IPv4, IPv6 (loopback only: no interface but lo), netlink (getifaddrs). */
export const ALLOWED_SOCKET_FAMILIES = [1, 2, 10, 16];
const HIGHEST_SOCKET_FAMILY = 45;

const TIOCSTI = 0x5412n;
const TIOCLINUX = 0x541cn;
const LOW_32_BITS = 0xffffffffn;

export const STANDARD_POLICY: SeccompPolicy = {
  name: 'standard',
  defaultAction: 'allow',
  foreignArchAction: 'kill_process',
  rules: [
    {
      syscalls: ['mount', 'umount2', 'pivot_root', 'chroot', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree', 'mount_setattr'],
      errno: 'EPERM',
      why: 'the mount table is set up by bubblewrap before the job starts and never changes after',
    },
    { syscalls: ['unshare', 'setns'], errno: 'EPERM', why: 'no new namespaces: they widen the kernel attack surface (user namespaces above all)' },
    ...Object.entries(CLONE_NAMESPACE_FLAGS).map(
      ([flag, bit]): SyscallRule => ({
        syscalls: ['clone'],
        errno: 'EPERM',
        when: { arg: 0, op: 'masked_eq', mask: bit, value: bit },
        why: `clone with ${flag}`,
      }),
    ),
    {
      syscalls: ['clone3'],
      errno: 'ENOSYS',
      why: 'its flags live in memory a filter cannot read; ENOSYS makes glibc fall back to clone, which is filtered',
    },
    { syscalls: ['ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp', 'pidfd_getfd'], errno: 'EPERM', why: 'no reading or steering other processes' },
    { syscalls: ['keyctl', 'add_key', 'request_key'], errno: 'EPERM', why: 'the kernel keyring is not namespaced' },
    { syscalls: ['bpf', 'perf_event_open', 'userfaultfd'], errno: 'EPERM', why: 'frequent kernel exploit primitives' },
    { syscalls: ['io_uring_setup', 'io_uring_enter', 'io_uring_register'], errno: 'EPERM', why: 'io_uring bypasses syscall filtering and is a frequent exploit target' },
    { syscalls: ['kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'reboot'], errno: 'EPERM', why: 'kernel code and power state' },
    { syscalls: ['swapon', 'swapoff', 'acct', 'quotactl', 'quotactl_fd', 'syslog'], errno: 'EPERM', why: 'host administration' },
    { syscalls: ['settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex'], errno: 'EPERM', why: 'the clock is the host\'s' },
    { syscalls: ['open_by_handle_at', 'name_to_handle_at'], errno: 'EPERM', why: 'file handles open files outside the mount namespace (the "shocker" escape)' },
    ...deniedSocketFamilies().map(
      (condition): SyscallRule => ({
        syscalls: ['socket'],
        errno: 'EAFNOSUPPORT',
        when: condition,
        why: 'socket families other than unix, inet, inet6 and netlink (raw packet, vsock, alg, bluetooth...)',
      }),
    ),
    {
      syscalls: ['ioctl'],
      errno: 'EPERM',
      // The kernel compares only the low 32 bits of the request (CVE-2019-10063).
      when: { arg: 1, op: 'masked_eq', mask: LOW_32_BITS, value: TIOCSTI },
      why: 'TIOCSTI injects keystrokes into a terminal',
    },
    {
      syscalls: ['ioctl'],
      errno: 'EPERM',
      when: { arg: 1, op: 'masked_eq', mask: LOW_32_BITS, value: TIOCLINUX },
      why: 'TIOCLINUX can also inject input on a virtual console',
    },
  ],
};

/** One equality per denied family below the highest known, and everything above it. */
function deniedSocketFamilies(): ArgCondition[] {
  const conditions: ArgCondition[] = [];
  for (let family = 0; family <= HIGHEST_SOCKET_FAMILY; family++) {
    if (!ALLOWED_SOCKET_FAMILIES.includes(family)) conditions.push({ arg: 0, op: 'eq', value: BigInt(family) });
  }
  // Anything larger, including values with upper bits set that the kernel would truncate.
  conditions.push({ arg: 0, op: 'ge', value: BigInt(HIGHEST_SOCKET_FAMILY + 1) });
  return conditions;
}
