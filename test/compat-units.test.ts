/**
 * The pure parts of the Judge0 and Piston layers: version ranges, Ruby's
 * base64, Rails' decimals, Judge0's comparison and field choice, the
 * submission checks and their translation into a runcell job. No service.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseFields, DEFAULT_FIELDS, encode64, seconds } from '../api/judge0/render.js';
import { JUDGE0_NAMES, judge0Languages } from '../api/judge0/languages.js';
import { judge0Normalize, judge0Verdict } from '../api/judge0/statuses.js';
import { checkSubmission, toJobRequest } from '../api/judge0/submission.js';
import { pistonStage } from '../api/piston/execute.js';
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
