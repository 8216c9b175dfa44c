/**
 * Isolation: what a job can see and do, checked from inside real sandboxes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../sandbox/cgroup.js';
import { c, config, sandbox, sh } from './helpers.js';

describe('isolation', () => {
  it('runs in its own PID namespace and sees no host process', async () => {
    const result = await sh('ls /proc | grep -E "^[0-9]+$" | sort -n | tr "\\n" " "; echo; cat /proc/1/comm');
    expect(result.status).toBe('ok');
    const [pids, init] = result.stdout.trim().split('\n');
    // runcell-exec init as pid 1, the shell, ls, grep, sort, tr: all small numbers, nothing else.
    const numbers = pids.trim().split(' ').map(Number);
    expect(Math.max(...numbers)).toBeLessThan(20);
    expect(init).toBe('runcell-exec');
  });

  it('has only the loopback interface', async () => {
    const result = await sh('ls /sys/class/net 2>&1; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "');
    expect(result.stdout.trim().split('\n').filter((line) => !line.includes('No such file'))).toEqual(['lo']);
  });

  it('runs as an unprivileged slot uid on the host', async () => {
    const { sandbox: box } = sandbox();
    const running = sh('sleep 3', { wall_ms: 10_000 });
    let pids: number[] = [];
    await waitUntil(() => {
      const names = box.cgroups.list();
      pids = names.length === 1 ? box.cgroups.pidsOf(names[0]) : [];
      return pids.length >= 3;
    }, 5000);
    const uids = pids.map((pid) => {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      return /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status)!.slice(1).map(Number);
    });
    expect(uids.length).toBeGreaterThanOrEqual(3);
    for (const ids of uids) {
      // real, effective, saved and filesystem uid: all the slot's, none root.
      expect(new Set(ids).size).toBe(1);
      expect(ids[0]).toBeGreaterThanOrEqual(config.uidBase);
      expect(ids[0]).toBeLessThan(config.uidBase + config.slots);
    }
    expect((await running).status).toBe('ok');
  });

  it('is uid 1000 inside, with no capabilities and no_new_privs', async () => {
    const result = await sh('id -u; id -g; grep -E "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):" /proc/self/status');
    expect(result.status).toBe('ok');
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toBe('1000');
    expect(lines[1]).toBe('1000');
    for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
      expect(result.stdout).toMatch(new RegExp(`${cap}:\\s+0000000000000000`));
    }
    expect(result.stdout).toMatch(/NoNewPrivs:\s+1/);
    // Mode 2 = a seccomp filter is active.
    expect(result.stdout).toMatch(/Seccomp:\s+2/);
  });

  it('does not see host paths', async () => {
    const repo = process.cwd();
    const result = await sh(`for p in /root /home /etc/shadow ${repo} ${config.dataDir} /sys /var/lib/runcell /run/redis; do [ -e "$p" ] && ls -A "$p" | head -3 | sed "s|^|$p: |"; done; cat /etc/shadow 2>&1 | head -1; echo end`);
    expect(result.status).toBe('ok');
    // The rootfs has its own /root and /home (empty) and its own /etc/shadow (unreadable to uid 1000).
    expect(result.stdout).not.toContain(repo);
    expect(result.stdout).not.toMatch(/^\/sys/m);
    expect(result.stdout).not.toMatch(/rootfs|work|helper|slots/);
    expect(result.stdout).toMatch(/Permission denied/);
  });

  it('has a read-only root, a writable /box and /tmp, nosuid and nodev everywhere', async () => {
    const result = await sh('touch /usr/x 2>&1; touch /x 2>&1; touch /box/f && echo box-ok; touch /tmp/f && echo tmp-ok; grep -E " / | /box | /tmp " /proc/self/mountinfo');
    expect(result.stdout).toMatch(/'\/usr\/x': Read-only file system/);
    expect(result.stdout).toMatch(/'\/x': Read-only file system/);
    expect(result.stdout).toContain('box-ok');
    expect(result.stdout).toContain('tmp-ok');
    const mounts = result.stdout.split('\n').filter((line) => ['/', '/box', '/tmp'].includes(line.split(' ')[4]));
    expect(mounts).toHaveLength(3);
    for (const mount of mounts) expect(mount).toMatch(/nosuid,nodev/);
    expect(mounts.find((m) => m.split(' ')[4] === '/')).toMatch(/ ro,/);
  });

  it('has a minimal /dev with no tty, no disks, no kmsg', async () => {
    const result = await sh('ls -A /dev | tr "\\n" " "; echo; cat /dev/tty 2>&1; echo x > /dev/kmsg 2>&1; mknod /tmp/n c 1 1 2>&1; echo end');
    const devices = result.stdout.split('\n')[0].trim().split(' ').sort();
    expect(devices).toEqual(['fd', 'full', 'null', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'urandom', 'zero']);
    expect(result.stdout).toMatch(/\/dev\/tty: No such file/);
    expect(result.stdout).toMatch(/mknod.*Operation not permitted/);
  });

  it('passes exactly fds 0, 1 and 2', async () => {
    const source = `
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
int main(void) {
  DIR *dir = opendir("/proc/self/fd");
  struct dirent *entry;
  int count = 0;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] == '.') continue;
    int fd = atoi(entry->d_name);
    if (fd != dirfd(dir)) { printf(count ? " %d" : "%d", fd); count++; }
  }
  printf("\\n%d\\n", count);
  return 0;
}`;
    const result = await c(source);
    expect(result.stdout.trim().split('\n')).toEqual(['0 1 2', '3']);
  });

  it('gets only its own environment plus PATH, HOME and LANG', async () => {
    process.env.RUNCELL_TEST_SECRET = 'do-not-leak';
    const result = await sh('env | sort');
    const names = result.stdout
      .trim()
      .split('\n')
      .map((line) => line.split('=')[0])
      .filter((name) => name !== 'PWD' && name !== 'SHLVL' && name !== '_');
    expect(names.sort()).toEqual(['HOME', 'LANG', 'PATH']);
    expect(result.stdout).not.toContain('do-not-leak');
  });

  it('cannot reach host services on loopback', async () => {
    const result = await sh('python3 -c "import socket; s=socket.socket(); s.settimeout(1); s.connect((\'127.0.0.1\', 6379))" 2>&1 | tail -1; getent hosts deb.debian.org || echo no-dns');
    expect(result.stdout).toMatch(/ConnectionRefused|refused/);
    expect(result.stdout).toContain('no-dns');
  });

  it("cannot look into its supervisor (pid 1): fds, environment, executable", async () => {
    const result = await sh('ls /proc/1/fd 2>&1; cat /proc/1/environ 2>&1; readlink /proc/1/exe 2>&1; kill -9 1; echo alive');
    expect(result.stdout).toMatch(/\/proc\/1\/fd': Permission denied/);
    expect(result.stdout).toMatch(/\/proc\/1\/environ: Permission denied/);
    expect(result.stdout).not.toMatch(/runcell-exec$/m);
    // Signals from inside a PID namespace do not reach its init: the run goes on and reports normally.
    expect(result.stdout).toMatch(/alive/);
    expect(result.status).toBe('ok');
  });

  it('has its own hostname and cannot change it', async () => {
    const result = await sh('hostname; hostname evil 2>&1; hostname');
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toBe('runcell');
    expect(lines[lines.length - 1]).toBe('runcell');
  });
});
