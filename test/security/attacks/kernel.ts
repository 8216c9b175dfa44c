/**
 * Kernel surface the allow-list must not open (issue 11, sections 2 and 3):
 * socket protocols other than TCP and UDP (MPTCP, UDP-Lite, SCTP), netlink,
 * kernel TLS, huge pages outside the memory limit, and page-cache residency
 * through RWF_NOWAIT; and what a job learns of the host (section 4): the
 * mount table's host paths and slot uids, /proc's host-wide files. Probes
 * print "label outcome" lines.
 */
import { expect } from 'vitest';
import { config } from '../../helpers.js';
import { C_PRELUDE, probeLines, PY_PRELUDE, type ProgramAttack } from '../attack.js';

function outcomes(expected: Record<string, string | RegExp>) {
  return (run: { status: string; stdout: string; stderr: string }) => {
    expect(run, run.stderr).toMatchObject({ status: 'ok' });
    const probe = probeLines(run.stdout);
    for (const [label, outcome] of Object.entries(expected)) {
      expect({ label, outcome: probe[label] }).toEqual({ label, outcome: typeof outcome === 'string' ? outcome : expect.stringMatching(outcome) });
    }
  };
}

const SOCKET_PROBE_C = `${C_PRELUDE}#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/netlink.h>
#define SOCK(label, family, type, protocol) TRY(label, socket(family, type, protocol))
int main(void) {
  SOCK("inet_tcp_0", AF_INET, SOCK_STREAM, 0);
  SOCK("inet_tcp_6", AF_INET, SOCK_STREAM, IPPROTO_TCP);
  SOCK("inet6_udp_17", AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
  SOCK("inet_mptcp", AF_INET, SOCK_STREAM, 262);
  SOCK("inet6_mptcp", AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 262);
  SOCK("inet_udplite", AF_INET, SOCK_DGRAM, 136);
  SOCK("inet6_udplite", AF_INET6, SOCK_DGRAM, 136);
  SOCK("inet_sctp", AF_INET, SOCK_STREAM, 132);
  SOCK("inet_sctp_seq", AF_INET, SOCK_SEQPACKET, 132);
  SOCK("unix_proto_1", AF_UNIX, SOCK_STREAM, 1);
  /* The kernel reads an int: protocol 6 with upper bits set must not pass as TCP, nor as anything. */
  TRY("inet_tcp_high_bits", syscall(SYS_socket, AF_INET, SOCK_STREAM, 0x100000006L));
  SOCK("netlink_route", AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
  SOCK("netlink_route_dgram", AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_ROUTE);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  TRY("tcp_ulp_tls", setsockopt(s, SOL_TCP, TCP_ULP, "tls", 3));
  TRY("tcp_ulp_high_bits", syscall(SYS_setsockopt, s, 0x100000006L, 0x10000001fL, "tls", 3));
  int one = 1;
  TRY("tcp_nodelay", setsockopt(s, SOL_TCP, TCP_NODELAY, &one, sizeof one));
  return 0;
}
`;

const NOWAIT_PROBE_C = `${C_PRELUDE}#include <sys/uio.h>
#include <sys/shm.h>
int main(void) {
  char buf[4096];
  struct iovec iov = { buf, sizeof buf };
  /* A large shared file of the rootfs: some of its pages are cached, some not. */
  int fd = open("/usr/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY);
  TRY("preadv2_plain", preadv2(fd, &iov, 1, 0, 0));
  TRY("preadv2_nowait", preadv2(fd, &iov, 1, 1 << 20, RWF_NOWAIT));
  TRY("preadv2_nowait_hipri", preadv2(fd, &iov, 1, 0, RWF_NOWAIT | RWF_HIPRI));
  int out = open("/tmp/f", O_CREAT | O_RDWR, 0600);
  TRY("pwritev2_plain", pwritev2(out, &iov, 1, 0, 0));
  TRY("pwritev2_nowait", pwritev2(out, &iov, 1, 0, RWF_NOWAIT));
  TRY("mmap_hugetlb", mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0) == MAP_FAILED ? -1 : 0);
  TRY("memfd_hugetlb", memfd_create("h", MFD_HUGETLB));
  TRY("shmget_hugetlb", shmget(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | 0600));
  TRY("mmap_plain", mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 0);
  TRY("memfd_plain", memfd_create("p", 0));
  return 0;
}
`;

