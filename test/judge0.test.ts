/**
 * Judge0 CE 1.13.1 conformance: the documented requests and responses of
 * Judge0's API (docs/api/**, as summarised in the compat brief) against the
 * API, a private Redis and a worker running real sandboxes.
 */
import { describe, expect, it } from 'vitest';
import { keys, PREFIX, QUEUE_NAME } from '../queue/store.js';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { craftZip } from './archive/craft.js';
import { forbiddenAddress } from '../api/judge0/callback-address.js';
import { putJson } from '../api/judge0/callbacks.js';
import { apiFixture, http, serviceFixture, startApi, waitFor } from './service-helpers.js';

// Callbacks may reach loopback here (RUNCELL_JUDGE0_CALLBACK_PRIVATE=on): the test's receiver listens on 127.0.0.1.
const CALLBACKS = { allowPrivate: true, backoffMs: 200, pollMs: 100 };
const service = serviceFixture(() => ({}), { judge0Callbacks: CALLBACKS });
const url = (path: string) => `${service.api.url}${path}`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DEFAULT_KEYS = ['stdout', 'time', 'memory', 'stderr', 'token', 'compile_output', 'message', 'status'];
const HELLO_C = '#include <stdio.h>\nint main(void) { printf("hello, Judge0\\n"); return 0; }\n';

const submit = (body: unknown, query = '') => http(url(`/submissions${query}`), { method: 'POST', json: body });
const run = async (body: Record<string, unknown>, query = '') => {
  const result = await submit(body, `?wait=true${query}`);
  expect(result.status).toBe(201);
  return result.body;
};

