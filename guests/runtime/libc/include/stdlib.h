/* stdlib.h: allocation (the runtime's malloc) and the odd helper, for the runtime and lwIP. */
#ifndef LVM_STDLIB_H
#define LVM_STDLIB_H

#include <stddef.h>

void *malloc(size_t n);
void *calloc(size_t n, size_t size);
void free(void *p);
int abs(int x);
int atoi(const char *s);

#endif
