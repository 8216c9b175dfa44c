/**
 * npm run bench:sandbox [-- --runs N]
 *
 * N trivial runs (/bin/true) through runcell's sandbox (a whole job: slot,
 * workspace tmpfs, cgroup, seccomp, bubblewrap, accounting, cleanup) and
 * through bare bubblewrap with the same namespaces and mounts (as the same
 * unprivileged uid, started the same way with posix_spawn; no cgroup, no
 * seccomp, no accounting), side by side in
 * one process, sequentially and at concurrency 2 and 4. Prints p50/p95
 * latency, runs/s and the runcell / bare ratio. With --compare-masking, a
 * third side: runcell with its /proc masks as bubblewrap arguments (the way
 * before runcell-exec launch mounted them), for the before/after figures.
 * Each row also has runcell with a writable root ("root": "writable": a
 * copy-on-write overlay and its tmpfs per run) against today's read-only
 * bind, in the same alternating batches.
 * With --compare-view, another side: runcell with the host's overlay mounts
 * kept in its launcher's view (`hostOverlays: 'keep'`, as before they were
 * detached), for the before/after figures.
 * With an isolate binary (ioi/isolate; `--isolate PATH`, else `isolate` on
 * PATH), a fourth side: isolate's whole cycle per run (`--init`, `--run --
 * /bin/true`, `--cleanup`, one box id per concurrency lane), without `--cg`
 * (isolate 2.x's cgroup mode needs cgroup v2 with its controllers). Without
 * one, that side is skipped with a line saying so. docs/performance.md says
 * how to build isolate.
 */
import { accessSync, closeSync, constants, mkdirSync, openSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadConfig } from '../cli/config.js';
import { verifiedRootfs } from '../rootfs/build.js';
import { resolveLimits } from '../sandbox/limits.js';
import { HELPER_DIR } from '../sandbox/mount.js';
import { environmentArgs, namespaceArgs } from '../sandbox/namespaces.js';
import { Sandbox, type RunPhases } from '../sandbox/sandbox.js';
import { SlotPool } from '../sandbox/slots.js';
import { ensureHelper } from '../sandbox/helper.js';
import { reap, spawnWithFds } from '../sandbox/libc.js';
import { runJob } from '../worker/job.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '200' }, 'compare-masking': { type: 'boolean', default: false }, 'compare-view': { type: 'boolean', default: false }, isolate: { type: 'string' } },
});
const COMPARE_MASKING = values['compare-masking'];
const COMPARE_VIEW = values['compare-view'];
const RUNS = Number(values.runs);
const CONCURRENCIES = [1, 2, 4];

const config = loadConfig();
const rootfs = verifiedRootfs(config.dataDir, config.languages);
let phases: RunPhases[] = [];
let oldPhases: RunPhases[] = [];
const sandbox = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs, onPhases: (p) => phases.push(p) });
const bubblewrapMasking = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs, procMasking: 'bubblewrap', onPhases: (p) => oldPhases.push(p) });
const overlaysKept = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs, hostOverlays: 'keep' });
// Its own Sandbox, so that the phases printed for runcell stay those of the read-only runs.
const writableRoot = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs });
const pool = new SlotPool({ dataDir: config.dataDir, count: config.slots, uidBase: config.uidBase });
const helper = ensureHelper(config.dataDir);
const limits = resolveLimits({});

async function runcellOnce(on: Sandbox = sandbox, root: 'read-only' | 'writable' = 'read-only'): Promise<void> {
  const result = await pool.withSlot((slot) => runJob({ sandbox: on, slot }, { command: ['/bin/true'], limits, root }));
  if (result.run?.status !== 'ok') throw new Error(`runcell run failed: ${JSON.stringify(result.run)}`);
}

/** Plain directories stand in for the workspace and /tmp: bare bubblewrap has no tmpfs of its own making. */
const bareRoot = join(config.dataDir, 'bench-bare');
let bareCounter = 0;

