/**
 * `runcell judge --problem DIR --file F`: a package unpacked in a directory,
 * judged locally in real sandboxes; the comparison from validator_flags and
 * a custom Kattis output validator that reads its flags.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from './service-helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'runcell-judge-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function lay(dir: string, files: Record<string, string>): string {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(scratch, dir, path)), { recursive: true });
    writeFileSync(join(scratch, dir, path), content);
  }
  return join(scratch, dir);
}

function judge(problem: string, source: string) {
  const file = join(scratch, `main-${Math.random().toString(36).slice(2)}.py`);
  writeFileSync(file, source);
  const result = spawnSync(process.execPath, [BIN, 'judge', '--problem', problem, '--file', file, '--json'], { encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr, result: result.stdout ? JSON.parse(result.stdout) : undefined };
}

const data = { 'data/sample/1.in': '2\n', 'data/sample/1.ans': '4\n', 'data/secret/2.in': '21\n', 'data/secret/2.ans': '42\n' };

describe('runcell judge --problem', () => {
  it('judges with the default validator and its float tolerance', () => {
    const problem = lay('float', { 'problem.yaml': 'name: Half\nvalidator_flags: float_tolerance 0.01\n', 'data/secret/1.in': '1\n', 'data/secret/1.ans': '0.5\n' });
    expect(judge(problem, 'print(int(input()) / 2 + 0.001)\n')).toMatchObject({ status: 0, result: { verdict: 'accepted' } });
    expect(judge(problem, 'print(int(input()) / 2 + 0.1)\n')).toMatchObject({ status: 1, result: { verdict: 'wrong_answer' } });
  });

  it('judges with a custom output validator given its validator_flags', () => {
    const validator = [
      'import sys',
      "slack = int(sys.argv[sys.argv.index('slack') + 1])",
      'got, want = int(sys.stdin.read().split()[0]), int(open(sys.argv[2]).read())',
      "if abs(got - want) <= slack: sys.exit(42)",
      "open(sys.argv[3] + 'judgemessage.txt', 'w').write(f'{got} is far from {want}')",
      'sys.exit(43)',
    ].join('\n');
    const problem = lay('near', { ...data, 'problem.yaml': 'name: Near\nvalidation: custom\nvalidator_flags: slack 1\n', 'output_validators/near/validate.py': validator });
    expect(judge(problem, 'print(int(input()) * 2 + 1)\n')).toMatchObject({ status: 0, result: { verdict: 'accepted' } });
    const far = judge(problem, 'print(int(input()) * 2 + 2)\n');
    expect(far).toMatchObject({ status: 1, result: { verdict: 'wrong_answer' } });
    expect(far.result.tests[0].verdict_message).toBe('6 is far from 4');
  });

  it('refuses a directory that is not a package, as a usage error', () => {
    const problem = lay('broken', { 'problem.yaml': 'name: X\n', 'data/secret/1.in': '1\n' });
    const refused = judge(problem, 'print(1)\n');
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('data/secret/1.in: this input has no .ans beside it');
  });
});
