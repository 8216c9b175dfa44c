/**
 * Judging through runJob against the real sandbox: every verdict on a+b in
 * C++ and in Python, a checker accepting any permutation, isolation between
 * tests, and the compile cache (hit on resubmission, miss on a one-byte change).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CompileCache } from '../worker/compile-cache.js';
import { readMarker, verifiedRootfs } from '../rootfs/build.js';
import { runJob, type JobRequest, type JobResult } from '../worker/job.js';
import type { TestResult } from '../worker/judge.js';
import { config, MiB, sandbox } from './helpers.js';

const file = (path: string, text: string) => ({ path, content: Buffer.from(text) });
const test = (stdin: string, expected: string, limits = {}) => ({ stdin: Buffer.from(stdin), expected_stdout: expected, limits });

async function judged(request: JobRequest, cache?: CompileCache, seen: TestResult[] = []): Promise<JobResult> {
  const { sandbox: box, pool } = sandbox();
  return pool.withSlot((slot) => runJob({ sandbox: box, slot, compileCache: cache, onTest: (t) => void seen.push(t) }, request));
}

// a+b, misbehaving on purpose when a is negative: -1 burns CPU, -2 sleeps,
// -3 eats memory, -4 floods stdout, -5 crashes, -6 answers wrong.
const CPP = `
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
int main() {
  long a, b;
  if (scanf("%ld %ld", &a, &b) != 2) return 2;
  if (a == -1) { volatile unsigned long x = 0; for (;;) x++; }
  if (a == -2) { sleep(30); }
  if (a == -3) { for (;;) { char *p = (char *)malloc(1 << 20); if (p) memset(p, 1, 1 << 20); } }
  if (a == -4) { for (;;) fputs("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\n", stdout); }
  if (a == -5) { abort(); }
  if (a == -6) { printf("%ld\\n", a + b + 1); return 0; }
  printf("%ld\\n", a + b);
}
`;

const PYTHON = `
import os, sys, time
a, b = map(int, sys.stdin.read().split())
if a == -1:
    while True: pass
if a == -2:
    time.sleep(30)
if a == -3:
    hog = []
    while True: hog.append(bytearray(1 << 20))
if a == -4:
    while True: sys.stdout.write("a" * 1000 + "\\n")
if a == -5:
    raise SystemExit(3)
if a == -6:
    print(a + b + 1)
else:
    print(a + b)
`;

/** One test per verdict, each with limits small enough to be met quickly. */
const ALL_VERDICT_TESTS = [
  { ...test('1 2\n', '3\n'), id: 'sum' },
  test('-6 1\n', '-5\n'),
  test('-1 0\n', '', { cpu_ms: 300 }),
  test('-2 0\n', '', { wall_ms: 500 }),
  test('-3 0\n', '', { memory_bytes: 64 * MiB }),
  test('-4 0\n', '', { output_bytes: 4096 }),
  test('-5 0\n', ''),
  test('1000000000 1000000000\n', '2000000000   \n\n'),
];
const EXPECTED_VERDICTS = ['accepted', 'wrong_answer', 'time_limit', 'wall_time_limit', 'memory_limit', 'output_limit', 'runtime_error', 'accepted'];

