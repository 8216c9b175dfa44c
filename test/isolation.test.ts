/**
 * Isolation: what a job can see and do, checked from inside real sandboxes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import koffi from 'koffi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../sandbox/cgroup-driver.js';
import { loadLibc } from '../sandbox/libc.js';
import { c, config, job, pidsInRunCgroups, sandbox, sh, waitScale } from './helpers.js';
import { startApi, waitFor, type TestApi } from './service-helpers.js';

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
    // Long enough to be seen running, also where a sandbox takes seconds to start (emulation: waitScale).
    const running = sh(`sleep ${3 * waitScale}`, { wall_ms: Math.min(10_000 * waitScale, 120_000) });
    let pids: number[] = [];
    await waitUntil(() => {
      pids = sandbox().sandbox.cgroups.list().length === 1 ? pidsInRunCgroups() : [];
      return pids.length >= 3;
    }, 5000 * waitScale);
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

  it('passes exactly fds 0, 1 and 2, even when the worker holds fds without close-on-exec', async () => {
    // F_DUPFD (not F_DUPFD_CLOEXEC): copies an exec would keep, one just above 2 and one far up.
    const F_DUPFD = 0;
    const originals = [openSync('/etc/hostname', 'r'), openSync(config.dataDir, 'r')];
    const inheritable = [loadLibc().fcntl(originals[0], F_DUPFD, 3), loadLibc().fcntl(originals[1], F_DUPFD, 200)];
    for (const fd of inheritable) expect(fd).toBeGreaterThanOrEqual(3);
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
    try {
      const result = await c(source);
      expect(result.stdout.trim().split('\n')).toEqual(['0 1 2', '3']);
    } finally {
      for (const fd of [...inheritable, ...originals]) closeSync(fd);
    }
  });

  it('gets only its own environment plus PATH, HOME and LANG', async () => {
    process.env.RUNCELL_TEST_SECRET = 'do-not-leak';
    try {
      const names = (stdout: string) =>
        stdout
          .trim()
          .split('\n')
          .map((line) => line.split('=')[0])
          .filter((name) => name !== 'PWD' && name !== 'SHLVL' && name !== '_')
          .sort();
      const result = await sh('env | sort');
      expect(names(result.stdout)).toEqual(['HOME', 'LANG', 'PATH']);
      expect(result.stdout).not.toContain('do-not-leak');
      // What the job asks for is added; the fixed variables win over it.
      const asked = (await job({ command: ['/usr/bin/env'], env: { GREETING: 'hi', PATH: '/evil' } })).run!;
      expect(names(asked.stdout)).toEqual(['GREETING', 'HOME', 'LANG', 'PATH']);
      expect(asked.stdout).toContain('GREETING=hi\n');
      expect(asked.stdout).toContain('PATH=/usr/local/bin:/usr/bin:/bin\n');
      expect(asked.stdout).not.toContain('do-not-leak');
    } finally {
      delete process.env.RUNCELL_TEST_SECRET;
    }
  });

  it('resolves no host name (no DNS; host services: see below)', async () => {
    const result = await sh('getent hosts deb.debian.org || echo no-dns');
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

/** The worker's own state, made as leaky as possible in this (the worker's) process before a run. */
describe('nothing of the worker reaches a job', () => {
  const libc = koffi.load('libc.so.6');
  const sigignore = libc.func('int sigignore(int sig)');
  const signal = libc.func('void *signal(int sig, void *handler)');
  const sigprocmask = libc.func('int pthread_sigmask(int how, void *set, void *old)');
  const sigaddset = libc.func('int sigaddset(void *set, int sig)');
  const SIGHUP = 1;
  const SIGUSR1 = 10;
  const SIGUSR2 = 12;
  const SIG_BLOCK = 0;
  const SIG_UNBLOCK = 1;

  const statusProbe = `
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
int main(void) {
  char line[256];
  FILE *status = fopen("/proc/self/status", "r");
  while (fgets(line, sizeof line, status)) if (strncmp(line, "Sig", 3) == 0 || strncmp(line, "ShdPnd", 6) == 0) fputs(line, stdout);
  FILE *stat = fopen("/proc/self/stat", "r");
  int pid, ppid, pgrp, session, tty; char comm[64], state;
  fscanf(stat, "%d %63s %c %d %d %d %d", &pid, comm, &state, &ppid, &pgrp, &session, &tty);
  printf("tty_nr %d\\n", tty);
  int fd = open("/dev/tty", O_RDWR);
  printf("dev_tty %s\\n", fd < 0 ? strerror(errno) : "opened");
  pid_t group;
  printf("tiocgpgrp %s\\n", ioctl(0, TIOCGPGRP, &group) < 0 ? strerror(errno) : "a terminal");
  printf("isatty %d %d %d\\n", isatty(0), isatty(1), isatty(2));
  return 0;
}`;

  it('no ignored, blocked or caught signal, no terminal', async () => {
    // Node already ignores SIGPIPE (process-wide, and exec keeps SIG_IGN): the classic leak.
    const mine = readFileSync('/proc/self/status', 'utf8');
    expect(BigInt(`0x${/^SigIgn:\s+([0-9a-f]+)/m.exec(mine)![1]}`) & (1n << 12n)).not.toBe(0n);
    sigignore(SIGHUP);
    sigignore(SIGUSR2);
    const set = Buffer.alloc(128);
    sigaddset(set, SIGUSR1);
    sigprocmask(SIG_BLOCK, set, null);
    try {
      const result = await c(statusProbe);
      expect(result.status).toBe('ok');
      for (const field of ['SigPnd', 'ShdPnd', 'SigBlk', 'SigIgn', 'SigCgt']) {
        expect(result.stdout).toMatch(new RegExp(`^${field}:\\s+0000000000000000$`, 'm'));
      }
      expect(result.stdout).toContain('tty_nr 0\n');
      expect(result.stdout).toMatch(/^dev_tty No such file or directory$/m);
      expect(result.stdout).toMatch(/^tiocgpgrp Inappropriate ioctl for device$/m);
      expect(result.stdout).toContain('isatty 0 0 0\n');
    } finally {
      sigprocmask(SIG_UNBLOCK, set, null);
      signal(SIGHUP, null);
      signal(SIGUSR2, null);
    }
  });
});

