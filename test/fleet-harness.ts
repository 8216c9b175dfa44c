/**
 * A fleet on this machine, for test/fleet-*.test.ts and bench/fleet.ts: real redis-server and
 * redis-sentinel processes (or a real Redis Cluster) on test-chosen ports, worker hosts that are each a
 * `runcell worker` process with its own data dir, cgroup parent, uid range and network namespace (reaching
 * Redis through a veth pair, as a separate machine would), API replicas as `runcell api` processes, a
 * steady load of submissions, and the accounting of every job.
 *
 * Addresses: Redis listens on 127.0.0.1 and on 10.<n>.0.1, an address of a test-made veth whose peer lives
 * in a test-made namespace (so the address goes with it). Host i's namespace has 10.<n>.i.2, its veth's
 * host end 10.<n>.i.1, and a default route through it: the host end delivers to 10.<n>.0.1 locally, no
 * forwarding. Everything made is listed and removed by destroy(), whatever happened before.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect, parseRedisUrl } from '../queue/connection.js';
import { JobStore } from '../queue/store.js';
import { shareImage } from '../rootfs/store.js';
import { loadConfig } from '../cli/config.js';
import { rootfsLocation } from '../rootfs/build.js';
import { http } from './http.js';

// Imports neither vitest nor the sandbox: bench/fleet.ts runs this harness outside the suite.
const config = loadConfig();
/** As test/helpers.ts's: waits are longer in the emulated cgroup v2 lane. */
const waitScale = process.env.RUNCELL_TEST_NO_TIMING === '1' ? 15 : 1;
const BIN = join(import.meta.dirname, '..', 'bin', 'runcell.js');

/** The suite's built rootfs hard-linked into a host's data dir (as test/service-helpers.ts's shareRootfs). */
function shareRootfs(dataDir: string): void {
  const rootfs = rootfsLocation(config.dataDir, config.languages);
  if (rootfs.image) return shareImage(config.dataDir, dataDir, rootfs.image);
  if (existsSync(join(dataDir, 'rootfs', rootfs.hash))) return;
  mkdirSync(join(dataDir, 'rootfs'), { recursive: true });
  execFileSync('cp', ['-al', rootfs.path, join(dataDir, 'rootfs', rootfs.hash)], { stdio: 'pipe' });
}

const REQUIRED = ['redis-server', 'redis-sentinel', 'redis-cli', 'nsenter', 'ip'];

/** Why the fleet tests cannot run here, or undefined. */
export function fleetSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'the fleet tests need root (network namespaces, veth pairs, cgroups)';
  for (const binary of REQUIRED) {
    if (spawnSync('sh', ['-c', `command -v ${binary}`]).status !== 0) {
      return `${binary} is not installed (\`node scripts/setup.js --test\` installs redis-sentinel; iproute2 and util-linux give ip and nsenter)`;
    }
  }
  return undefined;
}

export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs * waitScale;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** `count` consecutive free loopback ports in 17000-17999 (never 6379: the machine's own Redis is not ours). */
async function freePorts(count: number): Promise<number[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 17000 + Math.floor(Math.random() * (1000 - count));
    const ports = Array.from({ length: count }, (_, i) => base + i);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return ports;
  }
  throw new Error('no free ports in 17000-17999');
}

interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
}

export interface HostHandle {
  index: number;
  ns: string;
  hostVeth: string;
  dataDir: string;
  cgroupParent: string;
  worker?: Proc;
}

export class Fleet {
  readonly tag = Math.random().toString(16).slice(2, 6);
  /** 10.<octet>.0.0/16, chosen per run so that two runs on one machine do not collide. */
  readonly octet = 64 + Math.floor(Math.random() * 64);
  readonly redisIp = `10.${this.octet}.0.1`;
  readonly dir = mkdtempSync(join(tmpdir(), 'runcell-fleet-'));
  readonly hosts: HostHandle[] = [];
  private readonly namespaces: string[] = [];
  private readonly procs: Proc[] = [];
  /** Per-host settings as the brief gives them: <data dir>-hN, <cgroup parent>-hN, uid base + 100 N. */
  constructor(readonly hostCount: number) {}

