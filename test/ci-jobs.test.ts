/**
 * CI jobs through the service (real Redis, a real worker, real sandboxes): steps in one workspace,
 * artifacts read back from /box.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARTIFACT_CAPS } from '../contract/artifacts.js';
import { DEFAULT_RETENTION, keys } from '../queue/store.js';
import { http, readEvents, serviceFixture, startApi, untilDone, waitFor } from './service-helpers.js';

const service = serviceFixture();

const sh = (script: string, extra: Record<string, unknown> = {}) => ({ command: ['/bin/sh', '-c', script], ...extra });

async function runToEnd(json: unknown) {
  const response = await http<{ id: string }>(`${service.api.url}/v1/jobs`, { method: 'POST', json });
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  return untilDone(service.api.url, response.body.id);
}

describe('steps', () => {
  it('share one writable /box, each with its own result; the job stops at the first failed step', async () => {
    const job = await runToEnd({
      files: [{ path: 'src.txt', content: 'source\n' }],
      steps: [
        { name: 'build', ...sh('cp src.txt built.txt && echo building') },
        sh('cat built.txt; echo oops >&2; exit 3'),
        { name: 'never', ...sh('echo never') },
      ],
    });
    expect(job.status).toBe('completed');
    expect(job.result!.run).toBeNull();
    const steps = job.result!.steps!;
    expect(steps.map((s) => [s.name, s.status, s.exit_code, s.stdout, s.stderr])).toEqual([
      ['build', 'ok', 0, 'building\n', ''],
      ['2', 'nonzero_exit', 3, 'source\n', 'oops\n'],
    ]);
    expect(job.request.steps?.map((s) => s.name)).toEqual(['build', undefined, 'never']);
    const events = await readEvents(`${service.api.url}/v1/jobs/${job.id}/events`);
    expect(events.filter((e) => e.event === 'step_finished').map((e) => e.data.data)).toEqual([
      { index: 0, total: 3, status: 'ok' },
      { index: 1, total: 3, status: 'nonzero_exit' },
    ]);
    const outputs = events.filter((e) => e.event === 'output').map((e) => e.data.data);
    expect(outputs).toContainEqual({ stream: 'stdout', offset: 0, data: 'building\n', step: 0 });
    expect(outputs).toContainEqual({ stream: 'stdout', offset: 0, data: 'source\n', step: 1 });
  });

  it('continue_on_failure runs the next step; a step\'s limits override the job\'s', async () => {
    const job = await runToEnd({
      limits: { wall_ms: 20_000 },
      steps: [{ ...sh('exit 1'), continue_on_failure: true }, { ...sh('sleep 10'), limits: { wall_ms: 300 } }, sh('echo never')],
    });
    expect(job.result!.steps!.map((s) => s.status)).toEqual(['nonzero_exit', 'wall_time_limit']);
  });

  it('refuses steps with command, stdin or args, and empty steps, with a 422 naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ ...sh('true'), steps: [sh('true')] }, 'language'],
      [{ steps: [sh('true')], stdin: 'x' }, 'stdin'],
      [{ steps: [sh('true')], args: ['x'] }, 'args'],
      [{ steps: [] }, 'steps'],
      [{ steps: [{ command: [] }] }, 'steps.0.command'],
      [{ steps: Array.from({ length: 33 }, () => sh('true')) }, 'steps'],
    ];
    for (const [json, path] of cases) {
      const response = await http(`${service.api.url}/v1/jobs`, { method: 'POST', json });
      expect(response.status, JSON.stringify(json)).toBe(422);
      expect(response.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    }
  });
});

describe('artifacts', () => {
  const planting = [
    'mkdir -p reports coverage/x deep/reports',
    'echo "<ok/>" > reports/a.xml',
    'echo note > reports/b.txt',
    'echo "{}" > coverage/x/y.json',
    'echo other > deep/reports/c.xml',
    'ln -s /etc/passwd reports/link.xml',
    'mkfifo reports/fifo.xml',
    'echo shared > reports/h1.xml && ln reports/h1.xml reports/h2.xml',
  ].join(' && ');

  it('keeps the matching regular files, reports links, FIFOs and hard links unread, even after a failed step', async () => {
    const job = await runToEnd({ steps: [sh(planting), sh('exit 1'), sh('echo never > reports/never.xml')], artifacts: ['reports/*.xml', 'coverage/**'] });
    expect(job.status).toBe('completed');
    expect(job.result!.steps!.map((s) => s.status)).toEqual(['ok', 'nonzero_exit']);
    expect(job.result!.artifacts).toEqual([
      { path: 'coverage/x/y.json', size_bytes: 3 },
      { path: 'reports/a.xml', size_bytes: 6 },
    ]);
    const rejected = Object.fromEntries(job.result!.artifacts_rejected!.map((r) => [r.path, r.kind]));
    expect(rejected).toEqual({ 'reports/link.xml': 'symlink', 'reports/fifo.xml': 'fifo', 'reports/h1.xml': 'hard link', 'reports/h2.xml': 'hard link' });

    const base = `${service.api.url}/v1/jobs/${job.id}`;
    const list = await http(`${base}/artifacts`);
    expect(list.status).toBe(200);
    expect(list.body.artifacts).toEqual(job.result!.artifacts);
    expect(list.body.rejected).toHaveLength(4);
    const one = await fetch(`${base}/artifacts/coverage/x/y.json`);
    expect(one.status).toBe(200);
    expect(await one.text()).toBe('{}\n');
    expect((await http(`${base}/artifacts/reports/link.xml`)).status).toBe(404);
    expect((await http(`${base}/artifacts/reports/../etc/passwd`)).status).toBe(404);

    // The tar, read by the system's tar.
    const tar = Buffer.from(await (await fetch(`${base}/artifacts.tar`)).arrayBuffer());
    const dir = mkdtempSync(join(tmpdir(), 'runcell-artifacts-'));
    try {
      writeFileSync(join(dir, 'a.tar'), tar);
      expect(execFileSync('tar', ['-tf', 'a.tar'], { cwd: dir, encoding: 'utf8' }).trim().split('\n')).toEqual(['coverage/x/y.json', 'reports/a.xml']);
      execFileSync('tar', ['-xf', 'a.tar'], { cwd: dir });
      expect(readFileSync(join(dir, 'reports/a.xml'), 'utf8')).toBe('<ok/>\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('are kept in Redis with the job, for its retention: another API replica serves them', async () => {
    const job = await runToEnd({ ...sh('mkdir -p out && printf data > out/r.bin'), artifacts: ['out/*.bin'] });
    const ttl = await service.api.queue.redis.ttl(keys.artifacts(job.id));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(DEFAULT_RETENTION.completedSeconds);
    const replica = await startApi(service.redis.url);
    try {
      const response = await fetch(`${replica.url}/v1/jobs/${job.id}/artifacts/out/r.bin`);
      expect(await response.text()).toBe('data');
    } finally {
      await replica.close();
    }
  });

  it('caps the count: the files past it are reported, not kept; long names survive the tar', async () => {
    const long = `${'d'.repeat(60)}/${'f'.repeat(70)}.txt`;
    const job = await runToEnd({ ...sh(`mkdir -p many ${long.split('/')[0]} && for i in $(seq 1 ${ARTIFACT_CAPS.maxFiles + 1}); do echo $i > many/$i; done && echo long > ${long}`), artifacts: ['many/*', `${'d'.repeat(60)}/**`] });
    expect(job.result!.artifacts).toHaveLength(ARTIFACT_CAPS.maxFiles);
    expect(job.result!.artifacts_rejected!.filter((r) => r.kind === 'cap')).toHaveLength(2);
    const tar = Buffer.from(await (await fetch(`${service.api.url}/v1/jobs/${job.id}/artifacts.tar`)).arrayBuffer());
    const listed = execFileSync('tar', ['-t'], { input: tar, encoding: 'utf8' }).trim().split('\n');
    expect(listed).toHaveLength(ARTIFACT_CAPS.maxFiles);
    const short = await runToEnd({ ...sh(`mkdir -p ${long.split('/')[0]} && echo long > ${long}`), artifacts: [`${'d'.repeat(60)}/**`] });
    const tar2 = Buffer.from(await (await fetch(`${service.api.url}/v1/jobs/${short.id}/artifacts.tar`)).arrayBuffer());
    expect(execFileSync('tar', ['-t'], { input: tar2, encoding: 'utf8' }).trim()).toBe(long);
  });

  it('409 while the job runs; 422 for a bad pattern or a language job', async () => {
    const started = await http<{ id: string }>(`${service.api.url}/v1/jobs`, { method: 'POST', json: { ...sh('sleep 20'), artifacts: ['x'] } });
    await waitFor(async () => (await http(`${service.api.url}/v1/jobs/${started.body.id}`)).body.status === 'running', 10_000, 'the job to run');
    expect((await http(`${service.api.url}/v1/jobs/${started.body.id}/artifacts`)).status).toBe(409);
    await http(`${service.api.url}/v1/jobs/${started.body.id}`, { method: 'DELETE' });
    for (const [json, path] of [
      [{ ...sh('true'), artifacts: ['../x'] }, 'artifacts.0'],
      [{ ...sh('true'), artifacts: ['/etc/*'] }, 'artifacts.0'],
      [{ ...sh('true'), artifacts: ['a**'] }, 'artifacts.0'],
      [{ ...sh('true'), artifacts: [] }, 'artifacts'],
      [{ language: 'python3', files: [{ path: 'main.py', content: '' }], artifacts: ['x'] }, 'artifacts'],
    ] as const) {
      const response = await http(`${service.api.url}/v1/jobs`, { method: 'POST', json });
      expect(response.status, JSON.stringify(json)).toBe(422);
      expect(response.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    }
  });
});

/** An archive made by Python's tarfile/zipfile (real archivers, any names), as base64. */
function craft(kind: 'tar' | 'tar.gz' | 'zip', entries: { name: string; data?: string; symlink?: string; dir?: boolean; mode?: number }[]): string {
  const script = `
import io, json, sys, tarfile, zipfile, base64
entries = json.loads(sys.argv[2]); kind = sys.argv[1]; out = io.BytesIO()
if kind == 'zip':
    with zipfile.ZipFile(out, 'w') as z:
        for e in entries: z.writestr(e['name'], e.get('data', ''))
else:
    with tarfile.open(fileobj=out, mode='w:gz' if kind == 'tar.gz' else 'w', format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            info = tarfile.TarInfo(e['name']); data = e.get('data', '').encode()
            if e.get('dir'): info.type = tarfile.DIRTYPE; info.mode = 0o755; t.addfile(info)
            elif e.get('symlink'): info.type = tarfile.SYMTYPE; info.linkname = e['symlink']; t.addfile(info)
            else: info.size = len(data); info.mode = e.get('mode', 0o644); t.addfile(info, io.BytesIO(data))
sys.stdout.write(base64.b64encode(out.getvalue()).decode())`;
  return execFileSync('python3', ['-c', script, kind, JSON.stringify(entries)], { encoding: 'utf8' });
}

