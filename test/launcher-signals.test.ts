/**
 * A stop signal sent to runcell's process group (a terminal's Ctrl-C, systemd's stop) while a run's launcher
 * is being spawned: glibc's posix_spawn gives the child its own session only after the clone, so such a signal
 * can reach it. runcell spawns the launcher with those signals blocked, and runcell-exec discards what is
 * pending before it unblocks them. Before, the launcher died of it ("bubblewrap exited with SIGINT") and a job
 * that serve should have handed back to the queue failed instead (seen in test/stopping.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureHelper } from '../sandbox/helper.js';
import { config } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'runcell-launcher-signals-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Execs runcell-exec launch with `signals` blocked and already pending, as the spawn race leaves them. */
function launchWithPending(signals: string[]): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const helper = ensureHelper(config.dataDir);
  // launch writes its pid into each "procs file"; a plain file stands in for the run's cgroup here.
  const procs = join(dir, `procs-${signals.join('-')}`);
  writeFileSync(procs, '');
  const wrapper = [
    'import os, signal, sys',
    `wanted = {${signals.map((s) => `signal.${s}`).join(', ')}}`,
    'signal.pthread_sigmask(signal.SIG_BLOCK, wanted)',
    'for s in wanted: os.kill(os.getpid(), s)',
    'assert wanted <= signal.sigpending()',
    'os.execv(sys.argv[1], sys.argv[1:])',
  ].join('\n');
  const result = spawnSync('python3', ['-c', wrapper, helper.path, 'launch', '65534', '65534', procs, '--', '/bin/echo', 'launched'], { encoding: 'utf8' });
  expect(readFileSync(procs, 'utf8')).toMatch(/^\d+\n$/);
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

describe('the launcher and signals to runcell\'s process group', () => {
  it.each([['SIGINT'], ['SIGTERM'], ['SIGHUP', 'SIGQUIT'], ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']])('discards a pending %s and launches', (...signals: string[]) => {
    const result = launchWithPending(signals);
    expect(result, result.stderr).toMatchObject({ status: 0, signal: null, stdout: 'launched\n' });
  });
});