  /** The namespace that carries the Redis address, and one namespace per host. */
  setUpNetwork(): void {
    const anchor = `rcf${this.tag}r`;
    this.addNamespace(anchor);
    ip('link', 'add', `${anchor}0`, 'type', 'veth', 'peer', 'name', `${anchor}1`);
    ip('link', 'set', `${anchor}1`, 'netns', anchor);
    ip('addr', 'add', `${this.redisIp}/32`, 'dev', `${anchor}0`);
    ip('link', 'set', `${anchor}0`, 'up');
    ip('-n', anchor, 'link', 'set', `${anchor}1`, 'up');
    for (let i = 1; i <= this.hostCount; i++) {
      const ns = `rcf${this.tag}h${i}`;
      this.addNamespace(ns);
      const hostVeth = `rcf${this.tag}h${i}`;
      ip('link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', `rcf${this.tag}n${i}`);
      ip('link', 'set', `rcf${this.tag}n${i}`, 'netns', ns);
      ip('addr', 'add', `10.${this.octet}.${i}.1/24`, 'dev', hostVeth);
      ip('link', 'set', hostVeth, 'up');
      ip('-n', ns, 'addr', 'add', `10.${this.octet}.${i}.2/24`, 'dev', `rcf${this.tag}n${i}`);
      ip('-n', ns, 'link', 'set', `rcf${this.tag}n${i}`, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'route', 'add', 'default', 'via', `10.${this.octet}.${i}.1`);
      const dataDir = `${config.dataDir}-h${i}`;
      this.hosts.push({ index: i, ns, hostVeth, dataDir, cgroupParent: `${config.cgroupParent}-h${i}` });
    }
  }

  private addNamespace(name: string): void {
    ip('netns', 'add', name);
    this.namespaces.push(name);
  }

  /** Starts a process; its output goes to a log file in the fleet's directory (printed by logs()). */
  spawn(name: string, command: string, args: string[], env: Record<string, string> = {}): Proc {
    const log = join(this.dir, `${name}.log`);
    const fd = openSync(log, 'a');
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.once('error', (error) => writeFileSync(log, `spawn error: ${error.message}\n`, { flag: 'a' }));
    const proc = { name, child, log };
    this.procs.push(proc);
    return proc;
  }

  /** A process's whole log. */
  log(proc: Proc): string {
    return existsSync(proc.log) ? readFileSync(proc.log, 'utf8') : '';
  }

