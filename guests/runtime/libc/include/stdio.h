/* stdio.h: formatting into buffers only (libc/printf.c); output goes through lightvm.h. */
#ifndef LVM_STDIO_H
#define LVM_STDIO_H

#include <stddef.h>
#include <stdarg.h>

int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

#endif
