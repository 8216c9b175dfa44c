/**
 * Memory a job holds outside its cgroup (issue 11, section 1): programs that
 * fill every kind of kernel buffer the allow-list admits, in many processes,
 * and then sit on it. The test measures what the host's kernel holds while
 * they do (host-memory.test.ts); the property: at most the job's limit plus
 * a documented margin, whatever the job tries.
 */
import type { ScenarioAttack } from '../attack.js';

/** The kinds the C holder knows; each process fills up to 200 objects of its kind, then waits. */
export const HOLD_KINDS = ['tcp', 'tcp-backlog', 'udp', 'udp6', 'netlink', 'unix-backlog', 'unix-stream', 'unix-dgram', 'unix-fds-in-flight', 'pipe', 'sysv-msg', 'posix-mqueue', 'sysv-shm', 'posix-shm', 'epoll-inotify-eventfd-timerfd'] as const;
export type HoldKind = (typeof HOLD_KINDS)[number];

/** argv: KIND PROCESSES. Prints "held BYTES" per process once it has filled what it could. */
export const HOLDER_C = `#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/timerfd.h>
#include <unistd.h>
static char buf[65536];
static long held;
static int is(const char *kind, const char *name) { return strcmp(kind, name) == 0; }
static void fill(int fd) {
  fcntl(fd, F_SETFL, O_NONBLOCK);
  for (ssize_t n; (n = write(fd, buf, sizeof buf)) > 0;) held += n;
}
static void sendall(int fd, size_t size, int count) {
  fcntl(fd, F_SETFL, O_NONBLOCK);
  for (int k = 0; k < count && send(fd, buf, size, 0) >= 0; k++) held += size;
}
/* Ask for the largest buffers the kernel grants (rmem_max/wmem_max, doubled). */
static void big(int fd) {
  int v = 64 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
}
static int listener(struct sockaddr_in *addr) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  addr->sin_family = AF_INET; addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  big(l); bind(l, (void *)addr, sizeof *addr);
  socklen_t len = sizeof *addr; getsockname(l, (void *)addr, &len); listen(l, 512);
  return l;
}
static int one(const char *kind, int l, struct sockaddr_in *addr, int i, int carrier) {
  int sv[2];
  if (is(kind, "tcp-backlog")) {
    /* Connections nobody accepts, filled and closed: the kernel charges a TCP socket's memory to a
       cgroup only from accept() on, so the listener's queue holds them for no cgroup. 80 of 1 MiB. */
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || i >= 80) return -1;
    if (connect(c, (void *)addr, sizeof *addr) != 0) return -1;
    fcntl(c, F_SETFL, O_NONBLOCK);
    for (int k = 0; k < 16; k++) { ssize_t n = write(c, buf, sizeof buf); if (n <= 0) break; held += n; }
    close(c);
  } else if (is(kind, "unix-backlog")) {
    /* The same with unix connections to a listener that never accepts (its backlog bounds them). */
    struct sockaddr_un u = { AF_UNIX };
    snprintf(u.sun_path + 1, sizeof u.sun_path - 1, "hold-%d", getpid());
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    if (c < 0) return -1;
    if (connect(c, (void *)&u, sizeof u) != 0) return -1;
    big(c); fill(c);
  } else if (is(kind, "udp6")) {
    int s = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    if (s < 0) return -1;
    big(s); bind(s, (void *)&a, sizeof a);
    socklen_t len = sizeof a; getsockname(s, (void *)&a, &len); connect(s, (void *)&a, sizeof a);
    sendall(s, 60000, 300);
  } else if (is(kind, "sysv-shm")) {
    /* Segments outlive their processes (until the IPC namespace goes): 1 MiB each, touched. */
    int id = shmget(IPC_PRIVATE, 1 << 20, IPC_CREAT | 0600);
    if (id < 0) return -1;
    char *p = shmat(id, NULL, 0);
    if (p == (void *)-1) return -1;
    memset(p, 'x', 1 << 20); held += 1 << 20; shmdt(p);
  } else if (is(kind, "posix-shm")) {
    char name[64]; snprintf(name, sizeof name, "/s%d-%d", getpid(), i);
    int fd = shm_open(name, O_CREAT | O_RDWR, 0600);
    if (fd < 0) return -1;
    for (int k = 0; k < 16 && write(fd, buf, sizeof buf) > 0; k++) held += sizeof buf;
    close(fd);
  } else if (is(kind, "tcp")) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0) return -1;
    big(c);
    if (connect(c, (void *)addr, sizeof *addr) != 0) return -1;
    int s = accept(l, NULL, NULL);
    if (s >= 0) { big(s); fill(s); }
    fill(c);
  } else if (is(kind, "udp")) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (s < 0) return -1;
    big(s); bind(s, (void *)&a, sizeof a);
    socklen_t len = sizeof a; getsockname(s, (void *)&a, &len); connect(s, (void *)&a, sizeof a);
    sendall(s, 60000, 300);
  } else if (is(kind, "netlink")) {
    /* Requests whose replies queue on the socket, never read (refused now: socket() fails). */
    int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    struct { struct nlmsghdr h; struct ifinfomsg i; } req = { { sizeof req, RTM_GETLINK, NLM_F_REQUEST }, { .ifi_index = 1 } };
    if (s < 0) return -1;
    big(s);
    fcntl(s, F_SETFL, O_NONBLOCK);
    for (int k = 0; k < 300 && send(s, &req, sizeof req, 0) >= 0; k++) held += 1024;
  } else if (is(kind, "unix-stream") || is(kind, "unix-fds-in-flight")) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return -1;
    big(sv[0]); big(sv[1]); fill(sv[0]); fill(sv[1]);
    if (is(kind, "unix-fds-in-flight")) {
      /* Send both full ends through the carrier and close them: no fd table holds them any more. */
      char c = 'x'; struct iovec iov = { &c, 1 };
      union { struct cmsghdr h; char space[CMSG_SPACE(2 * sizeof(int))]; } u;
      struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.space, .msg_controllen = sizeof u.space };
      struct cmsghdr *h = CMSG_FIRSTHDR(&m);
      h->cmsg_level = SOL_SOCKET; h->cmsg_type = SCM_RIGHTS; h->cmsg_len = CMSG_LEN(2 * sizeof(int));
      memcpy(CMSG_DATA(h), sv, sizeof sv);
      if (sendmsg(carrier, &m, MSG_DONTWAIT) < 0) return -1;
      close(sv[0]); close(sv[1]);
    }
  } else if (is(kind, "unix-dgram")) {
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) return -1;
    big(sv[0]); big(sv[1]); sendall(sv[0], 60000, 1000); sendall(sv[1], 60000, 1000);
  } else if (is(kind, "pipe")) {
    if (pipe(sv) != 0) return -1;
    fcntl(sv[1], F_SETPIPE_SZ, 1 << 20); fill(sv[1]);
  } else if (is(kind, "sysv-msg")) {
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    struct { long type; char text[8000]; } m = { 1 };
    if (q < 0) return -1;
    for (int k = 0; k < 100 && msgsnd(q, &m, sizeof m.text, IPC_NOWAIT) == 0; k++) held += sizeof m.text;
  } else if (is(kind, "posix-mqueue")) {
    char name[64]; snprintf(name, sizeof name, "/q%d-%d", getpid(), i);
    struct mq_attr attr = { .mq_maxmsg = 10, .mq_msgsize = 8192 };
    mqd_t q = mq_open(name, O_CREAT | O_RDWR | O_NONBLOCK, 0600, &attr);
    if (q < 0) return -1;
    for (int k = 0; k < 10 && mq_send(q, buf, 8192, 0) == 0; k++) held += 8192;
  } else {
    int ep = epoll_create1(0), in = inotify_init1(0), ev = eventfd(0, 0), tf = timerfd_create(CLOCK_MONOTONIC, 0);
    if (ep < 0 || ev < 0 || tf < 0) return -1;
    struct epoll_event e = { EPOLLIN };
    epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e); epoll_ctl(ep, EPOLL_CTL_ADD, tf, &e);
    if (in >= 0) inotify_add_watch(in, "/tmp", IN_ALL_EVENTS);
  }
  return 0;
}
static void worker(const char *kind) {
  struct sockaddr_in addr = {0};
  int l = is(kind, "tcp") || is(kind, "tcp-backlog") ? listener(&addr) : -1, carrier[2] = { -1, -1 };
  if (is(kind, "unix-backlog")) {
    struct sockaddr_un u = { AF_UNIX };
    snprintf(u.sun_path + 1, sizeof u.sun_path - 1, "hold-%d", getpid());
    l = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(l, (void *)&u, sizeof u); listen(l, 4096);
  }
  if (is(kind, "unix-fds-in-flight")) { socketpair(AF_UNIX, SOCK_STREAM, 0, carrier); big(carrier[0]); }
  for (int i = 0; i < 200 && one(kind, l, &addr, i, carrier[0]) == 0; i++) {}
  printf("held %ld\\n", held);
  fflush(stdout);
  pause();
}
int main(int argc, char **argv) {
  memset(buf, 'x', sizeof buf);
  for (int i = 0; i < atoi(argv[2]); i++) if (fork() == 0) worker(argv[1]);
  pause();
}
`;