  /** The last lines of every process's log: for a failed test's message. */
  logs(lines = 15): string {
    return this.procs
      .map((proc) => {
        const text = existsSync(proc.log) ? readFileSync(proc.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '';
        return `--- ${proc.name} (exit ${proc.child.exitCode ?? proc.child.signalCode ?? 'running'})\n${text}`;
      })
      .join('\n');
  }

  redisServer(port: number, extra: string[] = []): Proc {
    const dir = join(this.dir, `redis-${port}`);
    mkdirSync(dir, { recursive: true });
    return this.spawn(`redis-${port}`, 'redis-server', [
      '--port', String(port), '--bind', `127.0.0.1 ${this.redisIp}`, '--protected-mode', 'no', '--dir', dir,
      '--save', '', '--appendonly', 'no', '--loglevel', 'warning', ...extra,
    ]);
  }

  async ping(port: number): Promise<boolean> {
    return spawnSync('redis-cli', ['-h', this.redisIp, '-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG';
  }

  cli(port: number, ...args: string[]): string {
    return execFileSync('redis-cli', ['-h', this.redisIp, '-p', String(port), ...args], { encoding: 'utf8' });
  }

  /** A master, its replica, three Sentinels (quorum 2); answers the redis-sentinel:// URL and the ports. */
  async startSentinel(): Promise<{ url: string; master: Proc; masterPort: number; replicaPort: number; sentinelPorts: number[] }> {
    const [masterPort, replicaPort, ...sentinelPorts] = await freePorts(5);
    const master = this.redisServer(masterPort, ['--replica-announce-ip', this.redisIp]);
    this.redisServer(replicaPort, ['--replicaof', this.redisIp, String(masterPort), '--replica-announce-ip', this.redisIp]);
    await waitUntil(() => this.ping(masterPort), 10_000, 'the master to answer');
    await waitUntil(() => /master_link_status:up/.test(this.cli(replicaPort, 'info', 'replication')), 10_000, 'the replica to sync');
    for (const port of sentinelPorts) {
      const file = join(this.dir, `sentinel-${port}.conf`);
      writeFileSync(
        file,
        [
          `port ${port}`, `bind 127.0.0.1 ${this.redisIp}`, 'protected-mode no', `dir ${this.dir}`,
          `sentinel announce-ip ${this.redisIp}`,
          `sentinel monitor runcell ${this.redisIp} ${masterPort} 2`,
          'sentinel down-after-milliseconds runcell 1000',
          'sentinel failover-timeout runcell 5000',
          'sentinel parallel-syncs runcell 1',
        ].join('\n') + '\n',
      );
      this.spawn(`sentinel-${port}`, 'redis-sentinel', [file]);
    }
    // Each Sentinel knows the replica and the two other Sentinels before any load starts.
    for (const port of sentinelPorts) {
      await waitUntil(
        () => {
          const out = spawnSync('redis-cli', ['-h', this.redisIp, '-p', String(port), 'sentinel', 'master', 'runcell'], { encoding: 'utf8' }).stdout;
          return /num-slaves\n1\n/.test(out) && /num-other-sentinels\n2\n/.test(out);
        },
        15_000,
        `sentinel ${port} to see the replica and the other sentinels`,
      );
    }
    const url = `redis-sentinel://${sentinelPorts.map((p) => `${this.redisIp}:${p}`).join(',')}/runcell`;
    return { url, master, masterPort, replicaPort, sentinelPorts };
  }

  /** Which port the Sentinels call master now. */
  sentinelMaster(sentinelPort: number): number {
    const out = spawnSync('redis-cli', ['-h', this.redisIp, '-p', String(sentinelPort), 'sentinel', 'get-master-addr-by-name', 'runcell'], { encoding: 'utf8' }).stdout;
    return Number(out.trim().split('\n')[1]);
  }

  /** Three masters, three replicas; answers the redis-cluster:// URL and each port's process. */
  async startCluster(): Promise<{ url: string; ports: number[]; procs: Map<number, Proc> }> {
    const ports = await freePorts(6);
    const procs = new Map<number, Proc>();
    for (const port of ports) {
      procs.set(
        port,
        this.redisServer(port, [
          '--cluster-enabled', 'yes', '--cluster-config-file', join(this.dir, `nodes-${port}.conf`),
          '--cluster-node-timeout', '1000', '--cluster-announce-ip', this.redisIp,
          // A replica takes over however stale it thinks itself (the test kills its master on purpose).
          '--cluster-replica-validity-factor', '0',
        ]),
      );
    }
    for (const port of ports) await waitUntil(() => this.ping(port), 10_000, `cluster node ${port}`);
    execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `${this.redisIp}:${p}`), '--cluster-replicas', '1', '--cluster-yes'], { stdio: 'pipe' });
    for (const port of ports) {
      await waitUntil(() => /cluster_state:ok/.test(this.cli(port, 'cluster', 'info')), 20_000, `cluster node ${port} to be ok`);
    }
    // Every master has its replica attached before the load starts.
    await waitUntil(() => this.clusterMasters(ports[0]).every((m) => m.replicas > 0), 20_000, 'every master to have a replica');
    return { url: `redis-cluster://${ports.map((p) => `${this.redisIp}:${p}`).join(',')}`, ports, procs };
  }

