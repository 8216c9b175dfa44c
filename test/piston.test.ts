/**
 * Piston v2 compatibility, driven by the real npm `piston-client` (unchanged
 * but for its base URL) against the API, a private Redis and a worker running
 * real sandboxes; raw requests for what the client cannot send.
 */
import piston from 'piston-client';
import { describe, expect, it } from 'vitest';
import type { PistonResponse } from '../api/piston/execute.js';
import { http, serviceFixture } from './service-helpers.js';

const service = serviceFixture();
const client = () => piston({ server: service.api.url });

/** What the client hands back: the server's response, as api/piston/execute.ts describes it. */
type Execution = PistonResponse;

describe('Piston v2 through piston-client', { timeout: 120_000 }, () => {
  it('lists the runtimes with versions, aliases and runtime names', async () => {
    const runtimes = (await client().runtimes()) as { language: string; version: string; aliases: string[]; runtime?: string }[];
    const python = runtimes.find((r) => r.language === 'python');
    expect(python).toMatchObject({ aliases: expect.arrayContaining(['py', 'python3']) });
    expect(python!.version).toMatch(/^3\.\d+\.\d+$/);
    expect(python).not.toHaveProperty('runtime');
    expect(runtimes.find((r) => r.language === 'javascript')).toMatchObject({ runtime: 'node' });
    expect(runtimes.map((r) => r.language)).toEqual(expect.arrayContaining(['c', 'c++', 'java', 'go', 'rust', 'bash']));
    for (const r of runtimes) expect(Object.keys(r).sort()).toEqual(r.runtime ? ['aliases', 'language', 'runtime', 'version'] : ['aliases', 'language', 'version']);
  });

  it('runs Python with stdin and the client default args, in Piston\'s response shape', async () => {
    const code = 'import sys\nprint(sys.argv[1:])\nprint(repr(sys.stdin.read()))\nprint("to stderr", file=sys.stderr)\nsys.exit(3)';
    const result = (await client().execute('python', code, { stdin: 'hello' })) as Execution;
    expect(result.language).toBe('python');
    expect(result.version).toMatch(/^3\./);
    expect(result).not.toHaveProperty('compile');
    expect(Object.keys(result.run).sort()).toEqual(['code', 'cpu_time', 'memory', 'message', 'output', 'signal', 'status', 'stderr', 'stdout', 'wall_time']);
    // Piston appends the missing newline to stdin.
    expect(result.run.stdout).toBe("['1', '2', '3']\n'hello\\n'\n");
    expect(result.run.stderr).toBe('to stderr\n');
    expect(result.run.output).toBe(result.run.stdout + result.run.stderr);
    expect(result.run).toMatchObject({ code: 3, signal: null, status: 'RE' });
    expect(result.run.cpu_time).toBeGreaterThan(0);
    expect(result.run.wall_time).toBeGreaterThanOrEqual(result.run.cpu_time / 2);
    expect(result.run.memory).toBeGreaterThan(1_000_000);
  });

  it('a Python syntax error fails in the run stage (Piston has no syntax check, so no compile stage)', async () => {
    const result = (await client().execute('python', 'print("unclosed"\n')) as Execution;
    expect(result).not.toHaveProperty('compile');
    expect(result.run).toMatchObject({ code: 1, signal: null, status: 'RE' });
    expect(result.run.stderr).toMatch(/SyntaxError/);
  });

  it('compiles and runs C and C++: a compile stage and a run stage', async () => {
    const c = (await client().execute('c', '#include <stdio.h>\nint main(int argc, char **argv) { printf("%d args\\n", argc - 1); return 0; }', { args: ['a', 'b'] })) as Execution;
    expect(c.compile).toMatchObject({ code: 0, signal: null, status: null, stdout: '', stderr: '' });
    expect(c.run).toMatchObject({ stdout: '2 args\n', code: 0, signal: null, status: null, message: null });
    const cpp = (await client().execute('c++', '#include <iostream>\nint main() { std::string s; std::cin >> s; std::cout << s.size() << std::endl; }', { stdin: 'abcdef' })) as Execution;
    expect(cpp.version).toMatch(/^\d+\.\d+/);
    expect(cpp.run.stdout).toBe('6\n');
  });

  it('runs JavaScript and Bash', async () => {
    const js = (await client().execute('javascript', 'console.log(process.argv.slice(2).join("+"))')) as Execution;
    expect(js.run.stdout).toBe('1+2+3\n');
    const bash = (await client().execute('bash', 'read x; echo "got $x $#"')) as Execution;
    expect(bash.run.stdout).toBe('got  3\n');
  });

  it('runs Java (the entry file named Main.java: class Main)', async () => {
    const java = (await client().execute('java', 'public class Main { public static void main(String[] args) { System.out.println(String.join(",", args)); } }')) as Execution;
    expect(java.compile).toMatchObject({ code: 0 });
    expect(java.run).toMatchObject({ stdout: '1,2,3\n', code: 0 });
  });

  it('reports a failed compile as Piston does: run is the compile stage', async () => {
    const result = (await client().execute('c', 'int main() { return nope; }')) as Execution;
    expect(result.compile!.code).not.toBe(0);
    expect(result.compile!.stderr).toMatch(/nope/);
    expect(result.compile!.status).toBe('RE');
    expect(result.run).toEqual(result.compile);
  });

  it('a run past run_timeout is TO with SIGKILL and no exit code', async () => {
    const result = (await client().execute('python', 'while True: pass', { runTimeout: 500 })) as Execution;
    expect(result.run).toMatchObject({ status: 'TO', signal: 'SIGKILL', code: null });
    expect(result.run.message).toEqual(expect.any(String));
  });

  it('a run past run_memory_limit is SG with SIGKILL', async () => {
    const result = (await client().execute('python', 'x = bytearray(200 * 1024 * 1024)\nprint(len(x))', { runMemoryLimit: 64 * 1024 * 1024 })) as Execution;
    expect(result.run).toMatchObject({ status: 'SG', signal: 'SIGKILL', code: null, stdout: '' });
  });
});

