/*
 * runcell-exec: the two small steps of a sandbox run that must happen in a
 * process of their own and cannot be done from Node.js.
 *
 *   runcell-exec launch UID GID [--view=DIR --rootfs=DIR --helper-dir=DIR
 *                       [--writable-root=BYTES,INODES [--own=A,B,...]] [--host-overlays=keep]]
 *                       [--mask-files=A,B,... --mask-dirs=C,D,...] [--netns=PATH]
 *                       [--join-cgroup] PROCS_FILE... -- BWRAP ARGS...
 *     Runs on the host as root. Puts bubblewrap in the run's cgroups (so it and
 *     every process it starts are accounted and limited from their first
 *     instruction); with --view, builds the view (below) in a mount
 *     namespace of its own; drops to the slot's unprivileged uid/gid with no
 *     supplementary groups and no_new_privs, then runs bubblewrap as a child
 *     subreaper and exits with its status once no descendant is left.
 *
 *     How bubblewrap enters the run's cgroup: on cgroup v2 (one PROCS_FILE, in a
 *     cgroup2 mount) it is started there with clone3(CLONE_INTO_CGROUP): no
 *     process moves, so no wait on the kernel's cgroup lock, and the launcher
 *     itself stays outside the run's cgroup (an OOM kill of the whole run,
 *     memory.oom.group, cannot take it). Otherwise (cgroup v1, a kernel before
 *     5.7, a container's seccomp profile that refuses clone3, or
 *     --join-cgroup) the launcher joins the cgroups by writing its pid into
 *     each PROCS_FILE and forks, protected from the OOM killer (its child
 *     gets the old score back). It tells runcell which on the status fd 4,
 *     before anything else: "cgroup clone3", or "cgroup joined ERRNO" (why
 *     clone3 was not used; 0: not tried).
 *
 *     The view: a small read-only tmpfs on DIR holding root/ (the rootfs),
 *     helper/ (this helper's directory), both as overlays named by
 *     /proc/self/fd paths, dev/ (empty files and links to bind devices onto)
 *     and empty/. bubblewrap binds from there, so that the job's
 *     /proc/self/mountinfo shows paths inside these mounts, never where the
 *     rootfs, the helper or the data directory live on the host.
 *
 *     The host's overlay mounts that neither the view nor bubblewrap needs (other images, a container
 *     engine's roots) are detached from the view's namespace: bubblewrap reads the mount table once
 *     per bind, and the kernel formats each overlay's layer list every time. --host-overlays=keep
 *     (bench:sandbox's "before") leaves them.
 *
 *     With --writable-root=BYTES,INODES [--own=A,B,...] (after --helper-dir), root/ is a writable
 *     overlay instead: the rootfs as its lower layer, its upper and work directories on a fresh tmpfs
 *     of BYTES and INODES (nosuid, nodev) mounted on the view's rw/, which bubblewrap never binds;
 *     each directory of --own (relative to /) made in the upper beforehand and owned by UID:GID
 *     (the job is not root: root-owned directories of the image stay closed to it).
 *
 *     With --netns=PATH (after the view and mask options; network egress only, see
 *     sandbox/network.ts), joins the network namespace runcell made for the
 *     run, while still root; bubblewrap then runs without --unshare-net.
 *
 *     With --mask-files/--mask-dirs, the /proc masks: bubblewrap is given
 *     --info-fd 5 (its sandbox's pid) and runcell-exec init --sync-fds=6,7.
 *     Once init runs (bubblewrap's set-up is over, the job not yet started)
 *     it writes a byte on 6; a masker process (forked as root before the
 *     launcher joins the run's cgroups, so none of the run's processes is
 *     root) joins the sandbox's mount namespace, mounts /dev/null (read-only,
 *     nodev) over each file and a read-only root-owned tmpfs over each
 *     directory of /proc, writes a byte on 7 and exits. init starts the job
 *     only on that byte: if anything fails, init reads end of file and exits
 *     without starting it. Plain mount(2) calls, where bubblewrap's
 *     --ro-bind costs a path resolution, a mount table parse and a remount
 *     each (measured in docs/performance.md).
 *
 *   runcell-exec init --status-fd=N [--sync-fds=R,W] [--cpu=S] [--fsize=B]
 *                     [--nofile=N] [--stack=B] -- COMMAND ARGS...
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAIL_CODE 125
/* The fds launch gives bubblewrap when it masks /proc itself (sandbox/process.ts has the same numbers). */
#define INFO_FD 5
#define READY_FD 6
#define GO_FD 7
#define PROC_SUPER_MAGIC 0x9fa0
#define CGROUP2_SUPER_MAGIC 0x63677270
/* Where the launcher reports how bubblewrap entered the run's cgroup (init's status record follows). */
#define STATUS_FD 4
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
/* struct clone_args of <linux/sched.h> (Linux 5.7's size), spelled out: that header clashes with <sched.h>. */
struct runcell_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};
#define RUNCELL_CLONE_INTO_CGROUP 0x200000000ULL

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
  /* A writable root (--writable-root=BYTES,INODES --own=A,B,...): NULL for the read-only one. */
  const char *writable, *own;
  /* --host-overlays=keep: leave the host's overlay mounts in the view's namespace (bench:sandbox's "before"). */
  const char *host_overlays;
  uid_t uid;
  gid_t gid;
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

