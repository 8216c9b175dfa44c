/**
 * Every bench script, once, with tiny parameters: so that none rots between the releases that run them in
 * earnest. The figures printed here mean nothing (a busy 2-core machine, a handful of runs); what is checked is
 * that each script runs to its end and prints its table. Timing goals live in the scripts' own output, never here.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

/** The tiny parameters of each bench script; a new bench script without an entry fails the first test. */
const TINY: Record<string, { args: string[]; prints: RegExp }> = {
  'bench:sandbox': { args: ['--runs', '3'], prints: /ratio/i },
  'bench:service': { args: ['--seconds', '2', '--rounds', '1', '--concurrency', '1', '--ingest-clients', '2', '--pools', '--ci-concurrency', '2', '--sleep-ms', '100', '--commands', '5'], prints: /ci pool of 2 [\d.]+ jobs\/s/ },
  'bench:metrics': { args: ['--jobs', '200', '--running', '2'], prints: /scrape|render/i },
  'bench:judge': { args: ['--tests', '2', '--rounds', '1'], prints: /stored problem, warm cache/ },
  'bench:languages': { args: ['--runs', '1'], prints: /\| *c *\|/ },
  'bench:soak': { args: ['--seconds', '8', '--concurrency', '1', '--interval', '4'], prints: /lost/i },
  'bench:network': { args: ['--runs', '2', '--mbytes', '2'], prints: /NAT \/ loopback/ },
  'bench:cgroup-entry': { args: ['--runs', '2'], prints: /ratio p50 spawn\+wait/ },
  'bench:image-root': { args: ['--runs', '2'], prints: /overlay of \d+ layers p50 .* ratio p50/ },
  'bench:compat': { args: ['--requests', '4', '--jobs', '3', '--rounds', '1', '--calls', '100'], prints: /translation alone/ },
  'bench:fleet': { args: ['--hosts', '2', '--jobs', '6', '--seconds', '1', '--clients', '4', '--shards', '1'], prints: /failover outage/ },
};

/** Runs one bench script without blocking this process (vitest's worker must keep answering its runner). */
function runBench(name: string, args: string[]): Promise<{ status: number | null; output: string }> {
  const child = spawn('npm', ['run', '--silent', name, '--', ...args], {
    cwd: root,
    env: { ...process.env, RUNCELL_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, output }));
  });
}

describe('bench scripts (tiny parameters)', () => {
  it('every bench:* script in package.json has tiny parameters here', () => {
    const benches = Object.keys(scripts).filter((name) => name.startsWith('bench:')).sort();
    expect(benches).toEqual(Object.keys(TINY).sort());
  });

  for (const [name, { args, prints }] of Object.entries(TINY)) {
    it(`${name} ${args.join(' ')} runs to its end`, { timeout: 600_000 }, async () => {
      const { status, output } = await runBench(name, args);
      if (status !== 0) console.error(output.slice(-4000));
      expect(status).toBe(0);
      expect(output).toMatch(prints);
    });
  }
});
