/**
 * A real Prometheus server (Debian's /usr/bin/prometheus) for tests: on
 * loopback, on a free port, with its storage in a temporary directory and a
 * short scrape interval, scraping the targets it is given.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './service-helpers.js';

export const PROMETHEUS = '/usr/bin/prometheus';
export const PROMTOOL = '/usr/bin/promtool';

/** A port nobody listens on now (the kernel picks it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Runs promtool; answers its exit code and output. */
export function promtool(args: string[], input?: string): { code: number | null; output: string } {
  const result = spawnSync(PROMTOOL, args, { input, encoding: 'utf8' });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export class TestPrometheus {
  readonly dir = mkdtempSync(join(tmpdir(), 'runcell-prometheus-'));
  url = '';
  private child?: ChildProcess;
  private output = '';

  /** `targets` are host:port of /metrics endpoints, scraped every `intervalSeconds`. */
  constructor(
    private readonly targets: string[],
    private readonly intervalSeconds = 1,
  ) {}

  async start(): Promise<void> {
    const config = join(this.dir, 'prometheus.yml');
    const interval = `${this.intervalSeconds}s`;
    writeFileSync(
      config,
      [
        'global:',
        `  scrape_interval: ${interval}`,
        `  scrape_timeout: ${interval}`,
        `  evaluation_interval: ${interval}`,
        'scrape_configs:',
        '  - job_name: runcell',
        '    static_configs:',
        `      - targets: [${this.targets.map((t) => `'${t}'`).join(', ')}]`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    this.child = spawn(
      PROMETHEUS,
      [`--config.file=${config}`, `--storage.tsdb.path=${join(this.dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child.stdout!.on('data', (chunk) => (this.output += chunk));
    this.child.stderr!.on('data', (chunk) => (this.output += chunk));
    await waitFor(
      async () => {
        if (this.child!.exitCode !== null) throw new Error(`prometheus exited: ${this.output}`);
        return (await fetch(`${this.url}/-/ready`).catch(() => undefined))?.ok === true;
      },
      30_000,
      'prometheus to be ready',
    );
  }

  /** An instant query; answers the samples of its vector. */
  async query(expression: string): Promise<Sample[]> {
    const response = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expression)}`);
    const body = (await response.json()) as { status: string; error?: string; data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== 'success') throw new Error(`query ${expression} failed: ${body.error}`);
    if (body.data.resultType !== 'vector') throw new Error(`query ${expression} is not a vector`);
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  /** The single value of a query; 0 when it answers no sample. */
  async value(expression: string): Promise<number> {
    const samples = await this.query(expression);
    if (samples.length > 1) throw new Error(`query ${expression} answered ${samples.length} samples`);
    return samples[0]?.value ?? 0;
  }

  /** Waits until every target has been scraped (successfully) after `since` (epoch ms). */
  async scrapedAfter(since: number, timeoutMs = 15_000): Promise<void> {
    await waitFor(
      async () => {
        // timestamp() of a plain selector is the scrape's start (of an expression, it would be now).
        const times = await this.query('timestamp(up)');
        const up = await this.query('up');
        return times.length === this.targets.length && times.every((s) => s.value * 1000 > since) && up.every((s) => s.value === 1);
      },
      timeoutMs,
      'a scrape after the jobs',
    );
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      await once(this.child, 'exit');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