/* A relative path of the rootfs made of plain names: no empty, "." or ".." component, no leading '/'. */
static int plain_relative_path(const char *path) {
  if (path[0] == '\0' || path[0] == '/' || strlen(path) >= 256) return 0;
  for (const char *part = path; part;) {
    const char *slash = strchr(part, '/');
    size_t len = slash ? (size_t)(slash - part) : strlen(part);
    if (len == 0 || (len == 1 && part[0] == '.') || (len == 2 && part[0] == '.' && part[1] == '.')) return 0;
    part = slash ? slash + 1 : NULL;
  }
  return 1;
}

/* Makes `path` (and any missing parent) a directory of the upper layer. Parents get the lower's owner and
 * mode (so the merged directory looks the same); `path` itself the lower's mode and the job's owner. Runs
 * before any process of the job exists, on a tmpfs only this launcher has ever seen. */
static void own_directory(int upper, int lower, const char *path, uid_t uid, gid_t gid) {
  if (!plain_relative_path(path)) {
    errno = EINVAL;
    die(path);
  }
  char prefix[256];
  for (const char *end = path;; end++) {
    if (*end != '/' && *end != '\0') continue;
    size_t len = (size_t)(end - path);
    memcpy(prefix, path, len);
    prefix[len] = '\0';
    struct stat st = {.st_mode = S_IFDIR | 0755, .st_uid = 0, .st_gid = 0};
    if (fstatat(lower, prefix, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
      errno = ENOTDIR;
      die(prefix);
    }
    int last = *end == '\0';
    if (mkdirat(upper, prefix, 0700) != 0) {
      if (errno != EEXIST) die(prefix);
      if (!last) continue; /* made before, as a parent (lower's owner) or owned: left as it is */
    }
    if (fchownat(upper, prefix, last ? uid : st.st_uid, last ? gid : st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) die(prefix);
    /* chown cleared any setgid bit: the mode goes after it. */
    if (fchmodat(upper, prefix, st.st_mode & 07777, 0) != 0) die(prefix);
    if (last) return;
  }
}

static int open_dir_at(int dir, const char *name) {
  int fd = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die(name);
  return fd;
}

/* The writable root: an overlay of the rootfs (lower) under an upper and work directory on a fresh tmpfs
 * of BYTES and INODES, all in this launcher's mount namespace. The host's namespace never has a path to
 * what the job writes, and it all goes when the namespace does (the run's last process). */
static void writable_overlay(const struct view *v, int view_dir, const char *target) {
  unsigned long long bytes = 0, inodes = 0;
  if (sscanf(v->writable, "%llu,%llu", &bytes, &inodes) != 2 || bytes == 0 || inodes == 0) {
    dprintf(2, "runcell-exec: bad --writable-root %s\n", v->writable);
    _exit(FAIL_CODE);
  }
  char data[160], path[PATH_MAX];
  snprintf(data, sizeof data, "size=%llu,nr_inodes=%llu,mode=700", bytes, inodes);
  snprintf(path, sizeof path, "%s/rw", v->dir);
  mount_or_die("runcell", path, "tmpfs", MS_NOSUID | MS_NODEV, data);
  int rw = open_dir_at(view_dir, "rw");
  if (mkdirat(rw, "upper", 0755) != 0 || mkdirat(rw, "work", 0700) != 0) die("upper");
  int upper = open_dir_at(rw, "upper"), work = open_dir_at(rw, "work");
  int lower = open(v->rootfs, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (lower < 0) die(v->rootfs);
  char *own = strdup(v->own ? v->own : "");
  for (char *name = strtok(own, ","); name; name = strtok(NULL, ",")) own_directory(upper, lower, name, v->uid, v->gid);
  free(own);
  snprintf(data, sizeof data, "lowerdir=/proc/self/fd/%d,upperdir=/proc/self/fd/%d,workdir=/proc/self/fd/%d", lower, upper, work);
  mount_or_die("runcell", target, "overlay", MS_NOSUID | MS_NODEV, data);
  close(lower);
  close(work);
  close(upper);
  close(rw);
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

/* Is `path` `dir` itself or one of its ancestors? Both absolute and normalized (mountinfo's, argv's). */
static int ancestor_or_self(const char *path, const char *dir) {
  size_t len = strlen(path);
  if (strcmp(path, "/") == 0) return 1;
  return strncmp(path, dir, len) == 0 && (dir[len] == '\0' || dir[len] == '/');
}

/* mountinfo writes a space, tab, newline or backslash of a path as \ooo. */
static void unescape_mountinfo(char *s) {
  char *out = s;
  for (char *in = s; *in; out++) {
    if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' && in[3] >= '0' && in[3] <= '7') {
      *out = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
      in += 4;
    } else *out = *in++;
  }
  *out = '\0';
}

/* Must an overlay mounted on `point` stay in the view's namespace? "/" and every ancestor of the view, of
 * the system directories bubblewrap is run from, and of every absolute path in its argv (bind sources,
 * the binary itself) stay, and so does whatever is inside the view; anything else no one here needs. */
static int overlay_needed(const char *point, const char *view_dir, char **bwrap_argv) {
  static const char *const system_dirs[] = {"/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/proc", "/dev"};
  if (ancestor_or_self(view_dir, point) || ancestor_or_self(point, view_dir)) return 1;
  for (size_t i = 0; i < sizeof system_dirs / sizeof *system_dirs; i++)
    if (ancestor_or_self(point, system_dirs[i])) return 1;
  for (char **arg = bwrap_argv; *arg; arg++)
    if ((*arg)[0] == '/' && ancestor_or_self(point, *arg)) return 1;
  return 0;
}

/* The host's other overlay mounts (its images of many layers, a container engine's roots) are detached
 * from the view's namespace (a copy of the host's, slave, so nothing reaches the host). Why: bubblewrap
 * reads /proc/self/mountinfo once per bind, and the kernel formats every overlay's layer list each time,
 * escaping it byte by byte: a quarter of bubblewrap's CPU on a host with six images (docs/performance.md).
 * Only a cost: a detach that fails leaves the mount where it was, as before. The points are read first,
 * then detached from the last (the deepest) up: the table is not changed while it is read. */
static void detach_host_overlays(const char *view_dir, char **bwrap_argv) {
  FILE *table = fopen("/proc/self/mountinfo", "re");
  if (!table) die("/proc/self/mountinfo");
  char *line = NULL, **points = NULL;
  size_t cap = 0, count = 0;
  while (getline(&line, &cap, table) > 0) {
    char point[PATH_MAX], *dash = strstr(line, " - ");
    if (!dash || strncmp(dash, " - overlay ", 11) != 0 || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1) continue;
    unescape_mountinfo(point);
    if (overlay_needed(point, view_dir, bwrap_argv)) continue;
    char **more = realloc(points, (count + 1) * sizeof *points);
    if (!more || !(more[count] = strdup(point))) die("mountinfo");
    points = more;
    count++;
  }
  free(line);
  fclose(table);
  while (count > 0) {
    count--;
    umount2(points[count], MNT_DETACH | UMOUNT_NOFOLLOW);
    free(points[count]);
  }
  free(points);
}

static void make_view(const struct view *v, char **bwrap_argv) {
  if (unshare(CLONE_NEWNS) != 0) die("unshare(CLONE_NEWNS)");
  /* Nothing mounted here reaches the host's namespace. */
  mount_or_die(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL);
  mount_or_die("runcell", v->dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=64k,nr_inodes=64");
  int dir = open(v->dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir < 0) die(v->dir);
  static const char *const dirs[] = {"root", "helper", "empty", "dev", "rw"};
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
  if (v->writable) writable_overlay(v, dir, target);
  else overlay(v->rootfs, empty, target);
  snprintf(target, sizeof target, "%s/helper", v->dir);
  overlay(v->helper_dir, empty, target);
  mount_or_die(NULL, v->dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  close(empty);
  close(dev);
  close(dir);
  if (!v->host_overlays) detach_host_overlays(v->dir, bwrap_argv);
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

/* The /proc entries launch masks: comma-separated names (mount.ts PROC_MASKS), or NULL. */
struct masks {
  const char *files, *dirs;
};

/* Stops the masker with the run failed: init reads end of file on GO_FD and exits without starting the
 * job (so the sandbox ends). Nothing is killed from here: a pid this process holds may be stale by now. */
static void abort_masking(const char *what) {
  if (errno != 0) dprintf(2, "runcell-exec: masking /proc: %s: %s\n", what, strerror(errno));
  else dprintf(2, "runcell-exec: masking /proc: %s\n", what);
  _exit(FAIL_CODE);
}

/* The sandbox's pid from bubblewrap's --info-fd JSON ({"child-pid": N, ...}), read to its end. */
static pid_t read_child_pid(int fd) {
  char buf[1024];
  size_t len = 0;
  for (;;) {
    ssize_t got = read(fd, buf + len, sizeof buf - 1 - len);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    len += (size_t)got;
    if (len == sizeof buf - 1) break;
  }
  buf[len] = '\0';
  const char *key = strstr(buf, "\"child-pid\":");
  if (!key) return -1;
  long pid = strtol(key + strlen("\"child-pid\":"), NULL, 10);
  return pid > 1 && pid <= INT_MAX ? (pid_t)pid : -1;
}

/* Whether `pid` is still bubblewrap's child (its sandbox), and not a process that took a reused pid. */
static int child_of(pid_t pid, pid_t parent) {
  char path[64], stat[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t got = read(fd, stat, sizeof stat - 1);
  close(fd);
  if (got <= 0) return 0;
  stat[got] = '\0';
  const char *end = strrchr(stat, ')'); /* the name may hold spaces and parentheses */
  int ppid = 0;
  char state;
  return end && sscanf(end + 1, " %c %d", &state, &ppid) == 2 && ppid == parent;
}

/* mount(2) over /proc/NAME for each NAME of a comma-separated list: the first with `first`, the others
 * as binds of the first (a bind keeps the read-only and nodev flags of what it copies). */
static int mask_entries(char *list, int (*first)(const char *target)) {
  char source[96] = "";
  for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
    if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') || strlen(name) > 64) {
      errno = EINVAL;
      return -1;
    }
    char target[96];
    snprintf(target, sizeof target, "/proc/%s", name);
    if (source[0] == '\0') {
      if (first(target) != 0) return -1;
      snprintf(source, sizeof source, "%s", target);
    } else if (mount(source, target, NULL, MS_BIND, NULL) != 0) {
      return -1;
    }
  }
  return 0;
}

static const unsigned long MASK_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;

/* /dev/null (the sandbox's, a bind of the host's) read-only and nodev: opening the file fails with EACCES. */
static int mask_file(const char *target) {
  if (mount("/dev/null", target, NULL, MS_BIND, NULL) != 0) return -1;
  return mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MASK_FLAGS, NULL);
}

/* An empty read-only tmpfs owned by the host's root (not mapped in the job's user namespace: it cannot
 * chmod it), without uid= in its options. */
static int mask_dir(const char *target) {
  return mount("runcell", target, "tmpfs", MASK_FLAGS, "size=4k,nr_inodes=2,mode=555");
}

/* Joins the mount namespace of the sandbox (init is waiting there, the job not started) and masks its /proc. */
static void mask_proc(pid_t bwrap, pid_t sandbox, struct masks *masks) {
  int pidfd = (int)syscall(SYS_pidfd_open, sandbox, 0);
  if (pidfd < 0) abort_masking("pidfd_open");
  if (!child_of(sandbox, bwrap)) abort_masking("the sandbox's pid is not bubblewrap's child");
  if (setns(pidfd, CLONE_NEWNS) != 0) abort_masking("setns");
  close(pidfd);
  /* setns made the sandbox's root ours: /proc is bubblewrap's procfs on the read-only rootfs. */
  struct statfs fs;
  if (statfs("/proc", &fs) != 0 || fs.f_type != PROC_SUPER_MAGIC) abort_masking("/proc is not a procfs");
  if (masks->files && mask_entries((char *)masks->files, mask_file) != 0) abort_masking("file");
  if (masks->dirs && mask_entries((char *)masks->dirs, mask_dir) != 0) abort_masking("directory");
}

/* Whether bubblewrap's argv hands INFO_FD on and runs init with --ready-fd and --go-fd (fail closed:
 * an init that does not wait for GO_FD would start the job before the masks). Only bubblewrap's own
 * options and init's are looked at, never the job's command. */
static int argv_syncs(char **args) {
  int info = 0, ready = 0, go = 0, i = 0;
  for (; args[i]; i++) {
    if (strcmp(args[i], "--") == 0 && args[i + 1] && args[i + 2] && strcmp(args[i + 2], "init") == 0) break;
    if (strcmp(args[i], "--info-fd") == 0 && args[i + 1] && strcmp(args[i + 1], "5") == 0) info = 1;
  }
  for (i = args[i] ? i + 3 : i; args[i] && strcmp(args[i], "--") != 0; i++) {
    if (strcmp(args[i], "--ready-fd=6") == 0) ready = 1;
    if (strcmp(args[i], "--go-fd=7") == 0) go = 1;
  }
  return info && ready && go;
}

static void drop_privileges(uid_t uid, gid_t gid) {
  if (setgroups(0, NULL) != 0) die("setgroups");
  if (setresgid(gid, gid, gid) != 0) die("setresgid");
  if (setresuid(uid, uid, uid) != 0) die("setresuid");
  if (geteuid() == 0 || getegid() == 0) {
    dprintf(2, "runcell-exec: still root after dropping privileges\n");
    _exit(FAIL_CODE);
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("no_new_privs");
}

/* Changing credentials clears the death signal: set it (again), then make sure the parent did not die in between. */
static void die_with(pid_t parent) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) die("pdeathsig");
  if (getppid() != parent) _exit(FAIL_CODE);
}

/* A pipe whose ends sit above the fds bubblewrap is given, close-on-exec. */
static void high_pipe(int ends[2]) {
  int raw[2];
  if (pipe2(raw, O_CLOEXEC) != 0) die("pipe");
  for (int i = 0; i < 2; i++) {
    ends[i] = fcntl(raw[i], F_DUPFD_CLOEXEC, 10);
    if (ends[i] < 0) die("fcntl");
    close(raw[i]);
  }
}

/* Waits for every descendant; the exit status is bubblewrap's. */
static int reap_all(pid_t bwrap) {
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

/* The pipes between bubblewrap (and init), the masker and the launcher; [0] reads, [1] writes. */
struct handshake {
  int info[2], ready[2], go[2], bwrap_pid[2];
};

static ssize_t read_retrying(int fd, void *buf, size_t len) {
  ssize_t got;
  do got = read(fd, buf, len);
  while (got < 0 && errno == EINTR);
  return got;
}

/* The masker: forked as root before the launcher joins the run's cgroups and drops to the slot's uid, so
 * no process of the run is ever root. It waits for init's ready byte, masks /proc in the sandbox, writes
 * the go byte and exits. */
static void start_masker(struct masks *masks, struct handshake *h) {
  high_pipe(h->info);
  high_pipe(h->ready);
  high_pipe(h->go);
  high_pipe(h->bwrap_pid);
  pid_t launcher = getpid();
  pid_t masker = fork();
  if (masker < 0) die("fork");
  if (masker > 0) {
    close(h->info[0]);
    close(h->ready[0]);
    close(h->go[1]);
    close(h->bwrap_pid[0]);
    return;
  }
  die_with(launcher);
  /* Only stderr (the job's, where the launcher's own errors go too) is kept. */
  for (int fd = 0; fd <= 4; fd++)
    if (fd != 2) close(fd);
  close(h->info[1]);
  close(h->ready[1]);
  close(h->go[0]);
  close(h->bwrap_pid[1]);
  pid_t bwrap;
  errno = 0;
  if (read_retrying(h->bwrap_pid[0], &bwrap, sizeof bwrap) != (ssize_t)sizeof bwrap) _exit(FAIL_CODE); /* the launcher failed first */
  pid_t sandbox = read_child_pid(h->info[0]);
  if (sandbox < 0) {
    errno = 0;
    abort_masking("no child-pid from bubblewrap");
  }
  char byte;
  ssize_t got = read_retrying(h->ready[0], &byte, 1);
  if (got == 0) errno = 0; /* end of file: bubblewrap failed before init (it said why) */
  if (got != 1) abort_masking("init did not start");
  mask_proc(bwrap, sandbox, masks);
  if (write(h->go[1], "g", 1) != 1) abort_masking("go");
  _exit(0);
}

/* How bubblewrap enters the run's cgroup: cgroup_fd >= 0, started in it by clone3; else the launcher joins
 * the procs files (count of them from first) and forks. */
struct entry {
  int cgroup_fd;
  char **procs;
  int count;
  int joined;
};

/* The run's cgroup directory, opened for clone3, when there is one cgroup2 procs file; else -1. */
static int cgroup2_dir(char **procs, int count) {
  if (count != 1) return -1;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", procs[0]);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return -1;
  *slash = '\0';
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die(dir);
  struct statfs fs;
  if (fstatfs(fd, &fs) != 0 || fs.f_type != CGROUP2_SUPER_MAGIC) {
    close(fd);
    return -1;
  }
  return fd;
}

static pid_t clone_into_cgroup(int cgroup_fd) {
  struct runcell_clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = RUNCELL_CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = (uint64_t)cgroup_fd;
  return (pid_t)syscall(SYS_clone3, &args, sizeof args);
}

/* The launcher's OOM score before it joined the run's cgroup, for its child to restore ("": unchanged). */
static char saved_oom_score[16];

static int write_oom_score(const char *value) {
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int ok = write(fd, value, strlen(value)) == (ssize_t)strlen(value);
  close(fd);
  return ok ? 0 : -1;
}

/* Joins the run's cgroups, exempt from the OOM killer where it may be (CAP_SYS_RESOURCE; a container may
 * not have it): with memory.oom.group an OOM kill would otherwise take the launcher with its sandbox. */
static void join_cgroups(struct entry *e) {
  char old[16] = "";
  int fd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);
  ssize_t got = fd < 0 ? -1 : read(fd, old, sizeof old - 1);
  if (fd >= 0) close(fd);
  if (got > 0 && write_oom_score("-1000") == 0) memcpy(saved_oom_score, old, sizeof old);
  for (int i = 0; i < e->count; i++) write_pid(e->procs[i]);
  e->joined = 1;
}

/* Starts bubblewrap's process (still root) in the run's cgroup; reports how on the status fd. */
static pid_t start_in_cgroup(struct entry *e) {
  int why = 0;
  if (e->cgroup_fd >= 0) {
    pid_t pid = clone_into_cgroup(e->cgroup_fd);
    if (pid >= 0) {
      if (pid > 0) dprintf(STATUS_FD, "cgroup clone3\n");
      return pid;
    }
    why = errno; /* ENOSYS: no clone3 (kernel, or a seccomp profile); E2BIG/EINVAL: no CLONE_INTO_CGROUP */
  }
  if (!e->joined) join_cgroups(e);
  dprintf(STATUS_FD, "cgroup joined %d\n", why);
  return fork();
}

/* Drops to the slot's uid and runs bubblewrap; with a masker, hands bubblewrap its end of the handshake. */
static int run_bwrap(uid_t uid, gid_t gid, struct handshake *h, char **bwrap_argv, struct entry *e) {
  pid_t parent = getppid();
  pid_t launcher = getpid();
  /* bubblewrap's monitor exits without reaping the sandbox's pid 1, which
   * then falls to the host's init (a zombie forever under an init that does
   * not reap, such as node as a container's pid 1). As a subreaper we inherit
   * and reap it, and exit only when no descendant is left. */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) die("subreaper");
  pid_t bwrap = start_in_cgroup(e);
  if (bwrap < 0) die("fork");
  if (bwrap == 0) {
    /* Raising one's own score needs no privilege: the sandbox is the OOM killer's again. */
    if (saved_oom_score[0] && write_oom_score(saved_oom_score) != 0) die("oom_score_adj");
    drop_privileges(uid, gid);
    if (getppid() != launcher) _exit(FAIL_CODE);
    /* dup2 clears close-on-exec on these three only. */
    if (h && (dup2(h->info[1], INFO_FD) < 0 || dup2(h->ready[1], READY_FD) < 0 || dup2(h->go[0], GO_FD) < 0)) die("dup2");
    execv(bwrap_argv[0], bwrap_argv);
    die(bwrap_argv[0]);
  }
  if (e->cgroup_fd >= 0) close(e->cgroup_fd);
  drop_privileges(uid, gid);
  die_with(parent);
  if (h) {
    /* The masker learns bubblewrap's pid (to check the sandbox's parent); only bubblewrap keeps the other ends. */
    if (write(h->bwrap_pid[1], &bwrap, sizeof bwrap) != (ssize_t)sizeof bwrap) die("masker");
    close(h->bwrap_pid[1]);
    close(h->info[1]);
    close(h->ready[1]);
    close(h->go[0]);
  }
  return reap_all(bwrap);
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
  view.writable = take_option(argc, argv, &first, "--writable-root");
  view.own = take_option(argc, argv, &first, "--own");
  view.host_overlays = take_option(argc, argv, &first, "--host-overlays");
  view.uid = uid;
  view.gid = gid;
  if ((view.dir || view.rootfs || view.helper_dir) && !(view.dir && view.rootfs && view.helper_dir)) {
    dprintf(2, "runcell-exec: --view, --rootfs and --helper-dir go together, in that order\n");
    return FAIL_CODE;
  }
  if ((view.writable || view.own) && !(view.dir && view.writable)) {
    dprintf(2, "runcell-exec: --writable-root [--own] come after the view's options\n");
    return FAIL_CODE;
  }
  if (view.host_overlays && !(view.dir && strcmp(view.host_overlays, "keep") == 0)) {
    dprintf(2, "runcell-exec: --host-overlays=keep comes after the view's options\n");
    return FAIL_CODE;
  }
  struct masks masks;
  masks.files = take_option(argc, argv, &first, "--mask-files");
  masks.dirs = take_option(argc, argv, &first, "--mask-dirs");
  const char *netns = take_option(argc, argv, &first, "--netns");
  int join_only = first < argc && strcmp(argv[first], "--join-cgroup") == 0;
  if (join_only) first++;
  int sep = find_separator(argc, argv, first);
  if (sep < 0 || sep + 1 >= argc) {
    dprintf(2, "runcell-exec: missing -- BWRAP\n");
    return FAIL_CODE;
  }
  struct handshake handshake;
  int masking = masks.files || masks.dirs;
  if (masking) {
    if (!argv_syncs(argv + sep + 1)) {
      dprintf(2, "runcell-exec: --mask-* needs bubblewrap's --info-fd %d and init's --ready-fd=%d --go-fd=%d\n", INFO_FD, READY_FD, GO_FD);
      return FAIL_CODE;
    }
    start_masker(&masks, &handshake);
  }
  struct entry entry = {join_only ? -1 : cgroup2_dir(argv + first, sep - first), argv + first, sep - first, 0};
  /* Without clone3 the launcher joins first, as before: the view's mounts are charged to the run too. */
  if (entry.cgroup_fd < 0) join_cgroups(&entry);
  /* The network namespace first: its path is opened in the host's mount table, before the view detaches
   * overlays from the launcher's (an overlay above /run/netns would otherwise have to be named as needed). */
  if (netns) join_netns(netns);
  if (view.dir) make_view(&view, argv + sep + 1);
  return run_bwrap(uid, gid, masking ? &handshake : NULL, argv + sep + 1, &entry);
}

struct init_options {
  int status_fd;
  long long cpu_seconds, fsize_bytes, nofile, stack_bytes; /* -1 = leave */
  int ready_fd, go_fd; /* -1 = no set-up to wait for */
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

/* The launcher finishes the sandbox from outside (the /proc masks) between these two bytes. Anything
 * but its byte (end of file: it failed or died) and the job is never started. */
static void await_launcher(int ready_fd, int go_fd) {
  if (write(ready_fd, "r", 1) != 1) die("ready");
  close(ready_fd);
  char byte;
  ssize_t got;
  do got = read(go_fd, &byte, 1);
  while (got < 0 && errno == EINTR);
  close(go_fd);
  if (got != 1) {
    dprintf(2, "runcell-exec: the launcher did not finish the sandbox\n");
    _exit(FAIL_CODE);
  }
}

static int init(int argc, char **argv) {
  struct init_options opt = {-1, -1, -1, -1, -1, -1, -1};
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
    else if (strncmp(arg, "--ready-fd=", 11) == 0) opt.ready_fd = (int)value;
    else if (strncmp(arg, "--go-fd=", 8) == 0) opt.go_fd = (int)value;
    else { dprintf(2, "runcell-exec: unknown option %s\n", arg); return FAIL_CODE; }
  }

  if ((opt.ready_fd < 0) != (opt.go_fd < 0)) {
    dprintf(2, "runcell-exec: --ready-fd and --go-fd go together\n");
    return FAIL_CODE;
  }
  if (opt.ready_fd >= 0) await_launcher(opt.ready_fd, opt.go_fd);
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
