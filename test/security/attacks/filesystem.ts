/**
 * The filesystem and the host's settings: docs/threats.md lines 28-30 as single
 * jobs, and the programs of the two-job scenarios of lines 26 and 27 (run by
 * filesystem.test.ts).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { expect } from 'vitest';
import { C_PRELUDE, probeLines, PY_PRELUDE, type ProgramAttack } from '../attack.js';

const ROFS = 'EROFS';
/** Files of the image are root's (unmapped, so nobody's): the permission check may answer before the read-only one. */
const DENIED = /^(EROFS|EACCES|EPERM)$/;

function outcomes(stdout: string, expected: Record<string, string | RegExp>): void {
  const probe = probeLines(stdout);
  for (const [label, outcome] of Object.entries(expected)) {
    expect({ label, outcome: probe[label] }).toEqual({ label, outcome: typeof outcome === 'string' ? outcome : expect.stringMatching(outcome) });
  }
}

/** Host settings a job tries to change; read before and after. */
export function hostSettings() {
  const read = (path: string) => readFileSync(path, 'utf8');
  return {
    hostname: hostname(),
    randomize_va_space: read('/proc/sys/kernel/randomize_va_space'),
    core_pattern: read('/proc/sys/kernel/core_pattern'),
    pid_max: read('/proc/sys/kernel/pid_max'),
  };
}

