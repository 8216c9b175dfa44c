/**
 * Attacks on resources: docs/threats.md lines 1-11 (line 12 is the API's, in
 * service.ts). Limits are kept small so the suite stays quick; the property
 * is the same at any size.
 */
import { expect } from 'vitest';
import { MiB, timingAsserted } from '../../helpers.js';
import { C_PRELUDE, probeLines, PY_PRELUDE, type ProgramAttack } from '../attack.js';

/** A run stopped by the CPU limit, with cpu_ms near it (poll interval, kill latency, several threads). */
function cpuLimited(limit: number) {
  return (run: { status: string; cpu_ms: number; message: string | null }) => {
    expect(run.status).toBe('time_limit');
    expect(run.cpu_ms).toBeGreaterThanOrEqual(limit);
    if (timingAsserted) expect(run.cpu_ms).toBeLessThan(limit * 1.5 + 250);
    expect(run.message).toMatch(new RegExp(`CPU time limit of ${limit} ms`));
  };
}

function wallLimited(limit: number) {
  return (run: { status: string; wall_ms: number; cpu_ms: number }) => {
    expect(run.status).toBe('wall_time_limit');
    expect(run.wall_ms).toBeGreaterThanOrEqual(limit);
    if (timingAsserted) expect(run.wall_ms).toBeLessThan(limit + 3000);
  };
}

function oomKilled(limit: number) {
  return (run: { status: string; oom_killed: boolean; memory_peak_bytes: number }) => {
    expect(run).toMatchObject({ status: 'memory_limit', oom_killed: true });
    expect(run.memory_peak_bytes).toBeLessThanOrEqual(limit);
    expect(run.memory_peak_bytes).toBeGreaterThan(limit / 2);
  };
}

/** A compile step stopped by one of its limits (or failing), never a run. */
function compileContained(wallLimit: number) {
  return (_run: unknown, result: { compile?: { status: string; wall_ms: number }; run: unknown }) => {
    expect(result.compile).toBeDefined();
    expect(result.compile!.status).not.toBe('ok');
    expect(result.compile!.status).not.toBe('sandbox_error');
    if (timingAsserted) expect(result.compile!.wall_ms).toBeLessThan(wallLimit + 3000);
    expect(result.run).toBeNull();
  };
}

const COMPILE_BOMB_LIMITS = { cpu_ms: 3000, wall_ms: 5000, memory_bytes: 128 * MiB };

