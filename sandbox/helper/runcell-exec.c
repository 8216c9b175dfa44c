/*
 * runcell-exec: the two small steps of a sandbox run that must happen in a
 * process of their own and cannot be done from Node.js.
 *
 *   runcell-exec launch UID GID [--view=DIR --rootfs=DIR --helper-dir=DIR] [--netns=PATH]
 *                       PROCS_FILE... -- BWRAP ARGS...
 *     Runs on the host as root. Joins the run's cgroups (so bwrap and every
 *     process it starts are accounted and limited from their first
 *     instruction); with --view, builds the view (below) in a mount
 *     namespace of its own; drops to the slot's unprivileged uid/gid with no
 *     supplementary groups and no_new_privs, then runs bubblewrap as a child
 *     subreaper and exits with its status once no descendant is left.
 *
 *     The view: a small read-only tmpfs on DIR holding root/ (the rootfs),
 *     helper/ (this helper's directory), both as overlays named by
 *     /proc/self/fd paths, dev/ (empty files and links to bind devices onto)
 *     and empty/. bubblewrap binds from there, so that the job's
 *     /proc/self/mountinfo shows paths inside these mounts, never where the
 *     rootfs, the helper or the data directory live on the host.
 *
 *     With --netns=PATH (after the view options; network egress only, see
 *     sandbox/network.ts), joins the network namespace runcell made for the
 *     run, while still root; bubblewrap then runs without --unshare-net.
 *
 *   runcell-exec init --status-fd=N [--cpu=S] [--fsize=B] [--nofile=N]
 *                     [--stack=B] -- COMMAND ARGS...
 *     Runs inside the sandbox as its pid 1 (bwrap --as-pid-1), under the
 *     seccomp filter; signals from the job cannot kill it. Forks the job's
 *     command with its rlimits and only fds 0-2, waits for it, and writes its
 *     raw wait status to the status fd ("started PID" first, then "exit N",
 *     "signal N" or "exec_error ERRNO"). bubblewrap folds both into one 8-bit exit code, so
 *     without this an exit(139) and a SIGSEGV would look the same.
 *
 * Built statically by runcell at set-up time; it takes no input from the job.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAIL_CODE 125

static void die(const char *what) {
  dprintf(2, "runcell-exec: %s: %s\n", what, strerror(errno));
  _exit(FAIL_CODE);
}

static int find_separator(int argc, char **argv, int from) {
  for (int i = from; i < argc; i++)
    if (strcmp(argv[i], "--") == 0) return i;
  return -1;
}

static unsigned long long parse_number(const char *text, const char *what) {
  char *end = NULL;
  errno = 0;
  unsigned long long value = strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') {
    dprintf(2, "runcell-exec: bad %s: %s\n", what, text);
    _exit(FAIL_CODE);
  }
  return value;
}

static void write_pid(const char *procs_file) {
  int fd = open(procs_file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) die(procs_file);
  char buf[32];
  int len = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
  if (write(fd, buf, (size_t)len) != len) die(procs_file);
  close(fd);
}

struct view {
  const char *dir, *rootfs, *helper_dir;
};

/* An option "--name=value" at argv[*i], consumed when it matches. */
static const char *take_option(int argc, char **argv, int *i, const char *name) {
  size_t len = strlen(name);
  if (*i >= argc || strncmp(argv[*i], name, len) != 0 || argv[*i][len] != '=') return NULL;
  return argv[(*i)++] + len + 1;
}

static void mount_or_die(const char *source, const char *target, const char *type, unsigned long flags, const char *data) {
  if (mount(source, target, type, flags, data) != 0) die(target);
}

/* A read-only overlay of `lower` (and an empty layer: overlayfs wants two) on `target`, its
 * options naming /proc/self/fd paths instead of host paths. */
static void overlay(const char *lower, int empty_fd, const char *target) {
  int fd = open(lower, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die(lower);
  char data[96];
  snprintf(data, sizeof data, "lowerdir=/proc/self/fd/%d:/proc/self/fd/%d", fd, empty_fd);
  mount_or_die("runcell", target, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, data);
  close(fd);
}

static void make_node(int dir, const char *name, int mode) {
  if (mode == S_IFDIR) {
    if (mkdirat(dir, name, 0755) != 0) die(name);
    return;
  }
  int fd = openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd < 0) die(name);
  close(fd);
}

/* Network egress: the run's namespace (made and configured by runcell, owned by the host's user
 * namespace, so the job can change nothing in it) replaces bubblewrap's empty one. */
static void join_netns(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) die(path);
  if (setns(fd, CLONE_NEWNET) != 0) die("setns(CLONE_NEWNET)");
  close(fd);
}