describe('Judge0 submissions', { timeout: 120_000 }, () => {
  it('creates a submission (201 {token}) and shows it when done, with the default eight fields in order', async () => {
    const created = await submit({ source_code: HELLO_C, language_id: 50 });
    expect(created.status).toBe(201);
    expect(Object.keys(created.body)).toEqual(['token']);
    expect(created.body.token).toMatch(UUID);
    let shown: any;
    await waitFor(async () => {
      shown = (await http(url(`/submissions/${created.body.token}`))).body;
      return shown.status.id > 2;
    }, 60_000);
    expect(Object.keys(shown)).toEqual(DEFAULT_KEYS);
    expect(shown).toMatchObject({ stdout: 'hello, Judge0\n', stderr: null, token: created.body.token, compile_output: null, message: null, status: { id: 3, description: 'Accepted' } });
    expect(shown.time).toMatch(/^\d+\.\d+$/);
    expect(Number.isInteger(shown.memory) && shown.memory > 0 && shown.memory < 512_000).toBe(true);
  });

  it('?wait=true answers 201 with the result; ?fields selects; * gives all; an unknown field is a 400', async () => {
    const waited = await submit({ source_code: 'print("hi")', language_id: 71 }, '?wait=true');
    expect(waited.status).toBe(201);
    expect(Object.keys(waited.body)).toEqual(DEFAULT_KEYS);
    expect(waited.body.stdout).toBe('hi\n');
    const some = await run({ source_code: 'print("hi")', language_id: 71 }, '&fields=stdout,status_id,language_id');
    expect(some).toEqual({ stdout: 'hi\n', status_id: 3, language_id: 71 });
    const all = await run({ source_code: 'print("hi")', language_id: 71, stdin: 'x' }, '&fields=*');
    expect(all).toMatchObject({
      source_code: 'print("hi")', language_id: 71, stdin: 'x', expected_output: null, status_id: 3, number_of_runs: 1,
      cpu_time_limit: '5.0', cpu_extra_time: '1.0', wall_time_limit: '10.0', memory_limit: 128000, stack_limit: 64000,
      max_processes_and_or_threads: 60, max_file_size: 1024, exit_code: 0, exit_signal: null, redirect_stderr_to_stdout: false,
      enable_network: false, callback_url: null, language: { id: 71, name: expect.stringMatching(/^Python \(3\.\d+\.\d+\)$/) },
    });
    expect(all.wall_time).toMatch(/^\d+\.\d+$/);
    expect(Date.parse(all.created_at)).toBeLessThanOrEqual(Date.parse(all.finished_at));
    expect(Object.keys(all)).toHaveLength(35);
    expect(await submit({ source_code: 'print(1)', language_id: 71 }, '?wait=true&fields=stdout,foo')).toMatchObject({ status: 400, body: { error: 'invalid fields: [foo]' } });
  });

  it('base64_encoded=true decodes the inputs and encodes outputs as Ruby does (a newline every 60 characters and at the end)', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const hello = await run({ source_code: b64(HELLO_C), language_id: 50 }, '&base64_encoded=true');
    expect(hello.stdout).toBe('aGVsbG8sIEp1ZGdlMAo=\n');
    const long = await run({ source_code: b64('import sys\nprint(sys.stdin.read() * 3)'), stdin: b64('abcdefghij0123456789'), language_id: 71 }, '&base64_encoded=true');
    const expected = Buffer.from(`${'abcdefghij0123456789'.repeat(3)}\n`).toString('base64');
    expect(long.stdout).toBe(`${expected.slice(0, 60)}\n${expected.slice(60)}\n`);
    expect(Buffer.from(long.stdout, 'base64').toString()).toBe(`${'abcdefghij0123456789'.repeat(3)}\n`);
  });

  it('stdin, expected_output (Accepted / Wrong Answer, trailing blanks ignored), command_line_arguments, redirect_stderr_to_stdout', async () => {
    const echo = 'import sys\nprint(sys.stdin.read().upper(), end="")\nprint(" ".join(sys.argv[1:]), file=sys.stderr)';
    const accepted = await run({ source_code: echo, language_id: 71, stdin: 'a\nb\n', expected_output: 'A  \nB\n\n\n' });
    expect(accepted.status).toEqual({ id: 3, description: 'Accepted' });
    expect(accepted.stdout).toBe('A\nB\n');
    const wrong = await run({ source_code: echo, language_id: 71, stdin: 'a', expected_output: 'b' });
    expect(wrong.status).toEqual({ id: 4, description: 'Wrong Answer' });
    const args = await run({ source_code: echo, language_id: 71, command_line_arguments: '  x  "y" $(rm);z ', redirect_stderr_to_stdout: true });
    expect(args.stdout).toBe('x "y" (rm)z\n');
    expect(args.stderr).toBeNull();
  });

  it('maps runcell outcomes to Judge0 statuses 5, 6, 7, 9, 10, 11 and 12 (a memory kill says so in message)', async () => {
    const c = (body: string) => `#include <stdio.h>\n#include <stdlib.h>\nint main(void) { ${body} }\n`;
    const fields = '&fields=status,message,exit_code,exit_signal,compile_output,stdout,time';
    const compile = await run({ source_code: 'int main( {', language_id: 50 }, fields);
    expect(compile.status.id).toBe(6);
    expect(compile.compile_output).toMatch(/error/);
    expect(compile).toMatchObject({ stdout: null, time: null });
    const nzec = await run({ source_code: 'import sys; sys.exit(3)', language_id: 71 }, fields);
    expect(nzec).toMatchObject({ status: { id: 11, description: 'Runtime Error (NZEC)' }, message: 'Exited with error status 3', exit_code: 3, exit_signal: null });
    // Judge0 has no syntax check: a Python program that does not parse ends NZEC, the error on stderr.
    const syntax = await run({ source_code: 'print("unclosed"\n', language_id: 71 }, `${fields},stderr`);
    expect(syntax).toMatchObject({ status: { id: 11 }, exit_code: 1, compile_output: null, stdout: null });
    expect(syntax.stderr).toMatch(/SyntaxError/);
    const segv = await run({ source_code: c('volatile int *p = 0; *p = 1; return 0;'), language_id: 50 }, fields);
    expect(segv).toMatchObject({ status: { id: 7, description: 'Runtime Error (SIGSEGV)' }, exit_signal: 11 });
    const fpe = await run({ source_code: c('volatile int z = 0, a = 7; return a / z;'), language_id: 50 }, fields);
    expect(fpe).toMatchObject({ status: { id: 9 }, exit_signal: 8 });
    const abrt = await run({ source_code: c('abort();'), language_id: 50 }, fields);
    expect(abrt).toMatchObject({ status: { id: 10 }, exit_signal: 6 });
    const tle = await run({ source_code: 'while True: pass', language_id: 71, cpu_time_limit: 0.5, cpu_extra_time: 0.2 }, fields);
    expect(tle.status).toEqual({ id: 5, description: 'Time Limit Exceeded' });
    const memory = await run({ source_code: 'x = bytearray(300 * 1024 * 1024)\nprint(len(x))', language_id: 71, memory_limit: 65536 }, fields);
    expect(memory).toMatchObject({ status: { id: 12, description: 'Runtime Error (Other)' }, exit_signal: 9, message: expect.stringMatching(/memory limit/i) });
  });

  it('runs Java (62) from Main.java and C++ (54), as Judge0 names their sources', async () => {
    const java = await run({ source_code: 'import java.util.*;\npublic class Main { public static void main(String[] a) { Scanner s = new Scanner(System.in); System.out.println(s.nextInt() * 2); } }', language_id: 62, stdin: '21' });
    expect(java).toMatchObject({ stdout: '42\n', status: { id: 3 } });
    const cpp = await run({ source_code: '#include <iostream>\nint main() { std::cout << __cplusplus << std::endl; }', language_id: 54 });
    expect(cpp).toMatchObject({ stdout: '201703\n', status: { id: 3 } });
  });

  it('number_of_runs runs the program that many times (one compile) and shows the last run with averaged figures', async () => {
    const multi = await submit({ source_code: '#include <stdio.h>\nint main(void) { int x; scanf("%d", &x); printf("%d\\n", x + 1); }', language_id: 50, stdin: '41', number_of_runs: 3, expected_output: '42' }, '?wait=true&fields=stdout,status,time,memory,number_of_runs,token');
    expect(multi.status).toBe(201);
    expect(multi.body).toMatchObject({ stdout: '42\n', status: { id: 3 }, number_of_runs: 3, time: expect.stringMatching(/^\d+\.\d+$/) });
    const job = (await http(url(`/v1/jobs/${multi.body.token}`))).body;
    expect(job.result.tests).toHaveLength(3);
    expect(job.result.compile.status).toBe('ok');
  });

  it('compiler_options reach gcc and g++ as separate words: -D and -O change the program, refused options are a 422 naming the field', async () => {
    const macro = '#include <stdio.h>\nint main(void) {\n#ifdef FOO\n  printf("FOO=%d\\n", FOO);\n#else\n  puts("no FOO");\n#endif\n#ifdef __OPTIMIZE__\n  puts("optimized");\n#else\n  puts("not optimized");\n#endif\n  return 0;\n}\n';
    const plain = await run({ source_code: macro, language_id: 50 });
    expect(plain).toMatchObject({ stdout: 'no FOO\noptimized\n', status: { id: 3 } });
    // Judge0 strips ; and $ (its shell's characters): "-DFOO=4;2" is -DFOO=42. -O0 after the template's -O2 wins.
    const defined = await run({ source_code: macro, language_id: 50, compiler_options: ' -DFOO=4;2   -O0 -Wall ' }, '&fields=stdout,status,compiler_options');
    expect(defined).toMatchObject({ stdout: 'FOO=42\nnot optimized\n', status: { id: 3 }, compiler_options: ' -DFOO=4;2   -O0 -Wall ' });
    const cpp = await run({ source_code: '#include <iostream>\nint main() { std::cout << __cplusplus << std::endl; }', language_id: 54, compiler_options: '-std=c++20 -O2 -pthread' });
    expect(cpp).toMatchObject({ stdout: '202002\n', status: { id: 3 } });
    const bad = await run({ source_code: macro, language_id: 50, compiler_options: '-std=nonsense' }, '&fields=status,compile_output');
    expect(bad.status.id).toBe(6);
    expect(bad.compile_output).toMatch(/nonsense/);
    for (const refused of ['-o /tmp/x', '@/etc/passwd', '-fplugin=/tmp/p.so', '-B/tmp', '-specs=/tmp/s', '-include /etc/shadow', '-Wl,-T,/etc/passwd', '-I/etc', '-x c /etc/passwd']) {
      const first = refused.split(' ')[0];
      expect((await submit({ source_code: macro, language_id: 50, compiler_options: refused })).body, refused).toEqual({ compiler_options: [`${JSON.stringify(first)} is not an allowed compiler option (see docs/compat.md, compiler_options)`] });
    }
    expect((await submit({ source_code: 'print(1)', language_id: 71, compiler_options: '-O2' })).body).toEqual({ compiler_options: ['setting compiler options is only allowed for compiled languages'] });
    expect((await submit({ source_code: macro, language_id: 50, compiler_options: `-D${'X'.repeat(512)}` })).body).toEqual({ compiler_options: ['is too long (maximum is 512 characters)'] });
    const config = (await http(url('/config_info'))).body;
    expect(config).toMatchObject({ enable_compiler_options: true, allowed_languages_for_compile_options: ['C', 'C++', 'C++20'] });
  });

  it('/v1 compile_args: allowed options reach the compiler, others are a 422 naming compile_args', async () => {
    const job = (body: Record<string, unknown>) => http(url('/v1/jobs?wait=60'), { method: 'POST', json: body });
    const source = { path: 'main.c', content: '#include <stdio.h>\nint main(void) { printf("%d\\n", BAR); return 0; }\n' };
    const ran = await job({ language: 'c', files: [source], compile_args: ['-DBAR=7'] });
    expect(ran.body.result.run.stdout).toBe('7\n');
    const refused = await job({ language: 'c', files: [source], compile_args: ['-o', '/box/elsewhere'] });
    expect(refused.status).toBe(422);
    expect(JSON.stringify(refused.body)).toMatch(/compile_args/);
    const python = await job({ language: 'python3', files: [{ path: 'a.py', content: 'print(1)' }], compile_args: ['-O'] });
    expect(python.status).toBe(422);
    expect(JSON.stringify(python.body)).toContain('this language takes no compiler options');
  });

  it("refuses invalid submissions with 422 {field: [messages]} in Judge0's words", async () => {
    expect(await submit({ source_code: 'x' })).toMatchObject({ status: 422, body: { language_id: ["can't be blank"] } });
    expect(await submit({ language_id: 71 })).toMatchObject({ status: 422, body: { source_code: ["can't be blank"] } });
    expect(await submit({ source_code: 'x', language_id: 123456789 })).toMatchObject({ status: 422, body: { language_id: ["language with id 123456789 doesn't exist"] } });
    expect((await submit({ source_code: 'x', language_id: 71, wall_time_limit: 150 })).body).toEqual({ wall_time_limit: ['must be less than or equal to 20.0'] });
    expect((await submit({ source_code: 'x', language_id: 71, memory_limit: 1000 })).body).toEqual({ memory_limit: ['must be greater than or equal to 2048'] });
    expect((await submit({ source_code: 'x', language_id: 71, memory_limit: 600000 })).body).toEqual({ memory_limit: ['must be less than or equal to 512000'] });
    expect((await submit({ source_code: 'x', language_id: 71, cpu_time_limit: 'fast' })).body).toEqual({ cpu_time_limit: ['is not a number'] });
    expect((await submit({ source_code: 'x', language_id: 71, number_of_runs: 0 })).body).toEqual({ number_of_runs: ['must be greater than 0'] });
    // RUNCELL_NETWORK_EGRESS is off for this API: Judge0's refusal, and /config_info says so.
    expect((await submit({ source_code: 'x', language_id: 71, enable_network: true })).body).toEqual({ enable_network: ['enabling network is not allowed'] });
    expect((await http(url('/config_info'))).body.allow_enable_network).toBe(false);
    expect((await submit({ source_code: 'x', language_id: 71, callback_url: 'ftp://example.com/' })).body).toEqual({ callback_url: ['must be an http or https URL'] });
    expect((await submit({ source_code: 'x', language_id: 71, enable_per_process_and_thread_time_limit: true })).body).toEqual({ enable_per_process_and_thread_time_limit: ['this option cannot be enabled'] });
    const broken = await http(url('/submissions'), { method: 'POST', body: '{"source_code":', headers: { 'content-type': 'application/json' } });
    expect(broken.status).toBe(400);
    expect(Object.keys(broken.body)).toEqual(['error']);
    // Numeric strings are numbers to Judge0 (Rails casts them).
    expect((await submit({ source_code: 'print(1)', language_id: '71', cpu_time_limit: '2' })).status).toBe(201);
  });

  it('accepts a JSON body whatever its Content-Type, a form, and fields from the query string', async () => {
    const plain = await http(url('/submissions?wait=true&fields=stdout'), { method: 'POST', body: JSON.stringify({ source_code: 'print(7)', language_id: 71 }), headers: { 'content-type': 'text/plain' } });
    expect(plain).toMatchObject({ status: 201, body: { stdout: '7\n' } });
    const query = await http(url(`/submissions?wait=true&fields=stdout&language_id=71&source_code=${encodeURIComponent('print(8)')}`), { method: 'POST' });
    expect(query).toMatchObject({ status: 201, body: { stdout: '8\n' } });
    const form = await http(url('/submissions?wait=true&fields=stdout'), { method: 'POST', body: new URLSearchParams({ source_code: 'print(9)', language_id: '71' }) });
    expect(form).toMatchObject({ status: 201, body: { stdout: '9\n' } });
  });

  it('answers 404 for an unknown token, 403 for the list and for delete (no authorization configured)', async () => {
    expect(await http(url('/submissions/00000000-0000-4000-8000-000000000000'))).toMatchObject({ status: 404, body: { error: 'Not Found' } });
    expect(await http(url('/submissions/not-a-token'))).toMatchObject({ status: 404 });
    expect((await http(url('/submissions'))).status).toBe(403);
    expect((await http(url('/submissions/00000000-0000-4000-8000-000000000000'), { method: 'DELETE' })).status).toBe(403);
  });
});

