/**
 * Network egress against the real kernel: nftables, network namespaces, veth pairs, tc, dnsmasq and
 * bubblewrap. Traffic goes only to this machine: a fake internet and fake private services in namespaces
 * this test makes (world.ts), the host's own addresses, and other jobs; a guard table drops anything that
 * would leave through the machine's real interfaces, and the last test checks it never had to.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifiedRootfs } from '../rootfs/build.js';
import { resolveLimits } from '../sandbox/limits.js';
import { EgressNetwork } from '../sandbox/network.js';
import { BLOCKED_IPV4, subnetAddresses } from '../sandbox/network-rules.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { SlotPool, type Slot } from '../sandbox/slots.js';
import { sweepSlot } from '../sandbox/sweep.js';
import { jobRequestSchema } from '../contract/job-request.js';
import { LANGUAGES } from '../rootfs/languages.js';
import { RuncellMetrics } from '../monitoring/metrics.js';
import { runJob } from '../worker/job.js';
import { toJobRequest } from '../worker/request.js';
import { config } from './helpers.js';
import { FakeWorld, Guard, INTERNET, PRIVATE_SERVICES } from './network/world.js';

const SUBNET = '10.213.0.0/24';
const MAX_CONNECTIONS = 4;
/** 8 Mbit/s: 1 MB/s each way. */
const RATE_BITS = 8_000_000;

const guard = new Guard();
const world = new FakeWorld();
const network = new EgressNetwork({
  dataDir: config.dataDir,
  subnet: SUBNET,
  upstreamDns: [INTERNET.dns],
  rebindOkNames: [INTERNET.name],
  maxConnections: MAX_CONNECTIONS,
  rateBitsPerSecond: RATE_BITS,
});
let sandbox: Sandbox;
let pool: SlotPool;
/** A TCP server of the host on every address: no job may ever reach it. */
let hostServer: Server;
let hostPort = 0;
let hostConnections = 0;

/** Every address of the host, IPv4 and IPv6, but those of the test's namespaces' transit links. */
function hostAddresses(): string[] {
  const links = JSON.parse(execFileSync('ip', ['-j', 'addr'], { encoding: 'utf8' })) as { addr_info: { local: string; scope: string }[] }[];
  return links.flatMap((link) => link.addr_info.filter((a) => a.scope !== 'link').map((a) => a.local));
}

async function runIn(slot: Slot, script: string, egress: boolean, wallMs = 20_000) {
  const workspace = await sandbox.createWorkspace(slot, 16 << 20);
  try {
    return await sandbox.run({ slot, workspace, boxWritable: true, argv: ['python3', '-c', script], network: egress ? 'egress' : 'none', limits: resolveLimits({ wall_ms: wallMs }) });
  } finally {
    await workspace.remove();
  }
}

const run = (script: string, egress = true, wallMs?: number) => pool.withSlot((slot) => runIn(slot, script, egress, wallMs));

/** A Python job that tries each (host, port) and prints "host port: ok" or the error, one a line. */
function probes(targets: [string, number][]): string {
  return `
import socket
for host, port in ${JSON.stringify(targets)}:
    try:
        family = socket.AF_INET6 if ':' in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM); s.settimeout(2); s.connect((host, port)); print(host, port, 'ok'); s.close()
    except Exception as e:
        print(host, port, type(e).__name__, e)
`;
}

function leftovers(): string[] {
  const { names } = network;
  const namespaces = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith(names.netns(0).replace(/-0$/, '-'))) : [];
  const links = readdirSync('/sys/class/net').filter((n) => n.startsWith(`rcv${names.tag}`));
  const flows = [0, 1, 2, 3].flatMap((slot) => {
    const listed = execFileSync('conntrack', ['-L', '-s', subnetAddresses(SUBNET, slot).job], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return listed.split('\n').filter((line) => line.trim() !== '');
  });
  return [...namespaces, ...links, ...flows];
}

