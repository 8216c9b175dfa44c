/*
 * view-teardown: what a mount namespace of its own costs a short-lived process
 * (docs/performance.md, "The view's floor"). Not an npm bench script: a probe,
 * built and run by hand as root:
 *
 *   gcc -O2 -o /tmp/view-teardown bench/probes/view-teardown.c
 *   /tmp/view-teardown ROUNDS ROOTFS
 *
 * Each round forks one child per variant, in a shuffled order, and reaps it:
 *   plain   the child exits at once
 *   unshare unshare(CLONE_NEWNS), then exits (the namespace dies with it)
 *   view    unshare, MS_SLAVE, a tmpfs and a read-only overlay of ROOTFS on it
 *           (the shape of runcell-exec launch's view), then exits
 *   detach  as view, then setns back to the parent's namespace before exiting
 *           (the view is then freed by the kernel when the last reference goes:
 *           still in this child's setns, so the cost only moves)
 * and prints, per variant, p50/p25 of fork-to-reaped, of the child's work up to
 * its last instruction, of its last instruction to being reaped (the exit path,
 * where the namespace's teardown waits for an RCU grace period), and the
 * median CPU (the child's rusage).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { PLAIN, UNSHARE, VIEW, DETACH, VARIANTS };
static const char *names[] = {"plain", "unshare", "view", "detach"};

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void must(int ok, const char *what) {
  if (!ok) {
    perror(what);
    _exit(1);
  }
}

static char dir[64]; /* made once by the parent; each child mounts on it in its own namespace */

static void view(const char *rootfs) {
  must(unshare(CLONE_NEWNS) == 0, "unshare");
  must(mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) == 0, "slave");
  must(mount("probe", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k") == 0, "tmpfs");
  char lower[8300], root[4096], empty[4096];
  snprintf(root, sizeof root, "%s/root", dir);
  snprintf(empty, sizeof empty, "%s/empty", dir);
  must(mkdir(root, 0755) == 0 && mkdir(empty, 0755) == 0, "mkdir");
  snprintf(lower, sizeof lower, "lowerdir=%s:%s", rootfs, empty);
  must(mount("overlay", root, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, lower) == 0, "overlay");
}

static void child(int variant, const char *rootfs, int host_ns, double *last) {
  if (variant == UNSHARE) must(unshare(CLONE_NEWNS) == 0, "unshare");
  if (variant == VIEW || variant == DETACH) view(rootfs);
  if (variant == DETACH) must(setns(host_ns, CLONE_NEWNS) == 0, "setns");
  *last = now();
  _exit(0);
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double at(double *v, int n, double q) {
  qsort(v, n, sizeof *v, cmp);
  return v[(int)(q * n)];
}

int main(int argc, char **argv) {
  if (argc != 3) return fprintf(stderr, "usage: view-teardown ROUNDS ROOTFS\n"), 2;
  int rounds = atoi(argv[1]);
  snprintf(dir, sizeof dir, "/tmp/view-teardown-%d", (int)getpid());
  must(mkdir(dir, 0700) == 0, dir);
  int host_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  double *last = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  double *total[VARIANTS], *work[VARIANTS], *exitpath[VARIANTS], *cpu[VARIANTS];
  for (int v = 0; v < VARIANTS; v++) {
    total[v] = calloc(rounds, sizeof(double));
    work[v] = calloc(rounds, sizeof(double));
    exitpath[v] = calloc(rounds, sizeof(double));
    cpu[v] = calloc(rounds, sizeof(double));
  }
  srand(1);
  for (int r = 0; r < rounds; r++) {
    int order[VARIANTS] = {PLAIN, UNSHARE, VIEW, DETACH};
    for (int i = VARIANTS - 1; i > 0; i--) {
      int j = rand() % (i + 1), t = order[i];
      order[i] = order[j], order[j] = t;
    }
    for (int i = 0; i < VARIANTS; i++) {
      int v = order[i];
      double t0 = now();
      pid_t pid = fork();
      if (pid == 0) child(v, argv[2], host_ns, last);
      int status;
      struct rusage ru;
      must(wait4(pid, &status, 0, &ru) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "child");
      double t1 = now();
      total[v][r] = t1 - t0;
      work[v][r] = *last - t0;
      exitpath[v][r] = t1 - *last;
      cpu[v][r] = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    }
  }
  printf("variant  total p50  p25 | to last instruction p50 | last instruction to reaped p50  p25 | CPU p50 (ms)\n");
  for (int v = 0; v < VARIANTS; v++)
    printf("%-8s %9.3f %5.3f | %23.3f | %30.3f %5.3f | %7.3f\n", names[v], at(total[v], rounds, 0.5), at(total[v], rounds, 0.25),
           at(work[v], rounds, 0.5), at(exitpath[v], rounds, 0.5), at(exitpath[v], rounds, 0.25), at(cpu[v], rounds, 0.5));
  rmdir(dir);
  return 0;
}
