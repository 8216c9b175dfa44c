/**
 * Stored problems end to end: a Kattis package uploaded once through the API
 * (real Redis), its input validator run by a worker, then judged by a fleet
 * of two `runcell worker` processes with separate data dirs (each fetches the
 * problem into its own cache); hostile packages refused with 422 naming the
 * entry; replace and delete, with the data of what is gone collected.
 */
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { craftTar, craftZip, type ZipItem } from './archive/craft.js';
import { unmountAll } from '../rootfs/store.js';
import { besideSuite, config, http, shareRootfs, spawnWorker, startApi, TestRedis, untilDone, waitFor, type TestApi } from './service-helpers.js';

const redis = new TestRedis();
let api: TestApi;
const workers: ReturnType<typeof spawnWorker>[] = [];
const dirs = [`${config.dataDir}-problems-a`, `${config.dataDir}-problems-b`];

const SUM_OK = 'import sys, time\na, b = map(int, sys.stdin.read().split())\ntime.sleep(0.2)\nprint(a + b)\n';
const SUM_WRONG = 'import sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b + 1)\n';
const INPUT_VALIDATOR = 'import sys, re\ntext = sys.stdin.read()\nsys.exit(42 if re.fullmatch(r"-?\\d+ -?\\d+\\n", text) else 43)\n';

function sumPackage(options: { offset?: number; badInput?: boolean; extra?: ZipItem[] } = {}): Buffer {
  const pairs = [[1, 2], [10, 20], [-5, 5], [100, 23]];
  const items: ZipItem[] = [
    { name: 'sum/problem.yaml', data: 'name: Sum\nlimits:\n  time_limit: 2\nvalidator_flags: case_sensitive\n' },
    { name: 'sum/problem_statement/problem.en.tex', data: '\\problemname{Sum}\n' },
    { name: 'sum/input_validators/check/check.py', data: INPUT_VALIDATOR },
  ];
  pairs.forEach(([a, b], i) => {
    const group = i === 0 ? 'sample' : 'secret';
    const input = options.badInput && i === 2 ? `${a} x\n` : `${a} ${b}\n`;
    items.push({ name: `sum/data/${group}/${i + 1}.in`, data: input, deflate: true }, { name: `sum/data/${group}/${i + 1}.ans`, data: `${a + b + (options.offset ?? 0)}\n` });
  });
  return craftZip([...items, ...(options.extra ?? [])]);
}

async function upload(id: string, body: Buffer, method = 'POST') {
  const url = method === 'POST' ? `${api.url}/v1/problems?id=${id}` : `${api.url}/v1/problems/${id}`;
  return http(url, { method, body: new Uint8Array(body), headers: { 'content-type': 'application/zip' } });
}

async function untilSettled(id: string) {
  let body: any;
  await waitFor(async () => {
    body = (await http(`${api.url}/v1/problems/${id}`)).body;
    return body.status !== 'validating';
  }, 60_000, `problem ${id} to be validated`);
  return body;
}

async function judge(id: string, source: string, count = 1) {
  const jobs = Array.from({ length: count }, () => ({ problem: id, language: 'python3', files: [{ path: 'main.py', content: source }] }));
  const submitted = await http(`${api.url}/v1/jobs/batch`, { method: 'POST', json: { jobs } });
  expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
  return Promise.all(submitted.body.jobs.map((job: { id: string }) => untilDone(api.url, job.id, 120_000)));
}

const blobKeys = async () => (await api.queue.redis.keys('{runcell}:blob:*')).filter((key) => /:blob:[0-9a-f]{64}$/.test(key));
const cached = (dir: string) => (existsSync(`${dir}/problem-cache`) ? readdirSync(`${dir}/problem-cache`).flatMap((sub) => readdirSync(`${dir}/problem-cache/${sub}`)) : []);

beforeAll(async () => {
  await redis.start();
  api = await startApi(redis.url);
  for (const [i, dir] of dirs.entries()) {
    unmountAll(dir);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    shareRootfs(dir);
    const env = { ...besideSuite(dir, `problems${i}`), RUNCELL_UID_BASE: String(config.uidBase + 1000 * (i + 1)) };
    const child = spawnWorker(redis.url, env);
    workers.push(child);
    await waitFor(() => child.output().includes('"worker started"'), 30_000, `worker ${i} to start`);
  }
}, 180_000);