export const KERNEL_ATTACKS: ProgramAttack[] = [
  {
    id: 'L21-c-socket-protocols',
    line: 21,
    does: 'opens MPTCP, UDP-Lite and SCTP sockets over IPv4 and IPv6, netlink route sockets, attaches kernel TLS (TCP_ULP)',
    language: 'c',
    source: SOCKET_PROBE_C,
    expect: outcomes({
      // No TCP at all (a connection nobody accepts is charged to no cgroup): TCP_ULP meets the filter first (EPERM), TCP_NODELAY the closed fd.
      inet_tcp_0: 'EPERM', inet_tcp_6: 'EPERM', inet6_udp_17: 'ok', tcp_nodelay: 'EBADF',
      inet_mptcp: 'EPERM', inet6_mptcp: 'EPERM', inet_udplite: 'EPERM', inet6_udplite: 'EPERM', inet_sctp: 'EPERM', inet_sctp_seq: 'EPERM',
      unix_proto_1: 'EPERM', inet_tcp_high_bits: 'EPERM',
      netlink_route: 'EAFNOSUPPORT', netlink_route_dgram: 'EAFNOSUPPORT',
      tcp_ulp_tls: 'EPERM', tcp_ulp_high_bits: 'EPERM',
    }),
  },
  {
    id: 'L21-python-mptcp-loopback',
    line: 21,
    does: 'listens and connects with MPTCP over the job\'s loopback, opens UDP-Lite, lists interfaces through netlink',
    language: 'python',
    source: `${PY_PRELUDE}import socket
def mptcp():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
    server.bind(('127.0.0.1', 0)); server.listen()
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
    client.connect(server.getsockname())
try_('mptcp_connect', mptcp)
try_('mptcp6', lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM, 262))
try_('udplite', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDPLITE))
try_('netlink', lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
try_('if_nameindex', socket.if_nameindex)
def tcp():
    server = socket.create_server(('127.0.0.1', 0))
    socket.create_connection(server.getsockname()).sendall(b'x')
try_('tcp_connect', tcp)
try_('getaddrinfo', lambda: socket.getaddrinfo('127.0.0.1', 80, flags=socket.AI_ADDRCONFIG))
try_('getaddrinfo_passive', lambda: socket.getaddrinfo(None, 80, flags=socket.AI_PASSIVE | socket.AI_ADDRCONFIG))
`,
    expect: outcomes({ mptcp_connect: 'EPERM', mptcp6: 'EPERM', udplite: 'EPERM', netlink: 'EAFNOSUPPORT', if_nameindex: 'EAFNOSUPPORT', tcp_connect: 'EPERM', getaddrinfo: 'ok', getaddrinfo_passive: 'ok' }),
  },
  {
    id: 'L21-sh-perl-protocols',
    line: 21,
    does: 'a shell script whose perl opens MPTCP, UDP-Lite and netlink sockets',
    language: 'sh',
    source: `for spec in "2 1 262 mptcp" "10 1 262 mptcp6" "2 2 136 udplite" "16 3 0 netlink" "2 1 0 tcp" "2 2 17 udp"; do
  set -- $spec
  perl -e 'use Socket; use POSIX; if (socket(my $s, $ARGV[0], $ARGV[1], $ARGV[2])) { print "$ARGV[3] ok\\n" } else { my %n = (1 => "EPERM", 97 => "EAFNOSUPPORT", 93 => "EPROTONOSUPPORT"); print "$ARGV[3] ", ($n{$!+0} // $!+0), "\\n" }' "$1" "$2" "$3" "$4"
done`,
    expect: outcomes({ mptcp: 'EPERM', mptcp6: 'EPERM', udplite: 'EPERM', netlink: 'EAFNOSUPPORT', tcp: 'EPERM', udp: 'ok' }),
  },
  {
    id: 'L21-c-nowait-residency',
    line: 21,
    does: 'asks preadv2/pwritev2 with RWF_NOWAIT which pages of a shared rootfs file are cached; maps huge pages outside the memory limit',
    language: 'c',
    source: NOWAIT_PROBE_C,
    expect: outcomes({
      preadv2_plain: 'ok', pwritev2_plain: 'ok', mmap_plain: 'ok', memfd_plain: 'ok',
      preadv2_nowait: 'EOPNOTSUPP', preadv2_nowait_hipri: 'EOPNOTSUPP', pwritev2_nowait: 'EOPNOTSUPP',
      mmap_hugetlb: 'EPERM', memfd_hugetlb: 'EPERM', shmget_hugetlb: 'EPERM',
    }),
  },
  {
    id: 'L21-python-nowait-residency',
    line: 21,
    does: 'os.preadv with RWF_NOWAIT over the pages of the python binary, to map which are cached',
    language: 'python',
    source: `${PY_PRELUDE}fd = os.open('/usr/bin/python3', os.O_RDONLY)
size = os.fstat(fd).st_size
def scan():
    for offset in range(0, size, 1 << 16):
        try:
            os.preadv(fd, [bytearray(4096)], offset, os.RWF_NOWAIT)
        except BlockingIOError:
            pass
try_('nowait_scan', scan)
try_('plain', lambda: os.preadv(fd, [bytearray(4096)], 0))
`,
    // Python names errno 95 ENOTSUP.
    expect: outcomes({ nowait_scan: /^(EOPNOTSUPP|ENOTSUP)$/, plain: 'ok' }),
  },
  {
    id: 'L13-sh-mountinfo-host-layout',
    line: 13,
    does: "reads the mount table for the host's paths (data dir, rootfs, helper) and the slot's host uid and gid",
    language: 'sh',
    source: `for f in /proc/self/mountinfo /proc/1/mountinfo /proc/self/mounts; do
  echo "$f-datadir $(grep -c '${config.dataDir}' $f)"
  echo "$f-varlib $(grep -c '/var/lib' $f)"
  echo "$f-host-uid $(grep -cE '(uid|gid)=[1-9]' $f)"
done`,
    expect: outcomes(Object.fromEntries(['/proc/self/mountinfo', '/proc/1/mountinfo', '/proc/self/mounts'].flatMap((f) => [[`${f}-datadir`, '0'], [`${f}-varlib`, '0'], [`${f}-host-uid`, '0']]))),
  },
  {
    id: 'L13-python-mountinfo-roots',
    line: 13,
    does: "parses /proc/self/mountinfo: every mount's root within its filesystem, its source and its options",
    language: 'python',
    source: `import re
roots, options = set(), []
for line in open('/proc/self/mountinfo'):
    left, right = line.split(' - ')
    roots.add(left.split()[3])
    options.append(right.split()[2])
# A bind from the host shows the host directory it came from as its root.
print('host_roots', sorted(r for r in roots if r not in ('/', '/empty', '/dev') and not re.fullmatch(r'/(null|zero|full|random|urandom)', r)) or 'none')
print('uid_options', [o for o in options if re.search(r'(^|,)(uid|gid)=', o)] or 'none')
print('fd_paths_only', all(p.startswith('/proc/self/fd/') for o in options for p in re.findall(r'lowerdir=([^,]*)', o) for p in p.split(':')))
`,
    expect: outcomes({ host_roots: 'none', uid_options: 'none', fd_paths_only: 'True' }),
  },
  {
    id: 'L13-c-mountinfo-scan',
    line: 13,
    does: "a C program that scans its own and pid 1's mount table for '/var/', 'rootfs', 'helper' and 'uid='",
    language: 'c',
    source: `${C_PRELUDE}
int main(void) {
  const char *files[] = { "/proc/self/mountinfo", "/proc/1/mountinfo" };
  const char *needles[] = { "/var/", "rootfs", "helper", "uid=", "gid=" };
  for (int f = 0; f < 2; f++) {
    FILE *in = fopen(files[f], "r");
    char line[4096];
    int found[5] = {0};
    while (in && fgets(line, sizeof line, in))
      for (int n = 0; n < 5; n++) found[n] += strstr(line, needles[n]) != NULL;
    for (int n = 0; n < 5; n++) printf("%d:%s %d\\n", f, needles[n], found[n]);
  }
  return 0;
}
`,
    expect: outcomes(Object.fromEntries([0, 1].flatMap((f) => ['/var/', 'rootfs', 'helper', 'uid=', 'gid='].map((n) => [`${f}:${n}`, '0'])))),
  },
  {
    id: 'L13-sh-proc-host-files',
    line: 13,
    does: "reads /proc's host-wide files (Docker's masked paths, host load, interrupts, disks, kernel command line) and lists its hardware directories",
    language: 'sh',
    source: `for f in kcore keys key-users timer_list sched_debug sysrq-trigger loadavg interrupts softirqs diskstats partitions cmdline zoneinfo buddyinfo swaps; do
  if [ -e /proc/$f ]; then echo "$f $(cat /proc/$f 2>/dev/null | head -c 65536 | wc -c)"; else echo "$f 0"; fi
done
for d in acpi irq bus fs driver tty pressure scsi asound; do echo "$d/ $(ls -A /proc/$d 2>/dev/null | wc -l)"; done
echo "sysrq-write $(echo h 2>/dev/null > /proc/sysrq-trigger && echo ok || echo denied)"`,
    expect: outcomes({
      ...Object.fromEntries(['kcore', 'keys', 'key-users', 'timer_list', 'sched_debug', 'sysrq-trigger', 'loadavg', 'interrupts', 'softirqs', 'diskstats', 'partitions', 'cmdline', 'zoneinfo', 'buddyinfo', 'swaps'].map((f) => [f, '0'])),
      ...Object.fromEntries(['acpi', 'irq', 'bus', 'fs', 'driver', 'tty', 'pressure', 'scsi', 'asound'].map((d) => [`${d}/`, '0'])),
      'sysrq-write': 'denied',
    }),
  },
  {
    id: 'L13-python-host-activity',
    line: 13,
    does: "watches other tenants' activity: host load, CPU/memory/IO pressure, interrupt counts",
    language: 'python',
    source: `${PY_PRELUDE}def read(path):
    def go():
        with open(path) as f:
            if f.read():
                return
        raise OSError(errno.ENODATA, 'empty')
    return go
try_('loadavg', read('/proc/loadavg'))
try_('getloadavg', os.getloadavg)
try_('pressure_cpu', read('/proc/pressure/cpu'))
try_('pressure_io', read('/proc/pressure/io'))
try_('interrupts', read('/proc/interrupts'))
try_('stat', read('/proc/stat'))
try_('meminfo', read('/proc/meminfo'))
`,
    // /proc/stat (CPU count for runtimes) and /proc/meminfo stay, and glibc's getloadavg asks sysinfo(2),
    // which the job keeps (sysconf and runtimes size themselves with it): docs/security.md says why.
    expect: outcomes({ loadavg: /^(EACCES|ENODATA)$/, getloadavg: 'ok', pressure_cpu: 'ENOENT', pressure_io: 'ENOENT', interrupts: /^(EACCES|ENODATA)$/, stat: 'ok', meminfo: 'ok' }),
  },
];
