/**
 * Adversarial suite, what jobs leave and share (docs/threats.md lines 26-30):
 * the read-only root, the host's settings, core dumps, and pairs of jobs,
 * one after the other or side by side, each trying to reach the other.
 */
import { describe, expect, it } from 'vitest';
import { job } from '../helpers.js';
import type { JobRequest } from '../../worker/job.js';
import { expectHostUnaffected, probeLines, runProgramAttack } from './attack.js';
import { CONCURRENT, FILESYSTEM_ATTACKS, hostSettings, LEAVE_BEHIND } from './attacks/filesystem.js';
import { JOB_SCENARIOS } from './attacks/scenarios.js';

const shell = (script: string, limits = {}): JobRequest => ({ command: ['/bin/sh', '-c', script], limits });
const cJob = (source: string): JobRequest => ({ language: 'c', files: [{ path: 'main.c', content: Buffer.from(source) }] });
const pyJob = (source: string, limits = {}): JobRequest => ({ language: 'python3', files: [{ path: 'main.py', content: Buffer.from(source) }], limits });
const title = (s: { id: string; does: string }) => `${s.id}: ${s.does}`;

describe('the filesystem and the host settings', () => {
  for (const attack of FILESYSTEM_ATTACKS) {
    it(`${attack.id}: ${attack.does}`, async () => {
      const before = hostSettings();
      await runProgramAttack(attack);
      expect(hostSettings()).toEqual(before);
    });
  }
});

describe('each job starts from nothing (line 26)', () => {
  it(title(JOB_SCENARIOS.leftFiles), async () => {
    expect((await job(shell(LEAVE_BEHIND.files))).run).toMatchObject({ status: 'ok', stdout: 'left\n' });
    const look = (await job(shell(LEAVE_BEHIND.filesLook))).run!;
    // Empty /tmp, /box and /dev/shm: only the listing headers, and no secret.
    expect(look.stdout).toBe('/box:\n\n/dev/shm:\n\n/tmp:\n0\n');
    await expectHostUnaffected(JOB_SCENARIOS.leftFiles.id);
  });

  it(title(JOB_SCENARIOS.leftIpc), async () => {
    const left = await job(cJob(LEAVE_BEHIND.ipc));
    expect(left.run).toMatchObject({ status: 'ok', stdout: 'left 1 1 1\n' });
    const look = (await job(cJob(LEAVE_BEHIND.ipcLook))).run!;
    expect(look.status).toBe('ok');
    expect(probeLines(look.stdout)).toEqual({ shm: 'ENOENT', msg: 'ENOENT', posix_shm: 'ENOENT', sysvipc_rows: '0' });
    await expectHostUnaffected(JOB_SCENARIOS.leftIpc.id);
  });

  it(title(JOB_SCENARIOS.leftProcesses), async () => {
    const left = (await job(pyJob(LEAVE_BEHIND.processes))).run!;
    expect(left.status).toBe('ok');
    expect(left.stdout).toMatch(/^left \d+/);
    const look = (await job(pyJob(LEAVE_BEHIND.processesLook))).run!;
    expect(look.status).toBe('ok');
    const probe = probeLines(look.stdout);
    // runcell-exec (pid 1) and python: nothing else.
    expect(probe.processes).toMatch(/^2 /);
    expect(probe.socket).toBe('111'); // ECONNREFUSED
    await expectHostUnaffected(JOB_SCENARIOS.leftProcesses.id);
  });
});

describe('jobs side by side cannot reach each other (line 27)', () => {
  it(title(JOB_SCENARIOS.concurrentProcesses), async () => {
    const victim = job(shell(CONCURRENT.victimAlive));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const hunter = (await job(shell(CONCURRENT.hunter))).run!;
    expect(hunter.status).toBe('ok');
    const probe = probeLines(hunter.stdout);
    expect(probe.victims_seen).toBe('0');
    expect(probe.hunter).toBe('survived');
    // The victim was not killed and its file is intact.
    expect((await victim).run).toMatchObject({ status: 'ok', stdout: 'private\n' });
    await expectHostUnaffected(JOB_SCENARIOS.concurrentProcesses.id);
  });

  it(title(JOB_SCENARIOS.concurrentFiles), async () => {
    const victim = job(shell(CONCURRENT.victim, { wall_ms: 5000 }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const hunter = (await job(shell(CONCURRENT.hunter))).run!;
    const probe = probeLines(hunter.stdout);
    expect(probe).toMatchObject({ victim_files: '0', via_proc: '0', victims_seen: '0' });
    // pid 1, the hunter's shell, ls and wc: nothing of the victim.
    expect(Number(probe.process_count)).toBeLessThan(8);
    expect((await victim).run).toMatchObject({ status: 'ok' });
    await expectHostUnaffected(JOB_SCENARIOS.concurrentFiles.id);
  });
});