async function bareOnce(uid: number): Promise<void> {
  const dir = join(bareRoot, String(bareCounter++));
  mkdirSync(join(dir, 'box'), { recursive: true });
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const args = [
    ...namespaceArgs(),
    ...environmentArgs(),
    // runcell's own filesystem arguments bind from the view its launcher builds; bare bubblewrap binds the host paths.
    '--ro-bind', rootfs, '/', '--ro-bind', helper.dir, HELPER_DIR, '--bind', join(dir, 'box'), '/box', '--bind', join(dir, 'tmp'), '/tmp',
    '--proc', '/proc', '--dev', '/dev',
    '--chdir', '/box', '--', '/bin/true',
  ];
  // Started the way runcell starts its launcher (posix_spawn), through setpriv for the uid,
  // so that the ratio measures what runcell adds around bubblewrap, not how Node forks.
  await spawnAndWait('/usr/bin/setpriv', ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', '/usr/bin/bwrap', ...args]);
  rmSync(dir, { recursive: true, force: true });
}

/** posix_spawn with stdio on /dev/null, then polls for its end (as runcell polls its launcher); throws unless it exits 0. */
async function spawnAndWait(path: string, argv: string[]): Promise<void> {
  const devNull = openSync('/dev/null', 'r+');
  const pid = await spawnWithFds(path, argv, [devNull, devNull, devNull]);
  closeSync(devNull);
  return new Promise((resolve, reject) => {
    const poll = () => {
      const status = reap(pid);
      if (!status) return void setTimeout(poll, 0.5);
      if (status.code === 0) resolve();
      else reject(new Error(`${argv.join(' ')} exited ${status.code ?? `by signal ${status.signal}`}`));
    };
    poll();
  });
}

/** isolate's binary: --isolate, else the first `isolate` on PATH; undefined when there is none. */
function findIsolate(): string | undefined {
  const candidates = values.isolate ? [values.isolate] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'isolate'));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      if (values.isolate) throw new Error(`--isolate ${values.isolate}: not an executable file`);
    }
  }
  return undefined;
}

const ISOLATE = findIsolate();
const isolateSteps: { init: number[]; run: number[]; cleanup: number[] } = { init: [], run: [], cleanup: [] };

/** One whole isolate cycle in box `box` (one per concurrency lane), each step timed. */
async function isolateOnce(box: number): Promise<void> {
  const bin = ISOLATE as string;
  for (const [step, args] of [['init', ['--init']], ['run', ['--run', '--', '/bin/true']], ['cleanup', ['--cleanup']]] as const) {
    const t0 = performance.now();
    await spawnAndWait(bin, ['isolate', `--box-id=${box}`, ...args]);
    isolateSteps[step].push(performance.now() - t0);
  }
}

interface Figures {
  p50: number;
  p95: number;
  perSecond: number;
}

interface Sample {
  latencies: number[];
  seconds: number;
}

/** Runs `count` calls of `once` with `concurrency` in flight; adds to `sample`. */
async function batch(concurrency: number, count: number, once: (worker: number) => Promise<void>, sample: Sample): Promise<void> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (next < count) {
        next++;
        const t0 = performance.now();
        await once(worker);
        sample.latencies.push(performance.now() - t0);
      }
    }),
  );
  sample.seconds += (performance.now() - started) / 1000;
}

function figures(sample: Sample): Figures {
  const sorted = [...sample.latencies].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5), p95: at(0.95), perSecond: sorted.length / sample.seconds };
}

/**
 * Both sides in alternating batches (a quarter of the runs each), so that a
 * busy moment of the machine falls on both alike. Batches are long because
 * cgroup v1 makes the first cgroup moves after a quiet spell wait for an RCU
 * grace period: short batches would measure mostly those first moves.
 */