  /** The masters (port, replicas attached, slot ranges) as node `port` sees them. */
  clusterMasters(port: number): { port: number; replicas: number; slots: [number, number][] }[] {
    const nodes = this.cli(port, 'cluster', 'nodes').trim().split('\n').map((line) => line.split(' '));
    return nodes
      .filter((f) => f[2].includes('master') && !f[2].includes('fail'))
      .map((f) => ({
        port: Number(f[1].split('@')[0].split(':')[1]),
        replicas: nodes.filter((r) => r[3] === f[0] && !r[2].includes('fail')).length,
        slots: f.slice(8).filter((s) => /^\d/.test(s)).map((s) => s.split('-').map(Number) as [number, number]).map(([a, b]) => [a, b ?? a]),
      }));
  }

  /** The master port serving `slot`, as node `port` sees it. */
  slotOwner(port: number, slot: number): number | undefined {
    return this.clusterMasters(port).find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b))?.port;
  }

  /** `runcell api` on a free loopback port; answers its URL once it listens. */
  async startApi(redisUrl: string, name: string, env: Record<string, string> = {}): Promise<string> {
    const proc = this.spawn(name, process.execPath, [BIN, 'api', '--port', '0'], { REDIS_URL: redisUrl, RUNCELL_LOG_LEVEL: 'warn', RUNCELL_HOST: '127.0.0.1', ...env });
    let url: string | undefined;
    await waitUntil(
      () => {
        url = /listening on (http:\/\/\S+)/.exec(readFileSync(proc.log, 'utf8'))?.[1];
        if (proc.child.exitCode !== null) throw new Error(`${name} exited:\n${readFileSync(proc.log, 'utf8')}`);
        return url !== undefined;
      },
      // A loaded machine (load average 20 on 2 cores) takes tens of seconds to start node with tsx.
      120_000,
      `${name} to listen`,
    );
    return url!;
  }

  /**
   * Every host's worker and two API replicas on `redisUrl`, once both see every worker; on failure the
   * processes' logs go to the console before the error.
   */
  async startFleet(redisUrl: string): Promise<string[]> {
    try {
      for (const host of this.hosts) this.startHost(host, redisUrl);
      const apis = [await this.startApi(redisUrl, 'api-1'), await this.startApi(redisUrl, 'api-2')];
      for (const api of apis) {
        await waitUntil(async () => (await http(`${api}/readyz`)).body?.workers >= this.hosts.length, 180_000, `${this.hosts.length} workers seen by both APIs`);
      }
      return apis;
    } catch (error) {
      console.error(this.logs());
      throw error;
    }
  }

  /** Host i's `runcell worker`, in the host's namespace, with the host's data dir, cgroup parent and uids. */
  startHost(host: HostHandle, redisUrl: string, env: Record<string, string> = {}): void {
    // Every time: a host's data dir outlives the suite, and the image may have changed since (shareImage skips the layers it has).
    shareRootfs(host.dataDir);
    host.worker = this.spawn(`host${host.index}-worker`, 'nsenter', [`--net=/run/netns/${host.ns}`, '--', process.execPath, BIN, 'worker'], {
      REDIS_URL: redisUrl,
      RUNCELL_DATA_DIR: host.dataDir,
      RUNCELL_CGROUP_PARENT: host.cgroupParent,
      RUNCELL_UID_BASE: String(config.uidBase + 100 * host.index),
      RUNCELL_SLOTS: '8',
      RUNCELL_CONCURRENCY: '2',
      RUNCELL_LOCK_DURATION_MS: '2000',
      RUNCELL_SHUTDOWN_TIMEOUT_MS: '2000',
      RUNCELL_LOG_LEVEL: 'warn',
      ...env,
    });
  }

  /** The host's network cable pulled (its veth's host end down) or put back. */
  cut(host: HostHandle, down: boolean): void {
    ip('link', 'set', host.hostVeth, down ? 'down' : 'up');
  }

  /** Every process of host i SIGKILLed at once: its worker and whatever its sandboxes ran. */
  killHost(host: HostHandle): void {
    const pids = new Set([...(host.worker?.child.pid ? descendants(host.worker.child.pid) : []), ...pidsInParent(host.cgroupParent)]);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }

  /** Kills every process started, removes the hosts' cgroups, namespaces (and so their veths) and files. */
  async destroy(): Promise<void> {
    for (const host of this.hosts) this.killHost(host);
    for (const proc of this.procs) if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await Promise.all(this.procs.map((proc) => (proc.child.exitCode === null && proc.child.signalCode === null ? new Promise((r) => proc.child.once('exit', r)) : undefined)));
    for (const host of this.hosts) {
      await waitUntil(() => pidsInParent(host.cgroupParent).length === 0, 10_000, `host ${host.index}'s sandboxes to die`).catch(() => undefined);
      removeCgroups(host.cgroupParent);
      unmountBelow(host.dataDir);
    }
    for (const ns of this.namespaces) spawnSync('ip', ['netns', 'del', ns]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Detaches every mount below a host's data dir: a host SIGKILLed mid-job leaves its runs' workspace and /tmp
 * mounts (its worker's sweep would remove them when it starts again, and this one never does), and every host
 * its image's overlay. Deepest first; lazily, so that nothing is followed into a tree being torn down.
 */
function unmountBelow(dir: string): void {
  const below = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined && point.startsWith(`${dir}/`))
    .sort()
    .reverse();
  for (const point of below) {
    const result = spawnSync('umount', ['-l', point], { encoding: 'utf8' });
    if (result.status !== 0) console.warn(`fleet harness: cannot unmount ${point}: ${result.stderr.trim()}`);
  }
}

/** A process and all its descendants (read from /proc before anything is killed). */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // exited meanwhile
    }
  }
  const found = [root];
  for (let i = 0; i < found.length; i++) found.push(...(children.get(found[i]) ?? []));
  return found;
}

