/* sys_arch.c: the one OS hook lwIP needs in NO_SYS mode: a millisecond clock. */

#include "lwip/sys.h"

#include "lightvm.h"

u32_t sys_now(void)
{
	return (u32_t)(lvm_now() / 1000000ULL);
}
