/* A testlib-protocol interactor without testlib.h: `interactor input output answer`.
 * The input holds the secret 1..1000 and a mode: 0 plays the guessing game, 1 never reads (sleeps),
 * 2 floods queries without reading, 3 burns CPU before playing.
 * Exit 0 OK, 1 WA, 2 PE, 3 FAIL, as testlib's. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "FAIL usage: interactor input output answer\n"); return 3; }
  FILE *in = fopen(argv[1], "r");
  long secret, mode = 0;
  if (!in || fscanf(in, "%ld", &secret) != 1) { fprintf(stderr, "FAIL the input has no secret\n"); return 3; }
  if (fscanf(in, "%ld", &mode) != 1) mode = 0;
  FILE *out = fopen(argv[2], "w");
  if (!out) { fprintf(stderr, "FAIL cannot open the output file %s\n", argv[2]); return 3; }
  if (mode == 1) { sleep(30); return 0; }
  if (mode == 2) { for (;;) { fputs("? noise\n", stdout); fflush(stdout); } }
  if (mode == 3) { volatile unsigned long x = 0; for (unsigned long i = 0; i < 400000000UL; i++) x += i; }
  for (int queries = 0; queries < 64; queries++) {
    char op[8];
    long x;
    if (scanf("%7s", op) != 1) { fprintf(stderr, "wrong answer: unexpected end of file after %d queries\n", queries); return 1; }
    if (strcmp(op, "?") != 0 && strcmp(op, "!") != 0) { fprintf(stderr, "presentation error: unknown command %s\n", op); return 2; }
    if (scanf("%ld", &x) != 1) { fprintf(stderr, "presentation error: no number after %s\n", op); return 2; }
    if (op[0] == '!') {
      fprintf(out, "%ld\n", x);
      if (x == secret) { fprintf(stderr, "ok found %ld in %d queries\n", secret, queries); return 0; }
      fprintf(stderr, "wrong answer: %ld is not the secret %ld\n", x, secret);
      return 1;
    }
    printf("%s\n", secret > x ? ">" : secret < x ? "<" : "=");
    fflush(stdout);
  }
  fprintf(stderr, "wrong answer: too many queries\n");
  return 1;
}
