/* string.c: the memory and string functions the runtime and lwIP need; byte loops, as nothing here moves much data. */

#include <string.h>
#include <stdlib.h>

/* gcc may turn these very loops into calls to themselves: keep them loops. */
#define NO_BUILTIN __attribute__((optimize("no-tree-loop-distribute-patterns")))

NO_BUILTIN void *memcpy(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	/* Whole words first: frames and pages are the large copies here. */
	while (n >= 8 && !(((unsigned long)d | (unsigned long)s) & 7)) {
		*(unsigned long *)(void *)d = *(const unsigned long *)(const void *)s;
		d += 8;
		s += 8;
		n -= 8;
	}
	while (n--)
		*d++ = *s++;
	return dst;
}

NO_BUILTIN void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d <= s || d >= s + n)
		return memcpy(dst, src, n);
	while (n--)
		d[n] = s[n];
	return dst;
}

NO_BUILTIN void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

size_t strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}

int abs(int x)
{
	return x < 0 ? -x : x;
}

int atoi(const char *s)
{
	int v = 0, neg = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	/* Accumulate negatively so INT_MIN parses; overflow saturates instead of being undefined. */
	while (*s >= '0' && *s <= '9') {
		int d = *s++ - '0';

		v = v < (-__INT_MAX__ - 1 + d) / 10 ? -__INT_MAX__ - 1 : v * 10 - d;
	}
	return neg ? v : (v == -__INT_MAX__ - 1 ? __INT_MAX__ : -v);
}