describe('Piston v2 requests the client does not send', { timeout: 60_000 }, () => {
  const post = (body: unknown, headers: Record<string, string> = {}) => http(`${service.api.url}/api/v2/execute`, { method: 'POST', body: JSON.stringify(body), headers });

  it('accepts JSON with no Content-Type, text/plain or application/json; files by name and base64', async () => {
    const body = { language: 'py', version: '3', files: [{ name: 'prog.py', content: Buffer.from('print("b64")').toString('base64'), encoding: 'base64' }, { name: 'x.txt', content: 'x' }] };
    for (const headers of [{}, { 'content-type': 'text/plain' }, { 'content-type': 'application/json' }] as Record<string, string>[]) {
      const result = await post(body, headers);
      expect(result.status).toBe(200);
      expect(result.body.run.stdout).toBe('b64\n');
    }
  });

  it("refuses bad requests with Piston's 400 {message}", async () => {
    expect(await post({ version: '*', files: [] })).toMatchObject({ status: 400, body: { message: 'language is required as a string' } });
    expect(await post({ language: 'python', files: [] })).toMatchObject({ status: 400, body: { message: 'version is required as a string' } });
    expect(await post({ language: 'python', version: '*' })).toMatchObject({ status: 400, body: { message: 'files is required as an array' } });
    expect(await post({ language: 'python', version: '*', files: [{}] })).toMatchObject({ status: 400, body: { message: 'files[0].content is required as a string' } });
    expect(await post({ language: 'cobol', version: '*', files: [{ content: '' }] })).toMatchObject({ status: 400, body: { message: 'cobol-* runtime is unknown' } });
    expect(await post({ language: 'python', version: '2.7', files: [{ content: '' }] })).toMatchObject({ status: 400, body: { message: 'python-2.7 runtime is unknown' } });
    expect(await post({ language: 'python', version: '*', files: [{ content: '', encoding: 'base64' }] })).toMatchObject({ status: 400, body: { message: 'files must include at least one utf8 encoded file' } });
    expect(await post({ language: 'python', version: '*', files: [{ content: '' }], run_timeout: 'x' })).toMatchObject({ status: 400, body: { message: 'If specified, run_timeout must be a number' } });
    const tooLong = await post({ language: 'python', version: '*', files: [{ content: '' }], run_timeout: 10_000_000 });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.message).toMatch(/^run_timeout cannot exceed the configured limit of \d+$/);
    const escaping = await post({ language: 'python', version: '*', files: [{ name: '../x.py', content: '' }] });
    expect(escaping.status).toBe(400);
    expect(Object.keys(escaping.body)).toEqual(['message']);
    const broken = await http(`${service.api.url}/api/v2/execute`, { method: 'POST', body: '{"language":' });
    expect(broken.status).toBe(400);
    expect(Object.keys(broken.body)).toEqual(['message']);
  });

  it('lists packages and refuses to install or uninstall', async () => {
    const packages = await http(`${service.api.url}/api/v2/packages`);
    expect(packages.status).toBe(200);
    expect(packages.body).toContainEqual({ language: 'python', language_version: expect.stringMatching(/^3\./), installed: true });
    const install = await http(`${service.api.url}/api/v2/packages`, { method: 'POST', json: { language: 'python', version: '3.12.0' } });
    expect(install.status).toBe(501);
    expect(install.body).toEqual({ message: expect.stringMatching(/does not install/) });
    const uninstall = await http(`${service.api.url}/api/v2/packages`, { method: 'DELETE', json: { language: 'python', version: '3.12.0' } });
    expect(uninstall.status).toBe(501);
    const unknown = await http(`${service.api.url}/api/v2/packages`, { method: 'POST', json: { language: 'cobol', version: '1.0.0' } });
    expect(unknown).toMatchObject({ status: 404, body: { message: 'Requested package cobol-1.0.0 does not exist' } });
  });

  it('answers unknown routes with 404 {message: "Not Found"}', async () => {
    expect(await http(`${service.api.url}/api/v2/nothing`)).toMatchObject({ status: 404, body: { message: 'Not Found' } });
  });
});
