// glibc functions that Swift's Glibc module does not expose.
#include <malloc.h>

// renameat2 is declared by <stdio.h> only under _GNU_SOURCE (glibc >= 2.28).
int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
#define LIGHTBOX_RENAME_EXCHANGE 2
