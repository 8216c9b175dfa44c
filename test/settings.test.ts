/**
 * The service settings are one table (cli/settings.ts): the config loader
 * reads it, README.md's configuration table is generated from it, and no
 * RUNCELL_* name appears in the code or the docs that is not in it. Pure.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../cli/config.js';
import { LIMIT_SETTINGS, readSettings, SETTINGS, withSettingsTable, type Setting } from '../cli/settings.js';
import { LIMIT_NAMES } from '../sandbox/limits.js';

const root = join(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const settings = Object.values(SETTINGS) as Setting<unknown>[];

function filesUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|js|md)$/.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name));
}

describe('README.md', () => {
  it('has the current settings table (regenerate: npx tsx scripts/settings-doc.ts)', () => {
    expect(readme).toBe(withSettingsTable(readme));
  });
});

describe('the settings table', () => {
  it('names each variable once', () => {
    const names = [...settings, ...LIMIT_SETTINGS].map((s) => s.env);
    expect(new Set(names).size).toBe(names.length);
  });

  it('is every RUNCELL_* name the code and the docs use', () => {
    // Variables of the test harness, not of runcell (README and docs/performance.md describe the v2 lane with them).
    const TEST_HARNESS = ['RUNCELL_TEST_NO_TIMING'];
    const known = new Set([...settings.map((s) => s.env), ...TEST_HARNESS]);
    const limitVariable = new RegExp(`^RUNCELL_(DEFAULT|COMPILE_DEFAULT|MAX)_(<LIMIT>|<NAME>|${LIMIT_NAMES.map((n) => n.toUpperCase()).join('|')})$`);
    const sources = ['api', 'queue', 'worker', 'sandbox', 'judge', 'monitoring', 'cli', 'rootfs', 'scripts', 'docs'].flatMap(filesUnder);
    sources.push(join(root, 'README.md'));
    const unknown = new Set<string>();
    for (const file of sources) {
      for (const [name] of readFileSync(file, 'utf8').matchAll(/RUNCELL_[A-Z0-9_]+(<[A-Z]+>)?/g)) {
        if (!known.has(name) && !limitVariable.test(name)) unknown.add(`${name} (${file.slice(root.length + 1)})`);
      }
    }
    expect([...unknown]).toEqual([]);
  });

  it('gives loadConfig its defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      dataDir: '/var/lib/runcell',
      port: 8080,
      host: '127.0.0.1',
      maxBodyBytes: 10 * 1024 * 1024,
      rateLimitPerMinute: 0,
      uidBase: 61000,
      logLevel: 'info',
      retention: { completedSeconds: 3600, maxFinished: 100_000, failedSeconds: 86_400 },
      compileCache: { bytes: 256 * 1024 * 1024, ttlSeconds: 3600 },
      apiKeys: [],
    });
    expect(config.metricsPort).toBeUndefined();
    expect(config.redisUrl).toBeUndefined();
    expect(config.cpuQuota).toBeUndefined();
    // A default shown as a number is the number the parser gives.
    for (const setting of settings) {
      const shown = /^`(\d+)`/.exec(setting.shown);
      if (shown) expect(setting.parse(undefined), setting.env).toBe(Number(shown[1]));
    }
  });

  it('passes each value through its parser and refuses a wrong one, naming the variable', () => {
    const env = { RUNCELL_PORT: '9000', RUNCELL_API_KEYS: ' a, b ,', RUNCELL_CPU_QUOTA: '0.5', RUNCELL_LOG_LEVEL: 'debug', RUNCELL_COMPILE_CACHE_BYTES: '0' };
    expect(readSettings(env)).toMatchObject({ port: 9000, apiKeys: ['a', 'b'], cpuQuota: 0.5, logLevel: 'debug', compileCacheBytes: 0 });
    const wrong: Record<string, RegExp> = {
      RUNCELL_UID_BASE: /RUNCELL_UID_BASE must be an integer >= 1000/,
      RUNCELL_SLOTS: /RUNCELL_SLOTS must be an integer >= 1/,
      RUNCELL_CPU_QUOTA: /RUNCELL_CPU_QUOTA must be a positive number/,
      RUNCELL_LOG_LEVEL: /RUNCELL_LOG_LEVEL must be one of fatal, error/,
      RUNCELL_DATA_DIR: /RUNCELL_DATA_DIR must be an absolute path/,
    };
    const bad: Record<string, string> = { RUNCELL_UID_BASE: '999', RUNCELL_SLOTS: '0', RUNCELL_CPU_QUOTA: '-1', RUNCELL_LOG_LEVEL: 'loud', RUNCELL_DATA_DIR: 'var/lib/runcell' };
    for (const [name, message] of Object.entries(wrong)) expect(() => loadConfig({ [name]: bad[name] }), name).toThrow(message);
    expect(() => loadConfig({ RUNCELL_MAX_CPU_MS: '0' })).toThrow(/RUNCELL_MAX_CPU_MS must be an integer >= 1/);
  });
});
