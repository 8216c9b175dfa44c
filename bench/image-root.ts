/**
 * npm run bench:image-root [-- --runs N]
 *
 * A run's cost on the layered image's read-only overlay (rootfs/store.ts's
 * mountImage: mounted once on the host, bound as / like any directory)
 * against the same image as one plain directory (the monolithic rootfs at
 * <dataDir>/rootfs/<hash>, e.g. a hard-linked copy of another data dir's; without
 * one, the base layer alone as the plain directory, /bin/true only):
 * N runs of /bin/true and of `python3 -c pass` (thousands of path lookups
 * through the overlay's lower layers) each, alternating, side by side.
 * Prints p50/p95 of each and the overlay / plain ratio.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadConfig } from '../cli/config.js';
import { readManifest, manifestHash, rootfsLocation, rootfsProblem } from '../rootfs/build.js';
import { layerPath } from '../rootfs/store.js';
import { resolveLimits } from '../sandbox/limits.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { SlotPool } from '../sandbox/slots.js';
import { runJob } from '../worker/job.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '100' } } });
const RUNS = Number(values.runs);
const config = loadConfig();
const layered = rootfsLocation(config.dataDir, config.languages);
const hash = manifestHash(readManifest(config.languages));
if (!layered.image || rootfsProblem(layered)) throw new Error('no layered image: `runcell rootfs build` first');
// The plain side: the same image as one directory when this data dir has it (`runcell rootfs build --monolithic`);
// else the base layer alone, a plain directory too, where only /bin/true can run (python3 is in a language layer).
const monolithic = join(config.dataDir, 'rootfs', hash);
const hasMonolithic = existsSync(join(monolithic, '.runcell-rootfs.json'));
const plain = hasMonolithic ? monolithic : layerPath(config.dataDir, layered.image.layers[0]);
const commands = hasMonolithic ? [['/bin/true'], ['python3', '-c', 'pass']] : [['/bin/true']];
if (!hasMonolithic) console.log(`no monolithic image at ${monolithic}: the plain side is the base layer, /bin/true only`);

const pool = new SlotPool({ dataDir: config.dataDir, count: config.slots, uidBase: config.uidBase });
const limits = resolveLimits({});
const sides = { plain: Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs: plain }), overlay: Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs: layered.path }) };

async function once(sandbox: Sandbox, command: string[]): Promise<number> {
  const started = performance.now();
  const result = await pool.withSlot((slot) => runJob({ sandbox, slot }, { command, limits }));
  if (result.run?.status !== 'ok') throw new Error(`run failed: ${JSON.stringify(result.run)}`);
  return performance.now() - started;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

for (const command of commands) {
  const times: Record<string, number[]> = { plain: [], overlay: [] };
  for (let i = 0; i < 5; i++) for (const sandbox of Object.values(sides)) await once(sandbox, command);
  for (let i = 0; i < RUNS; i++) for (const [name, sandbox] of Object.entries(sides)) times[name].push(await once(sandbox, command));
  const row = (name: string) => {
    const sorted = times[name].sort((a, b) => a - b);
    return { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95) };
  };
  const [p, o] = [row('plain'), row('overlay')];
  console.log(`${command.join(' ').padEnd(20)} plain dir p50 ${p.p50.toFixed(1)} ms p95 ${p.p95.toFixed(1)} ms | overlay of ${layered.image.layers.length} layers p50 ${o.p50.toFixed(1)} ms p95 ${o.p95.toFixed(1)} ms | ratio p50 ${(o.p50 / p.p50).toFixed(2)}`);
}
for (const sandbox of Object.values(sides)) sandbox.close();
