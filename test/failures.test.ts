/**
 * When runcell itself cannot run a job: the job is `failed`, with a reason,
 * never `completed` as if the program had done something.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifiedRootfs } from '../rootfs/build.js';
import { CgroupV2Driver } from '../sandbox/cgroup2.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { config, http, serviceFixture, untilDone } from './service-helpers.js';

// A real cgroup driver given a root that cannot hold cgroups (a file): every run fails to set up.
const service = serviceFixture(() => ({
  sandbox: Sandbox.create({ dataDir: config.dataDir, rootfs: verifiedRootfs(config.dataDir, config.languages), cgroups: new CgroupV2Driver({ root: '/etc/hostname' }) }),
}));

describe('a sandbox that cannot be set up', () => {
  it('fails the job with the reason, keeps the run result, and leaves nothing behind', async () => {
    const id = (await http(`${service.api.url}/v1/jobs`, { method: 'POST', json: { command: ['/bin/true'] } })).body.id;
    const job = await untilDone(service.api.url, id);
    expect(job).toMatchObject({ status: 'failed', error_code: 'setup_failed' });
    expect(job.reason).toMatch(/^cannot set up the sandbox: .*ENOTDIR/);
    expect(job.result!.run).toMatchObject({ status: 'sandbox_error', error_code: 'setup_failed', message: expect.stringMatching(/ENOTDIR/) });
    const workDir = join(config.dataDir, 'work');
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(workDir);
    expect(existsSync(workDir) ? readdirSync(workDir) : []).toEqual([]);
  });
});
