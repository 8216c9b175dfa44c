/**
 * Opt-in network egress (a job with `network: "egress"`), built from the
 * kernel's own parts: per deployment, a bridge owned by runcell with the
 * nftables table of network-rules.ts (masquerading NAT, drops to the host,
 * private ranges and other jobs) and a dnsmasq on the bridge's address that
 * only resolves and forwards; per run, a network namespace with one end of a
 * veth pair in it (an address, a default route, no IPv6) and the other on the
 * bridge, each end shaped by a tbf qdisc (download and upload caps).
 *
 * The run's namespace is made before the launcher starts, and runcell-exec
 * launch --netns joins it before bubblewrap (which then gets no
 * --unshare-net): it is owned by the host's user namespace, so the job, in a
 * user namespace of its own, has no capability over it (no address, route,
 * qdisc or raw socket of its own making). Jobs without egress never come here.
 *
 * Names carry a tag of the data directory (as run cgroups do), so that two
 * deployments on one host never touch each other's bridges, tables,
 * namespaces or interfaces, and a sweep removes only its own.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mountTmpfs, unmount } from './mount.js';
import { egressRuleset, subnetAddresses } from './network-rules.js';

const exec = promisify(execFile);

export interface EgressOptions {
  /** The deployment's data directory: names are tagged with it, dnsmasq's pid file lives in it. */
  dataDir: string;
  /** The jobs' IPv4 subnet; the first address is the bridge's. Default 10.213.0.0/16. */
  subnet?: string;
  /** Where dnsmasq forwards queries. Default: the servers of the host's /etc/resolv.conf. */
  upstreamDns?: string[];
  /** Connections one job may have open at once (new ones beyond are dropped). Default 64. */
  maxConnections?: number;
  /** Bandwidth cap of one job, each way, in bits per second. Default 100 Mbit/s. */
  rateBitsPerSecond?: number;
  /**
   * Names whose answers may hold addresses dnsmasq counts as private (its --rebind-domain-ok). dnsmasq counts
   * the documentation ranges (198.51.100.0/24...) as private: the tests' fake internet lives there. Default none.
   */
  rebindOkNames?: string[];
}

export const DEFAULT_EGRESS_SUBNET = '10.213.0.0/16';
export const DEFAULT_MAX_CONNECTIONS = 64;
export const DEFAULT_RATE_BITS = 100_000_000;
/** The ruleset inside an egress run's namespace: every inbound TCP SYN dropped (replies to the job's own connections pass). */
const INBOUND_SYN_DROP = 'table inet runcell_job {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    tcp flags & (syn | ack) == syn drop\n  }\n}\n';

/** The directory of `ip netns` names. */
const NETNS_DIR = '/run/netns';

/** Bytes through a run's interface, seen from the job. */
export interface NetworkBytes {
  bytes_in: number;
  bytes_out: number;
}

/** One run's attachment to the egress network. */
export interface RunNetwork {
  /** The namespace runcell-exec launch --netns joins. */
  netnsPath: string;
  /** The job's address. */
  address: string;
  /** Reads the byte counters, then removes the namespace, the veth pair and the run's conntrack entries. */
  release(): Promise<NetworkBytes>;
}

export function deploymentTag(dataDir: string): string {
  return createHash('sha256').update(dataDir).digest('hex').slice(0, 8);
}

/** The names of one deployment's network objects. */
export function egressNames(dataDir: string) {
  const tag = deploymentTag(dataDir);
  return {
    tag,
    bridge: `rcb${tag}`,
    table: `runcell_${tag}`,
    /** Host end of slot `slot`'s veth pair (15 characters at most: slots below 10,000). */
    hostVeth: (slot: number) => `rcv${tag}${slot}`,
    netns: (slot: number) => `rcn${tag}-${slot}`,
  };
}

async function run(command: string, args: string[], input?: string): Promise<string> {
  const child = exec(command, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  try {
    return (await child).stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`${command} ${args.join(' ')}: ${stderr || (error as Error).message}`);
  }
}