/** Python: loopback TCP connections with the largest buffers, never read. */
export const HOLDER_PY = `import os, socket
for _ in range(7):
    if os.fork() == 0:
        break
server = socket.create_server(('127.0.0.1', 0), backlog=512)
held = []
for _ in range(120):
    c = socket.socket()
    for s in (c,):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    try:
        c.connect(server.getsockname())
    except OSError:
        break
    a, _ = server.accept()
    for s in (c, a):
        s.setblocking(False)
        try:
            while True:
                s.send(b'x' * 65536)
        except OSError:
            pass
    held += [c, a]
print('held', len(held), flush=True)
import signal
signal.pause()
`;

/** Python: loopback connections nobody accepts, each sent up to 1 MiB and closed (80 per process). */
export const BACKLOG_PY = `import os, signal, socket
for _ in range(7):
    if os.fork() == 0:
        break
held = 0
try:
    server = socket.create_server(('127.0.0.1', 0), backlog=512)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    for _ in range(80):
        c = socket.create_connection(server.getsockname())
        c.setblocking(False)
        try:
            for _ in range(16):
                held += c.send(b'x' * 65536)
        except BlockingIOError:
            pass
        c.close()
except OSError as e:
    print('refused', e, flush=True)
print('held', held, flush=True)
signal.pause()
`;