async function compare(concurrency: number): Promise<{ runcell: Figures; bare: Figures; before?: Figures; writable: Figures; isolate?: Figures; kept?: Figures }> {
  const runcell: Sample = { latencies: [], seconds: 0 };
  const kept: Sample = { latencies: [], seconds: 0 };
  const isolate: Sample = { latencies: [], seconds: 0 };
  const writable: Sample = { latencies: [], seconds: 0 };
  const bare: Sample = { latencies: [], seconds: 0 };
  const before: Sample = { latencies: [], seconds: 0 };
  const BATCH = Math.max(10, Math.ceil(RUNS / 4));
  for (let done = 0; done < RUNS; done += BATCH) {
    await batch(concurrency, BATCH, () => runcellOnce(), runcell);
    await batch(concurrency, BATCH, () => runcellOnce(writableRoot, 'writable'), writable);
    if (COMPARE_MASKING) await batch(concurrency, BATCH, () => runcellOnce(bubblewrapMasking), before);
    if (COMPARE_VIEW) await batch(concurrency, BATCH, () => runcellOnce(overlaysKept), kept);
    await batch(concurrency, BATCH, (worker) => bareOnce(config.uidBase + config.slots + worker), bare);
    if (ISOLATE) await batch(concurrency, BATCH, (worker) => isolateOnce(worker), isolate);
  }
  return {
    runcell: figures(runcell),
    bare: figures(bare),
    before: COMPARE_MASKING ? figures(before) : undefined,
    writable: figures(writable),
    isolate: ISOLATE ? figures(isolate) : undefined,
    kept: COMPARE_VIEW ? figures(kept) : undefined,
  };
}

function medianPhases(all: RunPhases[]): Record<string, number> {
  const keys = Object.keys(all[0] ?? {}) as (keyof RunPhases)[];
  return Object.fromEntries(keys.map((key) => [key, all.map((p) => p[key]).sort((a, b) => a - b)[Math.floor(all.length / 2)]]));
}

const fmt = (n: number) => n.toFixed(1).padStart(7);
const median = (all: number[]) => [...all].sort((a, b) => a - b)[Math.floor(all.length / 2)] ?? 0;

/** isolate's line of a row: its cycle's figures, its steps' medians and runcell / isolate. */
function isolateLine(runcell: Figures, isolate: Figures): Record<string, unknown> {
  const steps = Object.fromEntries(Object.entries(isolateSteps).map(([step, all]) => [step, median(all)]));
  const ratio = { p50: runcell.p50 / isolate.p50, runs_per_second: runcell.perSecond / isolate.perSecond };
  process.stdout.write(
    `${' '.repeat(11)} | isolate (--init, --run, --cleanup; no --cg): p50 ${isolate.p50.toFixed(1)} p95 ${isolate.p95.toFixed(1)} runs/s ${isolate.perSecond.toFixed(1)}; steps, median ms: ${Object.entries(steps).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}; runcell / isolate p50 ${ratio.p50.toFixed(2)} runs/s ${ratio.runs_per_second.toFixed(2)}\n`,
  );
  return { isolate, isolate_steps_ms: steps, runcell_over_isolate: ratio };
}

/** Leftover boxes of an interrupted earlier run would make --init slower; clean them once. */
async function cleanIsolateBoxes(): Promise<void> {
  if (!ISOLATE) {
    process.stdout.write('isolate: no binary (--isolate PATH, or isolate on PATH); its side is skipped (docs/performance.md says how to build it)\n');
    return;
  }
  process.stdout.write(`isolate: ${ISOLATE}, box ids 0-${Math.max(...CONCURRENCIES) - 1}, without --cg\n`);
  for (let box = 0; box < Math.max(...CONCURRENCIES); box++) await spawnAndWait(ISOLATE, ['isolate', `--box-id=${box}`, '--cleanup']);
}