export class EgressNetwork {
  readonly names: ReturnType<typeof egressNames>;
  readonly subnet: string;
  readonly gateway: string;
  readonly maxConnections: number;
  readonly rateBitsPerSecond: number;
  /** Holds the resolv.conf jobs see, on a tmpfs of its own (so their mount table shows no host path). */
  readonly etcDir: string;
  private readonly stateDir: string;

  constructor(private readonly options: EgressOptions) {
    this.names = egressNames(options.dataDir);
    this.subnet = options.subnet ?? DEFAULT_EGRESS_SUBNET;
    this.gateway = subnetAddresses(this.subnet, 0).gateway;
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.rateBitsPerSecond = options.rateBitsPerSecond ?? DEFAULT_RATE_BITS;
    this.stateDir = join(options.dataDir, 'network');
    this.etcDir = join(this.stateDir, 'etc');
  }

  /** What a job's /etc/resolv.conf is bound from. */
  get resolvConf(): string {
    return join(this.etcDir, 'resolv.conf');
  }

  /**
   * Sets up (or takes over, idempotently) the deployment's bridge, its
   * nftables table, the resolver and the jobs' resolv.conf. Every worker of
   * the deployment calls it at start; a failure leaves egress off (the
   * worker refuses egress jobs) rather than half on.
   */
  async ensure(): Promise<void> {
    const { bridge } = this.names;
    const prefix = subnetAddresses(this.subnet, 0).prefix;
    await this.refuseForeignSubnet();
    if (!existsSync(`/sys/class/net/${bridge}`)) await run('ip', ['link', 'add', bridge, 'type', 'bridge']).catch(ignoreExists);
    // No IPv6 on the bridge: jobs get none either (see attach), and the host answers none of theirs.
    writeSysctl(`net/ipv6/conf/${bridge}/disable_ipv6`, '1');
    await run('ip', ['-batch', '-'], `addr replace ${this.gateway}/${prefix} dev ${bridge}\nlink set ${bridge} up\n`);
    writeSysctl(`net/ipv4/conf/${bridge}/rp_filter`, '1');
    await run('nft', ['-f', '-'], egressRuleset({ table: this.names.table, bridge, subnet: this.subnet, gateway: this.gateway, maxConnections: this.maxConnections }));
    // Routing between the bridge and the host's interfaces (as Docker does); the table above decides what passes.
    writeSysctl('net/ipv4/ip_forward', '1');
    await this.ensureResolvConf();
    await this.ensureResolver();
  }

  /** Another interface already routes the subnet (another deployment, a VPN): sharing it would mix their traffic. */
  private async refuseForeignSubnet(): Promise<void> {
    const routes = JSON.parse(await run('ip', ['-j', 'route', 'show', 'root', this.subnet])) as { dst: string; dev: string }[];
    const foreign = routes.find((route) => route.dev !== this.names.bridge);
    if (foreign) throw new Error(`the egress subnet ${this.subnet} is already routed through ${foreign.dev} (${foreign.dst}): set RUNCELL_NETWORK_SUBNET to a free one`);
  }

  private async ensureResolvConf(): Promise<void> {
    mkdirSync(this.etcDir, { recursive: true, mode: 0o755 });
    if (!isMountPoint(this.etcDir)) await mountTmpfs(this.etcDir, { sizeBytes: 64 * 1024, inodes: 16, uid: 0, gid: 0 });
    writeFileSync(this.resolvConf, `nameserver ${this.gateway}\noptions timeout:2 attempts:2\n`, { mode: 0o644 });
  }

  private get pidFile(): string {
    return join(this.stateDir, 'dnsmasq.pid');
  }

