/* console.c: output on the domain's PV console ring, formatted printing, panic and shutdown. */

#include "rt.h"

#include <xen/io/console.h>

_Static_assert(offsetof(struct xencons_interface, out) == 1024, "xencons out ring");
_Static_assert(offsetof(struct xencons_interface, out_prod) == 3084, "xencons out_prod");

/*
 * How long (in TSC cycles, ~0.2 s at 2.5 GHz) we let the console back-end
 * drain the ring: output must not be lost to a shutdown that races
 * xenconsoled, but a guest nobody reads must still go on.
 */
#define CONS_WAIT_TSC		(1ULL << 29)

static struct {
	volatile struct xencons_interface *ring;	/* NULL: no usable console */
	evtchn_port_t port;
	/* Private producer index: bytes become visible only at publish(). */
	XENCONS_RING_IDX prod;
	/* Bytes known free at the last read of out_cons: one fence per batch, not per byte. */
	uint32_t room;
	/* Set once the back-end stopped draining, so later output never waits again. */
	int dropping;
} cons;

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a" (lo), "=d" (hi));
	return ((uint64_t)hi << 32) | lo;
}

/* Finds the ring from start_info; also after a resume, when its frame changed. */
static void attach(void)
{
	const start_info_t *si = rt_start_info;
	unsigned long pfn;

	cons.ring = NULL;
	/* dom0 has no console ring: the union holds console_info offsets instead. */
	if (si->flags & SIF_INITDOMAIN)
		return;
	pfn = mfn_to_pfn_checked(si->console.domU.mfn);
	if (pfn == ~0UL)
		return;
	cons.ring = pfn_to_virt(pfn);
	cons.port = si->console.domU.evtchn;
	cons.prod = cons.ring->out_prod;
	cons.room = 0;
}

void rt_console_init(void)
{
	attach();
}

void rt_console_resume(void)
{
	cons.dropping = 0;
	attach();
}

static uint32_t room_now(void)
{
	uint32_t used = cons.prod - cons.ring->out_cons;

	/* Our next stores into the ring must not pass this read of out_cons. */
	mb();
	/* A back-end that moved out_cons past our producer is broken: treat as full. */
	return used <= sizeof(cons.ring->out) ? sizeof(cons.ring->out) - used : 0;
}

/* Yields to the back-end until `want` bytes are free, for at most CONS_WAIT_TSC; the free bytes or 0. */
static uint32_t wait_room(uint32_t want)
{
	uint64_t start = rdtsc();
	uint32_t room;

	while ((room = room_now()) < want) {
		if (rdtsc() - start > CONS_WAIT_TSC)
			return 0;
		hyp_sched_op(SCHEDOP_yield, NULL);
	}
	return room;
}

static void publish(void)
{
	struct evtchn_send send;

	if (!cons.ring || cons.ring->out_prod == cons.prod)
		return;
	/* The bytes must be visible before the index that announces them. */
	wmb();
	cons.ring->out_prod = cons.prod;
	send.port = cons.port;
	hyp_evtchn_op(EVTCHNOP_send, &send);
}

static void putc_ring(char c)
{
	if (!cons.ring || cons.dropping)
		return;
	if (cons.room == 0 && (cons.room = room_now()) == 0) {
		/* Full: hand over what we have and give the back-end time to read it. */
		publish();
		cons.room = wait_room(1);
		if (cons.room == 0) {
			cons.dropping = 1;
			return;
		}
	}
	cons.ring->out[MASK_XENCONS_IDX(cons.prod, cons.ring->out)] = c;
	cons.prod++;
	cons.room--;
}

static void write_raw(const char *s, size_t n)
{
	while (n--) {
		/* Lines end in \r\n on a console, whatever the caller wrote. */
		if (*s == '\n')
			putc_ring('\r');
		putc_ring(*s++);
	}
}

void lvm_puts(const char *s)
{
	write_raw(s, strlen(s));
	publish();
}

void rt_vprintf(const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	write_raw(buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	publish();
}

int lvm_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rt_vprintf(fmt, ap);
	va_end(ap);
	return 0;
}

void lvm_put_untrusted(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		putc_ring(c >= 0x20 && c < 0x7f ? (char)c : '?');
	}
	publish();
}

void lvm_console_flush(void)
{
	if (!cons.ring || cons.dropping)
		return;
	publish();
	wait_room(sizeof(cons.ring->out));
}

void lvm_shutdown(unsigned int reason)
{
	struct sched_shutdown sd = { .reason = reason };

	lvm_console_flush();
	hyp_sched_op(SCHEDOP_shutdown, &sd);
	/* Xen refused: sleep rather than run on. */
	for (;;)
		hyp_sched_op(SCHEDOP_block, NULL);
}

void lvm_panic(const char *fmt, ...)
{
	va_list ap;

	lvm_puts(RT_TAG "fatal: ");
	va_start(ap, fmt);
	rt_vprintf(fmt, ap);
	va_end(ap);
	lvm_puts("\n");
	lvm_shutdown(SHUTDOWN_crash);
}

const char *lvm_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0: return "success";
	case LVM_ENOENT: return "no such entry";
	case LVM_EIO: return "I/O error";
	case LVM_E2BIG: return "too long";
	case LVM_EAGAIN: return "try again";
	case LVM_ENOMEM: return "out of memory";
	case LVM_EBUSY: return "busy";
	case LVM_ENODEV: return "no such device";
	case LVM_EINVAL: return "invalid value";
	case LVM_ENOSPC: return "no space left";
	case LVM_ERANGE: return "out of range";
	case LVM_EPROTO: return "protocol error";
	case LVM_ETIMEDOUT: return "timed out";
	default: return "unknown error";
	}
}