/** Pids in the cgroups under `parent` (any controller, any depth). */
export function pidsInParent(parent: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`/${parent}/`);
      } catch {
        return false;
      }
    });
}

/** Removes `parent`'s cgroups (deepest first) in every hierarchy; what cannot go is left and said. */
function removeCgroups(parent: string): void {
  const roots = existsSync('/sys/fs/cgroup/cgroup.controllers') ? ['/sys/fs/cgroup'] : readdirSync('/sys/fs/cgroup').map((d) => join('/sys/fs/cgroup', d));
  for (const root of roots) {
    const top = join(root, parent);
    if (!existsSync(top)) continue;
    const dirs: string[] = [];
    const walk = (dir: string) => {
      dirs.push(dir);
      for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) walk(join(dir, entry.name));
    };
    walk(top);
    for (const dir of dirs.reverse()) {
      try {
        rmdirSync(dir);
      } catch (error) {
        console.warn(`cannot remove cgroup ${dir}: ${(error as Error).message}`);
      }
    }
  }
}

export interface Submission {
  n: number;
  api: string;
  sentAt: number;
  endedAt: number;
  status: number;
  id?: string;
}

/** A job whose output names it: the accounting checks each completed job printed its own number. */
export function fleetJob(n: number, seconds = 0): object {
  const script = seconds > 0 ? `sleep ${seconds}; echo fleet-${n}` : `echo fleet-${n}`;
  return { command: ['/bin/sh', '-c', script], limits: { wall_ms: Math.max(5000, seconds * 1000 + 10_000) } };
}

/** A steady load: one submission every `intervalMs`, round robin over the API replicas, each answer recorded. */
export class Load {
  readonly submissions: Submission[] = [];
  private running = true;
  private loop?: Promise<void>;
  private inflight = new Set<Promise<void>>();

  constructor(
    private readonly apis: string[],
    private readonly intervalMs: number,
    private readonly seconds = 0,
  ) {}

