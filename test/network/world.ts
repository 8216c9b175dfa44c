/**
 * The egress tests' world, all on this machine:
 * - a guard (an nftables table of its own) that drops everything forwarded, or source-NATed, out of the
 *   machine's real interfaces, so that no routing mistake can send a job's packet off the machine;
 * - a fake internet: a network namespace with 198.51.100.10 (HTTP) and 198.51.100.53 (DNS), reached from the
 *   host through a transit link 203.0.113.0/30 (not directly connected, like a real upstream);
 * - fake private services: a namespace with 10.99.0.10, 172.16.99.10, 192.168.99.10 and 169.254.169.254,
 *   routed from the host, so that only runcell's rules stand between a job and them.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const INTERNET = { http: '198.51.100.10', dns: '198.51.100.53', name: 'www.example.test' };
export const PRIVATE_SERVICES = ['10.99.0.10', '172.16.99.10', '192.168.99.10', '169.254.169.254'];

const sh = (command: string, args: string[], input?: string) => execFileSync(command, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });

/**
 * The machine's own interfaces (what a packet must never leave through): those of a default route and the
 * physical ones. Not every other interface: other programs' virtual ones are theirs, not the way out.
 */
export function realInterfaces(): string[] {
  const routes = JSON.parse(execFileSync('ip', ['-j', 'route', 'show', 'default'], { encoding: 'utf8' })) as { dev: string }[];
  const physical = readdirSync('/sys/class/net').filter((name) => existsSync(`/sys/class/net/${name}/device`));
  return [...new Set([...routes.map((route) => route.dev), ...physical])];
}

export class Guard {
  readonly table = `egress_test_guard_${randomBytes(3).toString('hex')}`;

  install(): void {
    const real = realInterfaces().map((name) => JSON.stringify(name)).join(', ');
    sh('nft', ['-f', '-'], `table inet ${this.table} {
  chain forward {
    type filter hook forward priority -400; policy accept;
    oifname { ${real} } counter drop
  }
  chain postrouting {
    type filter hook postrouting priority 400; policy accept;
    oifname { ${real} } ct status snat counter drop
    oifname { ${real} } ip saddr { 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 } counter drop
  }
}
`);
  }

  /** Packets the guard dropped: should stay 0 (a non-zero count means runcell tried to send one off the machine). */
  dropped(): number {
    const text = sh('nft', ['list', 'table', 'inet', this.table]);
    return [...text.matchAll(/packets (\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
  }

  remove(): void {
    sh('nft', ['delete', 'table', 'inet', this.table]);
  }
}

/** One test namespace with a veth to the host on a /30 transit link, addresses on its lo, routes from the host. */
class FakeHost {
  readonly ns: string;
  readonly veth: string;
  private server?: ChildProcess;

  constructor(
    readonly tag: string,
    private readonly transit: { host: string; peer: string },
    readonly addresses: string[],
    private readonly routes: string[],
  ) {
    this.ns = `rt-${tag}`;
    this.veth = `rt${tag}`;
  }

  create(): void {
    sh('ip', ['netns', 'add', this.ns]);
    sh('ip', ['-batch', '-'], [`link add ${this.veth} type veth peer name eth0 netns ${this.ns}`, `addr add ${this.transit.host}/30 dev ${this.veth}`, `link set ${this.veth} up`, ...this.routes.map((r) => `route add ${r} via ${this.transit.peer}`)].join('\n') + '\n');
    sh('ip', ['-n', this.ns, '-batch', '-'], ['link set lo up', `addr add ${this.transit.peer}/30 dev eth0`, 'link set eth0 up', `route add default via ${this.transit.host}`, ...this.addresses.map((a) => `addr add ${a}/32 dev lo`)].join('\n') + '\n');
  }

  /** Starts fake-servers.mjs inside the namespace; resolves once it listens. */
  start(mode: 'internet' | 'private', addresses: string[]): Promise<void> {
    const script = join(import.meta.dirname, 'fake-servers.mjs');
    const server = spawn('ip', ['netns', 'exec', this.ns, process.execPath, script, mode, ...addresses], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('exit', (code) => reject(new Error(`fake ${mode} servers exited with ${code}`)));
      server.stdout!.once('data', () => resolve());
    });
  }

  destroy(): void {
    this.server?.stdin?.end();
    this.server?.kill();
    try {
      sh('ip', ['link', 'del', this.veth]);
    } catch {
      // Gone with a failed create.
    }
    try {
      sh('ip', ['netns', 'del', this.ns]);
    } catch {
      // Never made.
    }
  }
}

export class FakeWorld {
  readonly internet = new FakeHost('inet', { host: '203.0.113.1', peer: '203.0.113.2' }, [INTERNET.http, INTERNET.dns], ['198.51.100.0/24']);
  readonly private = new FakeHost('priv', { host: '203.0.113.5', peer: '203.0.113.6' }, PRIVATE_SERVICES, PRIVATE_SERVICES.map((a) => `${a}/32`));

  async create(): Promise<void> {
    this.internet.create();
    this.private.create();
    await Promise.all([this.internet.start('internet', [INTERNET.http, INTERNET.dns]), this.private.start('private', PRIVATE_SERVICES)]);
  }

  destroy(): void {
    this.internet.destroy();
    this.private.destroy();
  }
}
