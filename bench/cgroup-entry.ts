/**
 * npm run bench:cgroup-entry [-- --runs N]
 *
 * A run's start-up with and without clone3(CLONE_INTO_CGROUP), side by side in one process: N trivial
 * runs (/bin/true, a whole job: slot, workspace, cgroup, seccomp, bubblewrap, accounting, clean-up)
 * through a sandbox whose launcher starts bubblewrap in the run's cgroup (clone3) and through one whose
 * launcher joins the cgroup first (a move: cgroup.procs write, the kernel's cgroup lock), in alternating
 * batches, at concurrency 1 and 2. Prints p50/p95 of a run and of its spawn+wait phases, runs/s and the
 * ratios. Meaningful on cgroup v2 only (on v1 both sides join); under emulation (the v2 lane's guest)
 * read the ratios, not the milliseconds. Figures only: nothing here asserts a time.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadConfig } from '../cli/config.js';
import { verifiedRootfs } from '../rootfs/build.js';
import { resolveLimits } from '../sandbox/limits.js';
import { Sandbox, type RunPhases } from '../sandbox/sandbox.js';
import { SlotPool } from '../sandbox/slots.js';
import { runJob } from '../worker/job.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '100' } } });
const RUNS = Number(values.runs);
const config = loadConfig();
const rootfs = verifiedRootfs(config.dataDir, config.languages);
const pool = new SlotPool({ dataDir: config.dataDir, count: config.slots, uidBase: config.uidBase });
const limits = resolveLimits({});

interface Side {
  name: string;
  sandbox: Sandbox;
  latencies: number[];
  startups: number[];
  seconds: number;
}

function side(name: string, cloneIntoCgroup: boolean): Side {
  const s: Side = { name, latencies: [], startups: [], seconds: 0, sandbox: undefined as unknown as Sandbox };
  // spawn + wait: from the launcher's spawn to the sandbox's end, where the cgroup entry happens.
  const onPhases = (p: RunPhases) => s.startups.push(p.spawn + p.wait);
  s.sandbox = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs, cloneIntoCgroup, onPhases });
  return s;
}

async function once(on: Side): Promise<void> {
  const t0 = performance.now();
  const result = await pool.withSlot((slot) => runJob({ sandbox: on.sandbox, slot }, { command: ['/bin/true'], limits }));
  if (result.run?.status !== 'ok') throw new Error(`${on.name}: run failed: ${JSON.stringify(result.run)}`);
  on.latencies.push(performance.now() - t0);
}

async function batch(on: Side, concurrency: number, count: number): Promise<void> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next++ < count) await once(on);
  }));
  on.seconds += (performance.now() - started) / 1000;
}

const at = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))];
const fmt = (n: number) => n.toFixed(1).padStart(7);

async function row(concurrency: number, clone: Side, join: Side): Promise<Record<string, unknown>> {
  for (const s of [clone, join]) Object.assign(s, { latencies: [], startups: [], seconds: 0 });
  const BATCH = Math.max(5, Math.ceil(RUNS / 4));
  for (let done = 0; done < RUNS; done += BATCH) {
    await batch(clone, concurrency, BATCH);
    await batch(join, concurrency, BATCH);
  }
  const figures = (s: Side) => ({ p50: at(s.latencies, 0.5), p95: at(s.latencies, 0.95), startupP50: at(s.startups, 0.5), perSecond: s.latencies.length / s.seconds });
  const [c, j] = [figures(clone), figures(join)];
  process.stdout.write(
    `${String(concurrency).padStart(11)} | ${fmt(c.p50)} ${fmt(c.p95)} ${fmt(c.startupP50)} ${fmt(c.perSecond)} | ${fmt(j.p50)} ${fmt(j.p95)} ${fmt(j.startupP50)} ${fmt(j.perSecond)} | ${(c.p50 / j.p50).toFixed(2).padStart(9)} ${(c.startupP50 / j.startupP50).toFixed(2).padStart(11)} ${(c.perSecond / j.perSecond).toFixed(2).padStart(7)}\n`,
  );
  return { concurrency, clone3: c, joined: j, ratio_p50: c.p50 / j.p50, ratio_startup_p50: c.startupP50 / j.startupP50, ratio_runs_per_second: c.perSecond / j.perSecond };
}

async function main() {
  const clone = side('clone3', true);
  const join = side('joined', false);
  for (let i = 0; i < 3; i++) for (const s of [clone, join]) await once(s); // warm-up: page cache, helper
  process.stdout.write(`bench:cgroup-entry — ${RUNS} runs of /bin/true per side and row, ${clone.sandbox.cgroups.describe()}, ` +
    `entries seen: clone3 side ${JSON.stringify(clone.sandbox.lastCgroupEntry)}, joined side ${JSON.stringify(join.sandbox.lastCgroupEntry)}\n`);
  process.stdout.write('concurrency | clone3 p50 ms  p95 ms spawn+wait runs/s | joined p50 ms  p95 ms spawn+wait runs/s | ratio p50 spawn+wait runs/s\n');
  const rows = [];
  for (const concurrency of [1, 2]) rows.push(await row(concurrency, clone, join));
  clone.sandbox.close();
  join.sandbox.close();
  process.stdout.write(`${JSON.stringify({ bench: 'cgroup-entry', runs: RUNS, rows })}\n`);
}

await main();
