/* events.c: event channels: binding, masks, the upcall that dispatches pending ports, and waiting for events. */

#include "rt.h"

#include <xen/vcpu.h>

/* Ports this runtime serves; Xen hands a domain the lowest free ports, and we use a handful. */
#define RT_MAX_PORTS	256
#define BITS_PER_WORD	64

static struct {
	rt_evtchn_handler *fn;
	void *arg;
} handlers[RT_MAX_PORTS];

/* Set by the upcall whenever any port fired; lvm_wait() consumes it. */
static volatile int event_seen;
static evtchn_port_t timer_port;

void rt_irq_disable(void)
{
	rt_vcpu()->evtchn_upcall_mask = 1;
	barrier();
}

void rt_irq_enable(void)
{
	struct vcpu_info *v = rt_vcpu();

	barrier();
	v->evtchn_upcall_mask = 0;
	barrier();
	/* An event that came while masked is delivered on the way out of any hypercall. */
	if (v->evtchn_upcall_pending)
		hyp_xen_version(0, NULL);
}

static void mask_port(evtchn_port_t port)
{
	__asm__ __volatile__("lock btsq %1, %0"
			     : "+m" (rt_shared_info->evtchn_mask[port / BITS_PER_WORD])
			     : "r" ((unsigned long)(port % BITS_PER_WORD)) : "memory");
}

void rt_evtchn_unmask(evtchn_port_t port)
{
	struct evtchn_unmask op = { .port = port };

	/* The hypercall clears the mask and re-raises an event that came while masked. */
	hyp_evtchn_op(EVTCHNOP_unmask, &op);
}

void rt_evtchn_upcall(void);

void rt_evtchn_upcall(void)
{
	struct vcpu_info *v = rt_vcpu();
	shared_info_t *s = rt_shared_info;
	unsigned long sel;

	v->evtchn_upcall_pending = 0;
	/* Read the selector only after clearing pending, so a new event re-sets it. */
	sel = __atomic_exchange_n(&v->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
	while (sel) {
		unsigned int w = __builtin_ctzl(sel);
		unsigned long bits;

		sel &= sel - 1;
		bits = s->evtchn_pending[w] & ~s->evtchn_mask[w];
		while (bits) {
			unsigned int b = __builtin_ctzl(bits);
			evtchn_port_t port = w * BITS_PER_WORD + b;

			bits &= bits - 1;
			__atomic_and_fetch(&s->evtchn_pending[w], ~(1UL << b), __ATOMIC_SEQ_CST);
			if (port < RT_MAX_PORTS && handlers[port].fn)
				handlers[port].fn(port, handlers[port].arg);
		}
	}
	event_seen = 1;
}

int rt_evtchn_bind(evtchn_port_t port, rt_evtchn_handler *fn, void *arg)
{
	if (port >= RT_MAX_PORTS)
		return -LVM_ERANGE;
	handlers[port].fn = fn;
	handlers[port].arg = arg;
	rt_evtchn_unmask(port);
	return 0;
}

void rt_evtchn_unbind(evtchn_port_t port)
{
	if (port >= RT_MAX_PORTS)
		return;
	mask_port(port);
	handlers[port].fn = NULL;
}

int rt_evtchn_alloc_unbound(domid_t remote, evtchn_port_t *port)
{
	struct evtchn_alloc_unbound op = { .dom = DOMID_SELF, .remote_dom = remote };
	long rc = hyp_evtchn_op(EVTCHNOP_alloc_unbound, &op);

	if (rc)
		return -LVM_EIO;
	*port = op.port;
	return 0;
}

int rt_evtchn_bind_virq(uint32_t virq, evtchn_port_t *port)
{
	struct evtchn_bind_virq op = { .virq = virq, .vcpu = 0 };

	if (hyp_evtchn_op(EVTCHNOP_bind_virq, &op))
		return -LVM_EIO;
	*port = op.port;
	return 0;
}

void rt_evtchn_close(evtchn_port_t port)
{
	struct evtchn_close op = { .port = port };

	rt_evtchn_unbind(port);
	hyp_evtchn_op(EVTCHNOP_close, &op);
}

void rt_evtchn_notify(evtchn_port_t port)
{
	struct evtchn_send op = { .port = port };

	hyp_evtchn_op(EVTCHNOP_send, &op);
}

/* The timer VIRQ wakes lvm_wait(); Xen's default 100 Hz tick would only cost CPU. */
static void bind_timer(void)
{
	if (rt_evtchn_bind_virq(VIRQ_TIMER, &timer_port) || rt_evtchn_bind(timer_port, NULL, NULL))
		lvm_panic("cannot bind the timer VIRQ");
	HYPERCALL3(__HYPERVISOR_vcpu_op, VCPUOP_stop_periodic_timer, 0, NULL);
}

void rt_events_init(void)
{
	unsigned int i;

	/* Every port stays masked until something binds a handler to it. */
	for (i = 0; i < ARRAY_SIZE(rt_shared_info->evtchn_mask); i++)
		rt_shared_info->evtchn_mask[i] = ~0UL;
	bind_timer();
	rt_irq_enable();
}

/* A resumed domain has none of its old channels: the callers rebind theirs after this. */
void rt_events_resume(void)
{
	unsigned int i;

	for (i = 0; i < RT_MAX_PORTS; i++)
		handlers[i].fn = NULL;
	for (i = 0; i < ARRAY_SIZE(rt_shared_info->evtchn_mask); i++)
		rt_shared_info->evtchn_mask[i] = ~0UL;
	bind_timer();
}

void lvm_wait(uint64_t deadline)
{
	rt_irq_disable();
	if (event_seen || (deadline && deadline <= lvm_now())) {
		event_seen = 0;
		rt_irq_enable();
		return;
	}
	hyp_set_timer_op(deadline);
	/* Blocks with events re-enabled atomically: an event that came since the check wakes it at once. */
	hyp_sched_op(SCHEDOP_block, NULL);
	event_seen = 0;
}