  start(): void {
    this.loop = (async () => {
      for (let n = 0; this.running; n++) {
        const pending = this.submit(n);
        this.inflight.add(pending);
        void pending.finally(() => this.inflight.delete(pending));
        await sleep(this.intervalMs);
      }
    })();
  }

  private async submit(n: number): Promise<void> {
    const api = this.apis[n % this.apis.length];
    const sentAt = performance.now();
    const record: Submission = { n, api, sentAt, endedAt: sentAt, status: 0 };
    this.submissions.push(record);
    try {
      const response = await fetch(`${api}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(fleetJob(n, this.seconds)),
        signal: AbortSignal.timeout(15_000),
      });
      record.status = response.status;
      const body = (await response.json().catch(() => ({}))) as { id?: string };
      if (response.status >= 200 && response.status < 300) record.id = body.id;
    } catch {
      record.status = 0; // no answer: a connection error or the client's timeout
    }
    record.endedAt = performance.now();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await Promise.all([...this.inflight]);
  }

  accepted(): Submission[] {
    return this.submissions.filter((s) => s.id !== undefined);
  }

  /**
   * The outage clients saw after `since` (performance.now()): from the first submission sent that was
   * refused (any non-2xx, or no answer) or took longer than `slowMs`, to the end of the last such one.
   */
  outage(since: number, slowMs = 1000): { ms: number; refused: number; slow: number } {
    const bad = this.submissions.filter((s) => s.sentAt >= since && (s.id === undefined || s.endedAt - s.sentAt > slowMs));
    if (bad.length === 0) return { ms: 0, refused: 0, slow: 0 };
    const start = Math.min(...bad.map((s) => s.sentAt));
    const end = Math.max(...bad.map((s) => s.endedAt));
    return { ms: Math.round(end - start), refused: bad.filter((s) => s.id === undefined).length, slow: bad.filter((s) => s.id !== undefined).length };
  }
}

export interface Accounting {
  accepted: number;
  completed: number;
  /** Accepted jobs not completed with their own output, with what was found. */
  problems: string[];
  /** Jobs with more than one terminal event (must be none). */
  endedTwice: string[];
  /** Jobs started more than once (retried after a failover or a lost host): allowed, counted. */
  retried: number;
}

/**
 * Reads every accepted job's record and events straight from Redis (through the URL the fleet uses):
 * each must be completed with its own output, with exactly one terminal event.
 */
export async function account(redisUrl: string, accepted: Submission[], timeoutMs: number): Promise<Accounting> {
  const redis = connect(parseRedisUrl(redisUrl), 'worker', 'fleet-accounting');
  redis.on('error', () => undefined);
  const store = new JobStore(redis);
  try {
    await waitUntil(
      async () => {
        for (const s of accepted) if (!['completed', 'failed', 'cancelled'].includes((await store.get(s.id!))?.status ?? 'missing')) return false;
        return true;
      },
      timeoutMs,
      'every accepted job to end',
    ).catch(() => undefined); // what has not ended is reported below, job by job
    const result: Accounting = { accepted: accepted.length, completed: 0, problems: [], endedTwice: [], retried: 0 };
    for (const s of accepted) {
      const view = await store.get(s.id!);
      const events = await store.events(s.id!);
      const ends = events.filter((e) => ['completed', 'failed', 'cancelled'].includes(e.type));
      if (ends.length > 1) result.endedTwice.push(s.id!);
      if (events.filter((e) => e.type === 'started').length > 1) result.retried++;
      const stdout = (view?.result as { run?: { stdout?: string } } | null)?.run?.stdout ?? '';
      if (view?.status === 'completed' && stdout.trim() === `fleet-${s.n}`) result.completed++;
      else result.problems.push(`job ${s.n} (${s.id}): ${view?.status ?? 'missing'} ${view?.reason ?? ''} ${JSON.stringify(stdout)}`);
    }
    return result;
  } finally {
    redis.disconnect();
  }
}