afterAll(async () => {
  for (const child of workers) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  }
  await api?.close();
  await redis.destroy();
  for (const dir of dirs) {
    unmountAll(dir);
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('a problem stored once, judged by a fleet', () => {
  it('is validated by its input validator, then judged by two workers with their own caches', async () => {
    const created = await upload('sum', sumPackage());
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ id: 'sum', revision: 1, name: 'Sum', status: 'validating', comparison: { mode: 'tokens', case_sensitive: true } });
    expect(created.body.tests.map((t: { id: string }) => t.id)).toEqual(['sample/1', 'secret/2', 'secret/3', 'secret/4']);
    expect(created.body.limits).toMatchObject({ cpu_ms: 2000 });
    const validated = await untilSettled('sum');
    expect(validated.status, validated.rejection).toBe('ready');
    const validation = await untilDone(api.url, validated.validation_job, 60_000);
    expect(validation.request).toMatchObject({ problem: 'sum', input_validation: true });

    const jobs = await judge('sum', SUM_OK, 6);
    for (const job of jobs) {
      expect(job.status, job.reason).toBe('completed');
      expect(job.result?.verdict).toBe('accepted');
      expect(job.result?.counts.total).toBe(4);
      expect(job.request.problem).toBe('sum');
    }
    // Each worker fetched the problem's files into its own data dir.
    for (const dir of dirs) expect(cached(dir).length, `${dir} holds the problem's files`).toBeGreaterThanOrEqual(8);
    const [wrong] = await judge('sum', SUM_WRONG);
    expect(wrong.result?.verdict).toBe('wrong_answer');
    expect(wrong.result?.tests?.[0].id).toBe('sample/1');
  });

  it('lists and shows problems; refuses jobs for a problem that is not there', async () => {
    const list = await http(`${api.url}/v1/problems`);
    expect(list.body.problems).toContainEqual(expect.objectContaining({ id: 'sum', status: 'ready', tests: 4 }));
    const missing = await http(`${api.url}/v1/jobs`, { method: 'POST', json: { problem: 'nope', language: 'python3', files: [{ path: 'main.py', content: '' }] } });
    expect(missing.status).toBe(422);
    expect(missing.body.error.details[0].path).toBe('problem');
    const mixed = await http(`${api.url}/v1/jobs`, { method: 'POST', json: { problem: 'sum', language: 'python3', files: [{ path: 'main.py', content: '' }], tests: [{ expected_stdout: '' }] } });
    expect(mixed.status).toBe(422);
    const reserved = await http(`${api.url}/v1/jobs`, { method: 'POST', json: { problem: 'sum', input_validation: true } });
    expect(reserved.status).toBe(422);
  });

  it('a package whose input the validator refuses is rejected, naming the test', async () => {
    const created = await upload('badin', sumPackage({ badInput: true }));
    expect(created.status).toBe(201);
    const settled = await untilSettled('badin');
    expect(settled.status).toBe('rejected');
    expect(settled.rejection).toContain('input_validators/check refused data/secret/3.in');
    const job = await http(`${api.url}/v1/jobs`, { method: 'POST', json: { problem: 'badin', language: 'python3', files: [{ path: 'main.py', content: SUM_OK }] } });
    expect(job.status).toBe(422);
    expect(job.body.error.message).toContain('rejected');
  });
});

