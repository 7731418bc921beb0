/* noop.c: the smallest useful PV guest: echoes its command line, prints its ready mark, then powers off, reboots, crashes or sleeps as told. */

#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/sched.h>
#include <xen/event_channel.h>
#include <xen/io/console.h>

/* The 64-bit PV boot ABI this file relies on; a header or flag mismatch must not build. */
_Static_assert(sizeof(void *) == 8, "x86_64 PV only");
_Static_assert(offsetof(start_info_t, nr_pages) == 32, "start_info.nr_pages");
_Static_assert(offsetof(start_info_t, flags) == 48, "start_info.flags");
_Static_assert(offsetof(start_info_t, console.domU.mfn) == 72, "start_info.console.domU.mfn");
_Static_assert(offsetof(start_info_t, console.domU.evtchn) == 80, "start_info.console.domU.evtchn");
_Static_assert(offsetof(start_info_t, cmd_line) == 128, "start_info.cmd_line");
_Static_assert(MAX_GUEST_CMDLINE == 1024, "start_info.cmd_line size");
_Static_assert(offsetof(struct xencons_interface, out) == 1024, "xencons out ring");
_Static_assert(offsetof(struct xencons_interface, out_cons) == 3080, "xencons out_cons");
_Static_assert(offsetof(struct xencons_interface, out_prod) == 3084, "xencons out_prod");
_Static_assert(__HYPERVISOR_sched_op == 29 && __HYPERVISOR_event_channel_op == 32,
	       "hypercall numbers (a compat __XEN_INTERFACE_VERSION__ renumbers them)");

#define XEN_PAGE_SHIFT		12
/* Xen writes one stub per hypercall into the hypercall page, this far apart. */
#define HYPERCALL_STRIDE	32

/*
 * How long (in TSC cycles, ~0.2 s at 2.5 GHz) we let the console back-end
 * drain the ring before giving up: output must not be lost to a shutdown
 * that races xenconsoled, but a guest nobody reads must still stop.
 */
#define CONS_WAIT_TSC		(1ULL << 29)

#define READY_MARK		"LIGHTVM-READY noop"

/* The ring is shared with a back-end on another CPU: order against it with real fences. */
#define mb()	__asm__ __volatile__("mfence" ::: "memory")
#define wmb()	__asm__ __volatile__("sfence" ::: "memory")

/*
 * Two-argument hypercall through the stub Xen wrote into hypercall_page.
 * Debug builds of Xen scribble on every argument register on return, and
 * syscall uses %rcx and %r11, so all of them are clobbered.
 */
#define HYPERCALL2(nr, arg1, arg2) __extension__ ({			\
	unsigned long a1_ = (unsigned long)(arg1);			\
	unsigned long a2_ = (unsigned long)(arg2);			\
	long ret_;							\
	__asm__ __volatile__("call hypercall_page + %c[off]"		\
			     : "=a" (ret_), "+D" (a1_), "+S" (a2_)	\
			     : [off] "i" ((nr) * HYPERCALL_STRIDE)	\
			     : "rcx", "r11", "rdx", "r8", "r9", "r10",	\
			       "memory");				\
	ret_;								\
})

static long sched_op(int cmd, void *arg)
{
	return HYPERCALL2(__HYPERVISOR_sched_op, cmd, arg);
}

static long evtchn_op(int cmd, void *arg)
{
	return HYPERCALL2(__HYPERVISOR_event_channel_op, cmd, arg);
}

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a" (lo), "=d" (hi));
	return ((uint64_t)hi << 32) | lo;
}

extern char _end[];

static struct {
	volatile struct xencons_interface *ring;	/* NULL: no usable console */
	evtchn_port_t port;
	/* Private producer index: bytes become visible only at cons_publish(). */
	XENCONS_RING_IDX prod;
	/* Bytes known free at the last read of out_cons, so we fence once per batch, not per byte. */
	uint32_t room;
	/* Set once the back-end stopped draining, so later output never waits again. */
	int dropping;
} cons;

static void cons_init(const start_info_t *si)
{
	xen_pfn_t mfn, pfn;

	/* dom0 has no console ring: the union holds console_info offsets instead. */
	if (si->flags & SIF_INITDOMAIN)
		return;
	mfn = si->console.domU.mfn;
	if (mfn >= MACH2PHYS_NR_ENTRIES)
		return;
	pfn = machine_to_phys_mapping[mfn];
	/*
	 * The builder maps all our pages at pfn << 12 (VIRT_BASE 0), so the
	 * translation only has to land in our memory and not on the image.
	 */
	if (pfn >= si->nr_pages || pfn < ((uintptr_t)_end >> XEN_PAGE_SHIFT))
		return;
	cons.ring = (volatile struct xencons_interface *)(pfn << XEN_PAGE_SHIFT);
	cons.port = si->console.domU.evtchn;
	cons.prod = cons.ring->out_prod;
}

static void cons_notify(void)
{
	struct evtchn_send send = { .port = cons.port };

	evtchn_op(EVTCHNOP_send, &send);
}

