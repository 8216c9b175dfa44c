/**
 * The pure parts of the Judge0 and Piston layers: version ranges, Ruby's
 * base64, Rails' decimals, Judge0's comparison and field choice, the
 * submission checks and their translation into a runcell job. No service.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseFields, DEFAULT_FIELDS, encode64, seconds, selectFields, submissionView } from '../api/judge0/render.js';
import { JUDGE0_NAMES, judge0Languages } from '../api/judge0/languages.js';
import { shownRun } from '../api/judge0/shown-run.js';
import { judge0Normalize, judge0Verdict } from '../api/judge0/statuses.js';
import { checkSubmission, toJobRequest } from '../api/judge0/submission.js';
import { COMPILER_OPTION_FAMILIES, compileArgsProblem } from '../rootfs/compiler-options.js';
import { THREAD_STACK_OBJECT_PATH } from '../rootfs/languages.js';
import { LIMIT_TABLE } from '../sandbox/limits.js';
import { plan } from '../worker/plan.js';
import { pistonStage, translateExecute } from '../api/piston/execute.js';
import { installedRuntimes, PISTON_NAMES, resolveRuntime, satisfies } from '../api/piston/runtimes.js';
import type { JobRecord } from '../contract/job-record.js';
import type { RunResult } from '../contract/run-result.js';

const INSTALLED = { python3: '3.11.2', c: '12.2.0', java: '17.0.9', cpp: '12.2.0' };

describe('Piston runtimes', () => {
  it('matches semver ranges the way Piston clients use them', () => {
    for (const range of ['*', 'x', '3', '3.x', '3.11', '3.11.2', '^3.0.0', '^3.11', '~3.11.0']) expect(satisfies('3.11.2', range), range).toBe(true);
    for (const range of ['2', '3.10', '3.11.3', '^4.0.0', '~3.10.0', '^3.12.0', '31']) expect(satisfies('3.11.2', range), range).toBe(false);
  });

  it('resolves a language by name or alias', () => {
    const runtimes = installedRuntimes(INSTALLED);
    expect(resolveRuntime(runtimes, 'py', '3')?.id).toBe('python3');
    expect(resolveRuntime(runtimes, 'c++', '*')?.id).toBe('cpp');
    expect(resolveRuntime(runtimes, 'python', '2')).toBeUndefined();
    expect(installedRuntimes(undefined)).toEqual([]);
  });
});

const run = (over: Partial<RunResult>): RunResult => ({
  status: 'ok', exit_code: 0, signal: null, stdout: '', stderr: '', stdout_truncated: false, stderr_truncated: false,
  cpu_ms: 12, wall_ms: 30, memory_peak_bytes: 2_000_000, oom_killed: false, message: null, error_code: null, ...over,
});

describe('Piston stages', () => {
  it('limit kills are SIGKILL with no code; statuses TO, OL, EL, SG, RE', () => {
    expect(pistonStage(run({ status: 'time_limit', exit_code: null, signal: 'SIGKILL', message: 'cpu' }))).toMatchObject({ status: 'TO', signal: 'SIGKILL', code: null, message: 'cpu' });
    expect(pistonStage(run({ status: 'output_limit', stderr_truncated: true }))).toMatchObject({ status: 'EL', signal: 'SIGKILL', code: null });
    expect(pistonStage(run({ status: 'output_limit', stdout_truncated: true }))).toMatchObject({ status: 'OL' });
    expect(pistonStage(run({ status: 'memory_limit', exit_code: null, signal: 'SIGKILL' }))).toMatchObject({ status: 'SG', signal: 'SIGKILL', code: null });
    expect(pistonStage(run({ status: 'nonzero_exit', exit_code: 2, stdout: 'a', stderr: 'b' }))).toMatchObject({ status: 'RE', code: 2, output: 'ab', cpu_time: 12, wall_time: 30, memory: 2_000_000 });
  });
});

describe('Judge0 encodings', () => {
  it("base64 as Ruby's Base64.encode64 writes it", () => {
    expect(encode64('hello, Judge0\n')).toBe('aGVsbG8sIEp1ZGdlMAo=\n');
    expect(encode64('')).toBe('');
    const long = encode64('x'.repeat(100));
    expect(long.split('\n').map((l) => l.length)).toEqual([60, 60, 16, 0]);
  });

  it('seconds as Rails renders decimals', () => {
    expect(seconds(1)).toBe('0.001');
    expect(seconds(5000)).toBe('5.0');
    expect(seconds(1250)).toBe('1.25');
  });

  it('compares like Judge0: trailing blanks of lines and of the text ignored, nothing else', () => {
    expect(judge0Normalize('a  \nb\t\n\n')).toBe(judge0Normalize('a\nb'));
    expect(judge0Normalize(' a')).not.toBe(judge0Normalize('a'));
  });

  it('chooses fields: default, *, a list, unknown names refused', () => {
    expect(chooseFields(undefined)).toEqual({ fields: DEFAULT_FIELDS });
    expect(chooseFields('stdout,status_id')).toEqual({ fields: ['stdout', 'status_id'] });
    expect(chooseFields('*')).toMatchObject({ fields: expect.arrayContaining(['source_code', 'language', 'wall_time']) });
    expect(chooseFields('stdout,foo,bar')).toEqual({ error: 'invalid fields: [foo, bar]' });
  });
});

describe('Judge0 submissions', () => {
  const languages = judge0Languages(INSTALLED);

  it('translates into a runcell job: Judge0 file name, cpu limit plus extra time, limits given in KB', () => {
    const checked = checkSubmission({ source_code: 'class Main {}', language_id: 62, stdin: 'in', memory_limit: 256000, command_line_arguments: 'a b;c' }, languages, false);
    if ('errors' in checked) throw new Error(JSON.stringify(checked.errors));
    expect(toJobRequest(checked)).toEqual({
      language: 'java',
      files: [{ path: 'Main.java', content: 'class Main {}' }],
      stdin: 'in',
      args: ['a', 'bc'],
      limits: { cpu_ms: 6000, wall_ms: 10_000, memory_bytes: 256000 * 1024 },
    });
  });

  it('keeps base64 inputs exact (MIME newlines dropped)', () => {
    const checked = checkSubmission({ source_code: 'cHJpbnQoMSk=\n', stdin: 'AP8=\n', language_id: 71 }, languages, true);
    if ('errors' in checked) throw new Error('refused');
    expect(checked.stored.source_code).toBe('print(1)');
    expect(toJobRequest(checked)).toMatchObject({ files: [{ path: 'script.py', content: 'cHJpbnQoMSk=', encoding: 'base64' }], stdin: 'AP8=', stdin_encoding: 'base64' });
  });

  it('maps job states and run outcomes to statuses', () => {
    const checked = checkSubmission({ source_code: 'x', language_id: 71 }, languages, false);
    if ('errors' in checked) throw new Error('refused');
    const job = (status: JobRecord['status'], result: JobRecord['result'] = null, reason?: string) => ({ id: 'x', status, created_at: '', started_at: null, finished_at: null, queue_wait_ms: null, request: { files: [], stdin_bytes: 0 }, result, reason }) as JobRecord;
    expect(judge0Verdict(job('queued'), null, 5000).status).toBe(1);
    expect(judge0Verdict(job('running'), null, 5000).status).toBe(2);
    expect(judge0Verdict(job('failed', null, 'worker died'), null, 5000)).toMatchObject({ status: 13, message: 'worker died' });
    expect(judge0Verdict(job('completed', { run: run({ cpu_ms: 5100 }) }), null, 5000)).toMatchObject({ status: 5 });
    expect(judge0Verdict(job('completed', { run: run({ status: 'signalled', exit_code: null, signal: 'SIGBUS' }) }), null, 5000)).toMatchObject({ status: 12, exitSignal: 7, exitCode: 0 });
    expect(judge0Verdict(job('completed', { run: run({ status: 'wall_time_limit' }) }), null, 5000)).toMatchObject({ status: 5, message: 'Time limit exceeded (wall clock)' });
    expect(judge0Verdict(job('completed', { run: run({ status: 'output_limit' }) }), null, 5000)).toMatchObject({ status: 8, exitSignal: 25 });
    expect(judge0Verdict(job('completed', { compile: { ...run({ status: 'nonzero_exit', exit_code: 1 }), cached: false }, run: null }), null, 5000)).toMatchObject({ status: 6, exitCode: null });
    expect(judge0Verdict(job('completed', { run: run({ stdout: '1\n' }) }), '1', 5000).status).toBe(3);
    expect(judge0Verdict(job('completed', { run: run({ stdout: '1\n' }) }), '2', 5000).status).toBe(4);
  });
});

describe('the languages added with Judge0 ids of their own or runcell ones', () => {
  const installed = { csharp: '6.8.0.105', kotlin: '1.3', erlang: '25.2.3', commonlisp: '2.2.9', r: '4.2.2' };
  it('Judge0: C# is 51 and Kotlin 78 as in Judge0 CE, Erlang (not an escript) one of 200 and up', () => {
    const byId = new Map(judge0Languages(installed).map((l) => [l.id, l]));
    expect(byId.get(51)).toMatchObject({ name: 'C# (Mono 6.8.0.105)', source_file: 'Main.cs', run_cmd: 'mono main.exe' });
    expect(byId.get(78)).toMatchObject({ name: 'Kotlin (1.3)', source_file: 'Main.kt' });
    expect(byId.get(55)).toMatchObject({ name: 'Common Lisp (SBCL 2.2.9)', source_file: 'script.lisp', run_cmd: 'sbcl --script main.fasl' });
    expect(byId.get(58)).toBeUndefined();
    expect(byId.get(202)).toMatchObject({ name: 'Erlang (OTP 25.2.3)' });
  });

  it("Piston: their package names and aliases (R is Piston's rscript, Common Lisp its lisp); no erlang", () => {
    const runtimes = installedRuntimes(installed);
    expect(resolveRuntime(runtimes, 'c#', '*')).toMatchObject({ id: 'csharp', language: 'csharp', runtime: 'mono' });
    expect(resolveRuntime(runtimes, 'r', '4')).toMatchObject({ id: 'r', language: 'rscript' });
    expect(resolveRuntime(runtimes, 'sbcl', '*')).toMatchObject({ id: 'commonlisp', language: 'lisp' });
    expect(runtimes.map((r) => r.id)).not.toContain('erlang');
  });
});

describe('docs/compat.md', () => {
  it("lists every language with its Judge0 id, name, source file and Piston names, as the code has them", () => {
    const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'compat.md'), 'utf8');
    const section = doc.slice(doc.indexOf('### Language ids'));
    const rows = section.split('\n').filter((line) => /^\| [a-z0-9]+ \| \d+ \|/.test(line)).map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()));
    const expected = JUDGE0_NAMES.map((n) => {
      const p = PISTON_NAMES.find((name) => name.id === n.runcell);
      const piston = p ? (p.aliases.length > 0 ? `${p.language} (${p.aliases.join(', ')})` : p.language) : '-';
      return [n.runcell, String(n.id), `${n.prefix}...)`, n.sourceFile, piston];
    });
    expect(rows).toEqual(expected);
  });
});

describe('Judge0 rendering', () => {
  const languages = judge0Languages(INSTALLED);
  const stored = (body: Record<string, unknown>) => {
    const checked = checkSubmission({ source_code: 'x', language_id: 50, ...body }, languages, false);
    if ('errors' in checked) throw new Error('refused');
    return checked.stored;
  };
  const completed = (result: JobRecord['result']) => ({ id: 't', status: 'completed', created_at: 'c', started_at: 's', finished_at: 'f', queue_wait_ms: 1, request: { files: [], stdin_bytes: 0 }, result }) as JobRecord;
  const compileRun = (over: Partial<RunResult>) => ({ ...run(over), cached: false });

  it('a compile over its time: status 6 and Judge0\'s compile_output, no run figures', () => {
    const view = submissionView(completed({ compile: compileRun({ status: 'time_limit', stderr: 'partial' }), run: null }), stored({}), languages[0]);
    expect(view).toMatchObject({ status: { id: 6, description: 'Compilation Error' }, compile_output: 'Compilation time limit exceeded.', stdout: null, time: null, memory: null, exit_code: null });
  });

  it('compile warnings are compile_output of an accepted run; figures in Judge0 units', () => {
    const view = submissionView(completed({ compile: compileRun({ stderr: 'warning: x' }), run: run({ stdout: 'out', cpu_ms: 1500, wall_ms: 2000, memory_peak_bytes: 10 * 1024 * 1024 }) }), stored({}), languages[0]);
    expect(view).toMatchObject({ status_id: 3, compile_output: 'warning: x', stdout: 'out', stderr: null, time: '1.5', wall_time: '2.0', memory: 10240 });
  });

  it('redirect_stderr_to_stdout appends stderr to stdout; base64 encodes the texts only', () => {
    const view = submissionView(completed({ run: run({ stdout: 'o\n', stderr: 'e\n' }) }), stored({ redirect_stderr_to_stdout: true }), languages[0]);
    expect(view).toMatchObject({ stdout: 'o\ne\n', stderr: null });
    expect(selectFields(view, ['stdout', 'time', 'status_id', 'source_code'], true)).toEqual({ stdout: encode64('o\ne\n'), time: '0.012', status_id: 3, source_code: 'eA==\n' });
  });
});

describe('Judge0 number_of_runs', () => {
  it('becomes runcell tests (same stdin), shown as the last run with mean figures', () => {
    const languages = judge0Languages(INSTALLED);
    const checked = checkSubmission({ source_code: 'x', language_id: 71, stdin: 'in', number_of_runs: 2 }, languages, false);
    if ('errors' in checked) throw new Error('refused');
    expect(toJobRequest(checked)).toMatchObject({ tests: [{ stdin: 'in', expected_stdout: '' }, { stdin: 'in', expected_stdout: '' }] });
    expect(toJobRequest(checked)).not.toHaveProperty('stdin');
    const test = (over: Partial<RunResult>) => ({ ...run(over), id: '1', verdict: 'accepted' as const, verdict_message: null });
    expect(shownRun({ run: null, tests: [test({ cpu_ms: 10, wall_ms: 20, memory_peak_bytes: 100, stdout: 'a' }), test({ cpu_ms: 20, wall_ms: 40, memory_peak_bytes: 301, stdout: 'b' })] })).toMatchObject({ stdout: 'b', cpu_ms: 15, wall_ms: 30, memory_peak_bytes: 201 });
    expect(shownRun(null)).toBeUndefined();
  });
});

describe('Piston request translation', () => {
  const runtimes = installedRuntimes(INSTALLED);
  const limits = { cpu_ms: { min: 1, max: 60_000, default: 2000 }, wall_ms: { min: 1, max: 120_000, default: 5000 }, memory_bytes: { min: 4 << 20, max: 4 * 2 ** 30, default: 256 << 20 }, pids: { min: 1, max: 1024, default: 64 }, output_bytes: { min: 0, max: 64 << 20, default: 1 << 20 }, file_size_bytes: { min: 0, max: 2 ** 30, default: 16 << 20 }, workspace_bytes: { min: 65536, max: 2 ** 30, default: 64 << 20 } };

  it('maps timeouts, CPU times and memory limits onto the run and compile limits; -1 and 0 leave the defaults', () => {
    const job = translateExecute({ language: 'c', version: '12', files: [{ content: 'int main(){}' }, { content: 'x' }], run_timeout: 1500, run_cpu_time: 1000, run_memory_limit: 64 << 20, compile_timeout: 0, compile_memory_limit: -1, compile_cpu_time: 9000 }, runtimes, limits);
    if ('message' in job) throw new Error(job.message);
    expect(job.request).toEqual({
      language: 'c',
      files: [{ path: 'main.c', content: 'int main(){}', encoding: 'utf8' }, { path: 'file1.code', content: 'x', encoding: 'utf8' }],
      stdin: '\n',
      args: [],
      limits: { wall_ms: 1500, cpu_ms: 1000, memory_bytes: 64 << 20 },
      compile_limits: { cpu_ms: 9000 },
    });
    expect(translateExecute({ language: 'c', version: '*', files: [{ content: '', encoding: 'hex' }, { content: 'ff00', encoding: 'hex', name: 'b' }, { content: '' }] }, runtimes, limits)).toMatchObject({ request: { files: [{}, { content: Buffer.from([0xff, 0]).toString('base64'), encoding: 'base64' }, {}] } });
    expect(translateExecute({ language: 'c', version: '*', files: [{ content: '' }], run_memory_limit: 1000 }, runtimes, limits)).toEqual({ status: 400, message: `run_memory_limit cannot be below the configured minimum of ${4 << 20}` });
  });
});

describe('compiler options allow-list (rootfs/compiler-options.ts)', () => {
  const gcc = (args: string[]) => compileArgsProblem('gcc', args);
  it('lets macros, optimisation, standards, warnings, features, machine options and libraries through', () => {
    for (const word of ['-DONLINE_JUDGE', '-DN=10', '-DS="a b"', '-UDEBUG', '-O', '-O2', '-Ofast', '-Os', '-std=c++20', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-Wno-unused-result', '-Wformat=2', '-w', '-pedantic', '-fsanitize=address,undefined', '-fno-exceptions', '-fopenmp', '-fmax-errors=3', '-march=native', '-mavx2', '-lm', '-lpthread', '-pthread', '-g', '-ggdb', '-static', '-s']) {
      expect(gcc([word]), word).toBeUndefined();
    }
  });
  it('refuses what names a file or passes words on to another tool', () => {
    for (const word of ['-o', '-omain', '@args', '@/etc/passwd', '-fplugin=/x.so', '-fprofile-use=/etc', '-B/tmp', '-B', '-specs=/x', '-include', '-imacros', '-I/etc', '-L/tmp', '-isystem', '-iquote', '--sysroot=/', '-wrapper', '-Wl,-T,/etc/passwd', '-Wa,-a=/tmp/x', '-Wp,-MF,/tmp/x', '-l:libc.a', '-l/etc/x', '-x', '-MF', '-save-temps', '-print-file-name=libc.so', '-fdump-rtl-all=/tmp', '/etc/passwd', 'main.c', '']) {
      expect(gcc([word]), word).toMatch(/is not an allowed compiler option/);
    }
  });
  it('refuses every option for a language without a family, and too many words', () => {
    expect(compileArgsProblem(undefined, ['-O2'])).toBe('this language takes no compiler options');
    expect(compileArgsProblem(undefined, [])).toBeUndefined();
    expect(gcc(Array.from({ length: 65 }, () => '-O2'))).toMatch(/at most 64/);
  });
  it('Judge0 compiler_options become compile_args, split on blanks with its shell characters stripped', () => {
    const languages = judge0Languages(INSTALLED);
    const checked = checkSubmission({ source_code: 'int main(){}', language_id: 50, compiler_options: ' -DX=1;2  -O0 ' }, languages, false);
    if ('errors' in checked) throw new Error(JSON.stringify(checked.errors));
    expect(toJobRequest(checked).compile_args).toEqual(['-DX=12', '-O0']);
    expect(checkSubmission({ source_code: 'x', language_id: 62, compiler_options: '-g' }, languages, false)).toEqual({ errors: { compiler_options: ['setting compiler options is only allowed for C, C++ and C++20'] } });
    expect(checkSubmission({ source_code: 'x', language_id: 71, compiler_options: '-O' }, languages, false)).toEqual({ errors: { compiler_options: ['setting compiler options is only allowed for compiled languages'] } });
  });
});

describe('compile_args in the worker (worker/plan.ts)', () => {
  const files = [{ path: 'main.c', content: Buffer.from('int main(void){return 0;}') }];
  it('puts them at {options}, after the sources and before the libraries', () => {
    const steps = plan({ language: 'c', files, compile_args: ['-DX=1', '-O0'] }, LIMIT_TABLE);
    const argv = steps.compile!.argv;
    expect(argv.slice(argv.indexOf('main.c'))).toEqual(['main.c', THREAD_STACK_OBJECT_PATH, '-DX=1', '-O0', '-lm']);
    expect(plan({ language: 'c', files }, LIMIT_TABLE).compile!.argv).not.toContain('{options}');
  });
  it('fails closed on options the API would have refused', () => {
    expect(() => plan({ language: 'c', files, compile_args: ['-o', '/tmp/x'] }, LIMIT_TABLE)).toThrow(/compile_args: "-o" is not an allowed/);
    expect(() => plan({ language: 'python3', files: [{ path: 'a.py', content: Buffer.from('') }], compile_args: ['-O'] }, LIMIT_TABLE)).toThrow(/takes no compiler options/);
  });
});

describe('docs/compat.md compiler_options', () => {
  it('lists every rule of the gcc allow-list as the code has it', () => {
    const doc = readFileSync(join(import.meta.dirname, '../docs/compat.md'), 'utf8');
    const section = doc.slice(doc.indexOf('### compiler_options'), doc.indexOf('### callback_url'));
    const rows = section.split('\n').filter((line) => line.startsWith('| `')).map((line) => line.slice(3, -3));
    expect(rows).toEqual(COMPILER_OPTION_FAMILIES.gcc.map((rule) => rule.shown));
  });
});