export const FILESYSTEM_ATTACKS: ProgramAttack[] = [
  // 28. Write to the read-only root -> EROFS.
  {
    id: 'L28-sh-write-rootfs',
    line: 28,
    does: 'touch, overwrite, mkdir, rm and chmod on /, /usr, /etc and /bin',
    language: 'sh',
    source: `touch /usr/bin/x 2>&1; echo x 2>&1 > /etc/passwd; mkdir /opt/x 2>&1; rm -f /bin/sh 2>&1; chmod 777 /etc 2>&1; touch /x 2>&1
echo done`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      const lines = run.stdout.trim().split('\n');
      expect(lines.pop()).toBe('done');
      expect(lines).toHaveLength(6);
      for (const line of lines) expect(line).toMatch(/Read-only file system/);
    },
  },
  {
    id: 'L28-c-write-rootfs',
    line: 28,
    does: 'open for writing, creat, unlink, rename, symlink, chmod, utimes and a read-write remount of /',
    language: 'c',
    source: `${C_PRELUDE}
int main(void) {
  TRY("open_passwd", open("/etc/passwd", O_WRONLY));
  TRY("creat_usr", creat("/usr/new", 0644));
  TRY("unlink_ls", unlink("/bin/ls"));
  TRY("rename_etc", rename("/etc/group", "/etc/group2"));
  TRY("symlink_etc", symlink("/tmp", "/etc/evil"));
  TRY("chmod_passwd", chmod("/etc/passwd", 0666));
  TRY("truncate_libc", truncate("/lib/x86_64-linux-gnu/libc.so.6", 0));
  TRY("utimes_bin", utimes("/bin", NULL));
  TRY("remount_rw", mount(NULL, "/", NULL, MS_REMOUNT, NULL));
  TRY("write_box_ok", open("/box/mine", O_WRONLY | O_CREAT, 0644));
  return 0;
}`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      outcomes(run.stdout, {
        open_passwd: DENIED, creat_usr: DENIED, unlink_ls: DENIED, rename_etc: DENIED, symlink_etc: DENIED, chmod_passwd: DENIED,
        truncate_libc: DENIED, utimes_bin: DENIED, remount_rw: 'EPERM',
        // The compile step wrote /box; the run step of a compiled program sees it read-only too.
        write_box_ok: ROFS,
      });
    },
  },
  {
    id: 'L28-python-write-rootfs',
    line: 28,
    does: "writes Python's own library, /box (read-only in a run) and site-packages",
    language: 'python',
    source: `${PY_PRELUDE}import os.path
try_('stdlib', lambda: open(os.__file__, 'a'))
try_('box', lambda: open('/box/new.py', 'w'))
try_('site', lambda: open('/usr/lib/python3/dist-packages/evil.pth', 'w'))
try_('tmp_ok', lambda: open('/tmp/fine', 'w'))
`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      outcomes(run.stdout, { stdlib: DENIED, box: ROFS, site: /^(EROFS|EACCES|ENOENT)$/, tmp_ok: 'ok' });
    },
  },

  // 29. Hostname, clock, kernel parameters -> denied or confined to the job.
  {
    id: 'L29-c-hostname-and-clock',
    line: 29,
    does: 'sethostname, setdomainname, settimeofday, clock_settime, adjtimex, stime',
    language: 'c',
    source: `${C_PRELUDE}
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>
int main(void) {
  TRY("sethostname", sethostname("evil", 4));
  TRY("setdomainname", setdomainname("evil", 4));
  struct timeval tv = {1, 0}; TRY("settimeofday", settimeofday(&tv, NULL));
  struct timespec ts = {1, 0}; TRY("clock_settime", clock_settime(CLOCK_REALTIME, &ts));
  struct timex tx = {.modes = ADJ_OFFSET, .offset = 1000000}; TRY("adjtimex", adjtimex(&tx));
  char name[64]; gethostname(name, sizeof name); printf("hostname %s\\n", name);
  printf("year_ok %d\\n", time(NULL) > 1700000000);
  return 0;
}`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      outcomes(run.stdout, { sethostname: 'EPERM', setdomainname: 'EPERM', settimeofday: 'EPERM', clock_settime: 'EPERM', adjtimex: 'EPERM', hostname: 'runcell', year_ok: '1' });
    },
  },
  {
    id: 'L29-sh-proc-sys',
    line: 29,
    does: 'writes /proc/sys: hostname, randomize_va_space, core_pattern, drop_caches, pid_max',
    language: 'sh',
    source: `for f in kernel/hostname kernel/randomize_va_space kernel/core_pattern vm/drop_caches kernel/pid_max; do
  (echo 1 > /proc/sys/$f) 2>/dev/null && echo "$f written" || echo "$f refused"
done
hostname evil 2>/dev/null; hostname`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      expect(run.stdout).not.toContain('written');
      expect(run.stdout.trim().split('\n').pop()).toBe('runcell');
    },
  },
  {
    id: 'L29-python-sysctl-and-time',
    line: 29,
    does: 'sysctl writes and clock changes through Python',
    language: 'python',
    source: `${PY_PRELUDE}import time
try_('core_pattern', lambda: open('/proc/sys/kernel/core_pattern', 'w').write('|/tmp/x'))
try_('sysrq', lambda: open('/proc/sys/kernel/sysrq', 'w').write('1'))
try_('clock', lambda: time.clock_settime(time.CLOCK_REALTIME, 0))
try_('sethostname', lambda: __import__('socket').sethostname('evil'))
`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      outcomes(run.stdout, { core_pattern: DENIED, sysrq: /^(EROFS|EACCES|EPERM|ENOENT)$/, clock: 'EPERM', sethostname: 'EPERM' });
    },
  },

  // 30. Crash with a core dump -> no core file anywhere.
  {
    id: 'L30-c-raise-core-limit-and-crash',
    line: 30,
    does: 'tries to raise RLIMIT_CORE, turns dumpable on, crashes children with SIGSEGV, SIGABRT, SIGQUIT in /tmp',
    language: 'c',
    source: `${C_PRELUDE}
int main(void) {
  struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
  TRY("raise_core", setrlimit(RLIMIT_CORE, &unlimited));
  struct rlimit soft = {1 << 20, 1 << 20};
  TRY("raise_core_soft", setrlimit(RLIMIT_CORE, &soft));
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  chdir("/tmp");
  int signals[] = {SIGSEGV, SIGABRT, SIGQUIT, SIGBUS};
  for (int i = 0; i < 4; i++) {
    pid_t child = fork();
    if (child == 0) { raise(signals[i]); _exit(0); }
    int status; waitpid(child, &status, 0);
    printf("core_dumped_%d %d\\n", signals[i], WCOREDUMP(status) ? 1 : 0);
  }
  int cores = 0; DIR *dirs[2] = {opendir("/tmp"), opendir("/box")}; struct dirent *e;
  for (int i = 0; i < 2; i++) while (dirs[i] && (e = readdir(dirs[i])) != NULL) if (!strncmp(e->d_name, "core", 4)) cores++;
  printf("core_files %d\\n", cores);
  return 0;
}`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      outcomes(run.stdout, { raise_core: 'EPERM', raise_core_soft: 'EPERM', core_dumped_11: '0', core_dumped_6: '0', core_dumped_3: '0', core_dumped_7: '0', core_files: '0' });
    },
  },
  {
    id: 'L30-python-abort',
    line: 30,
    does: 'os.abort() from Python',
    language: 'python',
    source: 'import os\nos.chdir("/tmp")\nos.abort()\n',
    expect: (run) => expect(run).toMatchObject({ status: 'signalled', signal: 'SIGABRT' }),
  },
  {
    id: 'L30-sh-segv-and-look',
    line: 30,
    does: 'crashes a shell with SIGSEGV in writable /box and /tmp, then looks for core files',
    language: 'sh',
    source: 'cd /box && sh -c "kill -SEGV \\$\\$"; cd /tmp && sh -c "kill -QUIT \\$\\$"; ulimit -c unlimited 2>/dev/null; echo "ulimit $(ulimit -c)"; ls -A /box /tmp | grep -c core',
    expect: (run) => {
      expect(run.stdout).toMatch(/^ulimit 0$/m);
      expect(run.stdout.trim().split('\n').pop()).toBe('0');
    },
  },
];

