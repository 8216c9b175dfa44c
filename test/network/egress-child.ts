/**
 * A worker that is about to be killed (network.test.ts): runs an egress job in slot SLOT that holds a
 * connection to the fake internet, prints "connected" once its flow is in conntrack, and waits to be killed.
 * Usage: node --import tsx egress-child.ts SUBNET SLOT (the test's egress network is already set up).
 */
import { execFileSync } from 'node:child_process';
import { loadConfig } from '../../cli/config.js';
import { verifiedRootfs } from '../../rootfs/build.js';
import { resolveLimits } from '../../sandbox/limits.js';
import { EgressNetwork } from '../../sandbox/network.js';
import { subnetAddresses } from '../../sandbox/network-rules.js';
import { Sandbox } from '../../sandbox/sandbox.js';
import { SlotPool } from '../../sandbox/slots.js';
import { INTERNET } from './world.js';

const [subnet, slotArg] = process.argv.slice(2);
const config = loadConfig();
const network = new EgressNetwork({ dataDir: config.dataDir, subnet });
const sandbox = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs: verifiedRootfs(config.dataDir, config.languages), network });
const pool = new SlotPool({ dataDir: config.dataDir, count: 4, uidBase: config.uidBase });
const slot = pool.tryAcquire(Number(slotArg));
if (!slot) throw new Error(`slot ${slotArg} is busy`);
const workspace = await sandbox.createWorkspace(slot, 16 << 20);
const script = `import socket, time\ns = socket.create_connection(('${INTERNET.http}', 80), timeout=5)\ns.sendall(b'GET /hold HTTP/1.0\\r\\n\\r\\n'); s.recv(10)\ntime.sleep(120)`;
void sandbox.run({ slot, workspace, boxWritable: true, argv: ['python3', '-c', script], network: 'egress', limits: resolveLimits({ wall_ms: 120_000 }) });
const address = subnetAddresses(subnet, slot.index).job;
for (;;) {
  const flows = execFileSync('conntrack', ['-L', '-s', address, '-p', 'tcp', '--state', 'ESTABLISHED'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  if (flows.trim() !== '') break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}
process.stdout.write('connected\n');
setInterval(() => undefined, 1000);