static void make_view(const struct view *v) {
  if (unshare(CLONE_NEWNS) != 0) die("unshare(CLONE_NEWNS)");
  /* Nothing mounted here reaches the host's namespace. */
  mount_or_die(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL);
  mount_or_die("runcell", v->dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=64k,nr_inodes=64");
  int dir = open(v->dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir < 0) die(v->dir);
  static const char *const dirs[] = {"root", "helper", "empty", "dev"};
  for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) make_node(dir, dirs[i], S_IFDIR);
  int dev = openat(dir, "dev", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dev < 0) die("dev");
  static const char *const devices[] = {"null", "zero", "full", "random", "urandom"};
  for (size_t i = 0; i < sizeof devices / sizeof *devices; i++) make_node(dev, devices[i], S_IFREG);
  static const char *const links[][2] = {
    {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
    {"stderr", "/proc/self/fd/2"}, {"shm", "/tmp"}, /* POSIX shared memory lands in the run's /tmp. */
  };
  for (size_t i = 0; i < sizeof links / sizeof *links; i++)
    if (symlinkat(links[i][1], dev, links[i][0]) != 0) die(links[i][0]);
  int empty = openat(dir, "empty", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (empty < 0) die("empty");
  char target[PATH_MAX];
  snprintf(target, sizeof target, "%s/root", v->dir);
  overlay(v->rootfs, empty, target);
  snprintf(target, sizeof target, "%s/helper", v->dir);
  overlay(v->helper_dir, empty, target);
  mount_or_die(NULL, v->dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  close(empty);
  close(dev);
  close(dir);
}

/* runcell spawns the launcher with these blocked: one sent to runcell's process group (Ctrl-C, systemd's
 * stop) before the spawn made this process a session of its own is pending here. Ignoring a signal
 * discards it even while pending; then back to the default, unblocked: no group signal reaches this
 * session any more, and the run is runcell's to finish or hand back. */
static void discard_group_signals(void) {
  static const int group_signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM};
  sigset_t set;
  sigemptyset(&set);
  for (size_t i = 0; i < sizeof group_signals / sizeof *group_signals; i++) {
    signal(group_signals[i], SIG_IGN);
    signal(group_signals[i], SIG_DFL);
    sigaddset(&set, group_signals[i]);
  }
  sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static int launch(int argc, char **argv) {
  discard_group_signals();
  if (argc < 6) {
    dprintf(2, "usage: runcell-exec launch UID GID [VIEW OPTIONS] [--netns=PATH] PROCS_FILE... -- BWRAP ARGS...\n");
    return FAIL_CODE;
  }
  uid_t uid = (uid_t)parse_number(argv[2], "uid");
  gid_t gid = (gid_t)parse_number(argv[3], "gid");
  if (uid == 0 || gid == 0) {
    dprintf(2, "runcell-exec: refusing to run a sandbox as root\n");
    return FAIL_CODE;
  }
  int first = 4;
  /* One statement each: the order of an initializer list's evaluation is unspecified. */
  struct view view;
  view.dir = take_option(argc, argv, &first, "--view");
  view.rootfs = take_option(argc, argv, &first, "--rootfs");
  view.helper_dir = take_option(argc, argv, &first, "--helper-dir");
  if ((view.dir || view.rootfs || view.helper_dir) && !(view.dir && view.rootfs && view.helper_dir)) {
    dprintf(2, "runcell-exec: --view, --rootfs and --helper-dir go together, in that order\n");
    return FAIL_CODE;
  }
  const char *netns = take_option(argc, argv, &first, "--netns");
  int sep = find_separator(argc, argv, first);
  if (sep < 0 || sep + 1 >= argc) {
    dprintf(2, "runcell-exec: missing -- BWRAP\n");
    return FAIL_CODE;
  }
  for (int i = first; i < sep; i++) write_pid(argv[i]);
  if (view.dir) make_view(&view);
  if (netns) join_netns(netns);

  pid_t parent = getppid();
  if (setgroups(0, NULL) != 0) die("setgroups");
  if (setresgid(gid, gid, gid) != 0) die("setresgid");
  if (setresuid(uid, uid, uid) != 0) die("setresuid");
  if (geteuid() == 0 || getegid() == 0) {
    dprintf(2, "runcell-exec: still root after dropping privileges\n");
    return FAIL_CODE;
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("no_new_privs");
  /* Changing credentials cleared any death signal: set it now, then make
   * sure the parent did not die in between. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) die("pdeathsig");
  if (getppid() != parent) return FAIL_CODE;
  /* bubblewrap's monitor exits without reaping the sandbox's pid 1, which
   * then falls to the host's init (a zombie forever under an init that does
   * not reap, such as node as a container's pid 1). As a subreaper we inherit
   * and reap it, and exit only when no descendant is left. */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) die("subreaper");
  pid_t bwrap = fork();
  if (bwrap < 0) die("fork");
  if (bwrap == 0) {
    execv(argv[sep + 1], argv + sep + 1);
    die(argv[sep + 1]);
  }
  int exit_code = FAIL_CODE;
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break; /* ECHILD: every descendant is gone */
    }
    if (pid == bwrap) {
      if (WIFEXITED(status)) exit_code = WEXITSTATUS(status);
      else if (WIFSIGNALED(status)) exit_code = 128 + WTERMSIG(status);
    }
  }
  return exit_code;
}

struct init_options {
  int status_fd;
  long long cpu_seconds, fsize_bytes, nofile, stack_bytes; /* -1 = leave */
};

static void set_limit(int resource, long long value, const char *name) {
  if (value < 0) return;
  struct rlimit limit = {(rlim_t)value, (rlim_t)value};
  if (setrlimit(resource, &limit) != 0) die(name);
}

/* Close every fd from 3 up except `keep` (which is close-on-exec). */
static void close_inherited_fds(int keep) {
#ifdef SYS_close_range
  if ((keep <= 3 || syscall(SYS_close_range, 3U, (unsigned)keep - 1, 0U) == 0) &&
      syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0U) == 0)
    return;
#endif
  for (int fd = 3; fd < 65536; fd++)
    if (fd != keep) close(fd);
}

