/**
 * npm run bench:network [-- --runs N --mbytes M]
 *
 * What network egress costs, on this machine only: a guard table drops anything that would leave through
 * its real interfaces, and the "internet" is a test-made namespace (test/network/world.ts).
 * - Set-up: the egress network of one run (namespace, veth pair, tc, then its removal with the conntrack
 *   clean-up) alone, and whole runs of /bin/true with network "none" and "egress" side by side, interleaved.
 * - Throughput: M MB downloaded by a job through the bridge and the NAT (rate cap set far above), against the
 *   same client and server over loopback (in the fake internet's namespace, same server process).
 */
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadConfig } from '../cli/config.js';
import { verifiedRootfs } from '../rootfs/build.js';
import { resolveLimits } from '../sandbox/limits.js';
import { EgressNetwork } from '../sandbox/network.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { SlotPool, type Slot } from '../sandbox/slots.js';
import { FakeWorld, Guard, INTERNET } from '../test/network/world.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' }, mbytes: { type: 'string', default: '50' } } });
const RUNS = Number(values.runs);
const BYTES = Number(values.mbytes) * 1_000_000;

const config = loadConfig();
const network = new EgressNetwork({ dataDir: config.dataDir, subnet: '10.213.0.0/24', upstreamDns: [INTERNET.dns], rebindOkNames: [INTERNET.name], rateBitsPerSecond: 40_000_000_000, maxConnections: 64 });
const guard = new Guard();
const world = new FakeWorld();

/** A download client: GET /bytes?n=BYTES, read into one buffer, print the MB/s of the body. */
const CLIENT = `
import socket, sys, time
host = sys.argv[1]; n = int(sys.argv[2])
s = socket.create_connection((host, 80)); start = time.monotonic()
s.sendall(b'GET /bytes?n=%d HTTP/1.0\\r\\n\\r\\n' % n)
buf = bytearray(1 << 20); got = 0
while True:
    k = s.recv_into(buf)
    if k == 0: break
    got += k
print(round(got / (time.monotonic() - start) / 1e6, 1))
`;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const ms = (value: number) => value.toFixed(1).padStart(8);

async function setupCost(): Promise<void> {
  const attach: number[] = [];
  const release: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now();
    const run = await network.attach(0);
    attach.push(performance.now() - t);
    t = performance.now();
    await run.release();
    release.push(performance.now() - t);
  }
  console.log('\negress network of one run alone (ms)     p50      p95');
  console.log(`  attach (netns, veth, addresses, tc) ${ms(percentile(attach, 50))} ${ms(percentile(attach, 95))}`);
  console.log(`  release (counters, veth, netns, ct) ${ms(percentile(release, 50))} ${ms(percentile(release, 95))}`);
}

async function wholeRuns(sandbox: Sandbox, slot: Slot): Promise<void> {
  const limits = resolveLimits({});
  const times: Record<'none' | 'egress', number[]> = { none: [], egress: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const mode of ['none', 'egress'] as const) {
      const workspace = await sandbox.createWorkspace(slot, 1 << 20);
      const t = performance.now();
      const result = await sandbox.run({ slot, workspace, boxWritable: true, argv: ['/bin/true'], network: mode, limits });
      times[mode].push(performance.now() - t);
      await workspace.remove();
      if (result.status !== 'ok') throw new Error(`a ${mode} run failed: ${JSON.stringify(result)}`);
    }
  }
  const [none, egress] = [percentile(times.none, 50), percentile(times.egress, 50)];
  console.log('\nwhole runs of /bin/true, interleaved (ms)  p50      p95');
  console.log(`  network none                        ${ms(none)} ${ms(percentile(times.none, 95))}`);
  console.log(`  network egress                      ${ms(egress)} ${ms(percentile(times.egress, 95))}`);
  console.log(`  egress adds ${(egress - none).toFixed(1)} ms per run (ratio ${(egress / none).toFixed(2)})`);
}

async function throughput(sandbox: Sandbox, slot: Slot): Promise<void> {
  const workspace = await sandbox.createWorkspace(slot, 1 << 20);
  const nat = await sandbox.run({ slot, workspace, boxWritable: true, argv: ['python3', '-c', CLIENT, INTERNET.http, String(BYTES)], network: 'egress', limits: resolveLimits({ wall_ms: 120_000 }) });
  await workspace.remove();
  if (nat.status !== 'ok') throw new Error(`the NAT download failed: ${JSON.stringify(nat)}`);
  const loopback = execFileSync('ip', ['netns', 'exec', world.internet.ns, 'python3', '-c', CLIENT, INTERNET.http, String(BYTES)], { encoding: 'utf8' });
  const [natRate, loRate] = [Number(nat.stdout.trim()), Number(loopback.trim())];
  console.log(`\nthroughput, ${BYTES / 1e6} MB over one TCP connection (MB/s)`);
  console.log(`  job -> bridge -> NAT -> fake internet  ${natRate}`);
  console.log(`  loopback (same client and server)      ${loRate}`);
  console.log(`  NAT / loopback ratio ${(natRate / loRate).toFixed(2)} (job counted ${nat.network?.bytes_in} bytes in)`);
}

async function main(): Promise<void> {
  guard.install();
  try {
    await world.create();
    await network.teardown();
    let t = performance.now();
    await network.ensure();
    console.log(`egress network of the deployment (bridge, nftables table, dnsmasq), once per worker start: ${(performance.now() - t).toFixed(0)} ms`);
    const sandbox = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs: verifiedRootfs(config.dataDir, config.languages), network });
    const pool = new SlotPool({ dataDir: config.dataDir, count: config.slots, uidBase: config.uidBase });
    await setupCost();
    await pool.withSlot(async (slot) => {
      await wholeRuns(sandbox, slot);
      await throughput(sandbox, slot);
    });
    t = guard.dropped();
    console.log(`\npackets the guard stopped from leaving the machine: ${t}`);
    console.log('(a shared 2-core machine: compare the figures of one run side by side, not across runs)');
  } finally {
    world.destroy();
    await network.teardown();
    guard.remove();
  }
}

await main();
