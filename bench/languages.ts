/**
 * npm run bench:languages [-- --runs N]
 *
 * Hello world in every language the installed rootfs includes, N times each
 * (after one warm-up) through runJob, as a worker runs it: prints the median
 * wall time, CPU time and peak memory of the compile step (where there is
 * one) and of the run step. Prints two markdown tables for docs/languages.md:
 * the catalog as installed (versions from the rootfs marker) and the figures.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../cli/config.js';
import { readMarker, verifiedRootfs } from '../rootfs/build.js';
import { LANGUAGES } from '../rootfs/languages.js';
import type { RunResult } from '../sandbox/accounting.js';
import type { RequestedLimits } from '../sandbox/limits.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { SlotPool } from '../sandbox/slots.js';
import { runJob } from '../worker/job.js';
import { HELLO } from './hello-world.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const RUNS = Number(values.runs);


const config = loadConfig();
const rootfs = verifiedRootfs(config.dataDir, config.languages);
const installed = readMarker(rootfs).languages;
const sandbox = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs, cpuQuota: config.cpuQuota });
const pool = new SlotPool({ dataDir: config.dataDir, count: config.slots, uidBase: config.uidBase });

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

interface StepFigures {
  wall: number;
  cpu: number;
  memoryMiB: number;
}

function figures(results: RunResult[]): StepFigures {
  return {
    wall: median(results.map((r) => r.wall_ms)),
    cpu: median(results.map((r) => r.cpu_ms)),
    memoryMiB: median(results.map((r) => r.memory_peak_bytes)) / (1024 * 1024),
  };
}

async function hello(id: string): Promise<{ compile?: RunResult; run: RunResult }> {
  const language = LANGUAGES.find((l) => l.id === id)!;
  const result = await pool.withSlot((slot) =>
    runJob({ sandbox, slot, table: config.limits, installed }, { language: id, files: [{ path: language.defaultFile, content: Buffer.from(HELLO[id]) }] }),
  );
  if (result.compile && result.compile.status !== 'ok') throw new Error(`${id}: compile ${result.compile.status}: ${result.compile.stderr || result.compile.stdout}`);
  if (result.run?.status !== 'ok' || result.run.stdout !== 'hello\n') throw new Error(`${id}: run ${JSON.stringify(result.run)}`);
  return { compile: result.compile, run: result.run };
}

const cell = (step: StepFigures | undefined) =>
  step ? [`${Math.round(step.wall)}`, `${Math.round(step.cpu)}`, step.memoryMiB.toFixed(1)] : ['-', '-', '-'];

const rows: string[][] = [];
for (const language of LANGUAGES) {
  if (!(language.id in installed)) continue;
  await hello(language.id); // warm-up: page cache, the compiler's first start
  const compiles: RunResult[] = [];
  const runs: RunResult[] = [];
  for (let i = 0; i < RUNS; i++) {
    const result = await hello(language.id);
    if (result.compile) compiles.push(result.compile);
    runs.push(result.run);
  }
  rows.push([language.id, installed[language.id], ...cell(compiles.length ? figures(compiles) : undefined), ...cell(figures(runs))]);
  process.stderr.write(`${language.id} done\n`);
}
sandbox.close();

function formatLimits(limits: RequestedLimits | undefined): string {
  const parts = Object.entries(limits ?? {}).map(([name, value]) => (name.endsWith('_bytes') ? `${name} ${value / (1024 * 1024)} MiB` : `${name} ${value}`));
  return parts.join(', ');
}

function extras(language: (typeof LANGUAGES)[number]): string {
  const parts = [];
  if (language.compileLimits) parts.push(`compile: ${formatLimits(language.compileLimits)}`);
  if (language.runLimits) parts.push(`run: ${formatLimits(language.runLimits)}`);
  if (language.env) parts.push(`env: ${Object.entries(language.env).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  return parts.join('; ');
}

// A script of several lines is shown as <script> (rootfs/languages.ts has it); a | in a cell is escaped for the table.
const code = (argv: string[] | undefined) => (argv ? `\`${argv.map((part) => (part.includes('\n') ? '{script}' : part)).join(' ').replaceAll('|', '\\|')}\`` : '');
const stepOf = (l: (typeof LANGUAGES)[number]) => (l.compile ? code(l.compile) : l.check ? `check: ${code(l.check)}` : '');
const catalog = [
  ['id', 'name', 'version', 'file', 'compile (or syntax check)', 'run', 'extra limits and environment'],
  ['---', '---', '---', '---', '---', '---', '---'],
  ...LANGUAGES.filter((l) => l.id in installed).map((l) => [`\`${l.id}\``, l.name, installed[l.id], `\`${l.defaultFile}\``, stepOf(l), code(l.run), extras(l)]),
].map((row) => `| ${row.join(' | ').replaceAll('{', '<').replaceAll('}', '>')} |`);
process.stdout.write(`${catalog.join('\n')}\n\n`);
const multiFile = [['id', 'a program in several files'], ['---', '---'], ...LANGUAGES.map((l) => [`\`${l.id}\``, l.multiFile])].map((row) => `| ${row.join(' | ')} |`);
process.stdout.write(`${multiFile.join('\n')}\n\n`);

const header = ['language', 'version', 'compile wall ms', 'compile CPU ms', 'compile peak MiB', 'run wall ms', 'run CPU ms', 'run peak MiB'];
const lines = [header, header.map((h, i) => (i < 2 ? '---' : '---:')), ...rows].map((row) => `| ${row.join(' | ')} |`);
process.stdout.write(`Hello world, median of ${RUNS} runs after a warm-up, one at a time (${new Date().toISOString().slice(0, 10)}):\n\n${lines.join('\n')}\n`);