/* Free bytes in the out ring right now. */
static uint32_t cons_room(void)
{
	uint32_t used = cons.prod - cons.ring->out_cons;

	/* Our next stores into the ring must not pass this read of out_cons. */
	mb();
	/* A back-end that moved out_cons past our producer is broken: treat as full. */
	return used <= sizeof(cons.ring->out) ? sizeof(cons.ring->out) - used : 0;
}

/*
 * Yield to the back-end until at least `want` bytes are free, for at most
 * CONS_WAIT_TSC cycles. Returns the free bytes, or 0 on timeout.
 */
static uint32_t cons_wait(uint32_t want)
{
	uint64_t start = rdtsc();
	uint32_t room;

	while ((room = cons_room()) < want) {
		if (rdtsc() - start > CONS_WAIT_TSC)
			return 0;
		sched_op(SCHEDOP_yield, NULL);
	}
	return room;
}

static void cons_publish(void)
{
	if (!cons.ring || cons.ring->out_prod == cons.prod)
		return;
	/* The bytes must be visible before the index that announces them. */
	wmb();
	cons.ring->out_prod = cons.prod;
	cons_notify();
}

static void cons_putc(char c)
{
	if (!cons.ring || cons.dropping)
		return;
	if (cons.room == 0 && (cons.room = cons_room()) == 0) {
		/* Full: hand over what we have and give the back-end time to read it. */
		cons_publish();
		cons.room = cons_wait(1);
		if (cons.room == 0) {
			cons.dropping = 1;
			return;
		}
	}
	cons.ring->out[MASK_XENCONS_IDX(cons.prod, cons.ring->out)] = c;
	cons.prod++;
	cons.room--;
}

static void cons_puts(const char *s)
{
	while (*s)
		cons_putc(*s++);
}

/* Wait (bounded) until the back-end has read everything, so a shutdown loses nothing. */
static void cons_drain(void)
{
	if (!cons.ring || cons.dropping)
		return;
	cons_publish();
	cons_wait(sizeof(cons.ring->out));
}

/*
 * The command line comes from whoever created the domain: print only
 * printable ASCII so it cannot forge line breaks (a fake ready mark) or
 * send terminal escapes.
 */
static void cons_put_untrusted(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		cons_putc(c >= 0x20 && c < 0x7f ? (char)c : '?');
	}
}

static size_t bounded_len(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n] != '\0')
		n++;
	return n;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Does the word w[0..n) (no NULs inside) equal the string lit? */
static int word_is(const char *w, size_t n, const char *lit)
{
	size_t i;

	/* lit's NUL mismatches w's bytes, so this never reads past lit. */
	for (i = 0; i < n; i++)
		if (w[i] != lit[i])
			return 0;
	return lit[n] == '\0';
}

static const struct action {
	const char *word;
	unsigned int reason;
} actions[] = {
	{ "poweroff", SHUTDOWN_poweroff },
	{ "reboot", SHUTDOWN_reboot },
	{ "crash", SHUTDOWN_crash },
};

/* The first whole word of the command line that names an action, or NULL. */
static const struct action *find_action(const char *line, size_t len)
{
	size_t i = 0, start, a;

	while (i < len) {
		while (i < len && is_space(line[i]))
			i++;
		start = i;
		while (i < len && !is_space(line[i]))
			i++;
		if (i == start)
			break;
		for (a = 0; a < sizeof(actions) / sizeof(actions[0]); a++)
			if (word_is(line + start, i - start, actions[a].word))
				return &actions[a];
	}
	return NULL;
}

/*
 * Sleep without burning CPU: with event delivery masked (as it is from
 * boot) and no ports, SCHEDOP_poll blocks until some event arrives; an
 * event wakes us, we poll again, and the pending bit we never clear stays
 * harmless because nothing is ever delivered.
 */
static void __attribute__((noreturn)) sleep_forever(void)
{
	struct sched_poll poll = { .nr_ports = 0, .timeout = 0 };

	for (;;)
		if (sched_op(SCHEDOP_poll, &poll) < 0)
			sched_op(SCHEDOP_yield, NULL);
}

void noop_main(const start_info_t *si) __attribute__((noreturn));

void noop_main(const start_info_t *si)
{
	const char *line = (const char *)si->cmd_line;
	size_t len = bounded_len(line, MAX_GUEST_CMDLINE);
	const struct action *act;

	cons_init(si);

	cons_puts("lightvm-noop: cmdline '");
	cons_put_untrusted(line, len);
	cons_puts("'\r\n");
	cons_puts(READY_MARK "\r\n");
	cons_publish();

	act = find_action(line, len);
	if (act) {
		struct sched_shutdown shutdown = { .reason = act->reason };

		cons_puts("lightvm-noop: ");
		cons_puts(act->word);
		cons_puts("\r\n");
		cons_drain();
		sched_op(SCHEDOP_shutdown, &shutdown);
	}
	sleep_forever();
}
