/**
 * runcell-exec launch detaches, from its view's mount namespace, the host's overlay mounts no run needs
 * (bubblewrap parses the mount table once per bind, and every overlay's layer list is formatted at every
 * read: docs/performance.md). It keeps an overlay that holds one of bubblewrap's bind sources, and
 * changes nothing on the host. The launcher is run directly, its namespace read from the host while the
 * job sleeps.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifiedRootfs } from '../rootfs/build.js';
import { ensureHelper, HELPER_NAME } from '../sandbox/helper.js';
import { filesystemArgs, HELPER_DIR, viewOptions } from '../sandbox/mount.js';
import { namespaceArgs } from '../sandbox/namespaces.js';
import { config } from './helpers.js';

const UID = 65534;
const dir = mkdtempSync(join(config.dataDir, 'view-overlays-'));
const unneeded = join(dir, 'unneeded');
const holder = join(dir, 'holder');

/** A read-only overlay of `lower` (and an empty layer) on `target`. */
function overlay(lower: string, target: string) {
  mkdirSync(target);
  const empty = mkdtempSync(join(dir, 'empty-'));
  const result = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${lower}:${empty}`, target], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`mount overlay on ${target}: ${result.stderr}`);
}

beforeAll(() => {
  chmodSync(dir, 0o755);
  const lower = join(dir, 'lower');
  for (const sub of ['box', 'tmp']) {
    mkdirSync(join(lower, sub), { recursive: true });
    chownSync(join(lower, sub), UID, UID);
  }
  overlay(lower, unneeded);
  overlay(lower, holder);
});

afterAll(() => {
  for (const target of [holder, unneeded]) spawnSync('umount', [target]);
  rmSync(dir, { recursive: true, force: true });
});

const overlaysOf = (pid: number | string) =>
  readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').filter((line) => line.includes(' - overlay ')).map((line) => line.split(' ')[4]);

/** Starts a sleeping job whose box and /tmp come from inside `holder`; returns the overlays of the launcher's namespace. */
async function viewOverlays(extra: string[]): Promise<string[]> {
  const helper = ensureHelper(config.dataDir);
  const rootfs = verifiedRootfs(config.dataDir, config.languages);
  const view = join(config.dataDir, 'view');
  const bwrap = [
    '/usr/bin/bwrap', ...namespaceArgs(),
    ...filesystemArgs({ view, box: { source: join(holder, 'box'), writable: false }, tmp: join(holder, 'tmp') }),
    '--chdir', '/box', '--as-pid-1', '--', `${HELPER_DIR}/${HELPER_NAME}`, 'init', '--', '/bin/sleep', '3',
  ];
  const procs = join(dir, `procs-${extra.length}`);
  spawnSync('touch', [procs]);
  const launcher = spawn(helper.path, ['launch', String(UID), String(UID), ...viewOptions(view, rootfs, helper.dir), ...extra, procs, '--', ...bwrap], { stdio: 'ignore' });
  const exited = new Promise((resolve) => launcher.on('exit', resolve));
  const viewDir = (line: string) => line.startsWith(`${view}/`);
  let seen: string[] = [];
  for (let i = 0; i < 100 && !seen.some(viewDir); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    seen = overlaysOf(launcher.pid as number);
  }
  // The view is built before bubblewrap starts; the detaches follow it at once: read again once bubblewrap runs.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  seen = overlaysOf(launcher.pid as number);
  await exited;
  return seen;
}

describe("the view's namespace and the host's overlays", () => {
  it('detaches an overlay no one needs, keeps the one holding a bind source, and leaves the host as it was', async () => {
    const seen = await viewOverlays([]);
    expect(seen).not.toContain(unneeded);
    expect(seen).toContain(holder);
    expect(seen).toEqual(expect.arrayContaining([join(config.dataDir, 'view', 'root'), join(config.dataDir, 'view', 'helper')]));
    expect(overlaysOf('self')).toEqual(expect.arrayContaining([unneeded, holder]));
  });

  it('keeps them all with --host-overlays=keep (the benchmark\'s "before")', async () => {
    const seen = await viewOverlays(['--host-overlays=keep']);
    expect(seen).toEqual(expect.arrayContaining([unneeded, holder]));
  });

  it('refuses --host-overlays with any other value', () => {
    const helper = ensureHelper(config.dataDir);
    const rootfs = verifiedRootfs(config.dataDir, config.languages);
    const result = spawnSync(helper.path, ['launch', String(UID), String(UID), ...viewOptions(join(config.dataDir, 'view'), rootfs, helper.dir), '--host-overlays=drop', '/dev/null', '--', '/bin/true'], { encoding: 'utf8' });
    expect(result.stderr).toMatch(/--host-overlays=keep/);
    expect(result.status).toBe(125);
  });
});
