/**
 * The network: docs/threats.md line 25. The test starts real targets on the host
 * (a redis-server on TCP, the API, a counting TCP listener on every address,
 * an abstract unix socket) and hands their ports to the programs; none may
 * be reached, and the listener must count no connection at all.
 */
import { expect } from 'vitest';
import { C_PRELUDE, probeLines, type AttackContext, type ProgramAttack } from '../attack.js';

/** Every "label outcome" line is a failure to connect; none says connected. */
function noneConnected(minimum: number) {
  return (run: { status: string; stdout: string }) => {
    expect(run.status).toBe('ok');
    const probe = probeLines(run.stdout);
    const labels = Object.keys(probe);
    expect(labels.length).toBeGreaterThanOrEqual(minimum);
    for (const label of labels) expect({ label, outcome: probe[label] }).not.toEqual({ label, outcome: 'connected' });
  };
}

/** EPERM: the standard profile opens no TCP socket at all (docs/security.md). */
const UNREACHABLE = /^(EPERM|ECONNREFUSED|ENETUNREACH|EHOSTUNREACH|EADDRNOTAVAIL|ETIMEDOUT|timeout|EAFNOSUPPORT|EINVAL)$/;

function each(expected: RegExp | string, minimum: number) {
  return (run: { status: string; stdout: string }) => {
    noneConnected(minimum)(run);
    for (const [label, outcome] of Object.entries(probeLines(run.stdout))) {
      expect({ label, outcome }).toEqual({ label, outcome: typeof expected === 'string' ? expected : expect.stringMatching(expected) });
    }
  };
}

/** Python: tries TCP connections to (host, port) pairs, printing "host:port outcome". */
function pythonConnect(targets: (context: AttackContext) => [string, number][]) {
  return (context: AttackContext) => `import errno, socket
for host, port in ${JSON.stringify(targets(context))}:
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(1)
        s.connect((host, port))
        print(f'{host}:{port} connected')
    except socket.timeout:
        print(f'{host}:{port} timeout')
    except OSError as e:
        print(f'{host}:{port}', errno.errorcode.get(e.errno, e.errno))
`;
}

