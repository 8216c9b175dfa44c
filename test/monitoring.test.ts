/**
 * The operations files of monitoring/: the example Prometheus configuration
 * and the alert rules pass promtool's checks, the rules pass their unit tests
 * (and a broken rule fails them), and the rules, the dashboard and the
 * catalogue (docs/metrics.md) name only series runcell exports, and the
 * catalogue names all of them.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../cli/config.js';
import { RuncellMetrics } from '../monitoring/metrics.js';
import { promtool } from './prometheus-helpers.js';

const MONITORING = join(import.meta.dirname, '..', 'monitoring');
const read = (path: string) => readFileSync(join(MONITORING, path), 'utf8');

/** Names of the series runcell defines itself (not Node's defaults). */
async function ownMetricNames(): Promise<string[]> {
  const metrics = new RuncellMetrics({ defaultMetrics: false });
  return (await metrics.registry.getMetricsAsJSON()).map((metric) => metric.name);
}

/** runcell_* names used in PromQL text, with histogram suffixes taken off. */
function referencedMetrics(promql: string): string[] {
  const names = promql.match(/\bruncell_[a-z_]+/g) ?? [];
  return [...new Set(names.map((name) => name.replace(/_(bucket|sum|count)$/, '')))];
}

function dashboardExpressions(): string[] {
  const dashboard = JSON.parse(read('dashboard.json')) as { panels: { targets: { expr: string }[] }[] };
  return dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr));
}

describe('monitoring/', () => {
  it('prometheus.yml and rules.yml pass promtool check', () => {
    const config = promtool(['check', 'config', join(MONITORING, 'prometheus.yml')]);
    expect(config.output).toContain('SUCCESS');
    expect(config.code).toBe(0);
    const rules = promtool(['check', 'rules', join(MONITORING, 'rules.yml')]);
    expect(rules.output).toContain('SUCCESS: 5 rules found');
    expect(rules.code).toBe(0);
  });

  it('the alert rules pass their promtool unit tests', () => {
    const result = promtool(['test', 'rules', join(MONITORING, 'rules.test.yml')]);
    expect(result.output).toContain('SUCCESS');
    expect(result.code).toBe(0);
  });

  it('the unit tests catch a changed threshold', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runcell-rules-'));
    try {
      copyFileSync(join(MONITORING, 'rules.test.yml'), join(dir, 'rules.test.yml'));
      const rules = read('rules.yml');
      const loosened = rules.replace('rate(runcell_job_queue_wait_seconds_bucket[5m]))) > 30', 'rate(runcell_job_queue_wait_seconds_bucket[5m]))) > 120');
      expect(loosened).not.toBe(rules);
      writeFileSync(join(dir, 'rules.yml'), loosened);
      const result = promtool(['test', 'rules', join(dir, 'rules.test.yml')]);
      expect(result.code).not.toBe(0);
      expect(result.output).toContain('alertname: RuncellQueueWaitHigh');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rules and dashboard name only series runcell exports', async () => {
    const known = await ownMetricNames();
    const used = [...referencedMetrics(read('rules.yml')), ...dashboardExpressions().flatMap(referencedMetrics)];
    expect(used.length).toBeGreaterThan(10);
    const defaults = /^runcell_(process|nodejs)_/;
    expect(used.filter((name) => !known.includes(name) && !defaults.test(name))).toEqual([]);
  });

  it('the dashboard has the panels operators need', () => {
    const expressions = dashboardExpressions().join('\n');
    for (const metric of ['runcell_jobs_total', 'runcell_queue_jobs', 'runcell_job_queue_wait_seconds_bucket', 'runcell_job_wall_seconds_bucket', 'runcell_job_cpu_seconds_bucket', 'runcell_job_memory_peak_bytes_bucket', 'runcell_running_job_pids']) {
      expect(expressions).toContain(metric);
    }
  });

  it('docs/metrics.md catalogues every series', async () => {
    const catalogue = readFileSync(join(import.meta.dirname, '..', 'docs', 'metrics.md'), 'utf8');
    for (const name of await ownMetricNames()) expect(catalogue, name).toMatch(new RegExp(`\\| \`${name}\` \\|`));
    expect(catalogue).toContain('runcell_process_');
    expect(catalogue).toContain('runcell_nodejs_');
  });
});

describe('RUNCELL_METRICS_PORT', () => {
  it('is unset by default, a port when given, refused when not a number', () => {
    expect(loadConfig({}).metricsPort).toBeUndefined();
    expect(loadConfig({ RUNCELL_METRICS_PORT: '9464' }).metricsPort).toBe(9464);
    expect(loadConfig({ RUNCELL_METRICS_PORT: '0' }).metricsPort).toBe(0);
    expect(() => loadConfig({ RUNCELL_METRICS_PORT: 'ninety' })).toThrow(/RUNCELL_METRICS_PORT must be an integer/);
    expect(() => loadConfig({ RUNCELL_METRICS_PORT: '70000' })).toThrow(/RUNCELL_METRICS_PORT must be a TCP port/);
    expect(() => loadConfig({ RUNCELL_PORT: '65536' })).toThrow(/RUNCELL_PORT must be a TCP port/);
  });
});
