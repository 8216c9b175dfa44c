/**
 * Adversarial suite through the service: line 12 (very long argv, env,
 * stdin, files: bounded by the API before anything reaches a sandbox) and
 * line 14 (a real `runcell worker` process holding secrets in its
 * environment; its jobs look for them everywhere they can).
 */
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BOUNDS, jobRequestSchema } from '../../contract/job-request.js';
import { LANGUAGES } from '../../rootfs/languages.js';
import { job } from '../helpers.js';
import { apiFixture, config, http, spawnWorker, untilDone, waitFor } from '../service-helpers.js';
import { expectHostUnaffected } from './attack.js';
import { SERVICE_SCENARIOS } from './attacks/scenarios.js';

const service = apiFixture();
const { redis } = service;

const title = (s: { id: string; does: string }) => `${s.id}: ${s.does}`;
const shell = (script: string) => ['/bin/sh', '-c', script];

/** Posts a body; answers the status and the error's field paths. Nothing may have been queued. */
async function refused(body: unknown): Promise<{ status: number; paths: string[] }> {
  const before = await service.api.queue.backlog();
  const response = await http(`${service.api.url}/v1/jobs`, { method: 'POST', json: body });
  expect(await service.api.queue.backlog()).toBe(before);
  return { status: response.status, paths: (response.body?.error?.details ?? []).map((d: { path: string }) => d.path) };
}

describe('line 12: the API bounds what reaches the sandbox', () => {
  it(title(SERVICE_SCENARIOS.longArgv), async () => {
    expect(await refused({ command: shell('true'), args: Array.from({ length: 100_000 }, () => 'a') })).toEqual({ status: 422, paths: ['args'] });
    expect(await refused({ command: ['/bin/echo', 'x'.repeat(1_000_000)] })).toEqual({ status: 422, paths: ['command.1'] });
    expect(await refused({ command: Array.from({ length: 100_000 }, () => 'a') })).toEqual({ status: 422, paths: ['command'] });
  });

  it(title(SERVICE_SCENARIOS.longEnv), async () => {
    const many = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`V${i}`, 'x']));
    expect(await refused({ command: shell('env'), env: many })).toEqual({ status: 422, paths: ['env'] });
    // Found by this suite: a long value used to pass the API and fail the job at the sandbox's execve (E2BIG).
    expect(await refused({ command: shell('env'), env: { BIG: 'x'.repeat(1_000_000) } })).toEqual({ status: 422, paths: ['env.BIG'] });
  });

  it(title(SERVICE_SCENARIOS.hugeStdin), async () => {
    const response = await refused({ command: ['/bin/cat'], stdin: 'x'.repeat(11 * 1024 * 1024) });
    expect(response.status).toBe(413);
  });

  it(title(SERVICE_SCENARIOS.manyFiles), async () => {
    const files = Array.from({ length: 1000 }, (_, i) => ({ path: `f${i}.py`, content: '' }));
    expect(await refused({ language: 'python3', files })).toEqual({ status: 422, paths: ['files'] });
  });

  it(title(SERVICE_SCENARIOS.boundedButLarge), async () => {
    const { maxArgs, maxArgLength, maxEnv, maxArgvBytes } = DEFAULT_BOUNDS;
    // Every argument and environment value at its maximum length: each field within its bounds, too much together.
    const tooMuch = {
      command: shell('true'),
      args: Array.from({ length: maxArgs }, () => 'b'.repeat(maxArgLength)),
      env: Object.fromEntries(Array.from({ length: maxEnv }, (_, i) => [`V${i}`, 'c'.repeat(maxArgLength)])),
    };
    // Found by this suite: this used to be accepted, and failed in the sandbox (execve: E2BIG).
    expect(await refused(tooMuch)).toEqual({ status: 422, paths: ['args'] });
    // The largest that is accepted runs normally in the sandbox.
    const fill = Math.floor((maxArgvBytes - 64 * (maxArgLength + 5) - 100) / (maxArgLength + 1));
    const largest = { ...tooMuch, command: ['/bin/sh', '-c', 'echo $# ${#V0} ${#V63}', 'sh'], args: tooMuch.args.slice(0, fill) };
    expect(jobRequestSchema({ limits: config.limits, languages: LANGUAGES.map((l) => l.id) }).safeParse(largest).success).toBe(true);
    const result = await job(largest);
    expect(result.run).toMatchObject({ status: 'ok', stdout: `${fill} ${maxArgLength} ${maxArgLength}\n` });
    await expectHostUnaffected(SERVICE_SCENARIOS.boundedButLarge.id);
  });
});

describe("line 14: the worker's environment", () => {
  it(title(SERVICE_SCENARIOS.workerEnv), async () => {
    const secret = `s3cr3t-${randomBytes(12).toString('hex')}`;
    const worker = spawnWorker(redis.url, { SECRET_TOKEN: secret, AWS_SECRET_ACCESS_KEY: secret, DATABASE_URL: `postgres://u:${secret}@db/x` });
    try {
      await waitFor(() => worker.output().includes('"worker started"'), 20_000, 'the worker to start');
      const redisDir = redis.dir;
      const script = `env; echo; tr "\\0" "\\n" < /proc/self/environ; for f in /proc/[0-9]*/environ; do tr "\\0" "\\n" < $f; done 2>/dev/null
echo; ls ${redisDir} 2>&1; cat /proc/${worker.pid}/environ 2>&1; echo end`;
      const accepted = await http(`${service.api.url}/v1/jobs`, { method: 'POST', json: { command: shell(script) } });
      expect(accepted.status).toBe(202);
      const done = await untilDone(service.api.url, accepted.body.id, 30_000);
      expect(done.status).toBe('completed');
      const run = done.result!.run!;
      expect(run.status).toBe('ok');
      expect(run.stdout).toContain('end');
      const seen = run.stdout + run.stderr;
      expect(seen).not.toContain(secret);
      expect(seen).not.toMatch(/REDIS_URL|SECRET_TOKEN|AWS_|DATABASE_URL|RUNCELL_/);
      // The queue's socket directory and the worker's /proc entry do not exist in the job's world.
      expect(seen).toMatch(new RegExp(`ls: cannot access '${redisDir}': No such file`));
      expect(seen).toMatch(new RegExp(`/proc/${worker.pid}/environ: No such file`));
    } finally {
      worker.kill('SIGTERM');
      await once(worker, 'exit');
    }
  });
});