/** Shell: bash's /dev/tcp sends 1 MiB (a builtin printf, no process per connection) on each connection to a perl listener that never accepts. */
export const BACKLOG_SH = `perl -MSocket -e 'socket(my $s, AF_INET, SOCK_STREAM, 0) or die "socket: $!"; setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack("i", 64 << 20)); setsockopt($s, SOL_SOCKET, SO_REUSEADDR, pack("i", 1)); bind($s, pack_sockaddr_in(7000, inet_aton("127.0.0.1"))) or die "bind: $!"; listen($s, 4096) or die; sleep 100' &
sleep 0.3
for p in $(seq 2); do
  (for i in $(seq 320); do exec 3<>/dev/tcp/127.0.0.1/7000 && printf '%*s' 1048576 '' >&3; exec 3>&-; done; echo held) &
done
sleep 100`;

/** Shell: 60 pipelines whose reader never reads (each pipe full at its 64 KiB default). */
export const HOLDER_SH = `for i in $(seq 15); do (yes | sleep 100) & done; sleep 100`;

export const HOST_MEMORY_ATTACKS: ScenarioAttack[] = [
  ...HOLD_KINDS.map((kind): ScenarioAttack => ({ id: `L09-c-hold-${kind}`, line: 9, does: `fills ${kind} buffers in 8 processes under a 32 MiB limit, never reads them, and waits`, scenario: 'host-memory' })),
  { id: 'L09-python-hold-tcp', line: 9, does: 'loopback TCP connections in 8 processes with the largest buffers, never read', scenario: 'host-memory' },
  { id: 'L09-python-hold-tcp-backlog', line: 9, does: 'loopback connections in 8 processes that nobody accepts, each filled and closed', scenario: 'host-memory' },
  { id: 'L09-sh-hold-tcp-backlog', line: 9, does: "bash's /dev/tcp fills connections to a perl listener that never accepts", scenario: 'host-memory' },
  { id: 'L09-sh-hold-pipes', line: 9, does: '15 `yes | sleep` pipelines: full pipes nobody reads', scenario: 'host-memory' },
];