describe('judging a+b', () => {
  for (const [language, path, source] of [['cpp', 'main.cpp', CPP], ['python3', 'main.py', PYTHON]] as const) {
    it(`${language}: every verdict, counts, the first failure is the job's verdict, one event per test`, async () => {
      const seen: TestResult[] = [];
      const result = await judged({ language, files: [file(path, source)], tests: ALL_VERDICT_TESTS }, undefined, seen);
      // Python too: its syntax check is its compile step.
      expect(result.compile).toMatchObject({ status: 'ok', cached: false });
      expect(result.run).toBeNull();
      expect(result.tests!.map((t) => t.verdict)).toEqual(EXPECTED_VERDICTS);
      expect(result.tests!.map((t) => t.id)).toEqual(['sum', '2', '3', '4', '5', '6', '7', '8']);
      expect(result.tests![0]).toMatchObject({ status: 'ok', stdout: '3\n', verdict_message: null });
      expect(result.tests![1].verdict_message).toBe('line 1: expected "-5", got "-4"');
      expect(result.verdict).toBe('wrong_answer');
      expect(result.counts).toMatchObject({ total: 8, judged: 8, skipped: 0, accepted: 2, wrong_answer: 1, time_limit: 1, wall_time_limit: 1, memory_limit: 1, output_limit: 1, runtime_error: 1 });
      expect(seen.map((t) => t.verdict)).toEqual(EXPECTED_VERDICTS);
    });
  }

  it('all accepted: verdict accepted', async () => {
    const result = await judged({ language: 'python3', files: [file('main.py', PYTHON)], tests: [test('1 2', '3'), test('-7 7', '0\n')] });
    expect(result.verdict).toBe('accepted');
    expect(result.counts).toMatchObject({ total: 2, judged: 2, accepted: 2 });
  });

  it('stop_on_first_failure: the tests after the first failure are skipped', async () => {
    const result = await judged({ language: 'python3', files: [file('main.py', PYTHON)], tests: [test('1 2', '3'), test('-6 0', '-6'), test('1 1', '2')], stop_on_first_failure: true });
    expect(result.tests!.map((t) => t.verdict)).toEqual(['accepted', 'wrong_answer']);
    expect(result.verdict).toBe('wrong_answer');
    expect(result.counts).toMatchObject({ total: 3, judged: 2, skipped: 1 });
  });

  it('a compile error: verdict compile_error, no test runs', async () => {
    const result = await judged({ language: 'cpp', files: [file('main.cpp', 'int main() { return missing; }')], tests: [test('1 2', '3')] });
    expect(result.compile).toMatchObject({ status: 'nonzero_exit' });
    expect(result.verdict).toBe('compile_error');
    expect(result.tests).toEqual([]);
    expect(result.counts).toMatchObject({ total: 1, judged: 0, skipped: 1 });
  });

  it('the comparison mode applies: float with a tolerance, tokens', async () => {
    const thirds = { language: 'python3', files: [file('main.py', 'print(1/3, 2/3)')], tests: [test('', '0.333 0.667')] };
    expect((await judged({ ...thirds, comparison: { mode: 'float', absolute: 1e-3 } })).verdict).toBe('accepted');
    expect((await judged({ ...thirds, comparison: { mode: 'float', absolute: 1e-6, relative: 0 } })).verdict).toBe('wrong_answer');
    const spread = { language: 'python3', files: [file('main.py', 'print(1)\nprint(2)')], tests: [test('', '1 2')] };
    expect((await judged({ ...spread, comparison: { mode: 'tokens' } })).verdict).toBe('accepted');
    expect((await judged(spread)).verdict).toBe('wrong_answer');
  });

  it("float reads a program's nan and inf as the numbers the answer spells NaN and Infinity; case_sensitive: false", async () => {
    const special = { language: 'python3', files: [file('main.py', 'x = float("inf")\nprint(x - x, x, -x)')], tests: [test('', 'NaN Infinity -Infinity\n')] };
    expect((await judged({ ...special, comparison: { mode: 'float' } })).verdict).toBe('accepted');
    expect((await judged({ ...special, comparison: { mode: 'tokens' } })).verdict).toBe('wrong_answer');
    const shouting = { language: 'python3', files: [file('main.py', 'print("YES")')], tests: [test('', 'yes\n')] };
    expect((await judged({ ...shouting, comparison: { mode: 'tokens', case_sensitive: false } })).verdict).toBe('accepted');
    expect((await judged({ ...shouting, comparison: { mode: 'tokens' } })).verdict).toBe('wrong_answer');
  });

  it('no test can leave anything for the next: a fresh /tmp each time, /box read-only', async () => {
    const script = `
if [ -e /tmp/left-behind ]; then echo "tmp dirty"; else echo "tmp clean"; fi
echo x > /tmp/left-behind
if (echo x > /box/left-behind) 2>/dev/null; then echo "box writable"; else echo "box read-only"; fi
(sleep 30 &)
`;
    const expected = 'tmp clean\nbox read-only\n';
    const result = await judged({ language: 'bash', files: [file('main.sh', script)], tests: [test('', expected), test('', expected), test('', expected)] });
    expect(result.tests!.map((t) => t.stdout)).toEqual([expected, expected, expected]);
    expect(result.verdict).toBe('accepted');
  });
});

