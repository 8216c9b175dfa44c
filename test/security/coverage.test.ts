/**
 * The adversarial suite covers every line of docs/threats.md: each attack
 * names its line, every numbered line has at least one, and every attack is
 * run by a test (a real `it`, not skipped) of the suite. Pure: reads sources.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { isProgram } from './attack.js';
import { ESCAPE_ATTACKS } from './attacks/escapes.js';
import { FILESYSTEM_ATTACKS } from './attacks/filesystem.js';
import { HOST_MEMORY_ATTACKS } from './attacks/host-memory.js';
import { ALL_ATTACKS } from './attacks/index.js';
import { KERNEL_ATTACKS } from './attacks/kernel.js';
import { NETWORK_ATTACKS } from './attacks/network.js';
import { RESOURCE_ATTACKS } from './attacks/resources.js';
import { ALL_SCENARIOS, JOB_SCENARIOS, RESOURCE_SCENARIOS, SERVICE_SCENARIOS } from './attacks/scenarios.js';

const threats = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'threats.md'), 'utf8');
const LINES = [...threats.matchAll(/^(\d+)\. /gm)].map((m) => Number(m[1]));

/** What the theme test files run: attack lists looped over around an `it`, and `GROUP.key` named in an `it`. */
function whatTheTestsRun(): { loopedLists: Set<string>; namedInTests: Set<string> } {
  const loopedLists = new Set<string>();
  const namedInTests = new Set<string>();
  const files = readdirSync(import.meta.dirname).filter((f) => f.endsWith('.test.ts') && f !== 'coverage.test.ts');
  for (const file of files) {
    const source = ts.createSourceFile(file, readFileSync(join(import.meta.dirname, file), 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node, loops: string[]): void => {
      // `describe.skip(...)`, `it.skip(...)`, `it.todo(...)`: nothing under them runs.
      if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && ['skip', 'todo', 'skipIf', 'runIf'].includes(node.expression.name.text)) return;
      if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && ['it', 'test'].includes(node.expression.text)) {
        for (const list of loops) loopedLists.add(list);
        const collect = (inner: ts.Node): void => {
          if (ts.isPropertyAccessExpression(inner) && ts.isIdentifier(inner.expression)) namedInTests.add(`${inner.expression.text}.${inner.name.text}`);
          ts.forEachChild(inner, collect);
        };
        collect(node);
        return;
      }
      const inLoop = ts.isForOfStatement(node) && ts.isIdentifier(node.expression) ? [...loops, node.expression.text] : loops;
      ts.forEachChild(node, (child) => visit(child, inLoop));
    };
    visit(source, []);
  }
  return { loopedLists, namedInTests };
}

describe('coverage of docs/threats.md', () => {
  it('docs/threats.md numbers its lines 1 to N, in order', () => {
    expect(LINES.length).toBeGreaterThanOrEqual(30);
    expect(LINES).toEqual(Array.from({ length: LINES.length }, (_, i) => i + 1));
  });

  it('every attack has a unique id that starts with its line number, a line of docs/threats.md', () => {
    const ids = ALL_ATTACKS.map((a) => a.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const attack of ALL_ATTACKS) {
      expect(LINES, attack.id).toContain(attack.line);
      expect(attack.id.startsWith(`L${String(attack.line).padStart(2, '0')}-`), attack.id).toBe(true);
    }
  });

  it('every line has at least one attack, and there are at least 50 in C, Python and shell', () => {
    const perLine = new Map<number, number>();
    for (const attack of ALL_ATTACKS) perLine.set(attack.line, (perLine.get(attack.line) ?? 0) + 1);
    expect(LINES.filter((line) => !perLine.has(line))).toEqual([]);
    expect(ALL_ATTACKS.length).toBeGreaterThanOrEqual(50);
    const languages = new Set(ALL_ATTACKS.filter(isProgram).map((a) => a.language));
    for (const language of ['c', 'python', 'sh'] as const) expect(languages).toContain(language);
    console.log(`attacks per line of docs/threats.md (${ALL_ATTACKS.length} in all): ${[...perLine].sort(([a], [b]) => a - b).map(([line, n]) => `${line}:${n}`).join(' ')}`);
  });

  it('every attack is run by a test of the suite: each list in a loop around an `it`, each scenario named in an `it`', () => {
    const lists = { RESOURCE_ATTACKS, ESCAPE_ATTACKS, NETWORK_ATTACKS, KERNEL_ATTACKS, HOST_MEMORY_ATTACKS, FILESYSTEM_ATTACKS };
    // ALL_ATTACKS is these lists and the scenarios, nothing else.
    expect(ALL_ATTACKS.length).toBe(Object.values(lists).reduce((n, list) => n + list.length, 0) + ALL_SCENARIOS.length);
    const { loopedLists, namedInTests } = whatTheTestsRun();
    expect(Object.keys(lists).filter((name) => !loopedLists.has(name))).toEqual([]);
    const scenarios = Object.entries({ RESOURCE_SCENARIOS, SERVICE_SCENARIOS, JOB_SCENARIOS }).flatMap(([group, s]) => Object.keys(s).map((key) => `${group}.${key}`));
    expect(scenarios.length).toBe(ALL_SCENARIOS.length);
    expect(scenarios.filter((name) => !namedInTests.has(name))).toEqual([]);
  });
});
