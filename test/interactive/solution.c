/* The guessing game's solution; argv[1] picks a way to misbehave. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "good";
  if (!strcmp(mode, "exit")) return 0;
  if (!strcmp(mode, "close")) { fclose(stdout); sleep(30); return 0; }
  if (!strcmp(mode, "flood")) { for (;;) fputs("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", stdout); }
  if (!strcmp(mode, "deadlock")) { char reply[16]; return scanf("%15s", reply) == 1 ? 0 : 1; }
  if (!strcmp(mode, "wrong-then-spin")) { printf("! 0\n"); fflush(stdout); volatile unsigned long x = 0; for (;;) x++; }
  if (!strcmp(mode, "spin")) { volatile unsigned long x = 0; for (;;) x++; }
  if (!strcmp(mode, "wrong")) { printf("! 0\n"); return 0; }
  if (!strcmp(mode, "garbage")) { printf("hello 1\n"); return 0; }
  long lo = 1, hi = 1000;
  while (lo <= hi) {
    long mid = (lo + hi) / 2;
    char reply[4];
    printf("? %ld\n", mid);
    fflush(stdout);
    if (scanf("%3s", reply) != 1) return 1;
    if (reply[0] == '=') { printf("! %ld\n", mid); return 0; }
    if (reply[0] == '>') lo = mid + 1; else hi = mid - 1;
  }
  return 1;
}