beforeAll(async () => {
  guard.install();
  await world.create();
  // What an earlier, interrupted run of this file left.
  await network.teardown();
  await network.ensure();
  sandbox = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs: verifiedRootfs(config.dataDir, config.languages), network });
  pool = new SlotPool({ dataDir: config.dataDir, count: 4, uidBase: config.uidBase });
  hostServer = createServer((socket) => {
    hostConnections++;
    socket.end('host\n');
  });
  await new Promise<void>((resolve) => hostServer.listen(0, '::', resolve));
  hostPort = (hostServer.address() as { port: number }).port;
}, 60_000);

afterAll(async () => {
  hostServer?.close();
  world.destroy();
  await network.teardown();
  guard.remove();
});

describe('network egress', () => {
  it('the fake private services are routed from the host (so only runcell\'s rules keep jobs from them)', async () => {
    for (const address of PRIVATE_SERVICES) {
      const answer = execFileSync(process.execPath, ['-e', `require('http').get('http://${address}/', (r) => r.pipe(process.stdout))`], { encoding: 'utf8', timeout: 5000 });
      expect(answer).toBe(`private service ${address}\n`);
    }
  });

  it('an egress job reaches the outside HTTP server by name (DNS through runcell\'s resolver), and its bytes are counted', async () => {
    const result = await run(`
import urllib.request
print(urllib.request.urlopen('http://${INTERNET.name}/', timeout=5).read().decode(), end='')
`);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('hello from the fake internet\n');
    expect(result.status).toBe('ok');
    expect(result.network!.bytes_in).toBeGreaterThan(100);
    expect(result.network!.bytes_out).toBeGreaterThan(100);
  });

  it('a submitted command job with network "egress" gets it in its run step (the worker\'s path)', async () => {
    const schema = jobRequestSchema({ limits: config.limits, languages: LANGUAGES.map((l) => l.id) });
    const submission = schema.parse({ command: ['python3', '-c', `import urllib.request; print(urllib.request.urlopen('http://${INTERNET.name}/', timeout=5).read().decode(), end='')`], network: 'egress' });
    const result = await pool.withSlot((slot) => runJob({ sandbox, slot, table: config.limits }, toJobRequest(submission)));
    expect(result.run!.stdout).toBe('hello from the fake internet\n');
    const { bytes_in, bytes_out } = result.run!.network!;
    expect(bytes_in).toBeGreaterThan(0);
    // The worker counts the run's bytes in runcell_network_bytes_total.
    const metrics = new RuncellMetrics({ defaultMetrics: false });
    metrics.observeJob({ language: 'command', status: 'completed', run: result.run, queuedAt: 0, finishedAt: 1 });
    const text = await metrics.render();
    expect(text).toContain(`runcell_network_bytes_total{direction="in"} ${bytes_in}`);
    expect(text).toContain(`runcell_network_bytes_total{direction="out"} ${bytes_out}`);
  });

  it('a worker without an egress network fails an egress run with network_unavailable', async () => {
    const plain = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs: verifiedRootfs(config.dataDir, config.languages) });
    const result = await pool.withSlot(async (slot) => {
      const workspace = await plain.createWorkspace(slot, 1 << 20);
      try {
        return await plain.run({ slot, workspace, boxWritable: true, argv: ['/bin/true'], network: 'egress', limits: resolveLimits({}) });
      } finally {
        await workspace.remove();
      }
    });
    expect(result.status).toBe('sandbox_error');
    expect(result.error_code).toBe('network_unavailable');
  });

  it('an egress job reaches none of the host\'s addresses and ports, no private service, not the metadata address', async () => {
    const targets: [string, number][] = [
      ...hostAddresses().map((address): [string, number] => [address, hostPort]),
      [subnetAddresses(SUBNET, 0).gateway, hostPort],
      [subnetAddresses(SUBNET, 0).gateway, 22],
      ['203.0.113.1', hostPort],
      ...PRIVATE_SERVICES.map((address): [string, number] => [address, 80]),
    ];
    const result = await run(probes(targets), true, 60_000);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(targets.length);
    for (const line of lines) expect(line).not.toMatch(/ ok$/);
    expect(hostConnections).toBe(0);
  });

  it('an egress job cannot connect to its own listener (inbound SYNs dropped): no connection can wait unaccepted for it', async () => {
    // Why an egress run may have TCP at all (seccomp-policy.ts EGRESS_POLICY): a connection nobody accepts is charged to no cgroup.
    const result = await run(`
import socket
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
probe.connect(('${INTERNET.http}', 80))  # no packet: it only picks the job's own address
own = probe.getsockname()[0]
listener = socket.socket()
listener.bind(('0.0.0.0', 0))
listener.listen(16)
port = listener.getsockname()[1]
for address in ['127.0.0.1', own]:
    client = socket.socket()
    client.settimeout(1.5)
    try:
        client.connect((address, port))
        print('CONNECTED', address)
    except OSError as error:
        print('not connected', type(error).__name__)
`);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('not connected TimeoutError\nnot connected TimeoutError\n');
  });

  it('an egress job can change nothing of its network: no netlink, raw or packet socket, no IPv6 address', async () => {
    const result = await run(`
import socket
for name, args in [('netlink', (socket.AF_NETLINK, socket.SOCK_RAW, 0)), ('raw', (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)), ('packet', (socket.AF_PACKET, socket.SOCK_RAW, 0))]:
    try: socket.socket(*args); print(name, 'opened')
    except OSError as e: print(name, e.errno)
print(open('/proc/net/if_inet6').read().split())
`);
    // The seccomp policy: other families EAFNOSUPPORT (97), raw sockets EPERM (1); and the job's namespace, not its own, would refuse them anyway.
    expect(result.stdout).toBe('netlink 97\nraw 1\npacket 97\n' + "['00000000000000000000000000000001', '01', '80', '10', '80', 'lo']\n");
  });

  it('names resolving to private addresses are refused by the resolver (DNS rebinding)', async () => {
    const result = await run(`
import socket
for name in ['private.example.test', 'metadata.example.test']:
    try: print(name, socket.gethostbyname(name))
    except Exception as e: print(name, 'refused', e)
`);
    expect(result.stdout).toMatch(/private.example.test refused/);
    expect(result.stdout).toMatch(/metadata.example.test refused/);
  });

  it('an egress job reaches no concurrent egress job', async () => {
    const [listener, prober] = await Promise.all([pool.acquire(), pool.acquire()]);
    try {
      const listen = runIn(listener, `
import socket
s = socket.socket(); s.bind(('0.0.0.0', 8080)); s.listen(); s.settimeout(4)
try: s.accept(); print('accepted')
except socket.timeout: print('nobody came')
`, true);
      const probe = runIn(prober, `import time; time.sleep(1)\n${probes([[subnetAddresses(SUBNET, listener.index).job, 8080]])}`, true);
      const [listened, probed] = await Promise.all([listen, probe]);
      expect(listened.stdout).toBe('nobody came\n');
      expect(probed.stdout).not.toMatch(/ ok$/m);
    } finally {
      pool.release(listener);
      pool.release(prober);
    }
  });

  it('a job without egress reaches nothing and resolves nothing', async () => {
    const result = await run(`${probes([[INTERNET.http, 80], [subnetAddresses(SUBNET, 0).gateway, 53]])}
import socket
try: print(socket.gethostbyname('${INTERNET.name}'))
except Exception as e: print('no name', e)
`, false);
    expect(result.stdout).not.toMatch(/ ok$/m);
    expect(result.stdout).toMatch(/no name/);
    expect(result.network).toBeUndefined();
  });

  it(`the bandwidth cap holds: 2 MB at ${RATE_BITS / 1e6} Mbit/s take about 2 s`, async () => {
    const result = await run(`
import time, urllib.request
start = time.monotonic()
body = urllib.request.urlopen('http://${INTERNET.http}/bytes?n=2000000', timeout=30).read()
print(len(body), round(time.monotonic() - start, 2))
`);
    const [length, seconds] = result.stdout.trim().split(' ').map(Number);
    expect(length).toBe(2_000_000);
    // A lower bound: a busy machine only makes it slower. 2 MB at 1 MB/s, less the first burst.
    expect(seconds).toBeGreaterThan(1.5);
    expect(result.network!.bytes_in).toBeGreaterThan(2_000_000);
  });

  it(`the bandwidth cap holds the other way: 2 MB sent at ${RATE_BITS / 1e6} Mbit/s take about 2 s`, async () => {
    const result = await run(`
import time, http.client
start = time.monotonic()
c = http.client.HTTPConnection('${INTERNET.http}', 80, timeout=30)
c.request('POST', '/upload', body=b'x' * 2000000)
print(c.getresponse().read().decode().strip(), round(time.monotonic() - start, 2))
`);
    const [length, seconds] = result.stdout.trim().split(' ').map(Number);
    expect(length).toBe(2_000_000);
    expect(seconds).toBeGreaterThan(1.5);
    expect(result.network!.bytes_out).toBeGreaterThan(2_000_000);
  });

  it(`the connection cap holds (${MAX_CONNECTIONS} TCP connections)`, async () => {
    const result = await run(`
import socket
held = []
for i in range(${MAX_CONNECTIONS * 2}):
    try:
        s = socket.create_connection(('${INTERNET.http}', 80), timeout=2)
        s.sendall(b'GET /hold HTTP/1.0\\r\\n\\r\\n'); s.recv(100); held.append(s)
    except Exception as e: pass
print(len(held))
`);
    expect(result.stdout).toBe(`${MAX_CONNECTIONS}\n`);
  });

  it(`the connection cap counts UDP flows too, and the slot's next job starts from none (its conntrack entries went with it)`, async () => {
    // Each socket is a flow of its own to the fake internet's DNS server; UDP flows stay in conntrack for 30 s
    // after their last packet, so without the run's clean-up the next job would find the cap used up.
    const script = `
import socket
query = b'\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x03www\\x07example\\x04test\\x00\\x00\\x01\\x00\\x01'
answered = 0
for i in range(${MAX_CONNECTIONS * 2}):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
    try:
        s.connect(('${INTERNET.dns}', 53)); s.send(query); s.recv(512); answered += 1
    except Exception as e: pass
print(answered, flush=True)
`;
    const slot = pool.acquire();
    try {
      const first = await runIn(slot, script, true);
      expect(first.stdout).toBe(`${MAX_CONNECTIONS}\n`);
      const second = await runIn(slot, script, true);
      expect(second.stdout).toBe(`${MAX_CONNECTIONS}\n`);
    } finally {
      pool.release(slot);
    }
  });

  it('nothing is left after the runs: no namespace, interface or conntrack entry', () => {
    expect(leftovers()).toEqual([]);
  });

  it('what a killed worker left is swept: its run\'s namespace, veth pair and flows', async () => {
    const slot = 3;
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'network', 'egress-child.ts'), SUBNET, String(slot)], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('connected') && resolve());
        child.once('exit', (code) => reject(new Error(`the child exited (${code}) before its job connected`)));
      });
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    expect(leftovers().length).toBeGreaterThan(0);
    const report = await sweepSlot({ cgroups: sandbox.cgroups, dataDir: config.dataDir, slot, network });
    expect(report.problems).toEqual([]);
    expect(report.network.join(' ')).toMatch(/namespace .* conntrack/);
    expect(leftovers()).toEqual([]);
  });

  it('no packet ever tried to leave the machine (the guard dropped none)', () => {
    expect(guard.dropped()).toBe(0);
  });

  it('docs/security.md lists every blocked range', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'security.md'), 'utf8');
    for (const { range } of BLOCKED_IPV4) expect(doc).toContain(`\`${range}\``);
  });
});
