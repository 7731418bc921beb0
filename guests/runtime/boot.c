/* boot.c: from start_info to app_main: memory layout, shared info, trap table, callbacks, the command line; fatal traps. */

#include "rt.h"

#include <xen/callback.h>
#include <xen/vcpu.h>

/* The 64-bit PV boot ABI this runtime relies on; a header or flag mismatch must not build. */
_Static_assert(sizeof(void *) == 8, "x86_64 PV only");
_Static_assert(offsetof(start_info_t, nr_pages) == 32, "start_info.nr_pages");
_Static_assert(offsetof(start_info_t, console.domU.mfn) == 72, "start_info.console.domU.mfn");
_Static_assert(offsetof(start_info_t, cmd_line) == 128, "start_info.cmd_line");
_Static_assert(__HYPERVISOR_sched_op == 29 && __HYPERVISOR_event_channel_op == 32,
	       "hypercall numbers (a compat __XEN_INTERFACE_VERSION__ renumbers them)");

start_info_t *rt_start_info;
shared_info_t *rt_shared_info;
unsigned long rt_first_free_pfn, rt_end_pfn;

/* Our own copy: start_info's is rewritten on resume, and we NUL-terminate ours. */
static char cmdline[MAX_GUEST_CMDLINE + 1];

/* A page of our own whose mapping we point at the shared info frame. */
static uint8_t shared_info_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

extern char _end[];
void app_main(void);
void rt_hypervisor_callback(void);
void rt_failsafe_callback(void);
void rt_boot(start_info_t *si) __attribute__((noreturn));
void rt_trap_fatal(long code, const unsigned long *frame) __attribute__((noreturn));

unsigned long pfn_to_mfn(unsigned long pfn)
{
	const unsigned long *p2m = (const unsigned long *)rt_start_info->mfn_list;

	return pfn < rt_start_info->nr_pages ? p2m[pfn] : ~0UL;
}

unsigned long virt_to_mfn(const void *p)
{
	return pfn_to_mfn(virt_to_pfn(p));
}

unsigned long mfn_to_pfn_checked(unsigned long mfn)
{
	unsigned long pfn;

	if (mfn >= MACH2PHYS_NR_ENTRIES)
		return ~0UL;
	pfn = machine_to_phys_mapping[mfn];
	/* The M2P is global: only a pfn whose p2m entry points back is ours. */
	if (pfn >= rt_start_info->nr_pages || pfn_to_mfn(pfn) != mfn)
		return ~0UL;
	return pfn;
}

int rt_map_frame(void *va, unsigned long mfn, int writable)
{
	uint64_t pte;

	if (mfn == ~0UL)
		mfn = virt_to_mfn(va);
	pte = ((uint64_t)mfn << PAGE_SHIFT) | PTE_PRESENT | PTE_ACCESSED | PTE_DIRTY;
	if (writable)
		pte |= PTE_RW;
	return hyp_update_va_mapping((unsigned long)va, pte, UVMF_INVLPG | UVMF_LOCAL) ? -LVM_EIO : 0;
}

void rt_map_shared_info(void)
{
	if (rt_map_frame(shared_info_page, rt_start_info->shared_info >> PAGE_SHIFT, 1))
		lvm_panic("cannot map the shared info page");
	rt_shared_info = (shared_info_t *)shared_info_page;
}

/* A saved image must hold only our own frames: give the page its own frame back. */
void rt_unmap_shared_info(void)
{
	rt_map_frame(shared_info_page, ~0UL, 1);
}

/* Is virtual address va mapped by the page tables Xen built for us? */
static int va_mapped(unsigned long va)
{
	const uint64_t *table = (const uint64_t *)rt_start_info->pt_base;
	int level;

	for (level = 3; level >= 0; level--) {
		uint64_t e = table[(va >> (PAGE_SHIFT + 9 * level)) & 511];
		unsigned long pfn;

		if (!(e & PTE_PRESENT))
			return 0;
		if (level == 0 || (e & PTE_PSE))
			return 1;
		pfn = mfn_to_pfn_checked((e & PTE_ADDR_MASK) >> PAGE_SHIFT);
		if (pfn == ~0UL)
			return 0;
		table = pfn_to_virt(pfn);
	}
	return 0;
}

static unsigned long max_ul(unsigned long a, unsigned long b)
{
	return a > b ? a : b;
}

/*
 * Free memory starts after everything the domain builder placed behind
 * our image (frame list, start info, XenStore and console pages, page
 * tables, its boot stack) and ends where its initial mapping ends: the
 * builder maps at least 512 KiB past those, rounded up to 4 MiB.
 */
static void layout_init(const start_info_t *si)
{
	unsigned long first = virt_to_pfn(_end + PAGE_SIZE - 1);
	unsigned long p2m_end = virt_to_pfn((const char *)si->mfn_list + si->nr_pages * sizeof(unsigned long) + PAGE_SIZE - 1);
	unsigned long pfn;

	first = max_ul(first, p2m_end);
	first = max_ul(first, virt_to_pfn(si) + 1);
	first = max_ul(first, virt_to_pfn((const void *)si->pt_base) + si->nr_pt_frames);
	pfn = mfn_to_pfn_checked(si->store_mfn);
	if (pfn != ~0UL)
		first = max_ul(first, pfn + 1);
	pfn = mfn_to_pfn_checked(si->console.domU.mfn);
	if (pfn != ~0UL)
		first = max_ul(first, pfn + 1);
	/* The builder's boot stack follows its page tables. */
	first += 1;
	for (pfn = first; pfn < si->nr_pages; pfn++)
		if (!va_mapped((unsigned long)pfn_to_virt(pfn)))
			break;
	rt_first_free_pfn = first;
	rt_end_pfn = pfn;
}

