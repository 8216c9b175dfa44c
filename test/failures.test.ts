/**
 * When runcell itself cannot run a job: the job is `failed`, with a reason,
 * never `completed` as if the program had done something.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifiedRootfs } from '../rootfs/build.js';
import { CgroupV2Driver } from '../sandbox/cgroup2.js';
import { Sandbox } from '../sandbox/sandbox.js';
import type { RuncellWorker } from '../worker/worker.js';
import { config, http, startApi, startWorker, TestRedis, untilDone, type TestApi } from './service-helpers.js';

const redis = new TestRedis();
let api: TestApi;
let worker: RuncellWorker;

beforeAll(async () => {
  await redis.start();
  api = await startApi(redis.url);
  // A real cgroup driver given a root that cannot hold cgroups (a file): every run fails to set up.
  const broken = Sandbox.create({ dataDir: config.dataDir, rootfs: verifiedRootfs(config.dataDir), cgroups: new CgroupV2Driver({ root: '/etc/hostname' }) });
  worker = await startWorker(redis.url, { sandbox: broken });
});

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await redis.destroy();
});

describe('a sandbox that cannot be set up', () => {
  it('fails the job with the reason, keeps the run result, and leaves nothing behind', async () => {
    const id = (await http(`${api.url}/v1/jobs`, { method: 'POST', json: { command: ['/bin/true'] } })).body.id;
    const job = await untilDone(api.url, id);
    expect(job.status).toBe('failed');
    expect(job.reason).toMatch(/^cannot set up the sandbox: .*ENOTDIR/);
    expect(job.result!.run).toMatchObject({ status: 'sandbox_error', message: expect.stringMatching(/ENOTDIR/) });
    const workDir = join(config.dataDir, 'work');
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(workDir);
    expect(existsSync(workDir) ? readdirSync(workDir) : []).toEqual([]);
  });
});