describe('Judge0 batches', { timeout: 120_000 }, () => {
  it('creates a batch (tokens and error hashes in order) and shows it (null for an unknown token)', async () => {
    const created = await http(url('/submissions/batch'), { method: 'POST', json: { submissions: [{ source_code: 'print(1)', language_id: 71 }, { source_code: 'x', language_id: 123456789 }, { language_id: 71 }] } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual([{ token: expect.stringMatching(UUID) }, { language_id: ["language with id 123456789 doesn't exist"] }, { source_code: ["can't be blank"] }]);
    const token = created.body[0].token;
    const unknown = '00000000-0000-4000-8000-000000000000';
    let shown: any;
    await waitFor(async () => {
      shown = (await http(url(`/submissions/batch?tokens=${token},${unknown}&fields=stdout,status_id`))).body;
      return shown.submissions[0].status_id > 2;
    }, 60_000);
    expect(shown).toEqual({ submissions: [{ stdout: '1\n', status_id: 3 }, null] });
    const none = await http(url('/submissions/batch'), { method: 'POST', json: { submissions: [{ language_id: 71 }] } });
    expect(none).toMatchObject({ status: 422, body: [{ source_code: ["can't be blank"] }] });
    expect(await http(url('/submissions/batch'), { method: 'POST', json: { submissions: [] } })).toMatchObject({ status: 400, body: { error: 'there should be at least one submission in a batch' } });
    const many = Array.from({ length: 21 }, () => ({ source_code: 'print(1)', language_id: 71 }));
    expect(await http(url('/submissions/batch'), { method: 'POST', json: { submissions: many } })).toMatchObject({ status: 400, body: { error: 'number of submissions in a batch should be less than or equal to 20' } });
  });
});

describe('Judge0 languages, statuses and information', () => {
  it('lists languages as [{id, name}] sorted by name, with Judge0 ids, and shows one', async () => {
    const languages = (await http(url('/languages'))).body as { id: number; name: string }[];
    const names = languages.map((l) => l.name);
    expect(names).toEqual([...names].sort());
    for (const l of languages) expect(Object.keys(l)).toEqual(['id', 'name']);
    const ids = new Map(languages.map((l) => [l.id, l.name]));
    expect(ids.get(71)).toMatch(/^Python \(/);
    expect(ids.get(50)).toMatch(/^C \(GCC /);
    expect(ids.get(54)).toMatch(/^C\+\+ \(GCC /);
    expect(ids.get(62)).toMatch(/^Java \(OpenJDK /);
    expect(ids.get(63)).toMatch(/^JavaScript \(Node\.js /);
    const java = await http(url('/languages/62'));
    expect(java.body).toEqual({ id: 62, name: ids.get(62), is_archived: false, source_file: 'Main.java', compile_cmd: expect.stringContaining('javac'), run_cmd: expect.stringContaining('java') });
    expect((await http(url('/languages/71'))).body.compile_cmd).toBeNull();
    expect((await http(url('/languages/9999'))).status).toBe(404);
    expect((await http(url('/languages/all'))).body[0]).toEqual({ id: expect.any(Number), name: expect.any(String), is_archived: false });
  });

  it('lists the 14 statuses, /about, /version as text, /config_info', async () => {
    const statuses = (await http(url('/statuses'))).body;
    expect(statuses).toHaveLength(14);
    expect(statuses[0]).toEqual({ id: 1, description: 'In Queue' });
    expect(statuses[10]).toEqual({ id: 11, description: 'Runtime Error (NZEC)' });
    expect(statuses[13]).toEqual({ id: 14, description: 'Exec Format Error' });
    expect(Object.keys((await http(url('/about'))).body)).toEqual(['version', 'homepage', 'source_code', 'maintainer']);
    const version = await http(url('/version'));
    expect(version.body).toBe('1.13.1');
    expect(version.headers.get('content-type')).toMatch(/^text\/plain/);
    const workers = await http(url('/workers'));
    expect(workers.body).toEqual([{ queue: '1.13.1', size: expect.any(Number), available: 1, idle: expect.any(Number), working: expect.any(Number), paused: 0, failed: expect.any(Number) }]);
    const config = (await http(url('/config_info'))).body;
    expect(config).toMatchObject({ cpu_time_limit: 5, max_cpu_time_limit: 15, wall_time_limit: 10, max_wall_time_limit: 20, memory_limit: 128000, max_memory_limit: 512000, max_submission_batch_size: 20, enable_network: false, enable_callbacks: true, callbacks_max_tries: 3, callbacks_timeout: 5, enable_additional_files: true, max_extract_size: 10240 });
  });
});

describe('Judge0 CORS', () => {
  it('lets any origin call the Judge0 paths, preflight included, as Judge0 does', async () => {
    const preflight = await http(url('/submissions?base64_encoded=true'), { method: 'OPTIONS', headers: { origin: 'http://ide.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('content-type');
    expect(preflight.headers.get('access-control-allow-private-network')).toBeNull();
    expect((await http(url('/statuses'), { headers: { origin: 'http://ide.example' } })).headers.get('access-control-allow-origin')).toBe('*');
    // Chromium's preflight from a public page to runcell on a private network (Private Network Access).
    const fromPublic = await http(url('/submissions'), { method: 'OPTIONS', headers: { origin: 'https://ide.example', 'access-control-request-method': 'POST', 'access-control-request-private-network': 'true' } });
    expect(fromPublic.status).toBe(204);
    expect(fromPublic.headers.get('access-control-allow-private-network')).toBe('true');
    // runcell's own API is not opened to other origins by this.
    expect((await http(url('/v1/languages'), { headers: { origin: 'http://ide.example' } })).headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('Judge0 additional_files', { timeout: 120_000 }, () => {
  it('unpacks the base64 zip into the box beside the source before the compile; the source wins over an entry of its name', async () => {
    const zip = craftZip([
      { name: 'lib/', mode: 0o040755 },
      { name: 'lib/greeting.h', data: '#define GREETING "hello from the zip"\n', deflate: true },
      { name: 'data/input.txt', data: 'forty-two\n' },
      { name: 'main.c', data: 'int main(void) { return 3; }\n' },
    ]).toString('base64');
    const source = '#include <stdio.h>\n#include "lib/greeting.h"\nint main(void) { char w[32]; FILE *f = fopen("data/input.txt", "r"); fscanf(f, "%31s", w); printf("%s %s\\n", GREETING, w); return 0; }\n';
    const result = await run({ source_code: source, language_id: 50, additional_files: zip }, '&fields=stdout,status,compile_output,additional_files');
    expect(result).toMatchObject({ stdout: 'hello from the zip forty-two\n', status: { id: 3 }, additional_files: zip });
  });

  it('refuses an archive the safe reader refuses (a path out of the box, a symlink, not a zip) with 422 naming additional_files', async () => {
    const escape = craftZip([{ name: '../escape.txt', data: 'x' }]).toString('base64');
    const link = craftZip([{ name: 'link', data: '/etc/passwd', mode: 0o120777 }]).toString('base64');
    for (const additional_files of [escape, link, Buffer.from('not a zip at all').toString('base64')]) {
      const refused = await submit({ source_code: 'print(1)', language_id: 71, additional_files });
      expect(refused.status).toBe(422);
      expect(Object.keys(refused.body)).toEqual(['additional_files']);
    }
  });
});

describe('Judge0 enable_network', () => {
  // Egress for one API key only (RUNCELL_NETWORK_EGRESS=<key>); no worker: the job waits in the queue, where its request is read.
  const gated = apiFixture({ apiKeys: ['plain', 'networked'], networkEgress: { allow: 'keys', keys: ['networked'] } });
  const as = (key: string) => ({ 'x-auth-token': key });
  /** The job request as queued for the workers (BullMQ's job hash). */
  const queued = async (token: string) => JSON.parse((await gated.api.queue.redis.hget(`${PREFIX}:${QUEUE_NAME}:${token}`, 'data')) ?? 'null')?.submission;

  it('with API keys, answers CORS preflights (which carry no key) as Judge0 does; a 401 is readable cross-origin', async () => {
    const body = { source_code: 'print(1)', language_id: 71 };
    const preflight = await http(`${gated.api.url}/submissions`, { method: 'OPTIONS', headers: { origin: 'http://ide.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-auth-token' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toBe('content-type,x-auth-token');
    const keyless = await http(`${gated.api.url}/submissions`, { method: 'POST', json: body, headers: { origin: 'http://ide.example' } });
    expect(keyless.status).toBe(401);
    expect(keyless.headers.get('access-control-allow-origin')).toBe('*');
    expect((await http(`${gated.api.url}/v1/jobs`, { method: 'OPTIONS' })).status).toBe(401);
  });

  it("maps enable_network=true to the job's network egress for a client the operator allows, else 422 in Judge0's shape", async () => {
    await gated.api.queue.redis.set(keys.languages, JSON.stringify({ python3: '3.11.2' }));
    const body = { source_code: 'import urllib.request', language_id: 71, enable_network: true };
    const refused = await http(`${gated.api.url}/submissions`, { method: 'POST', json: body, headers: as('plain') });
    expect(refused).toMatchObject({ status: 422, body: { enable_network: ['enabling network is not allowed'] } });
    expect((await http(`${gated.api.url}/config_info`, { headers: as('plain') })).body).toMatchObject({ allow_enable_network: false, enable_network: false });
    expect((await http(`${gated.api.url}/config_info`, { headers: as('networked') })).body.allow_enable_network).toBe(true);
    const accepted = await http(`${gated.api.url}/submissions`, { method: 'POST', json: body, headers: as('networked') });
    expect(accepted.status).toBe(201);
    expect((await queued(accepted.body.token))?.network).toBe('egress');
    const shown = await http(`${gated.api.url}/submissions/${accepted.body.token}?fields=enable_network,status_id`, { headers: as('networked') });
    expect(shown.body).toEqual({ enable_network: true, status_id: 1 });
    const plain = await http(`${gated.api.url}/submissions`, { method: 'POST', json: { ...body, enable_network: false }, headers: as('plain') });
    expect(await queued(plain.body.token)).toMatchObject({ language: 'python3' });
    expect((await queued(plain.body.token)).network).not.toBe('egress');
    // runcell's egress is not for judged jobs, which several runs are.
    const judged = await http(`${gated.api.url}/submissions`, { method: 'POST', json: { ...body, number_of_runs: 2 }, headers: as('networked') });
    expect(judged).toMatchObject({ status: 422, body: { base: [expect.stringMatching(/network egress is for command and language jobs/)] } });
    // In a batch, each item is judged by the same rule.
    const batch = await http(`${gated.api.url}/submissions/batch`, { method: 'POST', json: { submissions: [body, { ...body, enable_network: false }] }, headers: as('plain') });
    expect(batch.body).toEqual([{ enable_network: ['enabling network is not allowed'] }, { token: expect.stringMatching(UUID) }]);
  });
});

describe('Judge0 callback_url', { timeout: 60_000 }, () => {
  /** A real HTTP server on loopback: answers 503 to the first `failFirst` requests, then 204. */
  async function receiver(failFirst = 0) {
    const received: { method?: string; url?: string; headers: Record<string, unknown>; body: any }[] = [];
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk) => (text += chunk));
      req.on('end', () => {
        received.push({ method: req.method, url: req.url, headers: req.headers, body: text === '' ? undefined : JSON.parse(text) });
        res.statusCode = received.length <= failFirst ? 503 : 204;
        res.end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { received, port: (server.address() as AddressInfo).port, close: () => new Promise((resolve) => server.close(resolve)) };
  }
  const pending = () => service.api.queue.redis.zcard(`${PREFIX}:judge0:callbacks`);

  it('PUTs the submission as GET /submissions/:token?base64_encoded=true shows it, when done, retrying a 5xx', async () => {
    const to = await receiver(1);
    const created = await submit({ source_code: Buffer.from('print("hi")').toString('base64'), language_id: 71, callback_url: `http://127.0.0.1:${to.port}/judge0/cb?id=7` }, '?base64_encoded=true');
    expect(created.status).toBe(201);
    await waitFor(() => to.received.length >= 2, 30_000);
    const [first, second] = to.received;
    expect(first.body).toEqual(second.body);
    expect(second).toMatchObject({ method: 'PUT', url: '/judge0/cb?id=7', headers: { 'content-type': 'application/json', host: `127.0.0.1:${to.port}` } });
    expect(Object.keys(second.body)).toEqual(DEFAULT_KEYS);
    expect(second.body).toEqual((await http(url(`/submissions/${created.body.token}?base64_encoded=true`))).body);
    expect(second.body).toMatchObject({ stdout: 'aGkK\n', token: created.body.token, status: { id: 3, description: 'Accepted' } });
    await waitFor(async () => (await pending()) === 0, 5000);
    expect(to.received).toHaveLength(2);
    await to.close();
  });

  it('is sent by any API process: the one that accepted the submission may be gone', async () => {
    const to = await receiver();
    const other = await startApi(service.redis.url, { judge0Callbacks: CALLBACKS });
    const created = await http(`${other.url}/submissions`, { method: 'POST', json: { source_code: 'print("bye")', language_id: 71, callback_url: `http://127.0.0.1:${to.port}/` } });
    await other.close();
    expect(created.status).toBe(201);
    await waitFor(() => to.received.length >= 1, 30_000);
    // Always base64, as Judge0 sends it, though this submission was made without base64_encoded.
    expect(to.received[0].body).toMatchObject({ stdout: 'YnllCg==\n', token: created.body.token, status: { id: 3 } });
    await to.close();
  });

  it('refuses loopback, private, link-local, multicast and unspecified addresses (IPv6 too) without the setting', async () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '100.64.0.1', '169.254.169.254', '224.0.0.1', '0.0.0.0', '255.255.255.255', '::1', '::', 'fe80::1', 'fd00::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:a9fe:a9fe', '64:ff9b::a00:1']) {
      expect([address, forbiddenAddress(address)]).toEqual([address, expect.any(String)]);
    }
    for (const address of ['93.184.215.14', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) expect(forbiddenAddress(address)).toBeUndefined();
    // At submission, a literal address (this API has no RUNCELL_JUDGE0_CALLBACK_PRIVATE).
    const api = await startApi(service.redis.url, { judge0Callbacks: { pollMs: 60_000 } });
    for (const [callback, why] of [['http://127.0.0.1:9/', 'is not allowed: 127.0.0.1 is loopback'], ['http://169.254.169.254/latest/meta-data/', 'is not allowed: 169.254.169.254 is link-local (cloud metadata)'], ['https://[::1]/', 'is not allowed: ::1 is unspecified, loopback or IPv4-compatible'], ['http://[::ffff:10.0.0.1]/', 'is not allowed: ::ffff:a00:1 is private (RFC 1918)']]) {
      const refused = await http(`${api.url}/submissions`, { method: 'POST', json: { source_code: 'print(1)', language_id: 71, callback_url: callback } });
      expect(refused).toMatchObject({ status: 422, body: { callback_url: [why] } });
    }
    await api.close();
    // A name that resolves to loopback: checked after resolution, and nothing is sent.
    const to = await receiver();
    expect(await putJson(`http://localhost:${to.port}/`, { a: 1 }, { allowPrivate: false, timeoutMs: 2000 })).toEqual({ refused: expect.stringMatching(/^localhost resolves to (127\.0\.0\.1|::1), /) });
    expect(await putJson(`http://localhost:${to.port}/`, { a: 1 }, { allowPrivate: true, timeoutMs: 2000 })).toEqual({ sent: 204 });
    expect(to.received).toHaveLength(1);
    await to.close();
  });
});

describe('Judge0 authentication', () => {
  const secured = apiFixture({ apiKeys: ['judge0-key'] });

  it("takes runcell's API keys in Judge0's X-Auth-Token header too", async () => {
    expect((await http(`${secured.api.url}/statuses`)).status).toBe(401);
    expect((await http(`${secured.api.url}/statuses`, { headers: { 'x-auth-token': 'wrong' } })).status).toBe(401);
    expect((await http(`${secured.api.url}/statuses`, { headers: { 'x-auth-token': 'judge0-key' } })).status).toBe(200);
    expect((await http(`${secured.api.url}/api/v2/runtimes`, { headers: { authorization: 'Bearer judge0-key' } })).status).toBe(200);
  });
});