/* The kernel's struct sigaction for rt_sigaction (not glibc's). */
struct kernel_sigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)(void);
  unsigned long mask;
};

/* The job starts with default dispositions and nothing blocked, whatever
 * came before. Through the raw syscalls: glibc's signal() and sigprocmask()
 * skip the two real-time signals it reserves (32, 33), and a disposition
 * left on those would reach the job too. */
static void reset_signals(void) {
  unsigned long none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
  struct kernel_sigaction dfl = {SIG_DFL, 0, NULL, 0};
  for (int sig = 1; sig <= 64; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
}

static void report(int fd, const char *kind, int value) {
  if (fd < 0) return;
  dprintf(fd, "%s %d\n", kind, value);
}

static int init(int argc, char **argv) {
  struct init_options opt = {-1, -1, -1, -1, -1};
  int sep = find_separator(argc, argv, 2);
  if (sep < 0 || sep + 1 >= argc) {
    dprintf(2, "runcell-exec: missing -- COMMAND\n");
    return FAIL_CODE;
  }
  for (int i = 2; i < sep; i++) {
    const char *arg = argv[i];
    const char *eq = strchr(arg, '=');
    if (!eq) { dprintf(2, "runcell-exec: bad option %s\n", arg); return FAIL_CODE; }
    long long value = (long long)parse_number(eq + 1, arg);
    if (strncmp(arg, "--status-fd=", 12) == 0) opt.status_fd = (int)value;
    else if (strncmp(arg, "--cpu=", 6) == 0) opt.cpu_seconds = value;
    else if (strncmp(arg, "--fsize=", 8) == 0) opt.fsize_bytes = value;
    else if (strncmp(arg, "--nofile=", 9) == 0) opt.nofile = value;
    else if (strncmp(arg, "--stack=", 8) == 0) opt.stack_bytes = value;
    else { dprintf(2, "runcell-exec: unknown option %s\n", arg); return FAIL_CODE; }
  }

  report(opt.status_fd, "started", (int)getpid());

  /* Not dumpable: the job runs as the same uid and must not open this
   * process's status fd through /proc/<pid>/fd. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) die("pipe");
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(exec_pipe[0]);
    reset_signals();
    set_limit(RLIMIT_CORE, 0, "core");
    set_limit(RLIMIT_CPU, opt.cpu_seconds, "cpu");
    set_limit(RLIMIT_FSIZE, opt.fsize_bytes, "fsize");
    set_limit(RLIMIT_NOFILE, opt.nofile, "nofile");
    set_limit(RLIMIT_STACK, opt.stack_bytes, "stack");
    close_inherited_fds(exec_pipe[1]);
    execvp(argv[sep + 1], argv + sep + 1);
    int err = errno;
    (void)!write(exec_pipe[1], &err, sizeof err);
    dprintf(2, "runcell: cannot execute %s: %s\n", argv[sep + 1], strerror(err));
    _exit(127);
  }
  close(exec_pipe[1]);
  int exec_errno = 0;
  ssize_t got;
  do got = read(exec_pipe[0], &exec_errno, sizeof exec_errno);
  while (got < 0 && errno == EINTR);
  close(exec_pipe[0]);

  /* As the namespace's pid 1 this process inherits every orphan: reap them
   * until the job's own process ends. Leaving then ends the namespace, and
   * the kernel kills whatever is left. */
  int status = 0;
  for (;;) {
    pid_t pid = waitpid(-1, &status, 0);
    if (pid == child) break;
    if (pid < 0 && errno != EINTR) die("waitpid");
  }
  if (got == (ssize_t)sizeof exec_errno) {
    report(opt.status_fd, "exec_error", exec_errno);
    return 127;
  }
  if (WIFEXITED(status)) {
    report(opt.status_fd, "exit", WEXITSTATUS(status));
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    report(opt.status_fd, "signal", WTERMSIG(status));
    return 128 + WTERMSIG(status);
  }
  return FAIL_CODE;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "launch") == 0) return launch(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "init") == 0) return init(argc, argv);
  dprintf(2, "usage: runcell-exec launch|init ...\n");
  return FAIL_CODE;
}
