/**
 * Escapes and leaks: docs/threats.md lines 13-24 (line 14 through a real worker
 * process is in service.test.ts; its in-process variants are here). Probes
 * print "label outcome" lines; each expectation names the outcome.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { expect } from 'vitest';
import { config } from '../../helpers.js';
import { i386SyscallSignal } from '../../host-kernel.js';
import { C_PRELUDE, probeLines, PY_PRELUDE, type AttackContext, type ProgramAttack } from '../attack.js';

export const SENTINEL_CONTENT = 'host secret: the job must never read, change or remove this\n';

/** The host's sentinel file is still there, unchanged (content, mode, owner, links). */
export function sentinelIntact(context: AttackContext): void {
  const path = context.sentinel!;
  expect(readFileSync(path, 'utf8')).toBe(SENTINEL_CONTENT);
  const stat = statSync(path);
  expect({ mode: stat.mode & 0o7777, uid: stat.uid, nlink: stat.nlink }).toEqual({ mode: 0o600, uid: 0, nlink: 1 });
}

/** sha256 of every runcell-exec helper on the host: the runtime a job could try to overwrite. */
export function helperDigests(): string[] {
  const dir = `${config.dataDir}/helper`;
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((entry) => existsSync(`${dir}/${entry}/runcell-exec`))
    .map((entry) => createHash('sha256').update(readFileSync(`${dir}/${entry}/runcell-exec`)).digest('hex'));
}

/** Each label's outcome, checked one by one so that a failure names the label. */
function outcomes(stdout: string, expected: Record<string, string | RegExp>): void {
  const probe = probeLines(stdout);
  for (const [label, outcome] of Object.entries(expected)) {
    expect({ label, outcome: probe[label] }).toEqual({ label, outcome: typeof outcome === 'string' ? outcome : expect.stringMatching(outcome) });
  }
}

const okAnd = (expected: Record<string, string | RegExp>, extra?: (stdout: string) => void) => (run: { status: string; stdout: string }) => {
  expect(run.status).toBe('ok');
  outcomes(run.stdout, expected);
  extra?.(run.stdout);
};

const DENIED = /^(EPERM|EACCES|EROFS)$/;
/** Some kernels have no /proc/kcore or /proc/sysrq-trigger at all. */
const ABSENT_OR_DENIED = /^(ENOENT|EPERM|EACCES|EROFS)$/;
/** Any errno: the call did not succeed. */
const FAILED = /^E[A-Z]+$/;

