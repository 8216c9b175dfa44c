/**
 * Judging through the HTTP API: a judged job end to end (verdicts, counts,
 * per-test events on the SSE stream, the compile cache on resubmission), and
 * the request checks of the judging fields (422 naming the field, 413 for
 * tests beyond the size cap).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CompileCache } from '../worker/compile-cache.js';
import { readMarker, verifiedRootfs } from '../rootfs/build.js';
import { config, http, readEvents, serviceFixture, startApi, waitFor, type TestApi } from './service-helpers.js';

const cacheDir = mkdtempSync(join(config.dataDir, 'compile-cache-test-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

const service = serviceFixture(() => {
  const marker = readMarker(verifiedRootfs(config.dataDir, config.languages));
  return { compileCache: new CompileCache({ dir: cacheDir, maxBytes: 64 * 1024 * 1024, ttlSeconds: 600, rootfsHash: marker.hash, versions: marker.languages }) };
});

const APLUSB = '#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<(a==7?a*b:a+b)<<"\\n";}';

const judgedJob = {
  language: 'cpp',
  files: [{ path: 'main.cpp', content: APLUSB }],
  tests: [
    { id: 'small', stdin: '1 2\n', expected_stdout: '3\n' },
    { id: 'base64', stdin: Buffer.from('40 2\n').toString('base64'), stdin_encoding: 'base64', expected_stdout: '42' },
    { id: 'trap', stdin: '7 3\n', expected_stdout: '10\n' },
  ],
};

describe('judging over HTTP', () => {
  it('runs every test, says which failed, and streams one event per test', async () => {
    const done = await http(`${service.api.url}/v1/jobs?wait=60`, { method: 'POST', json: judgedJob });
    expect(done.status).toBe(200);
    expect(done.body.status).toBe('completed');
    const result = done.body.result;
    expect(result.compile).toMatchObject({ status: 'ok', cached: false });
    expect(result.run).toBeNull();
    expect(result.tests.map((t: { id: string; verdict: string }) => [t.id, t.verdict])).toEqual([['small', 'accepted'], ['base64', 'accepted'], ['trap', 'wrong_answer']]);
    expect(result.tests[2]).toMatchObject({ stdout: '21\n', verdict_message: 'line 1: expected "10", got "21"' });
    expect(result.verdict).toBe('wrong_answer');
    expect(result.counts).toMatchObject({ total: 3, judged: 3, accepted: 2, wrong_answer: 1 });
    expect(done.body.request.tests).toEqual({ count: 3, ids: ['small', 'base64', 'trap'] });

    const events = await readEvents(`${service.api.url}/v1/jobs/${done.body.id}/events`);
    expect(events.map((e) => e.event)).toEqual(['queued', 'started', 'compile_finished', 'test_finished', 'test_finished', 'test_finished', 'completed']);
    expect(events[2].data.data).toEqual({ status: 'ok', cached: false });
    expect(events.slice(3, 6).map((e) => [e.data.data.index, e.data.data.id, e.data.data.verdict, e.data.data.total])).toEqual([
      [0, 'small', 'accepted', 3],
      [1, 'base64', 'accepted', 3],
      [2, 'trap', 'wrong_answer', 3],
    ]);
    expect(events[6].data.data).toMatchObject({ verdict: 'wrong_answer', counts: { accepted: 2, wrong_answer: 1 } });

    const again = await http(`${service.api.url}/v1/jobs?wait=60`, { method: 'POST', json: judgedJob });
    expect(again.body.result.compile).toMatchObject({ status: 'ok', cached: true });
    expect(again.body.result.verdict).toBe('wrong_answer');
  });
});

describe('cancelling a judged job', () => {
  it('stops between tests or in one: the job ends cancelled with the tests judged so far', async () => {
    const tests = Array.from({ length: 20 }, (_, i) => ({ stdin: String(i), expected_stdout: String(i) }));
    const body = { language: 'bash', files: [{ path: 'main.sh', content: 'read x; sleep 0.5; echo "$x"' }], tests };
    const accepted = await http(`${service.api.url}/v1/jobs`, { method: 'POST', json: body });
    const id = accepted.body.id;
    await waitFor(async () => (await service.api.queue.get(id))?.status === 'running', 10_000, 'the job to start');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const response = await http(`${service.api.url}/v1/jobs/${id}`, { method: 'DELETE' });
    expect(response.status).toBe(200);
    expect(response.body.status).toBe('cancelled');
    const judged = response.body.result.tests;
    expect(judged.length).toBeGreaterThan(0);
    expect(judged.length).toBeLessThan(20);
    // The run the cancel cut short is not reported as if the program had failed it.
    expect(judged.every((t: { verdict: string }) => t.verdict === 'accepted')).toBe(true);
  });
});

describe('judging with a checker over HTTP', () => {
  it('the checker compiles once, says so in its own event, and judges each test', async () => {
    const checker = { language: 'c', files: [{ path: 'check.c', content: '#include <stdio.h>\nint main(int c, char **v){FILE *f = fopen(v[2], "r"); int x = 0; fscanf(f, "%d", &x); printf("got %d\\n", x); return x % 2 ? 0 : 1;}' }] };
    const body = { language: 'python3', files: [{ path: 'main.py', content: 'print(int(input()) * 3)' }], tests: [{ stdin: '1', expected_stdout: '' }, { stdin: '2', expected_stdout: '' }], checker };
    const done = await http(`${service.api.url}/v1/jobs?wait=60`, { method: 'POST', json: body });
    expect(done.body.result.checker_compile).toMatchObject({ status: 'ok' });
    expect(done.body.result.tests.map((t: { verdict: string; verdict_message: string }) => [t.verdict, t.verdict_message])).toEqual([['accepted', 'got 3'], ['wrong_answer', 'got 6']]);
    expect(done.body.request.checker).toEqual({ language: 'c', files: ['check.c'] });
    const events = await readEvents(`${service.api.url}/v1/jobs/${done.body.id}/events`);
    // The program's (Python's syntax check), then the checker's.
    expect(events.map((e) => e.event)).toEqual(['queued', 'started', 'compile_finished', 'compile_finished', 'test_finished', 'test_finished', 'completed']);
    expect(events[2].data.data).not.toHaveProperty('checker');
    expect(events[3].data.data).toMatchObject({ status: 'ok', checker: true });
  });
});

describe('a kattis output validator over HTTP', () => {
  it('is run as validator input answer feedback_dir < output; its protocol is kept in the request summary', async () => {
    const validator = 'read -r got; [ "$got" = "$(cat "$2")" ] && exit 42; echo "wanted $(cat "$2"), got $got" > "$3/judgemessage.txt"; exit 43';
    const checker = { language: 'bash', protocol: 'kattis', files: [{ path: 'validate.sh', content: validator }] };
    const body = { language: 'bash', files: [{ path: 'main.sh', content: 'read x; echo $((x * 2))' }], tests: [{ stdin: '2', expected_stdout: '4' }, { stdin: '3', expected_stdout: '7' }], checker };
    const done = await http(`${service.api.url}/v1/jobs?wait=60`, { method: 'POST', json: body });
    expect(done.body.result.tests.map((t: { verdict: string; verdict_message: string | null }) => [t.verdict, t.verdict_message])).toEqual([['accepted', null], ['wrong_answer', 'wanted 7, got 6']]);
    expect(done.body.request.checker).toEqual({ language: 'bash', protocol: 'kattis', files: ['validate.sh'] });
  });
});

describe('an interactive problem over HTTP', () => {
  it('runs the interactor beside the solution, says so in the summary and in its compile event; checks its fields', async () => {
    // A kattis validator in bash: sends the input's number, expects its double back.
    const validator = 'read -r n < "$1"; echo "$n"; read -r got; [ "$got" = "$((n * 2))" ] && exit 42; echo "wanted $((n * 2)), got $got" > "$3/judgemessage.txt"; exit 43';
    const interactor = { language: 'bash', protocol: 'kattis', files: [{ path: 'interact.sh', content: validator }], transcript_bytes: 100 };
    const body = { language: 'python3', files: [{ path: 'main.py', content: 'n = int(input())\nprint(n * 2 if n != 3 else 0, flush=True)' }], tests: [{ stdin: '2\n', expected_stdout: '' }, { stdin: '3\n', expected_stdout: '' }], interactor };
    const done = await http(`${service.api.url}/v1/jobs?wait=60`, { method: 'POST', json: body });
    expect(done.body.status).toBe('completed');
    expect(done.body.result.tests.map((t: { verdict: string; verdict_message: string | null }) => [t.verdict, t.verdict_message])).toEqual([['accepted', null], ['wrong_answer', 'wanted 6, got 0']]);
    expect(done.body.result.tests[0].transcript.map((e: { from: string; data: string }) => [e.from, e.data])).toEqual([['interactor', '2\n'], ['solution', '4\n']]);
    expect(done.body.result.interactor_compile).toMatchObject({ status: 'ok' });
    expect(done.body.request.interactor).toEqual({ language: 'bash', protocol: 'kattis', files: ['interact.sh'] });
    const events = await readEvents(`${service.api.url}/v1/jobs/${done.body.id}/events`);
    expect(events.filter((e) => e.event === 'compile_finished').map((e) => e.data.data.interactor)).toEqual([undefined, true]);
    for (const [extra, path] of [
      [{ interactor: { ...interactor, language: 'cobol' } }, 'interactor.language'],
      [{ interactor: { ...interactor, protocol: 'polygon' } }, 'interactor.protocol'],
      [{ interactor, checker: { language: 'bash', files: [{ path: 'c.sh', content: '' }] } }, 'checker'],
      [{ interactor: { ...interactor, files: [{ path: 'judge_answer.txt', content: '' }] } }, 'interactor.files.0.path'],
    ] as const) {
      const refused = await http(`${service.api.url}/v1/jobs`, { method: 'POST', json: { ...body, ...extra } });
      expect(refused.status).toBe(422);
      expect(refused.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    }
  });
});

describe('judging request checks', () => {
  let api: TestApi;
  const post = (body: unknown) => http(`${api.url}/v1/jobs`, { method: 'POST', json: body });
  const small = { language: 'python3', files: [{ path: 'main.py', content: 'print(1)' }] };

  it('422 names the field', async () => {
    api = service.api;
    const cases: [unknown, string, RegExp][] = [
      [{ ...small, tests: [] }, 'tests', /must not be empty/],
      [{ ...small, tests: Array.from({ length: 1001 }, () => ({ expected_stdout: '' })) }, 'tests', /at most 1000 tests/],
      [{ ...small, tests: [{ stdin: '1' }] }, 'tests.0.expected_stdout', /./],
      [{ ...small, tests: [{ expected_stdout: '', stdin: '%%%', stdin_encoding: 'base64' }] }, 'tests.0.stdin', /base64/],
      [{ ...small, tests: [{ expected_stdout: '', limits: { cpu_ms: 10_000_000 } }] }, 'tests.0.limits.cpu_ms', /./],
      [{ ...small, stdin: '1', tests: [{ expected_stdout: '' }] }, 'stdin', /per test/],
      [{ command: ['true'], tests: [{ expected_stdout: '' }] }, 'tests', /need a language/],
      [{ ...small, comparison: { mode: 'tokens' } }, 'comparison', /needs tests/],
      [{ ...small, tests: [{ expected_stdout: '' }], comparison: { mode: 'fuzzy' } }, 'comparison.mode', /./],
      [{ ...small, tests: [{ expected_stdout: '' }], comparison: { mode: 'float', absolute: -1 } }, 'comparison.absolute', /./],
      [{ ...small, tests: [{ expected_stdout: '' }], comparison: { mode: 'tokens', relative: 0.1 } }, 'comparison.relative', /float mode tolerance/],
      [{ ...small, tests: [{ id: 'a', expected_stdout: '' }, { id: 'a', expected_stdout: '' }] }, 'tests.1.id', /given twice/],
      [{ ...small, limits: { wall_ms: 120_000 }, tests: Array.from({ length: 61 }, () => ({ expected_stdout: '' })) }, 'tests', /wall limits add up to 7320000 ms; at most 7200000/],
      [{ ...small, tests: [{ expected_stdout: '' }], checker: { language: 'cobol', files: [{ path: 'c', content: '' }] } }, 'checker.language', /unknown language/],
      [{ ...small, tests: [{ expected_stdout: '' }], checker: { language: 'c', files: [] } }, 'checker.files', /at least one file/],
      [{ ...small, tests: [{ expected_stdout: '' }], checker: { language: 'bash', files: [{ path: 'judge_output.txt', content: '' }] } }, 'checker.files.0.path', /reserved/],
    ];
    for (const [body, path, message] of cases) {
      const response = await post(body);
      expect(response.status, JSON.stringify(body).slice(0, 200)).toBe(422);
      const detail = response.body.error.details.find((d: { path: string }) => d.path === path);
      expect(detail, `${path} in ${JSON.stringify(response.body.error.details)}`).toBeDefined();
      expect(detail.message).toMatch(message);
    }
  });

  it('413 when the tests together are larger than the cap, naming tests', async () => {
    const capped = await startApi(service.redis.url, { bounds: { maxTestsBytes: 1000 } });
    try {
      const big = { ...small, tests: [{ stdin: 'x'.repeat(600), expected_stdout: 'y'.repeat(600) }] };
      const response = await http(`${capped.url}/v1/jobs`, { method: 'POST', json: big });
      expect(response.status).toBe(413);
      expect(response.body.error).toMatchObject({ code: 'payload_too_large', details: [{ path: 'tests' }] });
      expect(response.body.error.message).toMatch(/1200 bytes; at most 1000/);
      const batch = await http(`${capped.url}/v1/jobs/batch`, { method: 'POST', json: { jobs: [big, small] } });
      expect(batch.status).toBe(202);
      expect(batch.body.jobs[0].error).toMatchObject({ code: 'payload_too_large', details: [{ path: 'jobs.0.tests' }] });
      expect(batch.body.jobs[1].status).toBe('queued');
    } finally {
      await capped.close();
    }
  });
});