/** Line 26: what the first job leaves behind, and what the second looks for. */
export const LEAVE_BEHIND = {
  files: 'echo secret > /tmp/left; echo secret > /box/left; echo secret > /dev/shm/left; mkdir -p /box/dir/sub; echo left',
  filesLook: 'ls -A /tmp /box /dev/shm; cat /tmp/left /box/left /dev/shm/left 2>&1 | grep -c secret',
  ipc: `${C_PRELUDE}
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/msg.h>
int main(void) {
  int shm = shmget(0x5eed, 4096, IPC_CREAT | 0666); char *p = shmat(shm, NULL, 0); strcpy(p, "secret");
  int q = msgget(0x5eed, IPC_CREAT | 0666); struct { long type; char text[8]; } m = {1, "secret"}; msgsnd(q, &m, sizeof m.text, 0);
  int fd = shm_open("/left", O_RDWR | O_CREAT, 0666); write(fd, "secret", 6);
  printf("left %d %d %d\\n", shm >= 0, q >= 0, fd >= 0);
  return 0;
}`,
  ipcLook: `${C_PRELUDE}
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/msg.h>
int main(void) {
  TRY("shm", shmget(0x5eed, 0, 0));
  TRY("msg", msgget(0x5eed, 0));
  TRY("posix_shm", shm_open("/left", O_RDONLY, 0));
  FILE *f = fopen("/proc/sysvipc/shm", "r"); char line[512]; int rows = -1;
  while (f && fgets(line, sizeof line, f)) rows++;
  printf("sysvipc_rows %d\\n", rows);
  return 0;
}`,
  processes: `import os, socket, time
if os.fork() == 0:
    os.setsid()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind('\\0runcell-left-behind')
    s.listen()
    open('/tmp/pid', 'w').write(str(os.getpid()))
    while True:
        time.sleep(1)
time.sleep(0.3)
print('left', open('/tmp/pid').read())
`,
  processesLook: `import os, socket
pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
names = [open(f'/proc/{p}/cmdline', 'rb').read().split(b'\\0')[0].decode() for p in pids]
print('processes', len(pids), ' '.join(names))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect('\\0runcell-left-behind')
    print('socket connected')
except OSError as e:
    print('socket', e.errno)
`,
};

/** Line 27: a job that works for a while, and a job beside it that hunts for it. */
export const CONCURRENT = {
  victim: 'echo private > /box/victim-file; echo private > /tmp/victim-file; exec bash -c "exec -a runcell-victim sleep 2"',
  victimAlive: 'echo private > /box/victim-file; sleep 2; cat /box/victim-file',
  // The rootfs has no ps: /proc is read directly; argv[0] only, since the hunter's own script names the victim.
  hunter: `ls -d /proc/[0-9]* | wc -l | sed 's/^/process_count /'
for f in /proc/[0-9]*/cmdline; do tr "\\0" "\\n" < $f | head -1; done 2>/dev/null | grep -cx runcell-victim | sed 's/^/victims_seen /'
find / -xdev -name victim-file 2>/dev/null | wc -l | sed 's/^/victim_files /'
ls /proc/*/root/box/victim-file /proc/*/root/tmp/victim-file 2>/dev/null | wc -l | sed 's/^/via_proc /'
kill -9 -1 2>/dev/null; echo "hunter survived"`,
};
