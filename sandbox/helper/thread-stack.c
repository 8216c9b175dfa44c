/*
 * thread-stack.o: linked into every C and C++ program runcell compiles.
 *
 * The job's RLIMIT_STACK is its memory limit, so that the main thread can
 * recurse as deep as the memory allows (what judges promise). glibc also
 * takes RLIMIT_STACK as the default stack of every new thread: under a
 * 4 GiB limit each pthread_create would reserve 4 GiB, which fails where
 * overcommit is strict or the host has less memory than that. This
 * constructor puts the default back to the usual 8 MiB before main();
 * a program that asks for a stack size still gets it.
 */
#define _GNU_SOURCE
#include <pthread.h>

#define THREAD_STACK_BYTES (8UL << 20)

__attribute__((constructor)) static void runcell_thread_stack(void) {
  pthread_attr_t attr;
  if (pthread_getattr_default_np(&attr) != 0) return;
  size_t size = 0;
  if (pthread_attr_getstacksize(&attr, &size) == 0 && size > THREAD_STACK_BYTES) {
    pthread_attr_setstacksize(&attr, THREAD_STACK_BYTES);
    pthread_setattr_default_np(&attr);
  }
  pthread_attr_destroy(&attr);
}
