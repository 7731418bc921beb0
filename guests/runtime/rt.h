/* rt.h: what the runtime's parts share with each other (not for apps). */
#ifndef LVM_RT_H
#define LVM_RT_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#include <xen/xen.h>
#include <xen/sched.h>
#include <xen/event_channel.h>

#include <string.h>

#include "lightvm.h"
#include "hypercall.h"

#define PAGE_SHIFT	12
#define PAGE_SIZE	4096UL
#define PAGE_MASK	(~(PAGE_SIZE - 1))

/* Page-table entry bits (x86). */
#define PTE_PRESENT	0x001ULL
#define PTE_RW		0x002ULL
#define PTE_USER	0x004ULL
#define PTE_ACCESSED	0x020ULL
#define PTE_DIRTY	0x040ULL
#define PTE_PSE		0x080ULL
#define PTE_ADDR_MASK	0x000ffffffffff000ULL

#define mb()	__asm__ __volatile__("mfence" ::: "memory")
#define rmb()	__asm__ __volatile__("lfence" ::: "memory")
#define wmb()	__asm__ __volatile__("sfence" ::: "memory")
#define barrier() __asm__ __volatile__("" ::: "memory")
/* The names xen/io/ring.h expects. */
#define xen_mb()	mb()
#define xen_rmb()	rmb()
#define xen_wmb()	wmb()

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* boot.c: what Xen handed us, valid after boot (updated in place on resume). */
extern start_info_t *rt_start_info;
extern shared_info_t *rt_shared_info;
extern unsigned long rt_first_free_pfn, rt_end_pfn;

static inline struct vcpu_info *rt_vcpu(void)
{
	return &rt_shared_info->vcpu_info[0];
}

/* The builder maps our pages 1:1 at VIRT_BASE + (pfn << 12); see runtime.mk for why the base. */
static inline void *pfn_to_virt(unsigned long pfn)
{
	return (void *)(LVM_VIRT_BASE + (pfn << PAGE_SHIFT));
}

static inline unsigned long virt_to_pfn(const void *p)
{
	return ((unsigned long)p - LVM_VIRT_BASE) >> PAGE_SHIFT;
}

unsigned long pfn_to_mfn(unsigned long pfn);
unsigned long virt_to_mfn(const void *p);
/* Our pfn of machine frame mfn, or ~0UL when it is not ours. */
unsigned long mfn_to_pfn_checked(unsigned long mfn);
/* Maps machine frame mfn at va (a page of our own), or back to va's own frame when mfn is ~0UL. */
int rt_map_frame(void *va, unsigned long mfn, int writable);
void rt_map_shared_info(void);
void rt_unmap_shared_info(void);

/* console.c */
void rt_console_init(void);
void rt_console_resume(void);
void rt_vprintf(const char *fmt, va_list ap);

/* libc/printf.c */
#include <stdio.h>

/* events.c */
typedef void rt_evtchn_handler(evtchn_port_t port, void *arg);
void rt_events_init(void);
void rt_events_resume(void);
int rt_evtchn_bind(evtchn_port_t port, rt_evtchn_handler *fn, void *arg);
void rt_evtchn_unbind(evtchn_port_t port);
int rt_evtchn_alloc_unbound(domid_t remote, evtchn_port_t *port);
int rt_evtchn_bind_virq(uint32_t virq, evtchn_port_t *port);
void rt_evtchn_close(evtchn_port_t port);
void rt_evtchn_notify(evtchn_port_t port);
void rt_evtchn_unmask(evtchn_port_t port);
void rt_irq_disable(void);
void rt_irq_enable(void);

/* time.c */
void rt_time_resume(uint64_t before);

/* mm.c */
void rt_mm_init(void);

/* gnttab.c */
typedef uint32_t grant_ref_t;
int rt_gnttab_init(void);
int rt_gnttab_grant(domid_t domid, unsigned long mfn, int readonly, grant_ref_t *ref);
/* 0 once the grant is revoked; -LVM_EBUSY while the other side still uses it. */
int rt_gnttab_end(grant_ref_t ref);
void rt_gnttab_suspend(void);
int rt_gnttab_resume(int cancelled);

/* xenstore.c */
int rt_xs_init(void);
void rt_xs_resume(int cancelled);
/* Reads an unsigned decimal value, checked: -LVM_EINVAL for garbage, -LVM_ERANGE above max. */
int rt_xs_read_uint(const char *path, unsigned long max, unsigned long *out);

/* power.c */
void rt_p2m_publish(void);

/* netfront.c: reconnects open devices after a resume */
void rt_net_resume_all(int cancelled);

/* The short string "lightvm: " the runtime prefixes its own messages with. */
#define RT_TAG "lightvm: "

#endif
