/**
 * Cleanup: after 200 runs, including runs that hit every limit, nothing of
 * runcell is left on the host: no cgroup, process, mount or workspace.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { config, job, MiB, sandbox, timingAsserted } from './helpers.js';
import type { JobRequest } from '../worker/job.js';

const shell = (script: string, limits = {}): JobRequest => ({ command: ['/bin/sh', '-c', script], limits: slower(limits) });

/**
 * Under emulation (RUNCELL_TEST_NO_TIMING=1) a sandbox's own start-up takes more than 100 ms of
 * CPU and wall time, and would be killed before the program starts: the time limits grow 20-fold.
 */
function slower(limits: { cpu_ms?: number; wall_ms?: number }): { cpu_ms?: number; wall_ms?: number } {
  if (timingAsserted) return limits;
  const scaled = { ...limits };
  if (scaled.cpu_ms !== undefined) scaled.cpu_ms *= 20;
  if (scaled.wall_ms !== undefined) scaled.wall_ms *= 20;
  return scaled;
}

const MIX: JobRequest[] = [
  shell('echo ok'),
  shell('while :; do :; done', { cpu_ms: 100 }),
  shell('sleep 10', { wall_ms: 100 }),
  { language: 'python3', files: [{ path: 'm.py', content: Buffer.from('a = bytearray(64 << 20)') }], limits: { memory_bytes: 16 * MiB } },
  shell(':(){ :|:& };:', { pids: 8, wall_ms: 300 }),
  shell('yes', { output_bytes: 1000 }),
  shell('exit 3'),
  shell('kill -SEGV $$'),
  shell('(setsid sleep 100 &); kill -STOP $$', { wall_ms: 100 }),
  shell('head -c 10000000 /dev/zero > /tmp/f; exec 3>/tmp/x; sleep 100 &', { wall_ms: 200 }),
];

function leftovers() {
  const driver = sandbox().sandbox.cgroups;
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((line) => line.includes(join(config.dataDir, 'work')));
  const workDir = join(config.dataDir, 'work');
  const workspaces = existsSync(workDir) ? readdirSync(workDir) : [];
  // This runcell's bwraps only (its slot uids): other runcells may share the host.
  const bwraps = execFileSync('ps', ['-eo', 'uid=,comm='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([uid, name]) => name === 'bwrap' && Number(uid) >= config.uidBase && Number(uid) < config.uidBase + config.slots)
    .map(([, name]) => name);
  const slotProcesses = execFileSync('ps', ['-eo', 'uid'], { encoding: 'utf8' })
    .split('\n')
    .map(Number)
    .filter((uid) => uid >= config.uidBase && uid < config.uidBase + config.slots);
  return { cgroups: driver.list(), mounts, workspaces, bwraps, slotProcesses };
}

describe('cleanup', () => {
  it('leaves nothing behind after 200 runs that hit every limit', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const result = await job(MIX[i % MIX.length]);
      seen.add(result.run!.status);
      expect(result.run!.status).not.toBe('sandbox_error');
    }
    expect([...seen].sort()).toEqual(['memory_limit', 'nonzero_exit', 'ok', 'output_limit', 'signalled', 'time_limit', 'wall_time_limit']);
    // A run's result comes before its launcher and bubblewrap have been reaped (they exit by
    // themselves once the cgroup is empty): on a loaded host that takes a moment.
    const clean = { cgroups: [], mounts: [], workspaces: [], bwraps: [], slotProcesses: [] };
    for (let waited = 0; waited < 5000 && JSON.stringify(leftovers()) !== JSON.stringify(clean); waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(leftovers()).toEqual(clean);
  }, 600_000);

  it('two runs at once each get their own slot uid and both are cleaned up', async () => {
    const script = 'cat /proc/self/uid_map >/dev/null; stat -c %u /box; sleep 0.3';
    const [a, b] = await Promise.all([job(shell(script)), job(shell(script))]);
    expect(a.run!.status).toBe('ok');
    expect(b.run!.status).toBe('ok');
    expect(leftovers().cgroups).toEqual([]);
  });
});
