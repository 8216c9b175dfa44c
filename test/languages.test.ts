/**
 * The first four languages: hello worlds, a compile error, stdin, and the
 * read-only workspace of the run step.
 */
import { describe, expect, it } from 'vitest';
import { job } from './helpers.js';

const file = (path: string, text: string) => ({ path, content: Buffer.from(text) });

describe('languages', () => {
  it('c: hello world', async () => {
    const result = await job({ language: 'c', files: [file('main.c', '#include <stdio.h>\nint main(void){puts("hello, c");return 0;}')] });
    expect(result.compile).toMatchObject({ status: 'ok' });
    expect(result.run).toMatchObject({ status: 'ok', stdout: 'hello, c\n' });
  });

  it('cpp: hello world, C++17', async () => {
    const source = '#include <iostream>\n#include <optional>\nint main(){std::optional<int> x{42};std::cout<<"hello, c++ "<<*x<<"\\n";}';
    const result = await job({ language: 'cpp', files: [file('solution.cpp', source)] });
    expect(result.compile).toMatchObject({ status: 'ok' });
    expect(result.run).toMatchObject({ status: 'ok', stdout: 'hello, c++ 42\n' });
  });

  it('python3: hello world reading stdin', async () => {
    const result = await job({
      language: 'python3',
      files: [file('main.py', 'import sys\nprint("hello,", sys.stdin.read().strip())')],
      stdin: Buffer.from('python\n'),
    });
    expect(result.compile).toBeUndefined();
    expect(result.run).toMatchObject({ status: 'ok', stdout: 'hello, python\n' });
  });

  it('bash: hello world with arguments', async () => {
    const result = await job({ language: 'bash', files: [file('run.sh', 'echo "hello, $1 $2"')], args: ['bash', 'world'] });
    expect(result.run).toMatchObject({ status: 'ok', stdout: 'hello, bash world\n' });
  });

  it('the first file is the entry point, the others sit beside it', async () => {
    const result = await job({
      language: 'c',
      files: [file('prog.c', '#include "lib/greet.h"\nint main(void){greet();return 0;}'), file('lib/greet.h', '#include <stdio.h>\nstatic void greet(void){puts("from a header");}')],
    });
    expect(result.run).toMatchObject({ status: 'ok', stdout: 'from a header\n' });
  });

  it('a compile error: compile fails, run is null', async () => {
    const result = await job({ language: 'c', files: [file('main.c', 'int main(void) { return missing; }')] });
    expect(result.compile).toMatchObject({ status: 'nonzero_exit', exit_code: 1 });
    expect(result.compile!.stderr).toMatch(/.missing. undeclared/);
    expect(result.run).toBeNull();
  });

  it('the run step sees /box read-only and writes to /tmp', async () => {
    const source = `
#include <stdio.h>
int main(void) {
  FILE *box = fopen("/box/new", "w");
  FILE *tmp = fopen("/tmp/new", "w");
  printf("box %s, tmp %s\\n", box ? "writable" : "read-only", tmp ? "writable" : "read-only");
  return 0;
}`;
    const result = await job({ language: 'c', files: [file('main.c', source)] });
    expect(result.run).toMatchObject({ status: 'ok', stdout: 'box read-only, tmp writable\n' });
  });

  it('a runtime error in python is a nonzero exit with the traceback on stderr', async () => {
    const result = await job({ language: 'python3', files: [file('main.py', 'raise ValueError("boom")')] });
    expect(result.run).toMatchObject({ status: 'nonzero_exit', exit_code: 1 });
    expect(result.run!.stderr).toMatch(/ValueError: boom/);
  });

  it('the compile step has its own limits', async () => {
    const result = await job({
      language: 'c',
      files: [file('main.c', '#include </dev/urandom>\n')],
      compile_limits: { cpu_ms: 1000, wall_ms: 3000, memory_bytes: 128 * 1024 * 1024 },
    });
    expect(['time_limit', 'wall_time_limit', 'memory_limit', 'nonzero_exit', 'output_limit']).toContain(result.compile!.status);
    expect(result.compile!.wall_ms).toBeLessThan(5000);
    expect(result.run).toBeNull();
  });
});