describe('archive', () => {
  // Made while the file is collected, before the service starts: a slow archiver between requests would leave the
  // client's kept-alive connection idle past the server's keep-alive timeout (a reset, not what is tested here).
  const archives = {
    good: craft('tar.gz', [
      { name: 'src', dir: true },
      { name: 'src/a.txt', data: 'from the archive\n' },
      { name: 'run.sh', data: 'cat src/a.txt; echo built > src/out.txt\n', mode: 0o755 },
    ]),
    zip: craft('zip', [{ name: 'd/z.txt', data: 'zip\n' }]),
    escape: craft('tar', [{ name: 'ok.txt' }, { name: '../evil', data: 'x' }]),
    symlink: craft('tar', [{ name: 'link', symlink: '/etc/passwd' }]),
    plain: craft('tar', [{ name: 'a.txt' }]),
  };

  it('is unpacked into /box before the first step, writable by the steps; zip too', async () => {
    const content = archives.good;
    const job = await runToEnd({ archive: { format: 'tar.gz', content }, files: [{ path: 'extra.txt', content: 'x' }], steps: [sh('./run.sh'), sh('cat src/out.txt extra.txt')], artifacts: ['src/out.txt'] });
    expect(job.result!.steps!.map((s) => [s.status, s.stdout])).toEqual([
      ['ok', 'from the archive\n'],
      ['ok', 'built\nx'],
    ]);
    expect(job.result!.artifacts).toEqual([{ path: 'src/out.txt', size_bytes: 6 }]);
    expect(job.request.archive).toMatchObject({ format: 'tar.gz' });
    const zipped = await runToEnd({ archive: { format: 'zip', content: archives.zip }, ...sh('cat d/z.txt') });
    expect(zipped.result!.run).toMatchObject({ status: 'ok', stdout: 'zip\n' });
  });

  it('a bad archive is a 422 naming the entry', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ ...sh('true'), archive: { format: 'tar', content: archives.escape } }, 'archive/../evil', /bad_path/],
      [{ ...sh('true'), archive: { format: 'tar', content: archives.symlink } }, 'archive/link', /forbidden_type|symlink/],
      [{ ...sh('true'), archive: { format: 'zip', content: archives.plain } }, 'archive', /unknown_format/],
      [{ ...sh('true'), archive: { format: 'tar', content: archives.plain }, files: [{ path: 'a.txt', content: '' }] }, 'files.0.path', /also in the archive/],
      [{ language: 'python3', files: [{ path: 'main.py', content: '' }], archive: { format: 'tar', content: archives.plain } }, 'archive', /needs a command or steps/],
    ];
    for (const [json, path, message] of cases) {
      const response = await http(`${service.api.url}/v1/jobs`, { method: 'POST', json });
      expect(response.status, JSON.stringify(response.body)).toBe(422);
      const detail = response.body.error.details.find((d: { path: string }) => d.path === path);
      expect(detail, JSON.stringify(response.body.error.details)).toBeDefined();
      expect(detail.message).toMatch(message);
    }
  });
});
