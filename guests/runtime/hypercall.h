/* hypercall.h: calls into Xen through the stubs it writes into hypercall_page (runtime-internal). */
#ifndef LVM_HYPERCALL_H
#define LVM_HYPERCALL_H

#include <stdint.h>
#include <xen/xen.h>

/* Xen writes one stub per hypercall into the hypercall page, this far apart. */
#define HYPERCALL_STRIDE	32

/*
 * Debug builds of Xen scribble on every argument register on return, and
 * the syscall path uses %rcx and %r11, so all of them are clobbered.
 */
#define HYPERCALL3(nr, a1, a2, a3) __extension__ ({			\
	unsigned long a1_ = (unsigned long)(a1);			\
	unsigned long a2_ = (unsigned long)(a2);			\
	unsigned long a3_ = (unsigned long)(a3);			\
	long ret_;							\
	__asm__ __volatile__("call hypercall_page + %c[off]"		\
			     : "=a" (ret_), "+D" (a1_), "+S" (a2_),	\
			       "+d" (a3_)				\
			     : [off] "i" ((nr) * HYPERCALL_STRIDE)	\
			     : "rcx", "r11", "r8", "r9", "r10", "memory");	\
	ret_;								\
})

#define HYPERCALL4(nr, a1, a2, a3, a4) __extension__ ({		\
	unsigned long a1_ = (unsigned long)(a1);			\
	unsigned long a2_ = (unsigned long)(a2);			\
	unsigned long a3_ = (unsigned long)(a3);			\
	register unsigned long a4_ __asm__("r10") = (unsigned long)(a4); \
	long ret_;							\
	__asm__ __volatile__("call hypercall_page + %c[off]"		\
			     : "=a" (ret_), "+D" (a1_), "+S" (a2_),	\
			       "+d" (a3_), "+r" (a4_)			\
			     : [off] "i" ((nr) * HYPERCALL_STRIDE)	\
			     : "rcx", "r11", "r8", "r9", "memory");	\
	ret_;								\
})

#define HYPERCALL1(nr, a1)		HYPERCALL3(nr, a1, 0, 0)
#define HYPERCALL2(nr, a1, a2)		HYPERCALL3(nr, a1, a2, 0)

static inline long hyp_sched_op(int cmd, void *arg)
{
	return HYPERCALL2(__HYPERVISOR_sched_op, cmd, arg);
}

static inline long hyp_evtchn_op(int cmd, void *arg)
{
	return HYPERCALL2(__HYPERVISOR_event_channel_op, cmd, arg);
}

static inline long hyp_update_va_mapping(unsigned long va, uint64_t pte, unsigned long flags)
{
	return HYPERCALL3(__HYPERVISOR_update_va_mapping, va, pte, flags);
}

static inline long hyp_set_timer_op(uint64_t deadline)
{
	return HYPERCALL1(__HYPERVISOR_set_timer_op, deadline);
}

static inline long hyp_grant_table_op(int cmd, void *uop, unsigned int count)
{
	return HYPERCALL3(__HYPERVISOR_grant_table_op, cmd, uop, count);
}

static inline long hyp_callback_op(int cmd, const void *arg)
{
	return HYPERCALL2(__HYPERVISOR_callback_op, cmd, arg);
}

static inline long hyp_set_trap_table(const void *table)
{
	return HYPERCALL1(__HYPERVISOR_set_trap_table, table);
}

static inline long hyp_xen_version(int cmd, void *arg)
{
	return HYPERCALL2(__HYPERVISOR_xen_version, cmd, arg);
}

static inline long hyp_mmu_update(const mmu_update_t *req, unsigned int count)
{
	return HYPERCALL4(__HYPERVISOR_mmu_update, req, count, NULL, DOMID_SELF);
}

#endif