async function main() {
  mkdirSync(bareRoot, { recursive: true, mode: 0o711 });
  process.stdout.write(`bench:sandbox — ${RUNS} runs of /bin/true per row, ${sandbox.cgroups.describe().split(' (')[0]}, bubblewrap 0.8\n`);
  await cleanIsolateBoxes();
  // Warm-up: page cache, helper, seccomp filter file.
  for (let i = 0; i < 5; i++) {
    await runcellOnce();
    await runcellOnce(writableRoot, 'writable');
    if (COMPARE_MASKING) await runcellOnce(bubblewrapMasking);
    if (COMPARE_VIEW) await runcellOnce(overlaysKept);
    await bareOnce(config.uidBase + config.slots);
    if (ISOLATE) await isolateOnce(0);
  }
  const rows: Record<string, unknown>[] = [];
  process.stdout.write('concurrency | runcell p50 ms  p95 ms  runs/s | bare bwrap p50 ms  p95 ms  runs/s | ratio p50  runs/s\n');
  for (const concurrency of CONCURRENCIES) {
    phases = [];
    oldPhases = [];
    for (const all of Object.values(isolateSteps)) all.length = 0;
    const { runcell, bare, before, writable, isolate, kept } = await compare(concurrency);
    const breakdown = medianPhases(phases);
    const ratio = runcell.p50 / bare.p50;
    const throughput = runcell.perSecond / bare.perSecond;
    process.stdout.write(
      `${String(concurrency).padStart(11)} | ${fmt(runcell.p50)} ${fmt(runcell.p95)} ${fmt(runcell.perSecond)} | ${fmt(bare.p50)}   ${fmt(bare.p95)} ${fmt(bare.perSecond)} | ${ratio.toFixed(2).padStart(9)} ${throughput.toFixed(2).padStart(7)}\n`,
    );
    process.stdout.write(`${' '.repeat(11)} | runcell phases, median ms: ${Object.entries(breakdown).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}\n`);
    process.stdout.write(
      `${' '.repeat(11)} | writable root (overlay + tmpfs per run): p50 ${writable.p50.toFixed(1)} p95 ${writable.p95.toFixed(1)} runs/s ${writable.perSecond.toFixed(1)}; writable / read-only p50 ${(writable.p50 / runcell.p50).toFixed(2)} (+${(writable.p50 - runcell.p50).toFixed(1)} ms) runs/s ${(writable.perSecond / runcell.perSecond).toFixed(2)}\n`,
    );
    const row: Record<string, unknown> = { concurrency, runcell, bare, ratio_p50: ratio, ratio_runs_per_second: throughput, runcell_phases_ms: breakdown, writable_root: writable, writable_over_read_only_p50: writable.p50 / runcell.p50 };
    if (before) {
      const beforePhases = medianPhases(oldPhases);
      process.stdout.write(
        `${' '.repeat(11)} | before (masks as bubblewrap arguments): p50 ${before.p50.toFixed(1)} p95 ${before.p95.toFixed(1)} runs/s ${before.perSecond.toFixed(1)}, ratio p50 ${(before.p50 / bare.p50).toFixed(2)} runs/s ${(before.perSecond / bare.perSecond).toFixed(2)}; now / before p50 ${(runcell.p50 / before.p50).toFixed(2)}\n`,
      );
      process.stdout.write(`${' '.repeat(11)} | before phases, median ms: ${Object.entries(beforePhases).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}\n`);
      Object.assign(row, { before, before_ratio_p50: before.p50 / bare.p50, before_phases_ms: beforePhases });
    }
    if (isolate) Object.assign(row, isolateLine(runcell, isolate));
    if (kept) {
      process.stdout.write(
        `${' '.repeat(11)} | before (host overlays kept in the view): p50 ${kept.p50.toFixed(1)} p95 ${kept.p95.toFixed(1)} runs/s ${kept.perSecond.toFixed(1)}; now / before p50 ${(runcell.p50 / kept.p50).toFixed(2)} runs/s ${(runcell.perSecond / kept.perSecond).toFixed(2)}\n`,
      );
      Object.assign(row, { host_overlays_kept: kept, now_over_kept_p50: runcell.p50 / kept.p50 });
    }
    rows.push(row);
  }
  rmSync(bareRoot, { recursive: true, force: true });
  sandbox.close();
  bubblewrapMasking.close();
  writableRoot.close();
  overlaysKept.close();
  process.stdout.write(`${JSON.stringify({ bench: 'sandbox', runs: RUNS, rows })}\n`);
}

await main();
