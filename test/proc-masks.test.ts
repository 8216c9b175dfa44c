/**
 * runcell-exec launch mounts the /proc masks itself, in the sandbox's mount namespace, while init waits
 * between its ready and go bytes (runcell-exec.c, mask_proc). Fail closed: a mask that cannot be mounted
 * kills the run before the job starts, and the launcher refuses masks when bubblewrap's argv would not make
 * init wait for them. The launcher is run directly here, with a mask list the sandbox would never give it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifiedRootfs } from '../rootfs/build.js';
import { ensureHelper, HELPER_NAME } from '../sandbox/helper.js';
import { filesystemArgs, HELPER_DIR, viewOptions } from '../sandbox/mount.js';
import { namespaceArgs } from '../sandbox/namespaces.js';
import { GO_FD, INFO_FD, READY_FD } from '../sandbox/process.js';
import { config } from './helpers.js';

const UID = 65534;
const dir = mkdtempSync(join(tmpdir(), 'runcell-proc-masks-'));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `script` in a sandbox whose launcher is given `maskOptions`; `handshake` false leaves init's ready/go options out. */
function launch(maskOptions: string[], script: string, handshake = true) {
  const helper = ensureHelper(config.dataDir);
  const rootfs = verifiedRootfs(config.dataDir, config.languages);
  const view = join(config.dataDir, 'view');
  const run = mkdtempSync(join(dir, 'run-'));
  chmodSync(run, 0o755);
  for (const sub of ['box', 'tmp']) {
    mkdirSync(join(run, sub));
    chownSync(join(run, sub), UID, UID);
  }
  // launch writes its pid into each "procs file"; a plain file stands in for the run's cgroup.
  const procs = join(run, 'procs');
  writeFileSync(procs, '');
  const bwrap = [
    '/usr/bin/bwrap', ...namespaceArgs(),
    ...filesystemArgs({ view, box: { source: join(run, 'box'), writable: true }, tmp: join(run, 'tmp') }),
    '--chdir', '/box', '--info-fd', String(INFO_FD), '--as-pid-1', '--',
    `${HELPER_DIR}/${HELPER_NAME}`, 'init', ...(handshake ? [`--ready-fd=${READY_FD}`, `--go-fd=${GO_FD}`] : []), '--',
    '/bin/sh', '-c', script,
  ];
  const args = ['launch', String(UID), String(UID), ...viewOptions(view, rootfs, helper.dir), ...maskOptions, procs, '--', ...bwrap];
  return spawnSync(helper.path, args, { encoding: 'utf8', timeout: 20_000 });
}

describe('/proc masks mounted by the launcher', () => {
  it('masks what it is given before the job starts (the control for the failures below)', () => {
    const result = launch(['--mask-files=kmsg,loadavg', '--mask-dirs=bus'], 'cat /proc/loadavg; ls -A /proc/bus | wc -l; echo job-ran');
    expect(result.stdout, result.stderr).toBe('0\njob-ran\n');
    expect(result.stderr).toMatch(/loadavg: Permission denied/);
    expect(result.status).toBe(0);
  });

  it('a mask it cannot mount: the job never starts', () => {
    const result = launch(['--mask-files=loadavg,no-such-entry'], 'echo job-ran');
    expect(result.stdout).not.toContain('job-ran');
    expect(result.stderr).toMatch(/masking \/proc: file/);
    expect(result.status).not.toBe(0);
  });

  it('a name that is not a /proc entry is refused, not mounted', () => {
    const result = launch(['--mask-dirs=../box'], 'echo job-ran');
    expect(result.stdout).not.toContain('job-ran');
    expect(result.stderr).toMatch(/masking \/proc: directory/);
  });

  it('refuses masks when init would not wait for them', () => {
    const result = launch(['--mask-files=loadavg'], 'echo job-ran', false);
    expect(result.stdout).not.toContain('job-ran');
    expect(result.stderr).toMatch(/needs bubblewrap's --info-fd/);
    expect(result.status).toBe(125);
  });
});
