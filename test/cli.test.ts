/**
 * The runcell CLI, run as a real process.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '..', 'bin', 'runcell.js');

function runcell(args: string[]) {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'runcell-cli-'));
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('runcell run', () => {
  it('--json prints exactly one JSON object with run only, for a command', () => {
    const { code, stdout } = runcell(['run', '--json', '--', '/bin/sh', '-c', 'echo out; echo err >&2; exit 4']);
    expect(code).toBe(0);
    expect(stdout.trim().split('\n')).toHaveLength(1);
    const parsed = JSON.parse(stdout);
    expect(Object.keys(parsed)).toEqual(['run']);
    expect(parsed.run).toMatchObject({ status: 'nonzero_exit', exit_code: 4, stdout: 'out\n', stderr: 'err\n' });
    expect(Object.keys(parsed.run).sort()).toEqual(
      ['cpu_ms', 'error_code', 'exit_code', 'memory_peak_bytes', 'message', 'oom_killed', 'signal', 'status', 'stderr', 'stderr_truncated', 'stdout', 'stdout_truncated', 'wall_ms'].sort(),
    );
  });

  it('--lang c compiles and runs; stdin comes from --stdin; the file keeps its base name', () => {
    const source = write('sum.c', '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);return 0;}');
    const input = write('input.txt', '2 40\n');
    const { code, stdout } = runcell(['run', '--json', '--lang', 'c', '--file', source, '--stdin', input]);
    expect(code).toBe(0);
    const parsed = JSON.parse(stdout);
    expect(parsed.compile.status).toBe('ok');
    expect(parsed.run).toMatchObject({ status: 'ok', stdout: '42\n' });
  });

  it('a compile error gives run: null and still exits 0', () => {
    const source = write('bad.c', 'int main(void) { syntax error }');
    const { code, stdout } = runcell(['run', '--json', '--lang', 'c', '--file', source]);
    expect(code).toBe(0);
    const parsed = JSON.parse(stdout);
    expect(parsed.compile.status).toBe('nonzero_exit');
    expect(parsed.run).toBeNull();
  });

  it('limits from flags reach the run', () => {
    const { stdout } = runcell(['run', '--json', '--cpu-ms', '200', '--', '/bin/sh', '-c', 'while :; do :; done']);
    expect(JSON.parse(stdout).run.status).toBe('time_limit');
    const out = runcell(['run', '--json', '--output-kb', '1', '--', 'yes']);
    expect(JSON.parse(out.stdout).run.stdout).toHaveLength(1024);
  });

  it('without --json prints a readable summary', () => {
    const { code, stdout } = runcell(['run', '--', '/bin/echo', 'hello']);
    expect(code).toBe(0);
    // The program's output as it came, then the summary.
    expect(stdout).toMatch(/^hello\nrun: ok {2}cpu \d+ ms, wall \d+ ms, memory [\d.]+ [KM]iB\n$/);
  });

  it('without --json prints the output as it comes: "ready" arrives while the program sleeps, then SIGINT ends the run', async () => {
    // Were the output printed only at the end, "ready" would come after the 60 s wall limit, past the test's timeout.
    const child = spawn(process.execPath, [BIN, 'run', '--wall-ms', '60000', '--', '/bin/sh', '-c', 'echo ready; sleep 100'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    while (!stdout.includes('ready\n')) await once(child.stdout, 'data');
    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ready\nrun: cancelled/);
  }, 20_000);

  it('bad input: a clear message and exit code 2, nothing on stdout', () => {
    for (const args of [
      ['run', '--json'],
      ['run', '--json', '--lang', 'cobol', '--file', write('x.cob', 'x')],
      ['run', '--json', '--memory-mb', '100000', '--', '/bin/true'],
      ['run', '--json', '--lang', 'c', '--file', join(dir, 'missing.c')],
      ['run', '--json', '--env', 'NOEQUALS', '--', '/bin/true'],
    ]) {
      const { code, stdout, stderr } = runcell(args);
      expect({ args, code }).toEqual({ args, code: 2 });
      expect(stdout).toBe('');
      expect(stderr).toMatch(/^runcell: .+/);
      expect(stderr).not.toMatch(/\n\s+at /);
    }
    expect(runcell(['run', '--json', '--memory-mb', '100000', '--', '/bin/true']).stderr).toMatch(/memory_bytes must be at most/);
    const unknown = runcell(['run', '--no-such-flag', '--', '/bin/true']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option/);
    // Flags: an integer >= 0, then the limit's own minimum; a port is 0 to 65535.
    for (const [args, message] of [
      [['run', '--cpu-ms', '0', '--', '/bin/true'], /cpu_ms must be at least 1/],
      [['run', '--cpu-ms', '-1', '--', '/bin/true'], /expected an integer >= 0/],
      [['run', '--pids', '1.5', '--', '/bin/true'], /expected an integer >= 0/],
      [['serve', '--port', '70000'], /expected a TCP port, 0 to 65535/],
    ] as const) {
      const bad = runcell([...args]);
      expect({ args, code: bad.code }).toEqual({ args, code: 2 });
      expect(bad.stderr).toMatch(message);
    }
    expect(runcell(['--help']).code).toBe(0);
  });

  it('--interactor judges an interactive problem: each --test is the interactor\'s input; kattis with --protocol', () => {
    const fixtures = join(import.meta.dirname, 'interactive');
    const [first, second] = [write('first.in', '42\n'), write('second.in', '999 0\n')];
    const testlib = runcell(['run', '--json', '--lang', 'python3', '--file', join(fixtures, 'solution.py'), '--interactor', join(fixtures, 'interactor.c'), '--interactor-lang', 'c', '--test', first, '--test', second, '--transcript-bytes', '64']);
    expect(testlib.code).toBe(0);
    const judged = JSON.parse(testlib.stdout);
    expect(judged.verdict).toBe('accepted');
    expect(judged.tests.map((t: { id: string; verdict: string }) => [t.id, t.verdict])).toEqual([['first.in', 'accepted'], ['second.in', 'accepted']]);
    expect(judged.tests[0].transcript[0]).toMatchObject({ from: 'solution', data: '? 500\n' });
    const kattis = runcell(['run', '--lang', 'c', '--file', join(fixtures, 'solution.c'), '--interactor', join(fixtures, 'validator.py'), '--interactor-lang', 'python3', '--protocol', 'kattis', '--stdin', first, 'wrong']);
    expect(kattis.code).toBe(0);
    expect(kattis.stdout).toContain('test 1: wrong_answer - 0 is not the secret');
    expect(kattis.stdout).toMatch(/verdict: wrong_answer\n$/);
    for (const args of [['--protocol', 'icpc'], ['--test', first, '--stdin', first]]) {
      const bad = runcell(['run', '--lang', 'c', '--file', join(fixtures, 'solution.c'), '--interactor', join(fixtures, 'interactor.c'), ...args]);
      expect({ args, code: bad.code }).toEqual({ args, code: 2 });
    }
    expect(runcell(['run', '--lang', 'c', '--file', join(fixtures, 'solution.c'), '--test', first]).stderr).toMatch(/go with --interactor/);
  });

  it('--checker after a testlib --interactor reads the interactor\'s output file', { timeout: 120_000 }, () => {
    const fixtures = join(import.meta.dirname, 'interactive');
    const first = write('first.in', '42\n');
    // The C interactor writes the secret it was told to its output file; the checker compares that with --answer.
    const checker = write('check.py', 'import sys\ngot, want = open(sys.argv[2]).read().split(), open(sys.argv[3]).read().split()\nprint("saw", got)\nsys.exit(0 if got == want else 1)\n');
    const checked = runcell(['run', '--json', '--lang', 'python3', '--file', join(fixtures, 'solution.py'), '--interactor', join(fixtures, 'interactor.c'), '--interactor-lang', 'c', '--checker', checker, '--test', first, '--answer', write('first.ans', '41\n')]);
    expect(checked.code).toBe(0);
    expect(JSON.parse(checked.stdout).tests[0]).toMatchObject({ verdict: 'wrong_answer', verdict_message: "saw ['42']", interactor: { exit_code: 0 }, checker: { exit_code: 1 } });
  });
});

describe('runcell doctor', () => {
  it('passes on this host and ends with a real sandbox run', () => {
    const { code, stdout } = runcell(['doctor']);
    expect(stdout).not.toMatch(/FAIL/);
    expect(stdout).toMatch(/ok {4}a sandbox run of \/bin\/true/);
    expect(code).toBe(0);
  });
});
