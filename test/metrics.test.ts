/**
 * Monitoring against the real thing: `runcell serve` runs jobs of known cost
 * while a real Prometheus scrapes it every second; the assertions ask
 * Prometheus's query API what it recorded, and run the dashboard's queries.
 * Then the endpoint of a lone `runcell worker` (RUNCELL_METRICS_PORT), the
 * API's endpoint behind keys, the exposition text's syntax (promtool check
 * metrics), and, in-process, the ways a job ends that the scrape test does
 * not reach: compile errors, cancels while queued or running, a job whose
 * processing throws, a sandbox that cannot be set up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bullConnection, parseRedisUrl } from '../queue/connection.js';
import { PREFIX, QUEUE_NAME } from '../queue/store.js';
import { summarize } from '../queue/submission.js';
import { CONTRACT_VERSION } from '../contract/queued-job.js';
import { verifiedRootfs } from '../rootfs/build.js';
import { CgroupV2Driver } from '../sandbox/cgroup2.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { MiB } from './helpers.js';
import { promtool, TestPrometheus } from './prometheus-helpers.js';
import { RuncellMetrics } from '../monitoring/metrics.js';
import { unmountAll } from '../rootfs/store.js';
import { apiFixture, besideSuite, BIN, config, http, serviceFixture, shareRootfs, spawnWorker, TestRedis, untilDone, waitFor } from './service-helpers.js';

const ALLOCATED = 64 * MiB;

/** Allocates 64 MiB and touches every page, so that all of it is resident at once. */
const ALLOCATE_64_MIB = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
  size_t n = ${ALLOCATED};
  volatile unsigned char *p = malloc(n);
  if (!p) return 1;
  memset((void *)p, 7, n);
  unsigned long sum = 0;
  for (size_t i = 0; i < n; i += 4096) sum += p[i];
  printf("%lu\\n", sum);
  return 0;
}`;

/** Spins 300 ms of CPU time, then exits 3 (a nonzero exit: its own label set). */
const SPIN_300_MS = `
#include <time.h>
int main(void) {
  volatile unsigned long x = 0;
  while ((double)clock() / CLOCKS_PER_SEC < 0.3) x++;
  return 3;
}`;

/** Touches 128 MiB under a 32 MiB limit: the OOM killer ends it. */
const OOM = `
#include <stdlib.h>
#include <string.h>
int main(void) {
  for (int i = 0; i < 128; i++) { char *p = malloc(1 << 20); if (!p) return 1; memset(p, 1, 1 << 20); }
  return 0;
}`;

function cJob(source: string, limits: Record<string, number> = {}) {
  return { language: 'c', files: [{ path: 'main.c', content: source }], limits };
}

interface Serve {
  child: ChildProcess;
  url: string;
  dataDir: string;
}

/** `runcell serve` as a user starts it, in a data directory of its own (for its Redis) sharing the built rootfs. */
async function startServe(): Promise<Serve> {
  const dataDir = mkdtempSync(join(tmpdir(), 'runcell-metrics-'));
  shareRootfs(dataDir);
  const env: NodeJS.ProcessEnv = { ...process.env, ...besideSuite(dataDir, 'metrics'), RUNCELL_LOG_LEVEL: 'warn', RUNCELL_CONCURRENCY: '2', RUNCELL_SHUTDOWN_TIMEOUT_MS: '1000' };
  delete env.REDIS_URL;
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  await waitFor(() => /listening on http/.test(stdout), 30_000, 'serve to listen');
  return { child, dataDir, url: /listening on (http:\/\/\S+)/.exec(stdout)![1] };
}

async function stopServe(serve: Serve | undefined): Promise<void> {
  if (!serve) return;
  if (serve.child.exitCode === null) {
    serve.child.kill('SIGTERM');
    await once(serve.child, 'exit');
  }
  unmountAll(serve.dataDir);
  rmSync(serve.dataDir, { recursive: true, force: true });
}

describe('metrics scraped by a real Prometheus from runcell serve', () => {
  let serve: Serve;
  let prometheus: TestPrometheus;

  beforeAll(async () => {
    serve = await startServe();
    prometheus = new TestPrometheus([new URL(serve.url).host], 1);
    await prometheus.start();
  });

  afterAll(async () => {
    await prometheus?.stop();
    await stopServe(serve);
  });

  it('counts jobs of known cost exactly, with their CPU and memory', async () => {
    await prometheus.scrapedAfter(Date.now());
    // A fresh process: before any job, no job series at all.
    expect(await prometheus.query('{__name__=~"runcell_jobs_total|runcell_job_cpu_seconds_count|runcell_oom_kills_total"}')).toEqual([]);
    expect(await prometheus.value('runcell_workers')).toBe(1);

    const submit = async (body: object) => {
      const response = await http(`${serve.url}/v1/jobs?wait=60`, { method: 'POST', json: body });
      expect(response.status).toBe(200);
      return response.body;
    };
    const [allocate, spin, oom] = await Promise.all([submit(cJob(ALLOCATE_64_MIB)), submit(cJob(SPIN_300_MS)), submit(cJob(OOM, { memory_bytes: 32 * MiB }))]);
    expect(allocate.result.run.status).toBe('ok');
    expect(spin.result.run.status).toBe('nonzero_exit');
    expect(oom.result.run.status).toBe('memory_limit');
    await prometheus.scrapedAfter(Date.now());

    // Counters: exactly the three jobs.
    expect(await prometheus.value('sum(runcell_jobs_total)')).toBe(3);
    expect(await prometheus.value('runcell_jobs_total{language="c",status="completed"}')).toBe(3);
    expect(await prometheus.value('runcell_job_verdicts_total{language="c",verdict="ok"}')).toBe(1);
    expect(await prometheus.value('runcell_job_verdicts_total{language="c",verdict="nonzero_exit"}')).toBe(1);
    expect(await prometheus.value('runcell_job_verdicts_total{language="c",verdict="memory_limit"}')).toBe(1);
    expect(await prometheus.value('sum(runcell_oom_kills_total)')).toBe(1);
    expect(await prometheus.value('runcell_oom_kills_total{language="c"}')).toBe(1);
    expect(await prometheus.value('sum(runcell_sandbox_errors_total)')).toBe(0);
    expect(await prometheus.value('runcell_api_requests_total{route="POST /v1/jobs",code="200"}')).toBe(3);

    // Histograms: one observation per step, per job.
    expect(await prometheus.value('sum(runcell_job_cpu_seconds_count{phase="compile"})')).toBe(3);
    expect(await prometheus.value('sum(runcell_job_cpu_seconds_count{phase="run"})')).toBe(3);
    expect(await prometheus.value('sum(runcell_job_memory_peak_bytes_count)')).toBe(6);
    expect(await prometheus.value('sum(runcell_job_wall_seconds_count)')).toBe(6);
    expect(await prometheus.value('runcell_job_queue_wait_seconds_count{language="c"}')).toBe(3);
    expect(await prometheus.value('runcell_job_total_seconds_count{language="c",status="completed"}')).toBe(3);
    expect(await prometheus.value('runcell_sandbox_setup_seconds_count')).toBe(6);

    // The 64 MiB job's peak memory: within 10 % of what it allocated.
    const memory = await prometheus.value('runcell_job_memory_peak_bytes_sum{language="c",phase="run",status="ok"}');
    expect(Math.abs(memory - ALLOCATED)).toBeLessThan(ALLOCATED * 0.1);
    // The spin's CPU: its 300 ms, and little more (program start and exit).
    const cpu = await prometheus.value('runcell_job_cpu_seconds_sum{language="c",phase="run",status="nonzero_exit"}');
    expect(cpu).toBeGreaterThanOrEqual(0.29);
    expect(cpu).toBeLessThan(0.45);
    // The OOM job's step is filed under its status, its peak at the limit.
    const oomPeak = await prometheus.value('runcell_job_memory_peak_bytes_sum{phase="run",status="memory_limit"}');
    expect(oomPeak).toBeGreaterThan(28 * MiB);
    expect(oomPeak).toBeLessThanOrEqual(32 * MiB);
    // Buckets are cumulative: 128 MiB holds all three runs, 32 MiB the spin and the OOM (at its limit), not the 64 MiB one.
    expect(await prometheus.value('sum(runcell_job_memory_peak_bytes_bucket{phase="run",le="134217728"})')).toBe(3);
    expect(await prometheus.value('sum(runcell_job_memory_peak_bytes_bucket{phase="run",le="33554432"})')).toBe(2);

    // Nothing runs now: both slots idle, the queue empty, no running-job series.
    expect(await prometheus.value('runcell_worker_slots{state="busy"}')).toBe(0);
    expect(await prometheus.value('runcell_worker_slots{state="idle"}')).toBe(2);
    expect(await prometheus.value('runcell_queue_jobs{state="waiting"}')).toBe(0);
    expect(await prometheus.value('runcell_queue_jobs{state="active"}')).toBe(0);
    expect(await prometheus.query('runcell_running_job_pids')).toEqual([]);
    // Node's own metrics, prefixed.
    expect(await prometheus.value('runcell_process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it("shows a running job's cgroup figures while it runs, and drops them when it ends", async () => {
    const script = 'head -c 20000000 /dev/zero | tail -c 1 > /dev/null; sleep 60';
    const submitted = await http(`${serve.url}/v1/jobs`, { method: 'POST', json: { command: ['/bin/sh', '-c', script], limits: { wall_ms: 90_000 } } });
    expect(submitted.status).toBe(202);
    const id: string = submitted.body.id;
    await waitFor(async () => (await http(`${serve.url}/v1/jobs/${id}`)).body.status === 'running', 20_000, 'the job to run');
    let pids: { metric: Record<string, string>; value: number }[] = [];
    await waitFor(
      async () => {
        pids = await prometheus.query(`runcell_running_job_pids{job_id="${id}"}`);
        return pids.length === 1;
      },
      15_000,
      'the running job in Prometheus',
    );
    expect(pids[0].metric).toMatchObject({ job_id: id, language: 'command', slot: expect.stringMatching(/^\d+$/) });
    // sh and sleep at least (and the sandbox's init).
    expect(pids[0].value).toBeGreaterThanOrEqual(2);
    expect(await prometheus.value(`runcell_running_job_memory_bytes{job_id="${id}"}`)).toBeGreaterThan(0);
    expect(await prometheus.query(`runcell_running_job_cpu_seconds{job_id="${id}"}`)).toHaveLength(1);
    expect(await prometheus.value('runcell_worker_slots{state="busy"}')).toBe(1);
    // Aggregates never carry the job id: the route is the pattern, not the path.
    expect(await prometheus.value('sum(runcell_api_requests_total{route="GET /v1/jobs/:id"})')).toBeGreaterThan(0);
    expect(await prometheus.query(`{__name__!~"runcell_running_job_.*",route=~".*${id}.*"}`)).toEqual([]);

    expect((await http(`${serve.url}/v1/jobs/${id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await untilDone(serve.url, id)).status).toBe('cancelled');
    await prometheus.scrapedAfter(Date.now());
    for (const name of ['runcell_running_job_pids', 'runcell_running_job_memory_bytes', 'runcell_running_job_cpu_seconds']) {
      expect(await prometheus.query(`${name}{job_id="${id}"}`)).toEqual([]);
    }
    expect(await prometheus.value('runcell_jobs_total{language="command",status="cancelled"}')).toBe(1);
    expect(await prometheus.value('runcell_worker_slots{state="busy"}')).toBe(0);
  });

  it("runs every query of the Grafana dashboard", async () => {
    const dashboard = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'monitoring', 'dashboard.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        // Grafana's variables, as Grafana would fill them in.
        const expression = target.expr.replaceAll('$__rate_interval', '1m').replaceAll('$language', '.*');
        await expect(prometheus.query(expression), `${panel.title}: ${expression}`).resolves.toBeDefined();
      }
    }
    // The panels over series present by now answer samples.
    expect(await prometheus.query('sum by (status) (rate(runcell_jobs_total{language=~".*"}[1m]))')).not.toEqual([]);
    expect(await prometheus.query('max by (state) (runcell_queue_jobs{state=~"waiting|active|delayed"})')).toHaveLength(3);
  });

  it('serves exposition text that promtool accepts', async () => {
    const response = await fetch(`${serve.url}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toContain('runcell_job_memory_peak_bytes_bucket{');
    const check = promtool(['check', 'metrics'], text);
    expect(check.output).toBe('');
    expect(check.code).toBe(0);
  });
});

describe('a lone worker process', () => {
  const redis = new TestRedis();
  beforeAll(() => redis.start());
  afterAll(() => redis.destroy());

  it('serves its own /metrics on RUNCELL_METRICS_PORT', async () => {
    const worker = spawnWorker(redis.url, { RUNCELL_METRICS_PORT: '0', RUNCELL_CONCURRENCY: '1' });
    try {
      await waitFor(() => /metrics at http:\/\/\S+/.test(worker.output()), 30_000, 'the worker to serve metrics');
      const url = /metrics at (http:\/\/\S+)/.exec(worker.output())![1];
      const response = await fetch(url);
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(text).toMatch(/^runcell_worker_slots\{state="idle"\} 1$/m);
      expect(text).toMatch(/^runcell_process_cpu_seconds_total /m);
      // The queue's gauges are the API's to export: a fleet of workers would count the queue once each.
      expect(text).not.toMatch(/^runcell_queue_jobs\{/m);
      expect(promtool(['check', 'metrics'], text).code).toBe(0);
      expect((await fetch(url.replace('/metrics', '/other'))).status).toBe(404);
    } finally {
      worker.kill('SIGTERM');
      await once(worker, 'exit');
    }
  });
});

describe('the API endpoint', () => {
  const service = apiFixture({ apiKeys: ['metrics-key'], metrics: new RuncellMetrics() });

  it('needs the API key when keys are set, and labels routes by pattern', async () => {
    expect((await http(`${service.api.url}/metrics`)).status).toBe(401);
    const authorized = { headers: { authorization: 'Bearer metrics-key' } };
    expect((await http(`${service.api.url}/v1/jobs/6f1b7c2e-0000-4000-8000-000000000000`, authorized)).status).toBe(404);
    const response = await http<string>(`${service.api.url}/metrics`, authorized);
    expect(response.status).toBe(200);
    expect(response.body).toMatch(/^runcell_api_requests_total\{route="other",code="401"\} 1$/m);
    expect(response.body).toMatch(/^runcell_api_requests_total\{route="GET \/v1\/jobs\/:id",code="404"\} 1$/m);
    expect(response.body).not.toContain('6f1b7c2e');
    // The queue's gauges, read from Redis at this scrape.
    expect(response.body).toMatch(/^runcell_queue_jobs\{pool="default",state="waiting"\} 0$/m);
    expect(response.body).toMatch(/^runcell_workers 0$/m);
  });
});

describe('what ends a job, counted once where it ends', () => {
  const metrics = new RuncellMetrics({ defaultMetrics: false });
  // As in `runcell serve`: the API and a worker of one process share one registry.
  const service = serviceFixture(() => ({ metrics, concurrency: 1 }), { metrics });

  /** The value of one series of a counter in this process's registry (0 when absent). */
  async function counter(name: string, labels: Record<string, string>): Promise<number> {
    const metric = await metrics.registry.getSingleMetric(name)!.get();
    const matches = metric.values.filter((v) => Object.entries(labels).every(([key, value]) => v.labels[key] === value));
    return matches.reduce((sum, v) => sum + v.value, 0);
  }

  it('a compile error, a job cancelled while queued and one cancelled while running', async () => {
    const broken = await http(`${service.api.url}/v1/jobs?wait=30`, { method: 'POST', json: cJob('int main(void) { return nope; }') });
    expect(broken.body.result.compile.status).toBe('nonzero_exit');
    expect(await counter('runcell_job_verdicts_total', { language: 'c', verdict: 'compile_error' })).toBe(1);
    expect(await counter('runcell_jobs_total', { language: 'c', status: 'completed' })).toBe(1);

    // The only slot is busy with a long job, so the next one waits in the queue.
    const sleeper = (await http(`${service.api.url}/v1/jobs`, { method: 'POST', json: { command: ['sleep', '30'] } })).body.id as string;
    await waitFor(async () => (await http(`${service.api.url}/v1/jobs/${sleeper}`)).body.status === 'running', 20_000, 'the sleeper to run');
    const queued = (await http(`${service.api.url}/v1/jobs`, { method: 'POST', json: { language: 'bash', files: [{ path: 'a.sh', content: 'echo hi' }] } })).body.id as string;
    expect((await http(`${service.api.url}/v1/jobs/${queued}`, { method: 'DELETE' })).body.status).toBe('cancelled');
    expect(await counter('runcell_jobs_total', { language: 'bash', status: 'cancelled' })).toBe(1);
    expect((await http(`${service.api.url}/v1/jobs/${sleeper}`, { method: 'DELETE' })).body.status).toBe('cancelled');
    await waitFor(async () => (await counter('runcell_jobs_total', { language: 'command', status: 'cancelled' })) === 1, 5000, 'the worker to count its cancelled job');

    // Cancelled jobs have no verdict; nothing was an OOM or a sandbox error; the queue wait of the never-started one is not observed.
    expect(await counter('runcell_job_verdicts_total', {})).toBe(1);
    expect(await counter('runcell_oom_kills_total', {})).toBe(0);
    expect(await counter('runcell_sandbox_errors_total', {})).toBe(0);
    const waits = await metrics.registry.getSingleMetric('runcell_job_queue_wait_seconds')!.get();
    expect(waits.values.filter((v) => (v as { metricName?: string }).metricName === 'runcell_job_queue_wait_seconds_count').map((v) => [v.labels.language, v.value]).sort()).toEqual([
      ['c', 1],
      ['command', 1],
    ]);
  });

  it('a queued job the contract refuses: failed as invalid_job, and no made-up language label', async () => {
    // Only a queue written to by other means than the API can hold such a job.
    const submission = { language: 'no-such-language', files: [{ path: 'x', content: '' }] };
    const id = randomUUID();
    await service.api.queue.store.create(id, summarize(submission));
    const queue = new Queue(QUEUE_NAME, { connection: bullConnection(parseRedisUrl(service.redis.url), 'api', 'test-queue'), prefix: PREFIX });
    try {
      await queue.add('job', { version: CONTRACT_VERSION, submission }, { jobId: id, attempts: 1 });
      expect(await untilDone(service.api.url, id)).toMatchObject({ status: 'failed', error_code: 'invalid_job', reason: expect.stringMatching(/unknown language "no-such-language"/) });
    } finally {
      await queue.close();
    }
    await waitFor(async () => (await counter('runcell_jobs_total', { status: 'failed' })) === 1, 5000, 'the failure to be counted');
    expect(await counter('runcell_jobs_total', { language: 'unknown', status: 'failed' })).toBe(1);
    expect(await counter('runcell_sandbox_errors_total', { reason: 'invalid_job' })).toBe(1);
    const labels = (await metrics.registry.getMetricsAsJSON()).flatMap((metric) => metric.values.map((v) => v.labels.language));
    expect(labels).not.toContain('no-such-language');
  });
});

describe('a sandbox that cannot be set up', () => {
  const metrics = new RuncellMetrics({ defaultMetrics: false });
  const service = serviceFixture(
    () => ({
      metrics,
      // A real cgroup driver given a root that cannot hold cgroups (a file): every run fails to set up.
      sandbox: Sandbox.create({
        dataDir: config.dataDir,
        rootfs: verifiedRootfs(config.dataDir, config.languages),
        cgroups: new CgroupV2Driver({ root: '/etc/hostname' }),
        onPhases: (phases) => metrics.observeSandboxPhases(phases),
      }),
    }),
    { metrics },
  );

  it('counts a sandbox error with its reason, and no launch overhead for a run that never launched', async () => {
    const id = (await http(`${service.api.url}/v1/jobs`, { method: 'POST', json: { command: ['/bin/true'] } })).body.id;
    expect((await untilDone(service.api.url, id)).status).toBe('failed');
    const text = await metrics.render();
    expect(text).toMatch(/^runcell_sandbox_errors_total\{reason="setup_failed"\} 1$/m);
    expect(text).toMatch(/^runcell_jobs_total\{language="command",status="failed"\} 1$/m);
    expect(text).toMatch(/^runcell_job_wall_seconds_count\{language="command",phase="run",status="sandbox_error"\} 1$/m);
    expect(text).toMatch(/^runcell_sandbox_setup_seconds_count 0$/m);
    expect(text).not.toMatch(/^runcell_job_verdicts_total\{/m);
  });
});