describe('custom checkers', () => {
  // Accepts any permutation of the input's numbers (testlib order: input, output, answer).
  const PERMUTATION_CHECKER = `
#include <stdio.h>
#include <stdlib.h>
static int cmp(const void *a, const void *b) { return *(const long *)a < *(const long *)b ? -1 : *(const long *)a > *(const long *)b; }
static int load(const char *path, long *v) { FILE *f = fopen(path, "r"); int n = 0; if (!f) exit(3); while (n < 1000 && fscanf(f, "%ld", &v[n]) == 1) n++; fclose(f); return n; }
int main(int argc, char **argv) {
  static long in[1000], out[1000];
  if (argc != 4) return 3;
  int n = load(argv[1], in), m = load(argv[2], out);
  if (n != m) { printf("expected %d numbers, got %d\\n", n, m); return 1; }
  qsort(in, n, sizeof *in, cmp); qsort(out, m, sizeof *out, cmp);
  for (int i = 0; i < n; i++) if (in[i] != out[i]) { printf("not a permutation\\n"); return 1; }
  printf("ok %d numbers\\n", n);
  return 0;
}
`;
  const checker = { language: 'c', files: [file('checker.c', PERMUTATION_CHECKER)] };
  const tests = [test('3 1 2\n', 'unused'), test('5 5 4\n', 'unused')];

  it('accepts a permutation, rejects the rest, with the checker\'s message', async () => {
    const reverse = await judged({ language: 'python3', files: [file('main.py', 'print(*reversed(input().split()))')], tests, checker });
    expect(reverse.checker_compile).toMatchObject({ status: 'ok' });
    expect(reverse.tests!.map((t) => [t.verdict, t.verdict_message])).toEqual([['accepted', 'ok 3 numbers'], ['accepted', 'ok 3 numbers']]);
    expect(reverse.verdict).toBe('accepted');

    const wrong = await judged({ language: 'python3', files: [file('main.py', 'xs = input().split()\nprint(*xs[:-1], 7)')], tests, checker });
    expect(wrong.tests!.map((t) => [t.verdict, t.verdict_message])).toEqual([['wrong_answer', 'not a permutation'], ['wrong_answer', 'not a permutation']]);
    const short = await judged({ language: 'python3', files: [file('main.py', 'print(1)')], tests: tests.slice(0, 1), checker });
    expect(short.tests![0]).toMatchObject({ verdict: 'wrong_answer', verdict_message: 'expected 3 numbers, got 1' });
    // A program that fails never reaches the checker.
    const crash = await judged({ language: 'python3', files: [file('main.py', 'raise SystemExit(4)')], tests: tests.slice(0, 1), checker });
    expect(crash.tests![0].verdict).toBe('runtime_error');
    expect(crash.tests![0].checker).toBeUndefined();
  });

  it('the checker sees the test input, the contestant output and the answer as files', async () => {
    const echo = { language: 'bash', files: [file('check.sh', 'echo "in=$(cat "$1") out=$(cat "$2") ans=$(cat "$3")"; [ "$(cat "$2")" = "$(cat "$3")" ]')] };
    const result = await judged({ language: 'bash', files: [file('main.sh', 'read x; echo "$x$x"')], tests: [test('ab\n', 'abab\n'), test('c\n', 'x\n')], checker: echo });
    expect(result.tests!.map((t) => [t.verdict, t.verdict_message])).toEqual([['accepted', 'in=ab out=abab ans=abab'], ['wrong_answer', 'in=c out=cc ans=x']]);
  });

  it('an exit code other than 0 or 1 is a checker failure, reported as such', async () => {
    const broken = { language: 'python3', files: [file('check.py', 'print("cannot parse the answer")\nraise SystemExit(3)')] };
    const result = await judged({ language: 'python3', files: [file('main.py', 'print(1)')], tests: [test('', '1')], checker: broken });
    expect(result.tests![0]).toMatchObject({ verdict: 'checker_error', status: 'ok' });
    expect(result.tests![0].verdict_message).toMatch(/^checker failed \(nonzero_exit 3\): cannot parse the answer/);
    expect(result.verdict).toBe('checker_error');
  });

  // A Kattis output validator: validator input answer feedback_dir/ < output; 42 accepted, 43 wrong answer.
  const KATTIS_VALIDATOR = `
import sys
input_path, answer_path, feedback = sys.argv[1:4]
team = sys.stdin.read().split()
expected = open(answer_path).read().split()
given = open(input_path).read().split()
print("validator noise, not the message")
if sorted(team) == sorted(expected):
    sys.exit(42)
if team == ["crash"]:
    sys.exit(1)
if team == ["zero"]:
    sys.exit(0)
with open(feedback + "judgemessage.txt", "w") as message:
    message.write("input %s: expected a permutation of %s, got %s\\n" % (" ".join(given), " ".join(expected), " ".join(team)))
sys.exit(43)
`;
  const kattis = { language: 'python3', protocol: 'kattis' as const, files: [file('validator.py', KATTIS_VALIDATOR)] };
  const kattisTests = [test('3 1 2\n', '1 2 3\n'), test('5 5 4\n', '4 5 5\n')];

  it('kattis: the validator reads the output on stdin, input and answer as files; 42 accepted, 43 wrong answer with judgemessage.txt', async () => {
    const reverse = await judged({ language: 'python3', files: [file('main.py', 'print(*reversed(input().split()))')], tests: kattisTests, checker: kattis });
    expect(reverse.tests!.map((t) => [t.verdict, t.verdict_message])).toEqual([['accepted', 'validator noise, not the message'], ['accepted', 'validator noise, not the message']]);
    expect(reverse.verdict).toBe('accepted');
    const wrong = await judged({ language: 'python3', files: [file('main.py', 'xs = input().split()\nprint(*xs[:-1], 7)')], tests: kattisTests, checker: kattis });
    expect(wrong.tests!.map((t) => [t.verdict, t.verdict_message])).toEqual([
      ['wrong_answer', 'input 3 1 2: expected a permutation of 1 2 3, got 3 1 7'],
      ['wrong_answer', 'input 5 5 4: expected a permutation of 4 5 5, got 5 5 7'],
    ]);
    expect(wrong.verdict).toBe('wrong_answer');
  });

  it("kattis: any other exit, 0 and 1 included, is the judge's failure (checker_error), never the contestant's", async () => {
    for (const output of ['crash', 'zero']) {
      const result = await judged({ language: 'python3', files: [file('main.py', `print("${output}")`)], tests: kattisTests.slice(0, 1), checker: kattis });
      expect(result.tests![0], output).toMatchObject({ verdict: 'checker_error', status: 'ok' });
      expect(result.verdict).toBe('checker_error');
    }
  });

  it('a checker that does not compile: verdict checker_error, no test runs', async () => {
    const result = await judged({ language: 'python3', files: [file('main.py', 'print(1)')], tests: [test('', '1')], checker: { language: 'c', files: [file('c.c', 'nope')] } });
    expect(result.checker_compile).toMatchObject({ status: 'nonzero_exit' });
    expect(result.verdict).toBe('checker_error');
    expect(result.tests).toEqual([]);
  });
});

