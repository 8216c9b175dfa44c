/**
 * The job contract's rules and the codes of failures, checked directly
 * (pure functions: no kernel, no Redis). The HTTP side of the same rules is
 * in api.test.ts, judge-api.test.ts and conformance.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { errorBodySchema } from '../contract/error-body.js';
import { eventSchema } from '../contract/events.js';
import { DEFAULT_BOUNDS, jobRequestSchema } from '../contract/job-request.js';
import { jobRecordSchema } from '../contract/job-record.js';
import { CONTRACT_VERSION, parseQueuedJob } from '../contract/queued-job.js';
import { LANGUAGES } from '../rootfs/languages.js';
import { runStatus, type RunFacts } from '../sandbox/accounting.js';
import { LIMIT_TABLE, resolveLimits } from '../sandbox/limits.js';
import type { LaunchOutcome } from '../sandbox/process.js';

const schema = jobRequestSchema({ limits: LIMIT_TABLE, languages: LANGUAGES.map((l) => l.id), bounds: DEFAULT_BOUNDS });
const issues = (body: unknown) => {
  const parsed = schema.safeParse(body);
  return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
};

describe('the job request', () => {
  it('accepts the three kinds of job, filling in the encodings', () => {
    expect(schema.parse({ command: ['true'] })).toEqual({ command: ['true'], stdin_encoding: 'utf8' });
    expect(issues({ language: 'c', files: [{ path: 'main.c', content: 'int main(){}' }] })).toEqual([]);
    expect(issues({ language: 'c', files: [{ path: 'main.c', content: '' }], tests: [{ expected_stdout: '' }], comparison: { mode: 'tokens' } })).toEqual([]);
  });

  it('names the field of each rule broken', () => {
    expect(issues({ command: ['true'], language: 'c', files: [{ path: 'a.c', content: '' }] })).toEqual(['language: give either language (with files) or command or steps, exactly one of them']);
    expect(issues({ language: 'cobol', files: [{ path: 'a', content: '' }] })).toEqual(['language: unknown language "cobol"; see GET /v1/languages']);
    expect(issues({ command: ['true'], files: [{ path: '../x', content: '' }] })).toEqual(['files.0.path: file path "../x" has an empty, "." or ".." component']);
    expect(issues({ command: ['true'], comparison: { mode: 'exact' } })).toEqual(['comparison: comparison needs tests']);
    const checker = { language: 'c', files: [{ path: 'judge_input.txt', content: '' }] };
    expect(issues({ language: 'c', files: [{ path: 'a.c', content: '' }], tests: [{ expected_stdout: '' }], checker })).toEqual([
      "checker.files.0.path: judge_input.txt is reserved for the test's files",
    ]);
    expect(issues({ command: ['true'], limits: { cpu_ms: LIMIT_TABLE.cpu_ms.max + 1 } })).toEqual([`limits.cpu_ms: cpu_ms must be at most ${LIMIT_TABLE.cpu_ms.max}`]);
  });

  it('a checker names its protocol, testlib or kattis', () => {
    const judged = { language: 'c', files: [{ path: 'a.c', content: '' }], tests: [{ expected_stdout: '' }] };
    const checker = (protocol?: string) => ({ language: 'python3', protocol, files: [{ path: 'v.py', content: '' }] });
    expect(issues({ ...judged, checker: checker('kattis') })).toEqual([]);
    expect(issues({ ...judged, checker: checker('testlib') })).toEqual([]);
    expect(issues({ ...judged, checker: checker(undefined) })).toEqual([]);
    expect(issues({ ...judged, checker: checker('domjudge') })).toEqual(['checker.protocol: checker.protocol must be one of testlib, kattis']);
  });

  it('case_sensitive is a flag of the token modes only', () => {
    const judged = { language: 'c', files: [{ path: 'a.c', content: '' }], tests: [{ expected_stdout: '' }] };
    expect(issues({ ...judged, comparison: { mode: 'tokens', case_sensitive: false } })).toEqual([]);
    expect(issues({ ...judged, comparison: { mode: 'float', case_sensitive: false, absolute: 0.1 } })).toEqual([]);
    expect(issues({ ...judged, comparison: { mode: 'exact', case_sensitive: false } })).toEqual([
      'comparison.case_sensitive: case_sensitive is for the token modes (tokens, float); mode is exact',
    ]);
    expect(issues({ ...judged, comparison: { mode: 'tokens', case_sensitive: 'no' } })).toHaveLength(1);
  });
});

describe('the queued job', () => {
  it('a job of this version is parsed with the request schema', () => {
    expect(parseQueuedJob({ version: CONTRACT_VERSION, submission: { command: ['true'] } }, schema)).toEqual({ ok: true, submission: { command: ['true'], stdin_encoding: 'utf8' } });
  });

  it('another version, no version, or a request the contract refuses: a code, not a half-run job', () => {
    expect(parseQueuedJob({ version: CONTRACT_VERSION + 1, submission: { command: ['true'] } }, schema)).toMatchObject({ ok: false, problem: { code: 'unsupported_version' } });
    expect(parseQueuedJob({ submission: { command: ['true'] } }, schema)).toMatchObject({ ok: false, problem: { code: 'invalid_job' } });
    expect(parseQueuedJob({ version: CONTRACT_VERSION, submission: { command: [] } }, schema)).toMatchObject({
      ok: false,
      problem: { code: 'invalid_job', message: expect.stringMatching(/command: command needs at least one element/) },
    });
  });
});

describe('response schemas', () => {
  it('an error body names one of the known codes', () => {
    expect(errorBodySchema.safeParse({ error: { code: 'aborted', message: 'the request was aborted' } }).success).toBe(true);
    expect(errorBodySchema.safeParse({ error: { code: 'oops', message: '' } }).success).toBe(false);
  });

  it('each event type has its own data', () => {
    const at = new Date().toISOString();
    const test = { index: 0, total: 1, id: '1', verdict: 'accepted', status: 'ok', cpu_ms: 1, wall_ms: 2, memory_peak_bytes: 3 };
    expect(eventSchema.safeParse({ id: '1-0', job_id: 'j', type: 'test_finished', at, data: test }).success).toBe(true);
    expect(eventSchema.safeParse({ id: '1-0', job_id: 'j', type: 'test_finished', at, data: { status: 'ok' } }).success).toBe(false);
    expect(eventSchema.safeParse({ id: '1-0', job_id: 'j', type: 'failed', at, data: { reason: 'x', error_code: 'worker_died' } }).success).toBe(true);
  });

  it('a failed job carries a known error code', () => {
    const job = { id: 'j', status: 'failed', created_at: '', started_at: null, finished_at: null, queue_wait_ms: null, request: { files: [], stdin_bytes: 0 }, result: null };
    expect(jobRecordSchema.safeParse({ ...job, error_code: 'setup_failed' }).success).toBe(true);
    expect(jobRecordSchema.safeParse({ ...job, error_code: 'cannot set up the sandbox' }).success).toBe(false);
  });
});

describe("a run's status and error code", () => {
  const outcome = (status: LaunchOutcome['status'], extra: Partial<LaunchOutcome> = {}): LaunchOutcome => ({
    exitCode: 0,
    signal: null,
    stdout: Buffer.from('out'),
    stderr: Buffer.alloc(0),
    stdoutTruncated: false,
    stderrTruncated: false,
    status,
    ...extra,
  });
  const facts = (launch: LaunchOutcome, enforced?: RunFacts['enforced']): RunFacts => ({
    limits: resolveLimits(),
    outcome: launch,
    stats: { cpuNs: 1e6, memoryPeakBytes: 1024, memoryCurrentBytes: 0, pidsCurrent: 0, oomKills: 0 },
    wallMs: 5,
    enforced,
  });

  it('the program\'s own ends carry no error code', () => {
    expect(runStatus(facts(outcome({ kind: 'exit', code: 0 })))).toMatchObject({ status: 'ok', error_code: null, message: null });
    expect(runStatus(facts(outcome({ kind: 'exit', code: 0 }), 'wall_time_limit'))).toMatchObject({ status: 'wall_time_limit', error_code: null });
  });

  it('a cancelled run is cancelled, whatever the program did, not a sandbox error', () => {
    expect(runStatus(facts(outcome({ kind: 'signal', signal: 9 }), 'cancelled'))).toMatchObject({ status: 'cancelled', error_code: 'cancelled', stdout: 'out' });
  });

  it("runcell's failures say which, by code", () => {
    const spawn = outcome({ kind: 'not_started' }, { spawnError: new Error('EAGAIN') });
    expect(runStatus(facts(spawn))).toMatchObject({ status: 'sandbox_error', error_code: 'spawn_failed' });
    const bwrap = outcome({ kind: 'not_started' }, { exitCode: 1, stderr: Buffer.from('bwrap: Can\'t mount proc\n') });
    expect(runStatus(facts(bwrap))).toMatchObject({ status: 'sandbox_error', error_code: 'start_failed', message: expect.stringMatching(/bwrap: Can't mount proc/) });
    expect(runStatus(facts(outcome({ kind: 'started' }, { exitCode: null, signal: 'SIGKILL' })))).toMatchObject({ status: 'sandbox_error', error_code: 'killed_from_outside' });
  });
});