  /** The dnsmasq of this deployment, when one runs (its pid file names a live dnsmasq). */
  resolverPid(): number | undefined {
    let pid: number;
    try {
      pid = Number(readFileSync(this.pidFile, 'utf8').trim());
      if (!Number.isInteger(pid) || pid <= 0) return undefined;
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'dnsmasq' ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * dnsmasq, bound to the gateway address only: it resolves and forwards
   * (no DHCP, no hosts file, no answers from the host's own names), drops
   * its privileges, and refuses upstream answers in private ranges (DNS
   * rebinding). It outlives a worker (each worker reuses the live one).
   */
  private async ensureResolver(): Promise<void> {
    if (this.resolverPid() !== undefined) return;
    const upstream = this.options.upstreamDns ?? [];
    await run('dnsmasq', [
      '--conf-file=/dev/null',
      `--pid-file=${this.pidFile}`,
      `--listen-address=${this.gateway}`,
      '--bind-interfaces',
      `--interface=${this.names.bridge}`,
      '--except-interface=lo',
      '--port=53',
      '--no-hosts',
      '--no-dhcp-interface=' + this.names.bridge,
      ...(upstream.length > 0 ? ['--no-resolv', ...upstream.map((server) => `--server=${server}`)] : ['--resolv-file=/etc/resolv.conf']),
      '--stop-dns-rebind',
      ...(this.options.rebindOkNames ?? []).map((name) => `--rebind-domain-ok=/${name}/`),
      '--domain-needed',
      '--bogus-priv',
      '--cache-size=1000',
      '--dns-forward-max=256',
      '--user=nobody',
      '--group=nogroup',
    ]);
    if (this.resolverPid() === undefined) throw new Error('dnsmasq did not start (no live pid in its pid file)');
  }

  /**
   * The network of one run in `slot`: a namespace with lo and eth0 (the
   * slot's address, a default route through the gateway, no IPv6 address),
   * the host end on the bridge as an isolated port, a tbf qdisc each way.
   */
  async attach(slot: number): Promise<RunNetwork> {
    const { bridge } = this.names;
    const ns = this.names.netns(slot);
    const veth = this.names.hostVeth(slot);
    const { job, prefix } = subnetAddresses(this.subnet, slot);
    // Whatever a run of this slot left (a worker killed mid-run) goes first.
    if (this.slotLeftovers(slot)) await this.removeSlot(slot);
    // As few processes as can be (each costs a fork and exec, more on a busy host): one batch makes the
    // namespace and the pair, then the namespace's side and the shapers are set up side by side.
    try {
      await run('ip', ['-batch', '-'], [
        `netns add ${ns}`,
        `link add ${veth} type veth peer name eth0 netns ${ns}`,
        `link set ${veth} addrgenmode none`,
        `link set ${veth} master ${bridge}`,
        // No port-to-port traffic on the bridge: jobs reach the gateway only, never each other.
        `link set dev ${veth} type bridge_slave isolated on learning off`,
        `link set ${veth} up`,
      ].join('\n') + '\n');
      await Promise.all([
        run('ip', ['-n', ns, '-batch', '-'], [
          'link set lo up',
          // No IPv6 address, not even link-local: the job has no IPv6 beyond its own loopback.
          'link set eth0 addrgenmode none',
          `addr add ${job}/${prefix} dev eth0`,
          'link set eth0 up',
          `route add default via ${this.gateway} dev eth0`,
        ].join('\n') + '\n'),
        // No connection into the job, its own loopback included: a connection nobody accepts is charged to
        // no cgroup (seccomp-policy.ts EGRESS_POLICY); the job cannot change this (its user namespace does not own the netns).
        run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], INBOUND_SYN_DROP),
        run('tc', ['qdisc', 'add', 'dev', veth, ...this.tbf()]),
        run('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'eth0', ...this.tbf()]),
      ]);
    } catch (error) {
      await this.removeSlot(slot).catch((cleanup: Error) => warn(`removing a half-made network of slot ${slot}: ${cleanup.message}`));
      throw error;
    }
    return {
      netnsPath: join(NETNS_DIR, ns),
      address: job,
      release: async () => {
        const bytes = readBytes(veth);
        await this.removeSlot(slot);
        return bytes;
      },
    };
  }

  /**
   * A token bucket on each end's egress (the job can touch neither: the namespace is not its user
   * namespace's): the host end's shapes what the job receives, the job end's what it sends. A burst of
   * 20 ms of the rate, at least 32 KiB; packets queue at most 100 ms. (Shaping the upload on the host end
   * would need an ingress policer, an action module not every kernel has.)
   */
  private tbf(): string[] {
    const burst = Math.max(32 * 1024, Math.ceil(this.rateBitsPerSecond / 8 / 50));
    return ['root', 'tbf', 'rate', `${this.rateBitsPerSecond}bit`, 'burst', String(burst), 'latency', '100ms'];
  }

  private slotLeftovers(slot: number): boolean {
    return existsSync(`/sys/class/net/${this.names.hostVeth(slot)}`) || existsSync(join(NETNS_DIR, this.names.netns(slot)));
  }

  /**
   * Removes slot `slot`'s namespace, veth pair and conntrack entries, if any
   * (a run's release, and the sweep after a dead worker). Answers what it removed.
   */
  async removeSlot(slot: number): Promise<string[]> {
    const veth = this.names.hostVeth(slot);
    const ns = this.names.netns(slot);
    // Deleting the link ends both ends at once; deleting only the namespace would free them later, asynchronously.
    const links = [
      ...(existsSync(`/sys/class/net/${veth}`) ? [{ line: `link del ${veth}`, what: `interface ${veth}` }] : []),
      ...(existsSync(join(NETNS_DIR, ns)) ? [{ line: `netns del ${ns}`, what: `namespace ${ns}` }] : []),
    ];
    // A killed job's flows stay in conntrack (UDP's 30 s and more, an established TCP one for days): the slot's
    // next job would inherit them in its connection count, and their NAT mappings.
    const address = subnetAddresses(this.subnet, slot).job;
    const [, flows] = await Promise.all([
      links.length > 0 ? run('ip', ['-force', '-batch', '-'], links.map((l) => l.line).join('\n') + '\n').catch(ignoreMissing) : undefined,
      deleteConntrack(address),
    ]);
    return [...links.map((l) => l.what), ...(flows ? [`conntrack entries of ${address}`] : [])];
  }

  /** Removes the whole deployment network: resolver, table, bridge, resolv.conf mount. ip_forward is left as it is. */
  async teardown(): Promise<void> {
    const pid = this.resolverPid();
    if (pid !== undefined) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && existsSync(`/proc/${pid}`) && this.resolverPid() === pid; i++) await new Promise((r) => setTimeout(r, 10));
    }
    if (existsSync(this.pidFile)) unlinkSync(this.pidFile);
    await run('nft', ['delete', 'table', 'inet', this.names.table]).catch(ignoreMissing);
    if (existsSync(`/sys/class/net/${this.names.bridge}`)) await run('ip', ['link', 'del', this.names.bridge]).catch(ignoreMissing);
    if (isMountPoint(this.etcDir)) await unmount(this.etcDir);
  }
}

