/**
 * The layers hold: api/ and queue/ import nothing of worker/ or sandbox/,
 * sandbox/ nothing above it, contract/ nothing of runcell, and no file takes
 * part in an import cycle. `import type` counts (the rules are in
 * scripts/layers.ts; `npx tsx scripts/layers.ts` prints the same list).
 * Pure: reads the sources, needs neither root nor a kernel.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allImports, importCycles, importsOf, layerViolations, report, sourceFiles, type ImportEdge } from '../scripts/layers.js';

const edges = allImports();
/** A made-up import; a `to` ending in .ts is a file of the repository, anything else a package. */
const edge = (from: string, to: string, typeOnly = false): ImportEdge => ({ from, to, line: 1, typeOnly, local: to.endsWith('.ts') });

describe('the import scanner', () => {
  it('sees every kind of import, and which import only types', () => {
    const root = mkdtempSync(join(tmpdir(), 'runcell-layers-'));
    try {
      for (const dir of ['a', 'b']) mkdirSync(join(root, dir));
      writeFileSync(join(root, 'a', 'y.ts'), 'export const v = 1;\n');
      writeFileSync(join(root, 'b', 'z.ts'), 'export type T = number;\n');
      const lines = [
        "import { v } from './y.js';",
        "import type { T } from '../b/z.js';",
        "import { type T as U } from '../b/z.js';",
        "import v2, { type T as W } from './y.js';",
        "export { v as q } from './y.js';",
        "export type { T as R } from '../b/z.js';",
        "import 'node:fs';",
        "import * as zod from 'zod';",
        "const m = await import('./y.js');",
        "type I = typeof import('../b/z.js');",
      ];
      writeFileSync(join(root, 'a', 'x.ts'), `${lines.join('\n')}\n`);
      const seen = importsOf(join(root, 'a', 'x.ts'), root).map((e) => [e.line, e.to, e.typeOnly, e.local]);
      expect(seen).toEqual([
        [1, 'a/y.ts', false, true],
        [2, 'b/z.ts', true, true],
        [3, 'b/z.ts', true, true],
        [4, 'a/y.ts', false, true],
        [5, 'a/y.ts', false, true],
        [6, 'b/z.ts', true, true],
        [7, 'node:fs', false, false],
        [8, 'zod', false, false],
        [9, 'a/y.ts', false, true],
        [10, 'b/z.ts', true, true],
      ]);
      expect(sourceFiles(root)).toEqual([join(root, 'a', 'x.ts'), join(root, 'a', 'y.ts'), join(root, 'b', 'z.ts')]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads the real sources, tests included', () => {
    expect(sourceFiles().length).toBeGreaterThan(80);
    expect(edges.filter((e) => e.local && !e.typeOnly).length).toBeGreaterThan(100);
    expect(edges.some((e) => e.local && e.typeOnly)).toBe(true);
    expect(edges.some((e) => !e.local && e.to === 'zod')).toBe(true);
    // A cycle through a test helper is a cycle too.
    expect(edges.some((e) => e.from.startsWith('test/'))).toBe(true);
  });
});

describe('the rules, on made-up imports', () => {
  it('flag api or queue importing worker or sandbox, types included', () => {
    const made = [edge('api/app.ts', 'worker/job.ts'), edge('queue/store.ts', 'sandbox/limits.ts', true), edge('api/app.ts', 'queue/queue.ts')];
    expect(layerViolations(made).map((v) => v.edge.to)).toEqual(['worker/job.ts', 'sandbox/limits.ts']);
  });

  it('flag sandbox importing anything above it, or HTTP and Redis packages', () => {
    const made = [
      ...['api', 'queue', 'worker', 'judge', 'monitoring', 'cli', 'rootfs'].map((folder) => edge('sandbox/x.ts', `${folder}/y.ts`)),
      edge('sandbox/x.ts', 'sandbox/y.ts'),
      edge('sandbox/x.ts', 'contract/run-result.ts'),
      edge('sandbox/x.ts', 'ioredis'),
      edge('sandbox/x.ts', 'koffi'),
    ];
    expect(layerViolations(made).map((v) => v.edge.to)).toEqual(['api/y.ts', 'queue/y.ts', 'worker/y.ts', 'judge/y.ts', 'monitoring/y.ts', 'cli/y.ts', 'rootfs/y.ts', 'ioredis']);
  });

  it('flag contract importing anything of runcell or any package but zod', () => {
    const made = [
      edge('contract/job.ts', 'contract/limits.ts'),
      edge('contract/job.ts', 'sandbox/limits.ts', true),
      edge('contract/job.ts', 'zod'),
      edge('contract/job.ts', 'node:fs'),
    ];
    expect(layerViolations(made).map((v) => v.edge.to)).toEqual(['sandbox/limits.ts', 'node:fs']);
  });

  it('flag archive importing anything but archive and contract, or HTTP and Redis packages', () => {
    const made = [
      ...['api', 'queue', 'worker', 'sandbox', 'judge', 'cli'].map((folder) => edge('archive/x.ts', `${folder}/y.ts`)),
      edge('archive/x.ts', 'archive/y.ts'),
      edge('archive/x.ts', 'contract/archive.ts', true),
      edge('archive/x.ts', 'yauzl'),
      edge('archive/x.ts', 'ioredis'),
      edge('archive/x.ts', 'node:http'),
    ];
    expect(layerViolations(made).map((v) => v.edge.to)).toEqual(['api/y.ts', 'queue/y.ts', 'worker/y.ts', 'sandbox/y.ts', 'judge/y.ts', 'cli/y.ts', 'ioredis', 'node:http']);
  });

  it('find cycles of any length, and a file importing itself, but not a diamond', () => {
    const made = [
      edge('a/1.ts', 'a/2.ts'),
      edge('a/2.ts', 'b/3.ts', true),
      edge('b/3.ts', 'a/1.ts'),
      edge('c/4.ts', 'c/4.ts'),
      edge('d/5.ts', 'd/6.ts'),
      edge('d/5.ts', 'd/7.ts'),
      edge('d/6.ts', 'd/8.ts'),
      edge('d/7.ts', 'd/8.ts'),
    ];
    expect(importCycles(made)).toEqual([['a/1.ts', 'a/2.ts', 'b/3.ts'], ['c/4.ts']]);
  });
});

describe('runcell', () => {
  it('has no import that breaks a layer, and no import cycle', () => {
    const offending = report(edges);
    if (offending.length > 0) console.error(`offending imports (see scripts/layers.ts):\n${offending.join('\n')}`);
    expect(offending).toEqual([]);
  });
});