/** Services on the host, reachable from this test process, and what a job gets when it tries them. */
describe('no host service is reachable from a job', () => {
  let redis: ChildProcess;
  let redisPort = 0;
  let api: TestApi;
  let anyAddress: Server;
  let abstract: Server;
  const abstractName = `\0runcell-test-${process.pid}-${Date.now()}`;
  const hostAddress = Object.values(networkInterfaces())
    .flat()
    .find((address) => address && address.family === 'IPv4' && !address.internal)?.address;

  beforeAll(async () => {
    redisPort = await freePort();
    redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitFor(() => canConnect({ host: '127.0.0.1', port: redisPort }), 5000, 'redis-server');
    api = await startApi(`redis://127.0.0.1:${redisPort}`);
    // Something listening on every address, like a metrics port.
    anyAddress = createServer((socket) => socket.on('error', () => undefined).end('metrics\n')).listen(0, '0.0.0.0');
    abstract = createServer((socket) => socket.on('error', () => undefined).end('daemon\n')).listen(abstractName);
    await Promise.all([once(anyAddress, 'listening'), once(abstract, 'listening')]);
  });

  afterAll(async () => {
    await api?.close();
    anyAddress?.close();
    abstract?.close();
    redis?.kill('SIGKILL');
  });

  it('Redis, the API, a port on every address, the host address, an abstract unix socket: all answer the host, none the job', async () => {
    const apiPort = Number(new URL(api.url).port);
    const metricsPort = (anyAddress.address() as AddressInfo).port;
    const targets: Record<string, { host?: string; port?: number; path?: string }> = {
      redis: { host: '127.0.0.1', port: redisPort },
      api: { host: '127.0.0.1', port: apiPort },
      metrics_loopback: { host: '127.0.0.1', port: metricsPort },
      abstract_unix: { path: abstractName },
    };
    if (hostAddress) {
      targets.metrics_host_address = { host: hostAddress, port: metricsPort };
      targets.api_host_address = { host: hostAddress, port: apiPort };
    }
    // The control: from the host, every one of them answers.
    for (const [name, target] of Object.entries(targets)) {
      if (name === 'api_host_address') continue; // the API listens on 127.0.0.1 only
      expect({ name, reachable: await canConnect(target) }).toEqual({ name, reachable: true });
    }
    const script = `
import socket
targets = ${JSON.stringify(targets)}
for name, t in sorted(targets.items()):
    try:
        if 'path' in t:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(2)
            s.connect(t['path'])  # JSON's \\u0000 is Python's NUL: an abstract name
        else:
            s = socket.create_connection((t['host'], t['port']), timeout=2)
        print(name, 'CONNECTED', s.recv(16))
    except OSError as e:
        print(name, type(e).__name__, e.errno)
`;
    const result = await job({ language: 'python3', files: [{ path: 'main.py', content: Buffer.from(script) }] });
    expect(result.run?.status).toBe('ok');
    const lines = result.run!.stdout.trim().split('\n');
    expect(lines).toHaveLength(Object.keys(targets).length);
    expect(result.run!.stdout).not.toContain('CONNECTED');
    // TCP: no socket at all in the standard profile (a connection nobody accepts is charged to no cgroup);
    // the abstract socket: not found in the job's network namespace.
    expect(result.run!.stdout).toMatch(/^redis PermissionError 1$/m);
    expect(result.run!.stdout).toMatch(/^api PermissionError 1$/m);
    expect(result.run!.stdout).toMatch(/^abstract_unix ConnectionRefusedError 111$/m);
    if (hostAddress) expect(result.run!.stdout).toMatch(/^metrics_host_address PermissionError 1$/m);
  });

  it('the judge profile cannot even open a socket to try', async () => {
    const script = `import socket\ntry:\n    socket.create_connection(('127.0.0.1', ${redisPort}), timeout=2)\nexcept OSError as e:\n    print(type(e).__name__, e.errno)`;
    const result = await job({ language: 'python3', files: [{ path: 'main.py', content: Buffer.from(script) }], seccomp_profile: 'judge' });
    expect(result.run?.stdout).toBe('PermissionError 1\n');
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function canConnect(target: { host?: string; port?: number; path?: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = target.path ? connect({ path: target.path }) : connect({ host: target.host!, port: target.port! });
    socket.setTimeout(2000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