export const RESOURCE_ATTACKS: ProgramAttack[] = [
  // 1. Infinite loop -> time_limit, cpu time close to the limit.
  {
    id: 'L01-c-spin',
    line: 1,
    does: 'a C busy loop',
    language: 'c',
    source: 'int main(void) { volatile unsigned long n = 0; for (;;) n++; }',
    limits: { cpu_ms: 300 },
    expect: cpuLimited(300),
  },
  {
    id: 'L01-python-spin',
    line: 1,
    does: 'while True: pass',
    language: 'python',
    source: 'while True:\n    pass\n',
    limits: { cpu_ms: 400 },
    expect: cpuLimited(400),
  },
  {
    id: 'L01-c-spin-ignoring-signals',
    line: 1,
    does: 'a busy loop that ignores SIGXCPU, SIGTERM and every catchable signal',
    language: 'c',
    source: `${C_PRELUDE}
int main(void) { for (int s = 1; s < 32; s++) signal(s, SIG_IGN); volatile unsigned long n = 0; for (;;) n++; }`,
    limits: { cpu_ms: 1100 },
    expect: cpuLimited(1100),
  },
  {
    id: 'L01-sh-spin',
    line: 1,
    does: 'a shell arithmetic loop',
    language: 'sh',
    source: 'i=0; while :; do i=$((i+1)); done',
    limits: { cpu_ms: 300 },
    expect: cpuLimited(300),
  },

  // 2. Sleep or block forever -> wall_time_limit.
  {
    id: 'L02-sh-sleep',
    line: 2,
    does: 'sleep 1000',
    language: 'sh',
    source: 'sleep 1000',
    limits: { wall_ms: 500 },
    expect: (run) => {
      wallLimited(500)(run);
      if (timingAsserted) expect(run.cpu_ms).toBeLessThan(100);
    },
  },
  {
    id: 'L02-sh-fifo-read',
    line: 2,
    does: 'reads a FIFO nobody writes',
    language: 'sh',
    source: 'mkfifo /tmp/f && cat /tmp/f',
    limits: { wall_ms: 500 },
    expect: wallLimited(500),
  },
  {
    id: 'L02-c-pause-all-blocked',
    line: 2,
    does: 'blocks every signal and pauses',
    language: 'c',
    source: `${C_PRELUDE}
int main(void) { sigset_t all; sigfillset(&all); sigprocmask(SIG_BLOCK, &all, NULL); for (;;) pause(); }`,
    limits: { wall_ms: 500 },
    expect: wallLimited(500),
  },
  {
    id: 'L02-python-own-pipe',
    line: 2,
    does: 'reads its own pipe, which it never writes',
    language: 'python',
    source: 'import os\nr, w = os.pipe()\nos.read(r, 1)\n',
    limits: { wall_ms: 600 },
    expect: wallLimited(600),
  },

  // 3. Busy in many threads or processes -> all counted, time_limit.
  {
    id: 'L03-c-eight-threads',
    line: 3,
    does: 'eight busy threads',
    language: 'c',
    source: `${C_PRELUDE}
static void *spin(void *arg) { volatile unsigned long n = 0; for (;;) n++; return arg; }
int main(void) { pthread_t t; for (int i = 0; i < 8; i++) pthread_create(&t, NULL, spin, NULL); spin(NULL); }`,
    limits: { cpu_ms: 600, wall_ms: 10_000 },
    expect: cpuLimited(600),
  },
  {
    id: 'L03-python-forked-spinners',
    line: 3,
    does: 'four forked Python processes spinning',
    language: 'python',
    source: 'import os\nfor _ in range(4):\n    if os.fork() == 0:\n        break\nwhile True:\n    pass\n',
    limits: { cpu_ms: 600, wall_ms: 10_000 },
    expect: cpuLimited(600),
  },
  {
    id: 'L03-sh-grandchildren',
    line: 3,
    does: 'busy grandchildren in a subshell the parent does not wait for',
    language: 'sh',
    source: 'sh -c "(while :; do :; done) & (while :; do :; done) & wait" & wait',
    limits: { cpu_ms: 500, wall_ms: 10_000 },
    expect: cpuLimited(500),
  },

  // 4. Parent exits, children live on -> all killed at the end of the run (the host check finds no slot process).
  {
    id: 'L04-sh-double-fork-setsid-nohup',
    line: 4,
    does: 'double fork, setsid, SIGHUP and SIGTERM ignored',
    language: 'sh',
    source: `(trap "" HUP TERM; setsid bash -c 'trap "" HUP TERM; exec -a runcell-attack-orphan sleep 60' &); sleep 0.2; for f in /proc/[0-9]*/cmdline; do tr "\\0" "\\n" < $f | head -1; done 2>/dev/null | grep -cx runcell-attack-orphan; echo parent done`,
    // The orphan was running when the parent exited.
    expect: (run) => expect(run).toMatchObject({ status: 'ok', stdout: '1\nparent done\n' }),
  },
  {
    id: 'L04-c-daemon',
    line: 4,
    does: 'daemon(): fork, setsid, fork, every catchable signal ignored, sleeps',
    language: 'c',
    source: `${C_PRELUDE}
int main(void) {
  if (fork() > 0) { printf("parent exits\\n"); return 0; }
  setsid();
  if (fork() > 0) _exit(0);
  for (int s = 1; s < 32; s++) signal(s, SIG_IGN);
  for (;;) sleep(1);
}`,
    expect: (run) => expect(run).toMatchObject({ status: 'ok', stdout: 'parent exits\n' }),
  },
  {
    id: 'L04-python-grandchild-keeps-writing',
    line: 4,
    does: 'a detached grandchild keeps writing to stdout after the parent exits',
    language: 'python',
    source: `import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            os.write(1, b'.')
            time.sleep(0.01)
    os._exit(0)
os.wait()
print('parent exits', flush=True)
`,
    limits: { wall_ms: 3000 },
    // ok, not wall_time_limit: the run ended with the parent, not when the writer would have.
    expect: (run) => {
      expect(run.status).toBe('ok');
      expect(run.stdout).toContain('parent exits');
    },
  },
  {
    id: 'L04-sh-stopped-child',
    line: 4,
    does: 'leaves a stopped child behind (SIGKILL must still reach it)',
    language: 'sh',
    source: 'sleep 60 & kill -STOP $!; echo left a stopped child',
    expect: (run) => expect(run).toMatchObject({ status: 'ok', stdout: 'left a stopped child\n' }),
  },

  // 5. Memory until OOM -> memory_limit, oom_killed, only the job dies.
  {
    id: 'L05-c-malloc-touch',
    line: 5,
    does: 'malloc and memset 1 MiB at a time, for ever',
    language: 'c',
    source: `${C_PRELUDE}
int main(void) { for (;;) { char *p = malloc(1 << 20); if (!p) return 3; memset(p, 1, 1 << 20); } }`,
    limits: { memory_bytes: 32 * MiB },
    expect: oomKilled(32 * MiB),
  },
  {
    id: 'L05-python-huge-string',
    line: 5,
    does: "'x' * 200 MiB",
    language: 'python',
    source: "s = 'x' * (200 << 20)\nprint(len(s))\n",
    limits: { memory_bytes: 48 * MiB },
    expect: oomKilled(48 * MiB),
  },
  {
    id: 'L05-python-list-growth',
    line: 5,
    does: 'a list of distinct 1 MiB byte strings',
    language: 'python',
    source: 'import os\na = []\nwhile True:\n    a.append(os.urandom(1 << 20))\n',
    limits: { memory_bytes: 40 * MiB },
    expect: oomKilled(40 * MiB),
  },
  {
    id: 'L05-sh-huge-variable',
    line: 5,
    does: 'a shell variable holding 100 MB',
    language: 'sh',
    source: 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo ${#x}',
    limits: { memory_bytes: 32 * MiB },
    expect: oomKilled(32 * MiB),
  },
  {
    id: 'L05-c-children-share-the-limit',
    line: 5,
    does: 'four children each allocating 12 MiB: the limit is on all of them together',
    language: 'c',
    source: `${C_PRELUDE}
int main(void) {
  for (int i = 0; i < 4; i++) if (fork() == 0) { char *p = malloc(12 << 20); memset(p, 1, 12 << 20); pause(); }
  while (wait(NULL) > 0) {}
  return 0;
}`,
    limits: { memory_bytes: 32 * MiB, wall_ms: 3000 },
    expect: oomKilled(32 * MiB),
  },

  // 6. Fill /tmp, /dev/shm, the workspace -> capped; the pages count against the job.
  ...(['/tmp', '/dev/shm', '/box'] as const).map(
    (dir): ProgramAttack => ({
      id: `L06-sh-fill-${dir.slice(1).replace('/', '-')}`,
      line: 6,
      does: `writes 100 MB into ${dir}`,
      language: 'sh',
      source: `head -c 100000000 /dev/zero > ${dir}/fill; echo rc=$?; du -k ${dir}/fill | cut -f1`,
      limits: { workspace_bytes: 8 * MiB, memory_bytes: 64 * MiB, file_size_bytes: 200 * MiB },
      expect: (run) => {
        expect(run.status).toBe('ok');
        expect(run.stderr).toMatch(/No space left on device/);
        expect(run.stdout).toMatch(/^rc=1\n/);
        expect(Number(run.stdout.trim().split('\n').pop())).toBeLessThanOrEqual(8 * 1024);
      },
    }),
  ),
  {
    id: 'L06-python-tmpfs-pages-are-memory',
    line: 6,
    does: 'writes 48 MiB into /tmp under a 32 MiB memory limit (tmpfs pages are charged to the job)',
    language: 'python',
    source: "with open('/tmp/f', 'wb') as f:\n    for _ in range(48):\n        f.write(b'\\1' * (1 << 20))\nprint('wrote it all')\n",
    limits: { workspace_bytes: 64 * MiB, memory_bytes: 32 * MiB, file_size_bytes: 100 * MiB },
    expect: oomKilled(32 * MiB),
  },
  {
    id: 'L06-c-posix-shm-mmap',
    line: 6,
    does: 'shm_open, ftruncate 60 MiB, mmap and touch every page',
    language: 'c',
    source: `${C_PRELUDE}
int main(void) {
  int fd = shm_open("/bomb", O_RDWR | O_CREAT, 0600);
  if (fd < 0) { perror("shm_open"); return 2; }
  size_t size = 60 << 20;
  if (ftruncate(fd, size) != 0) { perror("ftruncate"); return 3; }
  char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  for (size_t i = 0; i < size; i += 4096) p[i] = 1;
  printf("touched it all\\n");
  return 0;
}`,
    limits: { workspace_bytes: 64 * MiB, memory_bytes: 32 * MiB, file_size_bytes: 100 * MiB },
    expect: oomKilled(32 * MiB),
  },

  // 7. Fork bombs -> the pids limit holds; the host can still start processes; the next job runs.
  {
    id: 'L07-c-fork-loop',
    line: 7,
    does: 'for (;;) fork();',
    language: 'c',
    source: '#include <unistd.h>\nint main(void) { for (;;) fork(); }',
    limits: { pids: 32, cpu_ms: 1000, wall_ms: 2000 },
    expect: (run) => expect(['time_limit', 'wall_time_limit']).toContain(run.status),
  },
  {
    id: 'L07-sh-recursive-function',
    line: 7,
    does: 'the shell fork bomb, recursive function piped into itself',
    language: 'sh',
    source: 'bomb() { bomb | bomb & }; bomb; sleep 5',
    limits: { pids: 16, wall_ms: 1500 },
    expect: (run) => expect(['time_limit', 'wall_time_limit']).toContain(run.status),
  },
  {
    id: 'L07-python-fork-loop',
    line: 7,
    does: 'os.fork() in a loop, failures ignored',
    language: 'python',
    source: 'import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n',
    limits: { pids: 24, cpu_ms: 1000, wall_ms: 2000 },
    expect: (run) => expect(['time_limit', 'wall_time_limit']).toContain(run.status),
  },
  {
    id: 'L07-c-thread-bomb',
    line: 7,
    does: 'creates threads until it cannot, and counts them',
    language: 'c',
    source: `${C_PRELUDE}
static void *park(void *arg) { pause(); return arg; }
int main(void) {
  pthread_attr_t attr; pthread_attr_init(&attr); pthread_attr_setstacksize(&attr, 65536);
  int made = 0; pthread_t t;
  while (made < 10000 && pthread_create(&t, &attr, park, NULL) == 0) made++;
  printf("threads %d\\n", made);
  return 0;
}`,
    limits: { pids: 16 },
    expect: (run) => {
      expect(run.status).toBe('ok');
      const made = Number(probeLines(run.stdout).threads);
      expect(made).toBeGreaterThan(5);
      // The main thread is one of the 16.
      expect(made).toBeLessThanOrEqual(15);
    },
  },

  // 8. Print for ever -> output_limit, truncated at the cap.
  {
    id: 'L08-c-putchar',
    line: 8,
    does: 'putchar in a loop',
    language: 'c',
    source: '#include <stdio.h>\nint main(void) { for (;;) putchar(\'x\'); }',
    limits: { output_bytes: 10_000 },
    expect: (run) => {
      expect(run).toMatchObject({ status: 'output_limit', stdout_truncated: true });
      expect(run.stdout).toBe('x'.repeat(10_000));
    },
  },
  {
    id: 'L08-python-stderr-flood',
    line: 8,
    does: 'writes 4 KiB blocks to stderr for ever',
    language: 'python',
    source: "import sys\nwhile True:\n    sys.stderr.write('e' * 4096)\n",
    limits: { output_bytes: 50_000 },
    expect: (run) => {
      expect(run).toMatchObject({ status: 'output_limit', stderr_truncated: true, stdout_truncated: false });
      expect(run.stderr.length).toBe(50_000);
    },
  },
  {
    id: 'L08-c-one-huge-write',
    line: 8,
    does: 'one write() of 64 MiB',
    language: 'c',
    source: `${C_PRELUDE}
int main(void) { size_t n = 64 << 20; char *p = malloc(n); memset(p, 'z', n); write(1, p, n); return 0; }`,
    limits: { output_bytes: 1 * MiB, memory_bytes: 128 * MiB },
    expect: (run) => {
      expect(run).toMatchObject({ status: 'output_limit', stdout_truncated: true });
      expect(run.stdout).toHaveLength(1 * MiB);
    },
  },
  {
    id: 'L08-sh-many-writers',
    line: 8,
    does: 'eight `yes` processes writing at once',
    language: 'sh',
    source: 'for i in 1 2 3 4 5 6 7 8; do yes $i & done; wait',
    limits: { output_bytes: 100_000 },
    expect: (run) => {
      expect(run).toMatchObject({ status: 'output_limit', stdout_truncated: true });
      expect(run.stdout).toHaveLength(100_000);
    },
  },

  // 9. Huge file, many files, thousands open -> a clear error inside the job.
  {
    id: 'L09-c-huge-file-sigxfsz-ignored',
    line: 9,
    does: 'ignores SIGXFSZ and writes until write() fails',
    language: 'c',
    source: `${C_PRELUDE}
int main(void) {
  signal(SIGXFSZ, SIG_IGN);
  int fd = open("/tmp/big", O_WRONLY | O_CREAT, 0644);
  static char b[1 << 20]; long total = 0; ssize_t n;
  while ((n = write(fd, b, sizeof b)) > 0) total += n;
  printf("wrote %ld %s\\n", total, strerrorname_np(errno));
  return 0;
}`,
    limits: { file_size_bytes: 3 * MiB },
    expect: (run) => expect(run).toMatchObject({ status: 'ok', stdout: `wrote ${3 * MiB} EFBIG\n` }),
  },
  {
    id: 'L09-sh-huge-file',
    line: 9,
    does: 'dd of 20 MB into /box past file_size_bytes',
    language: 'sh',
    source: 'exec dd if=/dev/zero of=/box/big bs=1M count=20',
    limits: { file_size_bytes: 1 * MiB },
    expect: (run) => {
      expect(run).toMatchObject({ status: 'signalled', signal: 'SIGXFSZ' });
      expect(run.message).toMatch(/file size limit/);
    },
  },
  {
    id: 'L09-python-many-files',
    line: 9,
    does: 'creates empty files until the inodes run out',
    language: 'python',
    source: `import itertools, errno
for i in itertools.count():
    try:
        open(f'/tmp/f{i}', 'w').close()
    except OSError as e:
        print(i, errno.errorcode[e.errno])
        break
`,
    limits: { cpu_ms: 10_000, wall_ms: 20_000 },
    expect: (run) => {
      expect(run.status).toBe('ok');
      const [count, error] = run.stdout.trim().split(' ');
      expect(error).toBe('ENOSPC');
      expect(Number(count)).toBeGreaterThan(1000);
      expect(Number(count)).toBeLessThan(16_384);
    },
  },
  {
    id: 'L09-c-open-until-emfile',
    line: 9,
    does: 'opens /dev/null until it cannot, then tries to raise RLIMIT_NOFILE',
    language: 'c',
    source: `${C_PRELUDE}
int main(void) {
  int count = 0;
  while (open("/dev/null", O_RDONLY) >= 0) count++;
  printf("opened %d\\nerror %s\\n", count, strerrorname_np(errno));
  struct rlimit more = {65536, 65536};
  TRY("raise", setrlimit(RLIMIT_NOFILE, &more));
  return 0;
}`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      const probe = probeLines(run.stdout);
      expect(probe).toMatchObject({ error: 'EMFILE', raise: 'EPERM' });
      expect(Number(probe.opened)).toBe(256 - 3);
    },
  },
  {
    id: 'L09-python-open-until-emfile',
    line: 9,
    does: 'keeps thousands of files open in Python',
    language: 'python',
    source: `import errno
kept = []
try:
    for i in range(100000):
        kept.append(open(f'/tmp/f{i}', 'w'))
except OSError as e:
    print(len(kept), errno.errorcode[e.errno])
`,
    expect: (run) => {
      expect(run.status).toBe('ok');
      const [count, error] = run.stdout.trim().split(' ');
      expect(error).toBe('EMFILE');
      expect(Number(count)).toBeLessThan(256);
    },
  },

  // 10. Compile-time bombs -> the compile step's limits hold.
  {
    id: 'L10-c-include-dev-urandom',
    line: 10,
    does: '#include </dev/urandom>',
    language: 'c',
    source: '#include </dev/urandom>\nint main(void) { return 0; }',
    compileLimits: COMPILE_BOMB_LIMITS,
    compileMayFail: true,
    expect: compileContained(COMPILE_BOMB_LIMITS.wall_ms),
  },
  {
    id: 'L10-c-include-dev-zero',
    line: 10,
    does: '#include </dev/zero>',
    language: 'c',
    source: '#include </dev/zero>\nint main(void) { return 0; }',
    compileLimits: COMPILE_BOMB_LIMITS,
    compileMayFail: true,
    expect: compileContained(COMPILE_BOMB_LIMITS.wall_ms),
  },
  {
    id: 'L10-c-exponential-macros',
    line: 10,
    does: 'macros doubling 40 times (2^40 tokens)',
    language: 'c',
    source: `${Array.from({ length: 40 }, (_, i) => (i === 0 ? '#define A0 x x' : `#define A${i} A${i - 1} A${i - 1}`)).join('\n')}
int main(void) { A39; }`,
    compileLimits: COMPILE_BOMB_LIMITS,
    compileMayFail: true,
    expect: compileContained(COMPILE_BOMB_LIMITS.wall_ms),
  },
  {
    id: 'L10-c-includes-itself',
    line: 10,
    does: 'a file that #includes itself',
    language: 'c',
    source: '#include "main.c"\nint main(void) { return 0; }',
    compileLimits: COMPILE_BOMB_LIMITS,
    compileMayFail: true,
    expect: compileContained(COMPILE_BOMB_LIMITS.wall_ms),
  },
  {
    id: 'L10-cpp-template-recursion',
    line: 10,
    does: 'template recursion 100000 deep',
    language: 'cpp',
    source: 'template <int N> struct F { static const int v = F<N - 1>::v + 1; };\nint main() { return F<100000>::v; }',
    compileLimits: COMPILE_BOMB_LIMITS,
    compileMayFail: true,
    expect: compileContained(COMPILE_BOMB_LIMITS.wall_ms),
  },
  {
    id: 'L10-cpp-constexpr-loop',
    line: 10,
    does: 'a constexpr loop of 2^40 steps in a static_assert',
    language: 'cpp',
    source: 'constexpr long f() { long s = 0; for (long i = 0; i < (1L << 40); i++) s += i; return s; }\nstatic_assert(f() > 0, "");\nint main() { return 0; }',
    compileLimits: COMPILE_BOMB_LIMITS,
    compileMayFail: true,
    expect: compileContained(COMPILE_BOMB_LIMITS.wall_ms),
  },
  {
    id: 'L10-c-gigabyte-object',
    line: 10,
    does: 'an initialised 1 GiB static array (a 1 GiB object file)',
    language: 'c',
    source: 'char big[1 << 30] = {1};\nint main(int argc, char **argv) { big[argc] = 2; return big[argc * 7]; }',
    compileLimits: COMPILE_BOMB_LIMITS,
    compileMayFail: true,
    expect: compileContained(COMPILE_BOMB_LIMITS.wall_ms),
  },

  // 11. SIGSTOP itself or the whole group -> wall_time_limit still ends it.
  {
    id: 'L11-sh-stop-process-group',
    line: 11,
    does: 'kill -STOP 0 with a child running',
    language: 'sh',
    source: 'sleep 100 & kill -STOP 0; echo never',
    limits: { wall_ms: 500 },
    expect: (run) => {
      wallLimited(500)(run);
      expect(run.stdout).toBe('');
    },
  },
  {
    id: 'L11-sh-stop-everything',
    line: 11,
    does: 'kill -STOP -1 (every process it may signal), then itself',
    language: 'sh',
    source: 'sleep 100 & sleep 100 & kill -STOP -1; kill -STOP $$; echo never',
    limits: { wall_ms: 500 },
    expect: wallLimited(500),
  },
  {
    id: 'L11-c-stop-with-busy-children',
    line: 11,
    does: 'forks busy children, then stops its whole group',
    language: 'c',
    source: `${C_PRELUDE}
int main(void) {
  for (int i = 0; i < 3; i++) if (fork() == 0) { for (;;) sleep(1); }
  kill(0, SIGSTOP);
  printf("never\\n");
  return 0;
}`,
    limits: { wall_ms: 500 },
    expect: wallLimited(500),
  },
  {
    id: 'L11-python-sigstop-self',
    line: 11,
    does: 'os.kill(os.getpid(), SIGSTOP)',
    language: 'python',
    source: `${PY_PRELUDE}import signal
os.kill(os.getpid(), signal.SIGSTOP)
print('never')
`,
    limits: { wall_ms: 600 },
    expect: wallLimited(600),
  },
];
