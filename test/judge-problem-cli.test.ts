/**
 * `runcell judge --problem DIR --file F`: a package unpacked in a directory,
 * judged locally in real sandboxes; the comparison from validator_flags and
 * a custom Kattis output validator that reads its flags; the input validators
 * run first (a refusal names the validator and the file); interactive
 * packages, Kattis and testlib (with a checker of the interactor's output).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** Runs `runcell judge` without blocking the test worker's event loop (vitest talks to it meanwhile). */
function judge(problem: string, source: string): Promise<{ status: number | null; stderr: string; result: any }> {
  const file = join(scratch, `main-${Math.random().toString(36).slice(2)}.py`);
  writeFileSync(file, source);
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'judge', '--problem', problem, '--file', file, '--json'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const status = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ status, stderr, result: stdout ? JSON.parse(stdout) : undefined });
    });
  });
}

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'interactive', name), 'utf8');
const SOLUTION = fixture('solution.py');
/** Plays the guessing game of test/interactive, but gives up after max_queries (a validator flag) queries. */
const COUNTING_VALIDATOR = fixture('validator.py')
  .replace('import sys\n', "import sys\nmax_queries = int(sys.argv[sys.argv.index('max_queries') + 1])\n")
  .replace('for queries in range(64):', 'for queries in range(max_queries):');
const games = { 'data/sample/1.in': '321\n', 'data/sample/1.ans': '321\n', 'data/secret/2.in': '1000\n', 'data/secret/2.ans': '1000\n' };

const data = { 'data/sample/1.in': '2\n', 'data/sample/1.ans': '4\n', 'data/secret/2.in': '21\n', 'data/secret/2.ans': '42\n' };

// Each test spawns runcell (a rootfs check, a compile or two, the runs): slow on a loaded host.
describe('runcell judge --problem', { timeout: 180_000 }, () => {
  it('judges with the default validator and its float tolerance', async () => {
    const problem = lay('float', { 'problem.yaml': 'name: Half\nvalidator_flags: float_tolerance 0.01\n', 'data/secret/1.in': '1\n', 'data/secret/1.ans': '0.5\n' });
    expect(await judge(problem, 'print(int(input()) / 2 + 0.001)\n')).toMatchObject({ status: 0, result: { verdict: 'accepted' } });
    expect(await judge(problem, 'print(int(input()) / 2 + 0.1)\n')).toMatchObject({ status: 1, result: { verdict: 'wrong_answer' } });
  });

  it('judges with a custom output validator given its validator_flags', async () => {
    const validator = [
      'import sys',
      "slack = int(sys.argv[sys.argv.index('slack') + 1])",
      'got, want = int(sys.stdin.read().split()[0]), int(open(sys.argv[2]).read())',
      "if abs(got - want) <= slack: sys.exit(42)",
      "open(sys.argv[3] + 'judgemessage.txt', 'w').write(f'{got} is far from {want}')",
      'sys.exit(43)',
    ].join('\n');
    const problem = lay('near', { ...data, 'problem.yaml': 'name: Near\nvalidation: custom\nvalidator_flags: slack 1\n', 'output_validators/near/validate.py': validator });
    expect(await judge(problem, 'print(int(input()) * 2 + 1)\n')).toMatchObject({ status: 0, result: { verdict: 'accepted' } });
    const far = await judge(problem, 'print(int(input()) * 2 + 2)\n');
    expect(far).toMatchObject({ status: 1, result: { verdict: 'wrong_answer' } });
    expect(far.result.tests[0].verdict_message).toBe('6 is far from 4');
  });

  it('runs the input validators first: a test input one refuses refuses the package, naming the validator and the file', async () => {
    const validator = 'import sys, re\nsys.exit(42 if re.fullmatch(r"\\d+\\n", sys.stdin.read()) else 43)\n';
    const good = lay('validated', { ...data, 'problem.yaml': 'name: Double\n', 'input_validators/digits/digits.py': validator });
    expect(await judge(good, 'print(int(input()) * 2)\n')).toMatchObject({ status: 0, result: { verdict: 'accepted' } });
    const bad = lay('invalid', { ...data, 'data/secret/2.in': '21 words\n', 'problem.yaml': 'name: Double\n', 'input_validators/digits/digits.py': validator });
    const refused = await judge(bad, 'print(int(input()) * 2)\n');
    expect(refused).toMatchObject({ status: 2, result: undefined });
    expect(refused.stderr).toContain('the package is refused: input_validators/digits refused data/secret/2.in (nonzero_exit 43)');
  });

  it('an interactive package (validation: custom interactive): the output validator is the kattis interactor, given its validator_flags', async () => {
    const problem = (name: string, flags: string) => lay(name, { ...games, 'problem.yaml': `name: Guess\nvalidation: custom interactive\nvalidator_flags: max_queries ${flags}\n`, 'output_validators/guess/validate.py': COUNTING_VALIDATOR });
    const accepted = await judge(problem('guess', '11'), SOLUTION);
    expect(accepted).toMatchObject({ status: 0, result: { verdict: 'accepted' } });
    expect(accepted.result.tests.map((t: { id: string; verdict_message: string }) => [t.id, t.verdict_message])).toEqual([['sample/1', 'found 321'], ['secret/2', 'found 1000']]);
    expect(accepted.result.tests[0].interactor).toMatchObject({ exit_code: 42 });
    // Binary search over 1..1000 needs up to 10 queries and the answer line: with 3 lines allowed, the validator's flag makes it wrong.
    const few = await judge(problem('guess3', '3'), SOLUTION);
    expect(few).toMatchObject({ status: 1, result: { verdict: 'wrong_answer' } });
    expect(few.result.tests[0].verdict_message).toBe('too many queries');
  });

  it('a testlib interactive package (runcell.interactor_protocol) with a checker of the interactor\'s output file', async () => {
    const checker = 'import sys\ngot, want = open(sys.argv[2]).read().split(), open(sys.argv[3]).read().split()\nprint("saw", got)\nsys.exit(0 if got == want else 1)\n';
    const files = { ...games, 'problem.yaml': 'name: Guess\nvalidation: custom interactive\nruncell:\n  interactor_protocol: testlib\n', 'output_validators/interactor/interactor.c': fixture('interactor.c'), 'output_validators/checker/checker.py': checker };
    const accepted = await judge(lay('testlib-guess', files), SOLUTION);
    expect(accepted).toMatchObject({ status: 0, result: { verdict: 'accepted', interactor_compile: { status: 'ok' } } });
    expect(accepted.result.tests[1]).toMatchObject({ verdict_message: "saw ['1000']", interactor: { exit_code: 0 }, checker: { exit_code: 0 } });
    // The interactor accepts (it found the secret); the checker, comparing its output file with the answer, does not.
    const wrongAnswerFile = await judge(lay('testlib-guess-wrong', { ...files, 'data/secret/2.ans': '999\n' }), SOLUTION);
    expect(wrongAnswerFile.result.tests.map((t: { verdict: string }) => t.verdict)).toEqual(['accepted', 'wrong_answer']);
    expect(wrongAnswerFile.result.tests[1].interactor).toMatchObject({ exit_code: 0 });
  });

  it('refuses a directory that is not a package, as a usage error', async () => {
    const problem = lay('broken', { 'problem.yaml': 'name: X\n', 'data/secret/1.in': '1\n' });
    const refused = await judge(problem, 'print(1)\n');
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('data/secret/1.in: this input has no .ans beside it');
  });
});
