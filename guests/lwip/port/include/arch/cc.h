/* arch/cc.h: lwIP's compiler and platform port for the lightvm runtime (freestanding x86_64, no libc headers beyond ours). */
#ifndef LVM_LWIP_ARCH_CC_H
#define LVM_LWIP_ARCH_CC_H

#include "lightvm.h"

/* gcc's freestanding headers give stddef and stdint; inttypes, limits and ctype are not there. */
#define LWIP_NO_INTTYPES_H	1
#define LWIP_NO_LIMITS_H	1
#define LWIP_NO_CTYPE_H		1
#define X8_F	"02x"
#define U16_F	"hu"
#define S16_F	"hd"
#define X16_F	"hx"
#define U32_F	"u"
#define S32_F	"d"
#define X32_F	"x"
#define SZT_F	"lu"
#ifndef INT_MAX
#define INT_MAX	__INT_MAX__
#endif
#define SSIZE_MAX	__LONG_MAX__
#define LWIP_NO_UNISTD_H	1
typedef long ssize_t;

#define BYTE_ORDER	LITTLE_ENDIAN
#define LWIP_RAND()	(lvm_random())

#define LWIP_PLATFORM_DIAG(x)	do { lvm_printf x; } while (0)
#define LWIP_PLATFORM_ASSERT(x)	lvm_panic("lwIP assertion \"%s\" failed at %s:%d", x, __FILE__, __LINE__)

#endif
