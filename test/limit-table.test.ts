/**
 * The limit table (sandbox/limits.ts) as data: defaults, maximums, the
 * environment overrides, the request schema, and README.md's limits table,
 * which must say what the table holds. Pure: no sandbox runs (those are in
 * limits.test.ts).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LIMIT_NAMES, LIMIT_TABLE, limitsSchema, limitTableFromEnv, resolveLimits, type LimitSpec } from '../sandbox/limits.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

function shown(spec: LimitSpec, value: number): string {
  if (spec.unit !== 'bytes') return String(value);
  for (const [size, unit] of [[GiB, 'GiB'], [MiB, 'MiB'], [KiB, 'KiB']] as const) if (value >= size && value % size === 0) return `${value / size} ${unit}`;
  return String(value);
}

describe('README.md limits table', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const rows = new Map(
    [...readme.matchAll(/^\| `([a-z_]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$/gm)].map((m) => [m[1], m.slice(2).map((cell) => cell.trim())]),
  );

  it('has one row per limit with its run default, compile default and maximum', () => {
    for (const name of LIMIT_NAMES) {
      const spec = LIMIT_TABLE[name];
      expect(rows.get(name)?.slice(0, 3), name).toEqual([shown(spec, spec.default), shown(spec, spec.compileDefault), shown(spec, spec.max)]);
      expect(rows.get(name)![3].replace(/`/g, ''), name).toContain(spec.doc);
    }
    expect([...rows.keys()].filter((name) => !(LIMIT_NAMES as readonly string[]).includes(name))).toEqual([]);
  });
});

describe('resolveLimits', () => {
  it('fills in the run or compile defaults, under a language extra, under the request', () => {
    expect(resolveLimits()).toEqual(Object.fromEntries(LIMIT_NAMES.map((n) => [n, LIMIT_TABLE[n].default])));
    expect(resolveLimits({}, { phase: 'compile' }).cpu_ms).toBe(LIMIT_TABLE.cpu_ms.compileDefault);
    expect(resolveLimits({}, { extra: { pids: 128 } }).pids).toBe(128);
    expect(resolveLimits({ pids: 10 }, { extra: { pids: 128 } }).pids).toBe(10);
  });

  it('refuses values out of [min, max] and unknown names', () => {
    expect(() => resolveLimits({ cpu_ms: 0 })).toThrow(/cpu_ms must be at least 1/);
    expect(() => resolveLimits({ cpu_ms: LIMIT_TABLE.cpu_ms.max + 1 })).toThrow(/cpu_ms must be at most/);
    expect(() => resolveLimits({ pids: 1.5 })).toThrow(/pids must be an integer/);
    expect(limitsSchema().safeParse({ cpus: 1 }).success).toBe(false);
    expect(limitsSchema().safeParse({ output_bytes: 0 }).success).toBe(true);
  });
});

describe('limitTableFromEnv', () => {
  it('applies RUNCELL_DEFAULT_, RUNCELL_COMPILE_DEFAULT_ and RUNCELL_MAX_ to a copy', () => {
    const table = limitTableFromEnv({ RUNCELL_DEFAULT_CPU_MS: '1500', RUNCELL_COMPILE_DEFAULT_PIDS: '100', RUNCELL_MAX_WALL_MS: '30000' });
    expect([table.cpu_ms.default, table.pids.compileDefault, table.wall_ms.max]).toEqual([1500, 100, 30000]);
    expect(LIMIT_TABLE.cpu_ms.default).toBe(2000);
    expect(resolveLimits({}, { table }).cpu_ms).toBe(1500);
    expect(() => resolveLimits({ wall_ms: 30001 }, { table })).toThrow(/wall_ms must be at most 30000/);
  });

  it('refuses a value under the minimum, or a default above the maximum', () => {
    expect(() => limitTableFromEnv({ RUNCELL_MAX_CPU_MS: 'lots' })).toThrow(/RUNCELL_MAX_CPU_MS must be an integer >= 1/);
    expect(() => limitTableFromEnv({ RUNCELL_DEFAULT_MEMORY_BYTES: '1024' })).toThrow(/RUNCELL_DEFAULT_MEMORY_BYTES must be an integer >= 4194304/);
    expect(() => limitTableFromEnv({ RUNCELL_MAX_CPU_MS: '1000' })).toThrow(/the default of cpu_ms is above its maximum 1000/);
  });
});