export const ESCAPE_ATTACKS: ProgramAttack[] = [
  // 13. Read host files -> not visible.
  {
    id: 'L13-sh-host-paths',
    line: 13,
    does: 'lists /root, /home, the repository, the data dir; reads /etc/shadow and /proc/1/environ',
    language: 'sh',
    source: `for p in /root /home ${process.cwd()} ${config.dataDir} /var/lib /work /sys /run; do
  if [ -e "$p" ]; then echo "exists $p $(ls -A "$p" 2>/dev/null | wc -l)"; else echo "absent $p"; fi
done
cat /etc/shadow >/dev/null 2>&1 && echo "shadow readable" || echo "shadow denied"
cat /proc/1/environ >/dev/null 2>&1 && echo "environ1 readable" || echo "environ1 denied"
ls /proc/1/root/ >/dev/null 2>&1 && echo "root1 readable" || echo "root1 denied"`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      const lines = run.stdout.trim().split('\n');
      // The rootfs has its own /root (unreadable), an empty /home and an empty /sys: nothing of the host.
      for (const path of ['/root', '/home', '/sys']) expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^(absent ${path}|exists ${path} 0)$`)));
      for (const path of [process.cwd(), config.dataDir, '/work']) expect(lines).toContain(`absent ${path}`);
      expect(lines).toContain('shadow denied');
      expect(lines).toContain('environ1 denied');
      expect(lines).toContain('root1 denied');
    },
  },
  {
    id: 'L13-c-proc-cwd-and-root',
    line: 13,
    does: 'reads /proc/*/cwd, /proc/*/root and /proc/*/exe of every process it can see',
    language: 'c',
    source: `${C_PRELUDE}
int main(void) {
  DIR *proc = opendir("/proc"); struct dirent *e; int seen = 0, maxpid = 0;
  while ((e = readdir(proc)) != NULL) {
    int pid = atoi(e->d_name); if (pid <= 0) continue;
    seen++; if (pid > maxpid) maxpid = pid;
    const char *links[] = {"cwd", "root", "exe"};
    for (int i = 0; i < 3; i++) {
      char path[64], target[4096]; snprintf(path, sizeof path, "/proc/%d/%s", pid, links[i]);
      ssize_t n = readlink(path, target, sizeof target - 1);
      if (n < 0) continue; target[n] = 0;
      printf("link %s\\n", target);
    }
  }
  printf("seen %d\\nmaxpid %d\\n", seen, maxpid);
  return 0;
}`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      const targets = run.stdout.split('\n').filter((l) => l.startsWith('link ')).map((l) => l.slice(5));
      expect(targets.length).toBeGreaterThan(0);
      // Only the job's own view: /, /box, its own binary. No host path.
      for (const target of targets) expect(target).toMatch(/^(\/|\/box|\/box\/main)$/);
      expect(Number(probeLines(run.stdout).maxpid)).toBeLessThan(20);
    },
  },
  {
    id: 'L13-python-search-for-host-file',
    line: 13,
    does: "walks the whole filesystem for the host's sentinel file, by name and by content",
    language: 'python',
    source: (context) => `import os
name = ${JSON.stringify(context.sentinel!.split('/').pop())}
found = []
for root, dirs, files in os.walk('/'):
    if root == '/' and 'proc' in dirs:
        dirs.remove('proc')
    for f in files:
        if f == name:
            found.append(os.path.join(root, f))
print('found', len(found))
`,
    limits: { cpu_ms: 10_000, wall_ms: 20_000 },
    expect: (run, _result, context) => {
      expect(run).toMatchObject({ status: 'ok', stdout: 'found 0\n' });
      sentinelIntact(context);
    },
  },

  // 14. The worker's environment -> not visible (in-process worker; the worker process is in service.test.ts).
  {
    id: 'L14-sh-environment',
    line: 14,
    does: 'dumps env, /proc/self/environ and every /proc/*/environ, looking for the secret',
    language: 'sh',
    source: 'env; cat /proc/self/environ | tr "\\0" "\\n"; for f in /proc/[0-9]*/environ; do tr "\\0" "\\n" < $f; done 2>/dev/null; echo end',
    expect: (run, _result, context) => {
      expect(run.status).toBe('ok');
      expect(run.stdout).toContain('end');
      expect(run.stdout).not.toContain(context.secret!);
      expect(run.stdout).not.toMatch(/REDIS_URL|RUNCELL_|SECRET/);
    },
  },
  {
    id: 'L14-python-environ',
    line: 14,
    does: 'os.environ, and the auxiliary vector and memory of its own process',
    language: 'python',
    source: `import os
print(sorted(os.environ))
data = open('/proc/self/environ', 'rb').read() + open('/proc/self/cmdline', 'rb').read()
print('environ-bytes', len(data))
print(data.decode('latin1'))
`,
    expect: (run, _result, context) => {
      expect(run.status).toBe('ok');
      expect(run.stdout).not.toContain(context.secret!);
      // bubblewrap adds PWD; nothing else of the worker.
      expect(run.stdout.split('\n')[0]).toBe("['HOME', 'LANG', 'PATH', 'PWD']");
    },
  },

  // 15. Plant a symlink, hard link, FIFO or device node where the worker reads or deletes -> never followed.
  {
    id: 'L15-sh-symlinks-to-host',
    line: 15,
    does: 'plants symlinks to the host sentinel, to / and to itself in /box and /tmp',
    language: 'sh',
    source: (context) => `ln -s ${context.sentinel} /box/main.c; ln -s ${context.sentinel} /tmp/out
ln -s / /box/root; ln -s /box /box/loop; ln -s ../../../../../../.. /box/up; ln -s /proc/1/root /box/init-root
mkdir /box/d && ln -s ${context.sentinel} /box/d/f; echo planted`,
    expect: (run, _result, context) => {
      expect(run).toMatchObject({ status: 'ok', stdout: 'planted\n' });
      sentinelIntact(context);
    },
  },
  {
    id: 'L15-sh-hard-links',
    line: 15,
    does: 'hard links to the runtime, to /etc/passwd and to files of the rootfs',
    language: 'sh',
    source: `ln /usr/lib/runcell/runcell-exec /box/exec 2>/dev/null && echo "helper linked" || echo "helper refused"
ln /etc/passwd /tmp/passwd 2>/dev/null && echo "passwd linked" || echo "passwd refused"
ln /usr/bin/python3 /box/py 2>/dev/null && echo "python linked" || echo "python refused"`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      expect(run.stdout).toBe('helper refused\npasswd refused\npython refused\n');
      expect(helperDigests().length).toBeGreaterThan(0);
    },
  },
  {
    id: 'L15-sh-fifos-and-devices',
    line: 15,
    does: 'FIFOs where output and sources live, and a device node attempt',
    language: 'sh',
    source: `mkfifo /box/stdout /box/main.c /tmp/out && echo fifos made
mknod /box/null c 1 3 2>/dev/null && echo "device made" || echo "device refused"`,
    expect: (run) => {
      expect(run).toMatchObject({ status: 'ok', stdout: 'fifos made\ndevice refused\n' });
      // The job's end did not wait on a FIFO: the duration check of every attack holds it to its wall limit.
    },
  },
  {
    id: 'L15-python-deep-tree-and-locked-dirs',
    line: 15,
    does: 'a 1,000 deep directory tree, a symlink loop, and /box and /tmp made mode 000',
    language: 'python',
    source: `import os
d = '/tmp'
for i in range(1000):
    d = os.path.join(d, 'd')
    os.mkdir(d)
os.symlink('/tmp/loop', '/tmp/loop')
os.chmod('/tmp/d', 0)
os.chmod('/tmp', 0)
print('done')
`,
    expect: (run) => expect(run).toMatchObject({ status: 'ok', stdout: 'done\n' }),
  },
  {
    id: 'L15-sh-box-made-unremovable',
    line: 15,
    does: 'chmod 000 and chattr-like tricks on /box, a file named like the workspace, immutable attempts',
    language: 'sh',
    source: `touch /box/f; chmod 000 /box/f; mkdir -p /box/a/b; chmod 000 /box/a; chmod 000 /box
echo done`,
    expect: (run) => expect(run).toMatchObject({ status: 'ok', stdout: 'done\n' }),
  },

  // 16. File descriptors inherited from the worker -> only 0, 1, 2; no signal disposition inherited either.
  {
    id: 'L16-c-every-fd',
    line: 16,
    does: 'fcntl(F_GETFD) on every fd up to 65535, and the masks of its signals',
    language: 'c',
    source: `${C_PRELUDE}
int main(void) {
  printf("open");
  for (int fd = 0; fd < 65536; fd++) if (fcntl(fd, F_GETFD) != -1) printf(" %d", fd);
  printf("\\n");
  FILE *status = fopen("/proc/self/status", "r"); char line[256];
  while (fgets(line, sizeof line, status)) if (!strncmp(line, "SigBlk", 6) || !strncmp(line, "SigIgn", 6)) { line[6] = ' '; fputs(line, stdout); }
  return 0;
}`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      const probe = probeLines(run.stdout);
      expect(probe.open).toBe('0 1 2');
      expect(probe.SigBlk.trim()).toBe('0000000000000000');
      expect(probe.SigIgn.trim()).toBe('0000000000000000');
    },
  },
  {
    id: 'L16-python-fd-targets',
    line: 16,
    does: 'fstat of fds 3-4095 and where 0, 1 and 2 lead',
    language: 'python',
    source: `import os
extra = []
for fd in range(3, 4096):
    try:
        os.fstat(fd)
        extra.append(fd)
    except OSError:
        pass
print('extra', extra)
for fd in (0, 1, 2):
    print('fd%d' % fd, os.readlink('/proc/self/fd/%d' % fd))
`,
    stdin: 'some input',
    expect: (run) => {
      expect(run.status).toBe('ok');
      const probe = probeLines(run.stdout);
      expect(probe.extra).toBe('[]');
      // stdin is a sealed memfd, stdout and stderr pipes: no socket, no terminal, no host file.
      expect(probe.fd0).toMatch(/^\/memfd:stdin \(deleted\)$/);
      expect(probe.fd1).toMatch(/^pipe:\[\d+\]$/);
      expect(probe.fd2).toMatch(/^pipe:\[\d+\]$/);
    },
  },
  {
    id: 'L16-sh-write-stdin',
    line: 16,
    does: 'writes into its stdin (a file the worker made) and reopens it for writing',
    language: 'sh',
    source: 'echo evil >&0 2>/dev/null && echo "fd0 written" || echo "fd0 refused"; echo evil 2>/dev/null > /dev/stdin && echo "reopened" || echo "reopen refused"; cat',
    stdin: 'original input\n',
    expect: (run) => {
      expect(run.status).toBe('ok');
      expect(run.stdout).toBe('fd0 refused\nreopen refused\noriginal input\n');
    },
  },

  // 17. Overwrite the runtime through /proc/self/exe -> impossible.
  {
    id: 'L17-c-proc-exe-write',
    line: 17,
    does: 'opens /proc/self/exe, /proc/1/exe and the helper for writing',
    language: 'c',
    source: `${C_PRELUDE}
int main(void) {
  TRY("self_exe", open("/proc/self/exe", O_WRONLY));
  TRY("init_exe", open("/proc/1/exe", O_WRONLY));
  TRY("init_exe_read", open("/proc/1/exe", O_RDONLY));
  TRY("helper", open("/usr/lib/runcell/runcell-exec", O_WRONLY | O_TRUNC));
  TRY("helper_unlink", unlink("/usr/lib/runcell/runcell-exec"));
  TRY("helper_rename", rename("/box/main", "/usr/lib/runcell/runcell-exec"));
  return 0;
}`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      // Its own binary is busy (or on a read-only /box); pid 1 is not dumpable: not even readable.
      outcomes(run.stdout, { self_exe: /^(ETXTBSY|EROFS|EACCES)$/, init_exe: DENIED, init_exe_read: DENIED, helper: DENIED, helper_unlink: DENIED, helper_rename: /^(EROFS|EXDEV|EACCES)$/ });
    },
  },
  {
    id: 'L17-python-overwrite-interpreter',
    line: 17,
    does: 'opens the Python interpreter, /proc/self/exe and /proc/1/exe for writing',
    language: 'python',
    source: `${PY_PRELUDE}import sys
try_('interpreter', lambda: open(os.path.realpath(sys.executable), 'r+b'))
try_('self_exe', lambda: open('/proc/self/exe', 'r+b'))
try_('init_exe', lambda: open('/proc/1/exe', 'r+b'))
try_('init_mem', lambda: open('/proc/1/mem', 'r+b'))
`,
    expect: okAnd({ interpreter: /^(ETXTBSY|EROFS|EACCES)$/, self_exe: /^(ETXTBSY|EROFS|EACCES)$/, init_exe: DENIED, init_mem: DENIED }),
  },
  {
    id: 'L17-sh-replace-runtime',
    line: 17,
    does: 'cp over the helper and /bin/sh; writes through /proc/1/exe',
    language: 'sh',
    source: `cp /bin/sh /usr/lib/runcell/runcell-exec 2>/dev/null && echo "helper replaced" || echo "helper refused"
cp /bin/true /bin/sh 2>/dev/null && echo "sh replaced" || echo "sh refused"
echo x 2>/dev/null > /proc/1/exe && echo "init written" || echo "init refused"`,
    expect: (run) => {
      expect(run).toMatchObject({ status: 'ok', stdout: 'helper refused\nsh refused\ninit refused\n' });
    },
  },

  // 18. Setuid binaries, file capabilities -> no privilege gain.
  {
    id: 'L18-sh-setuid-binaries',
    line: 18,
    does: 'runs the setuid-root binaries of the rootfs (su, mount, passwd, newgrp) to become root',
    language: 'sh',
    source: `find / -xdev -perm -4000 -type f 2>/dev/null | wc -l | sed 's/^/setuid_binaries /'
su root -c "id -u" </dev/null 2>/dev/null; echo "su $?"
mount -t tmpfs none /tmp 2>/dev/null; echo "mount $?"
newgrp root </dev/null 2>/dev/null; echo "newgrp $?"
passwd -d root </dev/null 2>/dev/null; echo "passwd $?"
id -u; grep NoNewPrivs /proc/self/status`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      const probe = probeLines(run.stdout);
      expect(Number(probe.setuid_binaries)).toBeGreaterThan(0);
      for (const tool of ['su', 'mount', 'newgrp', 'passwd']) expect({ tool, code: probe[tool] }).not.toEqual({ tool, code: '0' });
      expect(run.stdout).toMatch(/^1000$/m);
      expect(run.stdout).toMatch(/NoNewPrivs:\s+1/);
    },
  },
  {
    id: 'L18-c-become-root',
    line: 18,
    does: 'setuid(0), setgid(0), setgroups, capset, clearing no_new_privs, a setuid copy of itself',
    language: 'c',
    source: `${C_PRELUDE}
#include <grp.h>
#include <linux/capability.h>
int main(void) {
  TRY("setuid", setuid(0));
  TRY("setgid", setgid(0));
  gid_t zero = 0; TRY("setgroups", setgroups(1, &zero));
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2] = {{~0u, ~0u, ~0u}, {~0u, ~0u, ~0u}};
  TRY("capset", syscall(SYS_capset, &h, d));
  TRY("clear_nnp", prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0));
  printf("nnp %d\\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
  TRY("chmod_setuid", chmod("/tmp", 04755));
  printf("euid %d\\n", geteuid());
  return 0;
}`,
    // EINVAL: uid 0 is not even mapped in the job's user namespace.
    expect: okAnd({ setuid: FAILED, setgid: FAILED, setgroups: FAILED, capset: 'EPERM', clear_nnp: 'EINVAL', nnp: '1', euid: '1000' }),
  },
  {
    id: 'L18-python-file-capabilities',
    line: 18,
    does: 'writes a security.capability xattr (file capabilities) and setresuid(0)',
    language: 'python',
    source: `${PY_PRELUDE}open('/tmp/f', 'w').close()
cap = bytes.fromhex('01000002ffffffffffffffff00000000')
try_('setcap', lambda: os.setxattr('/tmp/f', 'security.capability', cap))
try_('setresuid', lambda: os.setresuid(0, 0, 0))
print('euid', os.geteuid())
`,
    expect: okAnd({ setcap: FAILED, setresuid: FAILED, euid: '1000' }),
  },

  // 19. mount, pivot_root, chroot, namespaces -> denied.
  {
    id: 'L19-c-namespace-calls',
    line: 19,
    does: 'unshare and clone with every namespace flag, setns, mount, umount, pivot_root, chroot',
    language: 'c',
    source: `${C_PRELUDE}
#include <linux/sched.h>
int main(void) {
  int flags[] = {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWCGROUP};
  const char *names[] = {"user", "ns", "pid", "net", "uts", "ipc", "cgroup"};
  char label[64];
  for (int i = 0; i < 7; i++) {
    snprintf(label, sizeof label, "unshare_%s", names[i]); TRY(label, unshare(flags[i]));
    snprintf(label, sizeof label, "clone_%s", names[i]); long pid = syscall(SYS_clone, flags[i] | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, NULL, 0);
    printf("%s %s\\n", label, pid == -1 ? strerrorname_np(errno) : "ok");
  }
  struct clone_args args = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
  TRY("clone3_user", syscall(SYS_clone3, &args, sizeof args));
  TRY("setns_net", setns(open("/proc/self/ns/net", O_RDONLY), 0));
  TRY("mount_tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL));
  TRY("remount_root_rw", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL));
  TRY("umount_box", umount2("/box", MNT_DETACH));
  TRY("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
  TRY("chroot", chroot("/tmp"));
  return 0;
}`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      const expected: Record<string, string | RegExp> = { clone3_user: 'ENOSYS' };
      for (const ns of ['user', 'ns', 'pid', 'net', 'uts', 'ipc', 'cgroup']) expected[`unshare_${ns}`] = expected[`clone_${ns}`] = 'EPERM';
      for (const call of ['setns_net', 'mount_tmpfs', 'remount_root_rw', 'umount_box', 'pivot_root', 'chroot']) expected[call] = 'EPERM';
      outcomes(run.stdout, expected);
    },
  },
  {
    id: 'L19-sh-tools',
    line: 19,
    does: 'unshare -r, unshare -m, mount, umount /box and chroot from the shell',
    language: 'sh',
    source: `unshare -r true 2>/dev/null; echo "unshare_user $?"
unshare -m true 2>/dev/null; echo "unshare_mount $?"
mount -t proc proc /tmp 2>/dev/null; echo "mount $?"
umount -l /box 2>/dev/null; echo "umount $?"
chroot /tmp /bin/true 2>/dev/null; echo "chroot $?"
grep -c " /box " /proc/self/mountinfo | sed 's/^/box_mounts /'`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      const probe = probeLines(run.stdout);
      for (const tool of ['unshare_user', 'unshare_mount', 'mount', 'umount', 'chroot']) expect({ tool, code: probe[tool] }).not.toEqual({ tool, code: '0' });
      expect(probe.box_mounts).toBe('1');
    },
  },
  {
    id: 'L19-python-ctypes',
    line: 19,
    does: 'libc unshare(CLONE_NEWUSER|CLONE_NEWNS) and mount through ctypes',
    language: 'python',
    source: `import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for label, call in [('unshare', lambda: libc.unshare(0x10000000 | 0x00020000)), ('mount', lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)), ('chroot', lambda: libc.chroot(b'/tmp'))]:
    rc = call()
    print(label, 'ok' if rc == 0 else os.strerror(ctypes.get_errno()))
`,
    expect: okAnd({ unshare: 'Operation not permitted', mount: 'Operation not permitted', chroot: 'Operation not permitted' }),
  },

  // 20. ptrace, process_vm_readv, kill outside the job -> none visible, denied.
  {
    id: 'L20-c-ptrace-and-kill',
    line: 20,
    does: 'ptrace attach to pid 1 and to its parent, PTRACE_TRACEME, process_vm_readv, kill of a host pid',
    language: 'c',
    source: () => `${C_PRELUDE}
#include <sys/ptrace.h>
#include <sys/uio.h>
int main(void) {
  TRY("attach_init", ptrace(PTRACE_ATTACH, 1, 0, 0));
  TRY("attach_parent", ptrace(PTRACE_ATTACH, getppid(), 0, 0));
  TRY("traceme", ptrace(PTRACE_TRACEME, 0, 0, 0));
  pid_t child = fork();
  if (child == 0) { pause(); _exit(0); }
  TRY("seize_own_child", ptrace(PTRACE_SEIZE, child, 0, 0));
  char buf[16]; struct iovec local = {buf, sizeof buf}, remote = {(void *)0x400000, sizeof buf};
  TRY("vm_readv_init", process_vm_readv(1, &local, 1, &remote, 1, 0));
  TRY("vm_readv_child", process_vm_readv(child, &local, 1, &remote, 1, 0));
  TRY("kill_host_pid", kill(${process.pid}, SIGKILL));
  TRY("kill_init", kill(1, SIGKILL));
  kill(child, SIGKILL);
  return 0;
}`,
    expect: okAnd({ attach_init: 'EPERM', attach_parent: 'EPERM', traceme: 'EPERM', seize_own_child: 'EPERM', vm_readv_init: 'EPERM', vm_readv_child: 'EPERM', kill_host_pid: 'ESRCH' }),
  },
  {
    id: 'L20-sh-kill-everything',
    line: 20,
    does: 'kill -9 -1 (every process it may signal), and pkill of the worker',
    language: 'sh',
    source: 'kill -9 -1; pkill -9 node 2>/dev/null; pkill -9 redis-server 2>/dev/null; pkill -9 bwrap 2>/dev/null; echo survived',
    expect: (run) => {
      // The job is alone in its PID namespace: the worker (this test process) and every host process live on.
      expect(run).toMatchObject({ status: 'ok', stdout: 'survived\n' });
    },
  },
  {
    id: 'L20-python-visible-processes',
    line: 20,
    does: 'lists the processes it can see and signals the host pids it knows',
    language: 'python',
    source: () => `import os
pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
print('pids', len(pids), max(pids))
for pid in (${process.pid}, ${process.ppid}):
    try:
        os.kill(pid, 0)
        print('reached', pid)
    except ProcessLookupError:
        print('absent', pid)
`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      const [count, max] = probeLines(run.stdout).pids.split(' ').map(Number);
      expect(count).toBeLessThanOrEqual(3);
      expect(max).toBeLessThan(20);
      expect(run.stdout).not.toMatch(/^reached/m);
    },
  },

  // 21. Kernel facilities -> denied with an error, the job goes on.
  {
    id: 'L21-c-kernel-facilities',
    line: 21,
    does: 'keyctl, add_key, bpf, perf_event_open, userfaultfd, io_uring_setup, init_module, kexec_load, reboot, swapon, settimeofday, syslog',
    language: 'c',
    source: `${C_PRELUDE}
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <sys/time.h>
int main(void) {
  TRY("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 1));
  TRY("add_key", syscall(SYS_add_key, "user", "k", "v", 1, -3));
  char attr[128] = {0}; TRY("bpf", syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, attr, sizeof attr));
  struct perf_event_attr pe = {.type = PERF_TYPE_SOFTWARE, .size = sizeof pe, .config = PERF_COUNT_SW_CPU_CLOCK};
  TRY("perf_event_open", syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
  TRY("userfaultfd", syscall(SYS_userfaultfd, 0));
  char params[120] = {0}; TRY("io_uring_setup", syscall(SYS_io_uring_setup, 8, params));
  TRY("init_module", syscall(SYS_init_module, "", 0, ""));
  TRY("finit_module", syscall(SYS_finit_module, 0, "", 0));
  TRY("kexec_load", syscall(SYS_kexec_load, 0, 0, 0, 0));
  TRY("reboot", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_RESTART, 0));
  TRY("swapon", syscall(SYS_swapon, "/tmp/swap", 0));
  struct timeval tv = {0, 0}; TRY("settimeofday", settimeofday(&tv, NULL));
  char log[256]; TRY("syslog", syscall(SYS_syslog, 3 /* READ_ALL */, log, sizeof log));
  printf("survived yes\\n");
  return 0;
}`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      const expected: Record<string, string> = { survived: 'yes' };
      for (const call of ['keyctl', 'add_key', 'bpf', 'perf_event_open', 'userfaultfd', 'io_uring_setup', 'init_module', 'finit_module', 'kexec_load', 'reboot', 'swapon', 'settimeofday', 'syslog']) expected[call] = 'EPERM';
      outcomes(run.stdout, expected);
    },
  },
  {
    id: 'L21-python-ctypes-syscalls',
    line: 21,
    does: 'the same facilities through ctypes syscall(), by number',
    language: 'python',
    source: `import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
# x86_64 numbers: keyctl, bpf, perf_event_open, userfaultfd, io_uring_setup, kexec_load, swapon, syslog
for name, nr in [('keyctl', 250), ('bpf', 321), ('perf_event_open', 298), ('userfaultfd', 323), ('io_uring_setup', 425), ('kexec_load', 246), ('swapon', 167), ('syslog', 103)]:
    rc = libc.syscall(nr, 0, 0, 0, 0, 0)
    print(name, 'ok' if rc != -1 else os.strerror(ctypes.get_errno()))
print('survived yes')
`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      const expected: Record<string, string> = { survived: 'yes' };
      for (const call of ['keyctl', 'bpf', 'perf_event_open', 'userfaultfd', 'io_uring_setup', 'kexec_load', 'swapon', 'syslog']) expected[call] = 'Operation not permitted';
      outcomes(run.stdout, expected);
    },
  },
  {
    id: 'L21-sh-admin-tools',
    line: 21,
    does: 'dmesg, date -s, swapon from the shell',
    language: 'sh',
    source: 'dmesg >/dev/null 2>&1; echo "dmesg $?"; date -s "2001-01-01" >/dev/null 2>&1; echo "date $?"; echo "year $(date +%Y)"',
    expect: (run) => {
      expect(run.status).toBe('ok');
      const probe = probeLines(run.stdout);
      expect(probe.dmesg).not.toBe('0');
      expect(probe.date).not.toBe('0');
      expect(Number(probe.year)).toBeGreaterThan(2020);
    },
  },

  // 22. 32-bit and x32 syscall numbers -> killed.
  {
    id: 'L22-c-int80-setuid',
    line: 22,
    does: 'setuid(0) through int 0x80 (i386 number 23)',
    language: 'c',
    source: 'int main(void) { long ret; __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(23L), "b"(0L) : "memory"); return ret == 0 ? 42 : 1; }',
    expect: (run) => expect(run).toMatchObject({ status: 'signalled', signal: i386SyscallSignal() }),
  },
  {
    id: 'L22-c-int80-mount',
    line: 22,
    does: 'mount through int 0x80 (i386 number 21), which the x86_64 filter denies',
    language: 'c',
    source: 'int main(void) { long ret; __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(21L), "b"(0L), "c"(0L), "d"(0L) : "memory"); return 1; }',
    expect: (run) => expect(run).toMatchObject({ status: 'signalled', signal: i386SyscallSignal() }),
  },
  {
    id: 'L22-c-x32-unshare',
    line: 22,
    does: 'unshare(CLONE_NEWUSER) with the x32 bit set on the number',
    language: 'c',
    source: `${C_PRELUDE}
int main(void) { syscall(0x40000000 | SYS_unshare, CLONE_NEWUSER); printf("not killed\\n"); return 0; }`,
    expect: (run) => {
      expect(run).toMatchObject({ status: 'signalled', signal: 'SIGSYS' });
      expect(run.stdout).toBe('');
    },
  },
  {
    id: 'L22-python-x32-write',
    line: 22,
    does: 'write() with the x32 bit, from Python through ctypes',
    language: 'python',
    source: "import ctypes\nctypes.CDLL(None).syscall(0x40000000 | 1, 1, b'x', 1)\nprint('not killed')\n",
    expect: (run) => {
      expect(run).toMatchObject({ status: 'signalled', signal: 'SIGSYS' });
      expect(run.stdout).toBe('');
    },
  },

  // 23. TIOCSTI -> no controlling terminal; denied.
  {
    id: 'L23-c-tiocsti',
    line: 23,
    does: 'TIOCSTI and TIOCLINUX on fds 0-2, /dev/tty, TIOCSCTTY',
    language: 'c',
    source: `${C_PRELUDE}
#include <sys/ioctl.h>
int main(void) {
  char c = 'x';
  TRY("sti0", ioctl(0, TIOCSTI, &c));
  TRY("sti1", ioctl(1, TIOCSTI, &c));
  TRY("sti_high_bits", syscall(SYS_ioctl, 2, 0xffffffff00005412UL, &c));
  TRY("linux", ioctl(0, TIOCLINUX, &c));
  TRY("devtty", open("/dev/tty", O_RDWR));
  TRY("sctty", ioctl(0, TIOCSCTTY, 1));
  printf("isatty %d%d%d\\n", isatty(0), isatty(1), isatty(2));
  printf("own_session %d\\n", getsid(0) == getpid() || getsid(0) != 0);
  return 0;
}`,
    expect: okAnd({ sti0: 'EPERM', sti1: 'EPERM', sti_high_bits: 'EPERM', linux: 'EPERM', devtty: /^(ENOENT|ENXIO)$/, sctty: /^(ENOTTY|EPERM)$/, isatty: '000' }),
  },
  {
    id: 'L23-python-tiocsti',
    line: 23,
    does: 'fcntl.ioctl TIOCSTI on stdin and a pty attempt',
    language: 'python',
    source: `${PY_PRELUDE}import fcntl, termios, pty
try_('sti', lambda: fcntl.ioctl(0, termios.TIOCSTI, b'x'))
try_('openpty', lambda: pty.openpty())
try_('ctty', lambda: open('/dev/tty', 'w'))
`,
    expect: okAnd({ sti: 'EPERM', openpty: /^(ENOENT|EPERM|EACCES|None)$/, ctty: /^(ENOENT|ENXIO|EROFS)$/ }),
  },

  // 24. /dev/mem, /dev/kmsg, disks, device nodes -> not present, denied.
  {
    id: 'L24-c-devices',
    line: 24,
    does: 'opens /dev/mem, /dev/kmem, /dev/kmsg, /dev/port, disks, /proc/kcore; mknod of char and block devices',
    language: 'c',
    source: `${C_PRELUDE}
#include <sys/sysmacros.h>
int main(void) {
  const char *paths[] = {"/dev/mem", "/dev/kmem", "/dev/kmsg", "/dev/port", "/dev/sda", "/dev/vda", "/dev/nvme0n1", "/dev/console", "/dev/tty0", "/dev/ptmx", "/proc/kcore"};
  for (int i = 0; i < 11; i++) TRY(paths[i], open(paths[i], O_RDONLY));
  TRY("mknod_mem", mknod("/tmp/mem", S_IFCHR | 0600, makedev(1, 1)));
  TRY("mknod_sda", mknod("/tmp/sda", S_IFBLK | 0600, makedev(8, 0)));
  TRY("mknod_dev", mknod("/dev/mem", S_IFCHR | 0600, makedev(1, 1)));
  return 0;
}`,
    expect: okAnd({
      '/dev/mem': 'ENOENT', '/dev/kmem': 'ENOENT', '/dev/kmsg': 'ENOENT', '/dev/port': 'ENOENT', '/dev/sda': 'ENOENT', '/dev/vda': 'ENOENT',
      '/dev/nvme0n1': 'ENOENT', '/dev/console': 'ENOENT', '/dev/tty0': 'ENOENT', '/dev/ptmx': 'ENOENT', '/proc/kcore': ABSENT_OR_DENIED,
      mknod_mem: 'EPERM', mknod_sda: 'EPERM', mknod_dev: /^(EPERM|EROFS)$/,
    }),
  },
  {
    id: 'L24-sh-dev-listing',
    line: 24,
    does: 'looks for any block or char device beyond the five harmless ones; /sys',
    language: 'sh',
    source: 'find / -xdev \\( -type b -o -type c \\) 2>/dev/null | sort | tr "\\n" " "; echo; ls /sys 2>&1 | head -1',
    expect: (run) => {
      expect(run.status).toBe('ok');
      const devices = run.stdout.split('\n')[0].trim().split(' ').filter((d) => d !== '');
      // Device nodes in the rootfs image itself are on a nodev mount; /dev has only the five.
      for (const device of devices.filter((d) => d.startsWith('/dev/'))) expect(['/dev/full', '/dev/null', '/dev/random', '/dev/urandom', '/dev/zero']).toContain(device);
      // /sys is an empty directory of the image, or absent: nothing is mounted there.
      expect(run.stdout.split('\n')[1]).toMatch(/^(|.*No such file.*)$/);
    },
  },
  {
    id: 'L24-python-proc-writes',
    line: 24,
    does: 'writes /proc/sysrq-trigger, reads /proc/kcore and /proc/kallsyms addresses',
    language: 'python',
    source: `${PY_PRELUDE}try_('sysrq', lambda: open('/proc/sysrq-trigger', 'w').write('h'))
try_('kcore', lambda: open('/proc/kcore', 'rb').read(16))
syms = open('/proc/kallsyms').readline().split()
print('kallsyms_address', syms[0] if syms else 'none')
`,
    expect: okAnd({ sysrq: ABSENT_OR_DENIED, kcore: ABSENT_OR_DENIED, kallsyms_address: /^(0+|none)$/ }),
  },
];
