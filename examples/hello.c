#include <stdio.h>

int main(void) {
  printf("hello from a runcell sandbox\n");
  return 0;
}
