/**
 * Configuration from the environment: one place that reads RUNCELL_*.
 * Documented in README.md (configuration table).
 */
import { cpus } from 'node:os';
import { limitTableFromEnv, type LimitTable } from '../sandbox/limits.js';
import { DEFAULT_UID_BASE } from '../sandbox/slots.js';

export interface Config {
  /** RUNCELL_DATA_DIR: rootfs images, workspaces, helper, slot locks. */
  dataDir: string;
  /** RUNCELL_UID_BASE: host uid of slot 0. */
  uidBase: number;
  /** RUNCELL_SLOTS: sandbox slots on this host. */
  slots: number;
  /** RUNCELL_CPU_QUOTA: optional CPU cap per run, in CPUs. */
  cpuQuota?: number;
  limits: LimitTable;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const quota = env.RUNCELL_CPU_QUOTA ? Number(env.RUNCELL_CPU_QUOTA) : undefined;
  if (quota !== undefined && !(quota > 0)) throw new Error('RUNCELL_CPU_QUOTA must be a positive number of CPUs');
  return {
    dataDir: env.RUNCELL_DATA_DIR || '/var/lib/runcell',
    uidBase: integer(env, 'RUNCELL_UID_BASE', DEFAULT_UID_BASE, 1000),
    slots: integer(env, 'RUNCELL_SLOTS', Math.max(16, cpus().length * 2), 1),
    cpuQuota: quota,
    limits: limitTableFromEnv(env),
  };
}