export const NETWORK_ATTACKS: ProgramAttack[] = [
  {
    id: 'L25-python-loopback-services',
    line: 25,
    does: "connects to 127.0.0.1: the test's redis-server, the API, the counting listener, the host's Redis 6379 and Postgres 5432",
    language: 'python',
    source: pythonConnect((c) => [['127.0.0.1', c.redisPort!], ['127.0.0.1', c.apiPort!], ['127.0.0.1', c.listenerPort!], ['127.0.0.1', 6379], ['127.0.0.1', 5432], ['::1', 6379], ['::1', c.listenerPort!]]),
    // No TCP socket opens (the standard profile has none); were one to, the job's loopback is its own and nothing listens there.
    expect: each(/^(EPERM|ECONNREFUSED)$/, 7),
  },
  {
    id: 'L25-python-host-addresses',
    line: 25,
    does: "connects to every address of the host, on the listener's, Redis's and the API's ports",
    language: 'python',
    source: pythonConnect((c) => c.hostAddresses!.filter((a) => !a.startsWith('127.') && a !== '::1').flatMap((a): [string, number][] => [[a, c.listenerPort!], [a, c.redisPort!], [a, c.apiPort!], [a, 6379]])),
    limits: { wall_ms: 20_000 },
    expect: each(UNREACHABLE, 1),
  },
  {
    id: 'L25-python-internet',
    line: 25,
    does: 'connects to public addresses (v4 and v6), sends UDP to a DNS server, resolves a name',
    language: 'python',
    source: `${pythonConnect(() => [['1.1.1.1', 443], ['8.8.8.8', 53], ['2606:4700:4700::1111', 443]])({})}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b'x', ('8.8.8.8', 53))
    print('udp connected')
except OSError as e:
    print('udp', errno.errorcode.get(e.errno, e.errno))
try:
    socket.getaddrinfo('deb.debian.org', 443)
    print('dns connected')
except socket.gaierror as e:
    print('dns', 'EAI', e.errno)
`,
    limits: { wall_ms: 20_000 },
    expect: (run) => {
      noneConnected(5)(run);
      const probe = probeLines(run.stdout);
      for (const label of ['1.1.1.1:443', '8.8.8.8:53', '2606:4700:4700::1111:443', 'udp']) expect({ label, outcome: probe[label] }).toEqual({ label, outcome: expect.stringMatching(UNREACHABLE) });
      expect(probe.dns).toMatch(/^EAI/);
    },
  },
  {
    id: 'L25-c-abstract-and-path-sockets',
    line: 25,
    does: 'connects to an abstract unix socket a host process listens on, and to host unix socket paths',
    language: 'c',
    source: (c) => `${C_PRELUDE}
#include <sys/un.h>
static void attempt(const char *label, const char *name, int abstract) {
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  socklen_t len;
  if (abstract) { addr.sun_path[0] = 0; strcpy(addr.sun_path + 1, name); len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name); }
  else { strcpy(addr.sun_path, name); len = sizeof addr; }
  printf("%s %s\\n", label, connect(s, (struct sockaddr *)&addr, len) == 0 ? "connected" : strerrorname_np(errno));
  close(s);
}
int main(void) {
  attempt("abstract_test", "${c.abstractSocket}", 1);
  attempt("abstract_systemd", "/org/freedesktop/systemd1/notify", 1);
  attempt("redis_socket", "/var/run/redis/redis-server.sock", 0);
  attempt("docker", "/var/run/docker.sock", 0);
  attempt("journal", "/run/systemd/journal/socket", 0);
  return 0;
}`,
    expect: (run) => {
      noneConnected(5)(run);
      // Abstract sockets belong to a network namespace: the host's are not there.
      expect(probeLines(run.stdout)).toMatchObject({ abstract_test: 'ECONNREFUSED', abstract_systemd: 'ECONNREFUSED', redis_socket: 'ENOENT', docker: 'ENOENT', journal: 'ENOENT' });
    },
  },
  {
    id: 'L25-c-raw-and-packet-sockets',
    line: 25,
    does: 'opens raw IP, packet, ICMP and netlink-with-privileges sockets, and binds a low port',
    language: 'c',
    source: `${C_PRELUDE}
#include <netinet/in.h>
#include <linux/if_packet.h>
int main(void) {
  TRY("raw_icmp", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
  TRY("raw_tcp", socket(AF_INET, SOCK_RAW, IPPROTO_TCP));
  TRY("raw_ipv6", socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6));
  TRY("packet", socket(AF_PACKET, SOCK_RAW, 0));
  TRY("packet_dgram", socket(AF_PACKET, SOCK_DGRAM, 0));
  int s = socket(AF_INET, SOCK_DGRAM, 0); /* UDP: the standard profile has no TCP */
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(80)};
  TRY("bind_low_port", bind(s, (struct sockaddr *)&addr, sizeof addr));
  return 0;
}`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      expect(probeLines(run.stdout)).toMatchObject({ raw_icmp: 'EPERM', raw_tcp: 'EPERM', raw_ipv6: 'EPERM', packet: 'EAFNOSUPPORT', packet_dgram: 'EAFNOSUPPORT', bind_low_port: 'EACCES' });
    },
  },
  {
    id: 'L25-sh-bash-dev-tcp',
    line: 25,
    does: "bash's /dev/tcp to Redis and the API on 127.0.0.1, and to the host's first address",
    language: 'sh',
    source: (c) => {
      const external = c.hostAddresses!.find((a) => !a.startsWith('127.') && !a.includes(':')) ?? '192.0.2.1';
      return `for target in 127.0.0.1/${c.redisPort} 127.0.0.1/${c.apiPort} ${external}/${c.listenerPort}; do
  bash -c "exec 3<>/dev/tcp/$target && echo PING >&3" 2>/dev/null && echo "$target connected" || echo "$target refused"
done`;
    },
    expect: (run) => {
      noneConnected(3)(run);
      expect(run.stdout).not.toContain('connected');
    },
  },
  {
    id: 'L25-python-interfaces',
    line: 25,
    does: 'lists its interfaces and routes, and tries to bring up a new one',
    language: 'python',
    source: `import errno, socket, subprocess
# if_nameindex asks netlink, which no job has (its queues are charged to no cgroup); /proc/net/dev is the job's own.
try:
    print('if_nameindex', ','.join(sorted(name for _, name in socket.if_nameindex())))
except OSError as e:
    print('if_nameindex', errno.errorcode[e.errno])
print('interfaces', ','.join(sorted(line.split(':')[0].strip() for line in open('/proc/net/dev').readlines()[2:])))
print('routes', len(open('/proc/net/route').read().strip().split('\\n')) - 1)
try:
    print('ip_link_add', subprocess.run(['ip', 'link', 'add', 'x0', 'type', 'dummy'], capture_output=True).returncode)
except FileNotFoundError:
    print('ip_link_add', 'no-ip-tool')
`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      const probe = probeLines(run.stdout);
      expect(probe.interfaces).toBe('lo');
      expect(probe.if_nameindex).toBe('EAFNOSUPPORT');
      expect(probe.routes).toBe('0');
      expect(probe.ip_link_add).not.toBe('0');
    },
  },
];