/** Deletes the conntrack entries from `address`; answers whether there were any. */
async function deleteConntrack(address: string): Promise<boolean> {
  try {
    await run('conntrack', ['-D', '-s', address]);
    return true;
  } catch (error) {
    // conntrack exits 1 with "0 flow entries have been deleted" when there were none.
    if (/0 flow entries/.test((error as Error).message)) return false;
    throw error;
  }
}

/** Bytes through the host end: what it received the job sent (out), what it sent the job received (in). */
function readBytes(veth: string): NetworkBytes {
  const read = (name: string) => Number(readFileSync(`/sys/class/net/${veth}/statistics/${name}`, 'utf8').trim());
  return { bytes_out: read('rx_bytes'), bytes_in: read('tx_bytes') };
}

function writeSysctl(path: string, value: string): void {
  const file = `/proc/sys/${path}`;
  if (readFileSync(file, 'utf8').trim() !== value) writeFileSync(file, value);
}

function isMountPoint(path: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === path);
}

function ignoreExists(error: Error): void {
  if (!/File exists/.test(error.message)) throw error;
}

function ignoreMissing(error: Error): void {
  if (!/No such|Cannot find|does not exist|not found/i.test(error.message)) throw error;
}

function warn(message: string): void {
  process.emitWarning(`runcell network: ${message}`, { code: 'runcell-network' });
}
