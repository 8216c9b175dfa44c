/**
 * Host-side file safety: a job plants symlinks (to host files and
 * directories), hard links, FIFOs, sockets and device nodes in its
 * workspace; the worker (root on the host) writes into, reads back from,
 * sweeps and removes that workspace and never follows any of them
 * (Judge0's CVE-2024-28185 and -28189).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveLimits } from '../sandbox/limits.js';
import { openBeneath, readTreeBeneath, TreeLimitError, UnsafePathError, withRoot } from '../sandbox/safe-fs.js';
import type { Slot } from '../sandbox/slots.js';
import { sweepSlot } from '../sandbox/sweep.js';
import type { Workspace } from '../sandbox/workspace.js';
import { verifiedRootfs } from '../rootfs/build.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { config, sandbox } from './helpers.js';

/** A host directory the job's links point at; nothing may change in it. */
let host: string;
const HOST_SECRET = 'host secret\n';

beforeAll(() => {
  host = mkdtempSync(join(tmpdir(), 'runcell-file-safety-'));
  writeFileSync(join(host, 'secret'), HOST_SECRET, { mode: 0o600 });
});

afterAll(() => rmSync(host, { recursive: true, force: true }));

function hostUnchanged(): void {
  expect(readdirSync(host).sort()).toEqual(['secret']);
  expect(readFileSync(join(host, 'secret'), 'utf8')).toBe(HOST_SECRET);
  expect(statSync(join(host, 'secret')).mode & 0o777).toBe(0o600);
}

/** What a hostile job leaves in /box (it runs as the job's uid, writable /box). */
function plantScript(): string {
  return [
    'cd /box',
    'echo hello > a.txt',
    'mkdir -p dir/deeper && echo inner > dir/deeper/b.txt',
    `ln -s ${host}/secret link-to-host-file`,
    `ln -s ${host} link-to-host-dir`,
    'ln -s / link-to-root',
    'ln -s ../../../../../../.. dir/climb',
    'ln a.txt hard-link-to-a',
    'mkfifo fifo',
    'python3 -c "import socket; socket.socket(socket.AF_UNIX).bind(\'/box/sock\')"',
    'printf "\\377name" | xargs -0 touch',
    // A hard link to a file outside /box fails: another mount.
    'ln /etc/hostname stolen 2>&1 || echo no-cross-mount-link',
    'echo planted',
  ].join('\n');
}

async function withPlantedWorkspace(work: (workspace: Workspace, slot: Slot) => Promise<void> | void, remove = true): Promise<void> {
  const { sandbox: box, pool } = sandbox();
  await pool.withSlot(async (slot) => {
    const workspace = await box.createWorkspace(slot, 16 * 1024 * 1024);
    try {
      const result = await box.run({ slot, workspace, boxWritable: true, argv: ['/bin/sh', '-c', plantScript()], limits: resolveLimits({}) });
      expect(result.stdout).toContain('no-cross-mount-link');
      expect(result.stdout).toContain('planted');
      // A device node cannot be made by the job (no CAP_MKNOD): plant one as root, the worst case.
      execFileSync('mknod', [join(workspace.boxPath, 'device'), 'c', '1', '3']);
      await work(workspace, slot);
    } finally {
      if (remove) await workspace.remove();
    }
  });
}