const dir = mkdtempSync(join(config.dataDir, 'compile-cache-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the compile cache', () => {
  const marker = readMarker(verifiedRootfs(config.dataDir, config.languages));
  const cache = new CompileCache({ dir, maxBytes: 64 * MiB, ttlSeconds: 600, rootfsHash: marker.hash, versions: marker.languages });

  it('a resubmission reuses the compiled workspace; a one-byte change compiles again', async () => {
    const request = (source: string): JobRequest => ({ language: 'cpp', files: [file('main.cpp', source)], tests: [test('1 2', '3'), test('-6 0', '-6')] });
    const first = await judged(request(CPP), cache);
    expect(first.compile).toMatchObject({ status: 'ok', cached: false });
    const again = await judged(request(CPP), cache);
    expect(again.compile).toMatchObject({ status: 'ok', cached: true });
    // The cached program is the program: same verdicts, and it ran without compiling.
    expect(again.tests!.map((t) => t.verdict)).toEqual(['accepted', 'wrong_answer']);
    const changed = await judged(request(CPP.replace('a + b + 1', 'a + b + 2')), cache);
    expect(changed.compile).toMatchObject({ status: 'ok', cached: false });
    expect(changed.tests!.map((t) => t.stdout)).toEqual(['3\n', '-4\n']);
    // Other inputs of the compile count too: the environment.
    const withEnv = await judged({ ...request(CPP), env: { CPATH: '/box' } }, cache);
    expect(withEnv.compile).toMatchObject({ cached: false });
  });

  it('plain (unjudged) jobs use it too', async () => {
    const hello = { language: 'c', files: [file('main.c', '#include <stdio.h>\nint main(void){puts("cached hello");}')] };
    const { sandbox: box, pool } = sandbox();
    const run = () => pool.withSlot((slot) => runJob({ sandbox: box, slot, compileCache: cache }, hello));
    expect((await run()).compile).toMatchObject({ cached: false });
    const second = await run();
    expect(second.compile).toMatchObject({ cached: true });
    expect(second.run).toMatchObject({ status: 'ok', stdout: 'cached hello\n' });
  });

  it('an expired entry is not reused', async () => {
    const shortLived = new CompileCache({ dir, maxBytes: 64 * MiB, ttlSeconds: 1, rootfsHash: marker.hash, versions: marker.languages });
    const request = { language: 'c', files: [file('main.c', 'int main(void){return 0;}')], tests: [test('', '')] };
    expect((await judged(request, shortLived)).compile).toMatchObject({ cached: false });
    expect((await judged(request, shortLived)).compile).toMatchObject({ cached: true });
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expect((await judged(request, shortLived)).compile).toMatchObject({ cached: false });
  });
});
