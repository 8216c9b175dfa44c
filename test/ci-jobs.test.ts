/**
 * CI jobs through the service (real Redis, a real worker, real sandboxes): steps in one workspace,
 * artifacts read back from /box.
 */
import { describe, expect, it } from 'vitest';
import { http, readEvents, serviceFixture, untilDone } from './service-helpers.js';

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