describe('hostile and broken packages are refused with 422 naming the entry', () => {
  const refused = async (body: Buffer, path: string, code?: string) => {
    const keysBefore = (await blobKeys()).length;
    const answer = await upload(`hostile${Math.random().toString(36).slice(2, 8)}`, body);
    expect(answer.status, JSON.stringify(answer.body)).toBe(422);
    expect(answer.body.error.details[0].path).toBe(path);
    if (code) expect(answer.body.error.details[0].message).toContain(code);
    // Nothing of a refused package stays in Redis.
    expect((await blobKeys()).length).toBe(keysBefore);
  };
  it('a path out of the package', () => refused(sumPackage({ extra: [{ name: 'sum/../../etc/cron.d/x', data: 'x' }] }), 'archive/sum/../../etc/cron.d/x', 'bad_path'));
  it('a duplicate entry', () => refused(sumPackage({ extra: [{ name: 'sum/data/secret/2.in', data: '1 1\n' }] }), 'archive/sum/data/secret/2.in', 'duplicate_entry'));
  it('a symlink (tar)', async () => refused(await craftTar([{ name: 'problem.yaml', data: 'name: x\n' }, { name: 'data/secret/1.in', type: 'symlink', linkname: '/etc/shadow' }]), 'archive/data/secret/1.in', 'forbidden_type'));
  it('a device (tar)', async () => refused(await craftTar([{ name: 'problem.yaml', data: 'name: x\n' }, { name: 'data/secret/1.in', type: 'character-device' }]), 'archive/data/secret/1.in', 'forbidden_type'));
  it('an input without its answer', () => refused(craftZip([{ name: 'problem.yaml', data: 'name: x\n' }, { name: 'data/secret/1.in', data: '1\n' }]), 'package/data/secret/1.in'));
  it('no problem.yaml', () => refused(craftZip([{ name: 'data/secret/1.in', data: '1\n' }, { name: 'data/secret/1.ans', data: '1\n' }]), 'archive/problem.yaml'));
  it('an unknown validator flag', () => refused(craftZip([{ name: 'problem.yaml', data: 'validator_flags: frobnicate\n' }, { name: 'data/secret/1.in', data: '1\n' }, { name: 'data/secret/1.ans', data: '1\n' }]), 'package/problem.yaml/validator_flags'));
  it('not an archive', () => refused(Buffer.from('hello '.repeat(200)), 'archive', 'unknown_format'));
});

describe('replace and delete', () => {
  it('PUT replaces the data (jobs judge the new one), DELETE removes it; data nobody refers to is collected', async () => {
    const shared: ZipItem = { name: 'p/data/secret/9.in', data: '7 8\n' };
    const sharedAnswer: ZipItem = { name: 'p/data/secret/9.ans', data: '15\n' };
    const first = await upload('keeper', craftZip([{ name: 'p/problem.yaml', data: 'name: Keeper\n' }, shared, sharedAnswer]));
    expect(first.body.status).toBe('ready'); // no input validator: ready at once
    const blobsWithKeeper = await blobKeys();

    const created = await upload('swap', craftZip([{ name: 'problem.yaml', data: 'name: Swap\n' }, { name: 'data/secret/1.in', data: '2 3\n' }, { name: 'data/secret/1.ans', data: '5\n' }, { name: 'data/secret/9.in', data: '7 8\n' }, { name: 'data/secret/9.ans', data: '15\n' }]), 'PUT');
    expect(created.status).toBe(201);
    expect((await judge('swap', SUM_OK))[0].result?.verdict).toBe('accepted');
    const replaced = await upload('swap', craftZip([{ name: 'problem.yaml', data: 'name: Swap 2\n' }, { name: 'data/secret/1.in', data: '2 3\n' }, { name: 'data/secret/1.ans', data: '6\n' }]), 'PUT');
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ revision: 2, name: 'Swap 2' });
    expect((await judge('swap', SUM_OK))[0].result?.verdict).toBe('wrong_answer');
    // Revision 1's "5\n" answer went with it; revision 2's "6\n" came; the input shared with revision 2 stayed.
    expect((await blobKeys()).length).toBe(blobsWithKeeper.length + 2);

    expect((await http(`${api.url}/v1/problems/swap`, { method: 'DELETE' })).body).toMatchObject({ id: 'swap', revision: 2 });
    expect((await http(`${api.url}/v1/problems/swap`)).status).toBe(404);
    expect((await http(`${api.url}/v1/problems/swap`, { method: 'DELETE' })).status).toBe(404);
    // Swap's own blobs are gone; keeper's, which swap's revision 1 shared, are all still there.
    expect((await blobKeys()).sort()).toEqual(blobsWithKeeper.sort());
    expect((await judge('keeper', SUM_OK))[0].result?.verdict).toBe('accepted');
  });
});