describe('file safety', () => {
  it('readTreeBeneath reads only regular files and lists everything else as rejected', async () => {
    await withPlantedWorkspace((workspace) => {
      const tree = readTreeBeneath(workspace.boxPath, { maxBytes: 1024 * 1024, maxFiles: 100 });
      expect(tree.files.map((f) => [f.path, f.content.toString()])).toEqual([['dir/deeper/b.txt', 'inner\n']]);
      expect(tree.directories).toEqual(['dir', 'dir/deeper']);
      const rejected = Object.fromEntries(tree.rejected.map((r) => [r.path, r.kind]));
      expect(rejected).toEqual({
        'a.txt': 'hard link', // two names now: refused, like its twin
        'hard-link-to-a': 'hard link',
        'link-to-host-file': 'symlink',
        'link-to-host-dir': 'symlink',
        'link-to-root': 'symlink',
        'dir/climb': 'symlink',
        fifo: 'fifo',
        sock: 'unopenable',
        device: 'unopenable', // nodev mount: open refuses it before anything happens
        '\ufffdname': 'name',
      });
      // No host content came back through any entry.
      for (const file of tree.files) expect(file.content.toString()).not.toContain('host secret');
    });
    hostUnchanged();
  });

  it('openBeneath (under every read and write) refuses links and escapes; readTreeBeneath caps bytes, entries and depth', async () => {
    await withPlantedWorkspace(async (workspace, slot) => {
      const refusal = (path: string) =>
        withRoot(workspace.boxPath, (rootFd) => {
          try {
            closeSync(openBeneath(rootFd, path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW));
            return 'opened';
          } catch (error) {
            expect(error).toBeInstanceOf(UnsafePathError);
            return (error as UnsafePathError).code ?? (error as Error).message;
          }
        });
      expect(refusal('dir/deeper/b.txt')).toBe('opened');
      expect(refusal('link-to-host-file')).toBe('ELOOP');
      expect(refusal('link-to-host-dir/secret')).toBe('ELOOP');
      expect(refusal('link-to-root/etc/shadow')).toBe('ELOOP');
      expect(refusal('dir/climb')).toBe('ELOOP');
      expect(refusal('../../../../etc/shadow')).toBe('EXDEV');
      expect(refusal('dir/../../box/a.txt')).toBe('EXDEV');
      expect(refusal('device')).toBe('EACCES');

      // Caps: a tree past maxBytes, maxFiles or maxDepth.
      const big = await sandbox().sandbox.run({ slot, workspace, boxWritable: true, argv: ['/bin/sh', '-c', 'head -c 4096 /dev/zero > /box/big'], limits: resolveLimits({}) });
      expect(big.status).toBe('ok');
      expect(readTreeBeneath(workspace.boxPath, { maxBytes: 8192 }).files.map((f) => f.path)).toContain('big');
      expect(() => readTreeBeneath(workspace.boxPath, { maxBytes: 4000 })).toThrow(TreeLimitError);
      expect(() => readTreeBeneath(workspace.boxPath, { maxFiles: 5 })).toThrow(/more than 5 entries/);
      expect(() => readTreeBeneath(workspace.boxPath, { maxDepth: 1 })).toThrow(/nested deeper than 1/);
    });
    hostUnchanged();
  });

  it('writeFiles after a run never writes through a planted link or over a planted file', async () => {
    await withPlantedWorkspace((workspace) => {
      const write = (path: string) => () => workspace.writeFiles([{ path, content: Buffer.from('pwned\n') }]);
      expect(write('link-to-host-dir/new')).toThrow(/ELOOP|ENOTDIR/);
      expect(write('link-to-host-file')).toThrow(/EEXIST|ELOOP/);
      expect(write('link-to-root/tmp/new')).toThrow(/ELOOP|ENOTDIR/);
      expect(write('fifo/x')).toThrow(/ENOTDIR|ELOOP/);
      expect(write('fifo')).toThrow(/EEXIST/);
      expect(write('dir/climb/x')).toThrow(/ELOOP|ENOTDIR/);
      expect(write('a.txt')).toThrow(/EEXIST/);
      expect(readFileSync(join(workspace.boxPath, 'dir/deeper/b.txt'), 'utf8')).toBe('inner\n');
      // A fresh name beside them is fine.
      workspace.writeFiles([{ path: 'dir/new/ok.txt', content: Buffer.from('fine\n') }]);
      expect(readFileSync(join(workspace.boxPath, 'dir/new/ok.txt'), 'utf8')).toBe('fine\n');
    });
    hostUnchanged();
    expect(existsSync('/tmp/new')).toBe(false);
  });

  it('removing the workspace follows no link: the host targets survive, nothing is left mounted', async () => {
    let root = '';
    await withPlantedWorkspace((workspace) => {
      root = workspace.root;
    });
    expect(existsSync(root)).toBe(false);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(root);
    hostUnchanged();
  });

  it('sweeping a dead worker\'s planted workspace follows no link either', async () => {
    let root = '';
    let slotIndex = -1;
    await withPlantedWorkspace((workspace, slot) => {
      root = workspace.root;
      slotIndex = slot.index;
    }, false);
    expect(existsSync(join(root, 'box', 'link-to-host-dir'))).toBe(true);
    const { sandbox: box, pool } = sandbox();
    const slot = pool.tryAcquire(slotIndex);
    expect(slot).toBeDefined();
    try {
      const report = await sweepSlot({ cgroups: box.cgroups, dataDir: box.dataDir, slot: slotIndex });
      expect(report.problems).toEqual([]);
      expect(report.workspaces).toContain(root.split('/').pop());
    } finally {
      pool.release(slot!);
    }
    expect(existsSync(root)).toBe(false);
    hostUnchanged();
  });
});

describe('the data directory', () => {
  it('with a symlink in its path is refused when the sandbox starts, saying to give the real path', () => {
    const real = mkdtempSync(join(tmpdir(), 'runcell-real-data-'));
    const link = `${real}-link`;
    symlinkSync(real, link);
    try {
      expect(() => Sandbox.create({ dataDir: join(link, 'data'), cgroupParent: config.cgroupParent, rootfs: verifiedRootfs(config.dataDir, config.languages) })).toThrow(
        /has a symlink in its path: set RUNCELL_DATA_DIR to the real path/,
      );
    } finally {
      rmSync(link);
      rmSync(real, { recursive: true, force: true });
    }
  });
});