static void traps_init(void)
{
	extern char rt_trap_0[], rt_trap_1[], rt_trap_2[], rt_trap_3[], rt_trap_4[],
		rt_trap_5[], rt_trap_6[], rt_trap_7[], rt_trap_8[], rt_trap_9[],
		rt_trap_10[], rt_trap_11[], rt_trap_12[], rt_trap_13[], rt_trap_14[],
		rt_trap_16[], rt_trap_17[], rt_trap_18[], rt_trap_19[];
	/* int3 and into may be raised from any ring (DPL 3); the rest only by the CPU. */
	static trap_info_t table[] = {
		{ 0, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_0 },
		{ 1, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_1 },
		{ 2, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_2 },
		{ 3, 3, FLAT_KERNEL_CS, (unsigned long)rt_trap_3 },
		{ 4, 3, FLAT_KERNEL_CS, (unsigned long)rt_trap_4 },
		{ 5, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_5 },
		{ 6, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_6 },
		{ 7, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_7 },
		{ 8, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_8 },
		{ 9, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_9 },
		{ 10, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_10 },
		{ 11, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_11 },
		{ 12, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_12 },
		{ 13, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_13 },
		{ 14, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_14 },
		{ 16, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_16 },
		{ 17, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_17 },
		{ 18, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_18 },
		{ 19, 0, FLAT_KERNEL_CS, (unsigned long)rt_trap_19 },
		{ 0, 0, 0, 0 },
	};
	struct callback_register event = {
		.type = CALLBACKTYPE_event,
		.address = (unsigned long)rt_hypervisor_callback,
	};
	struct callback_register failsafe = {
		.type = CALLBACKTYPE_failsafe,
		.flags = CALLBACKF_mask_events,
		.address = (unsigned long)rt_failsafe_callback,
	};

	if (hyp_set_trap_table(table))
		lvm_panic("set_trap_table failed");
	if (hyp_callback_op(CALLBACKOP_register, &event) ||
	    hyp_callback_op(CALLBACKOP_register, &failsafe))
		lvm_panic("cannot register the event callbacks");
}

static const char *const trap_names[20] = {
	"divide error", "debug", "NMI", "breakpoint", "overflow", "bound range",
	"invalid opcode", "device not available", "double fault", "coprocessor overrun",
	"invalid TSS", "segment not present", "stack fault", "general protection",
	"page fault", "reserved", "x87 error", "alignment check", "machine check",
	"SIMD error",
};

void rt_trap_fatal(long code, const unsigned long *frame)
{
	unsigned int vec = code & 0xff;
	/* The frame Xen pushed: rcx, r11, then the error code when the vector has one, then rip. */
	unsigned int rip_at = 2 + ((code >> 8) & 1);

	if (code < 0)
		lvm_panic("failsafe callback: Xen could not return to the guest");
	if (vec == 14)
		lvm_panic("page fault at rip %#lx, address %#lx, error %#lx", frame[rip_at],
			  (unsigned long)rt_vcpu()->arch.cr2, frame[2]);
	lvm_panic("exception %u (%s) at rip %#lx", vec, vec < 20 ? trap_names[vec] : "?", frame[rip_at]);
}

const char *lvm_cmdline(void)
{
	return cmdline;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Finds the next word from *pos: its start and length, or 0 at the end. */
static size_t next_word(size_t *pos, const char **start)
{
	size_t i = *pos, n;

	while (cmdline[i] && is_space(cmdline[i]))
		i++;
	*start = cmdline + i;
	for (n = 0; cmdline[i] && !is_space(cmdline[i]); i++)
		n++;
	*pos = i;
	return n;
}

int lvm_cmdline_has(const char *word)
{
	size_t pos = 0, n, wl = strlen(word);
	const char *w;

	while ((n = next_word(&pos, &w)) > 0)
		if (n == wl && memcmp(w, word, n) == 0)
			return 1;
	return 0;
}

int lvm_cmdline_value(const char *key, char *buf, size_t len)
{
	size_t pos = 0, n, kl = strlen(key);
	const char *w;

	while ((n = next_word(&pos, &w)) > 0) {
		if (n <= kl || w[kl] != '=' || memcmp(w, key, kl) != 0)
			continue;
		n -= kl + 1;
		if (n + 1 > len)
			return -LVM_E2BIG;
		memcpy(buf, w + kl + 1, n);
		buf[n] = '\0';
		return (int)n;
	}
	return -LVM_ENOENT;
}

void rt_boot(start_info_t *si)
{
	size_t i;

	rt_start_info = si;
	rt_console_init();
	for (i = 0; i < MAX_GUEST_CMDLINE && si->cmd_line[i]; i++)
		cmdline[i] = (char)si->cmd_line[i];
	cmdline[i] = '\0';
	layout_init(si);
	rt_map_shared_info();
	traps_init();
	rt_events_init();
	rt_mm_init();
	app_main();
	lvm_shutdown(SHUTDOWN_poweroff);
}
