/**
 * Shared set-up for the suite: a real Sandbox on the real rootfs, cgroups and
 * bubblewrap of this host, and helpers to run commands and programs in it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadConfig } from '../cli/config.js';
import { readMarker, verifiedRootfs } from '../rootfs/build.js';
import type { RunResult } from '../sandbox/accounting.js';
import type { RequestedLimits } from '../sandbox/limits.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { SlotPool } from '../sandbox/slots.js';
import { runJob, type JobContext, type JobRequest, type JobResult } from '../worker/job.js';

export const config = loadConfig();

/**
 * RUNCELL_TEST_NO_TIMING=1 (the cgroup v2 lane, in an emulated guest 10 to 50 times slower):
 * the few assertions on how long something took are skipped; those on behaviour stay.
 */
export const timingAsserted = process.env.RUNCELL_TEST_NO_TIMING !== '1';
/** How much longer waits for something to happen may be there (a worker process's start-up takes a minute). */
export const waitScale = timingAsserted ? 1 : 15;

let shared: { sandbox: Sandbox; pool: SlotPool } | undefined;

export function sandbox(): { sandbox: Sandbox; pool: SlotPool } {
  shared ??= {
    sandbox: Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs: verifiedRootfs(config.dataDir, config.languages) }),
    pool: new SlotPool({ dataDir: config.dataDir, count: config.slots, uidBase: config.uidBase }),
  };
  return shared;
}

let installed: Record<string, string> | undefined;

/** Runs a job as a worker would (the limits table of RUNCELL_DEFAULT_* and RUNCELL_MAX_*): refused when the installed rootfs lacks its language (`context` overrides). */
export async function job(request: JobRequest, context: Partial<JobContext> = {}): Promise<JobResult> {
  const { sandbox: box, pool } = sandbox();
  installed ??= readMarker(verifiedRootfs(config.dataDir, config.languages)).languages;
  return pool.withSlot((slot) => runJob({ sandbox: box, slot, companion: pool.companion(slot), installed, table: config.limits, ...context }, request));
}

/** Runs a shell script in the sandbox (/box writable). */
export async function sh(script: string, limits: RequestedLimits = {}, stdin?: string): Promise<RunResult> {
  const result = await job({ command: ['/bin/sh', '-c', script], limits, stdin: stdin === undefined ? undefined : Buffer.from(stdin) });
  return result.run!;
}

/** Compiles and runs a C program; fails the test when it does not compile. */
export async function c(source: string, limits: RequestedLimits = {}, args: string[] = []): Promise<RunResult> {
  const result = await job({ language: 'c', files: [{ path: 'main.c', content: Buffer.from(source) }], limits, args });
  if (result.compile?.status !== 'ok') throw new Error(`compile failed: ${JSON.stringify(result.compile)}`);
  return result.run!;
}

export async function python(source: string, limits: RequestedLimits = {}, stdin?: string): Promise<RunResult> {
  const result = await job({
    language: 'python3',
    files: [{ path: 'main.py', content: Buffer.from(source) }],
    limits,
    stdin: stdin === undefined ? undefined : Buffer.from(stdin),
  });
  return result.run!;
}

export const MiB = 1024 * 1024;

/**
 * Host pids in runcell's run cgroups (under RUNCELL_CGROUP_PARENT), as the
 * kernel reports them in /proc/<pid>/cgroup: independent of the cgroup driver.
 */
export function pidsInRunCgroups(): number[] {
  // Anywhere in the path: under a systemd unit with Delegate=yes (cgroup v2) runcell's parent is below the unit's cgroup.
  const marker = `/${config.cgroupParent}/slot-`;
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(marker);
      } catch {
        return false; // exited meanwhile
      }
    });
}
