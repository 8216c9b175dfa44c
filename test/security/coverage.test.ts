/**
 * The adversarial suite covers every line of attacks.md: each attack names
 * its line, every line 1-30 has at least one, and scenarios are all run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isProgram } from './attack.js';
import { ALL_ATTACKS } from './attacks/index.js';
import { JOB_SCENARIOS, RESOURCE_SCENARIOS, SERVICE_SCENARIOS } from './attacks/scenarios.js';

const LINES = 30;

describe('coverage of attacks.md', () => {
  it('every attack has a unique id that starts with its line number', () => {
    const ids = ALL_ATTACKS.map((a) => a.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const attack of ALL_ATTACKS) {
      expect(attack.line).toBeGreaterThanOrEqual(1);
      expect(attack.line).toBeLessThanOrEqual(LINES);
      expect(attack.id.startsWith(`L${String(attack.line).padStart(2, '0')}-`), attack.id).toBe(true);
    }
  });

  it(`every line 1-${LINES} has at least one attack, and there are at least 50 in C, Python and shell`, () => {
    const perLine = new Map<number, number>();
    for (const attack of ALL_ATTACKS) perLine.set(attack.line, (perLine.get(attack.line) ?? 0) + 1);
    const missing = Array.from({ length: LINES }, (_, i) => i + 1).filter((line) => !perLine.has(line));
    expect(missing).toEqual([]);
    expect(ALL_ATTACKS.length).toBeGreaterThanOrEqual(50);
    const languages = new Set(ALL_ATTACKS.filter(isProgram).map((a) => a.language));
    for (const language of ['c', 'python', 'sh'] as const) expect(languages).toContain(language);
    console.log(`attacks per line of attacks.md (${ALL_ATTACKS.length} in all): ${[...perLine].sort(([a], [b]) => a - b).map(([line, n]) => `${line}:${n}`).join(' ')}`);
  });

  it('every scenario is run by a test file of the suite', () => {
    const sources = readdirSync(import.meta.dirname)
      .filter((f) => f.endsWith('.test.ts') && f !== 'coverage.test.ts')
      .map((f) => readFileSync(join(import.meta.dirname, f), 'utf8'))
      .join('\n');
    for (const [group, scenarios] of Object.entries({ RESOURCE_SCENARIOS, SERVICE_SCENARIOS, JOB_SCENARIOS })) {
      for (const key of Object.keys(scenarios)) expect(sources, `${group}.${key}`).toContain(`${group}.${key}`);
    }
  });
});
