/* power.c: control/shutdown requests, the memory frame list a save needs, and suspend with a resume that reconnects everything. */

#include "rt.h"
#include "noxs_rt.h"

#define P2M_PER_PAGE	(PAGE_SIZE / sizeof(unsigned long))

static unsigned long *frame_list_list, *frame_lists;
static unsigned int n_frame_lists;
static int power_ready, power_noxs;

/*
 * The save code in dom0 finds our pfn -> mfn list through a two-level
 * list of its frames anchored in the shared info; frames change on every
 * resume in a new domain, so it is rewritten then.
 */
void rt_p2m_publish(void)
{
	const unsigned long *p2m = (const unsigned long *)rt_start_info->mfn_list;
	unsigned long nr = rt_start_info->nr_pages;
	unsigned long p2m_pages = (nr + P2M_PER_PAGE - 1) / P2M_PER_PAGE, i;

	for (i = 0; i < p2m_pages; i++)
		frame_lists[i] = virt_to_mfn(p2m + i * P2M_PER_PAGE);
	for (i = 0; i < n_frame_lists; i++)
		frame_list_list[i] = virt_to_mfn((uint8_t *)frame_lists + i * PAGE_SIZE);
	rt_shared_info->arch.max_pfn = nr;
	wmb();
	rt_shared_info->arch.pfn_to_mfn_frame_list_list = virt_to_mfn(frame_list_list);
}

int lvm_power_init(void)
{
	unsigned long p2m_pages = (rt_start_info->nr_pages + P2M_PER_PAGE - 1) / P2M_PER_PAGE;
	int rc;

	if (power_ready)
		return 0;
	n_frame_lists = (unsigned int)((p2m_pages + P2M_PER_PAGE - 1) / P2M_PER_PAGE);
	if (n_frame_lists > P2M_PER_PAGE)
		return -LVM_E2BIG;
	frame_list_list = lvm_alloc_pages(1);
	frame_lists = lvm_alloc_pages(n_frame_lists);
	if (!frame_list_list || !frame_lists)
		return -LVM_ENOMEM;
	rt_p2m_publish();
	rc = rt_gnttab_init();
	if (rc)
		return rc;
	/* Over noxs the power device carries the requests and XenStore is never touched. */
	if (rt_devices_noxs()) {
		rc = rt_noxs_power_init();
		if (rc)
			return rc;
		power_noxs = 1;
		power_ready = 1;
		return 0;
	}
	rc = lvm_xs_watch("control/shutdown");
	if (rc) {
		lvm_printf(RT_TAG "power: cannot watch control/shutdown: %s\n", lvm_strerror(rc));
		return rc;
	}
	power_ready = 1;
	return 0;
}

enum lvm_power_request lvm_power_poll(void)
{
	static const struct {
		const char *word;
		enum lvm_power_request req;
	} words[] = {
		{ "poweroff", LVM_POWER_POWEROFF },
		{ "halt", LVM_POWER_POWEROFF },
		{ "reboot", LVM_POWER_REBOOT },
		{ "suspend", LVM_POWER_SUSPEND },
	};
	char buf[32];
	unsigned int i;
	int rc;

	if (power_noxs)
		return rt_noxs_power_poll();
	if (!power_ready || !lvm_xs_watch_pending("control/shutdown"))
		return LVM_POWER_NONE;
	rc = lvm_xs_read("control/shutdown", buf, sizeof(buf));
	if (rc == -LVM_ENOENT || rc == 0)
		return LVM_POWER_NONE;
	if (rc < 0) {
		lvm_printf(RT_TAG "power: control/shutdown unreadable: %s\n", lvm_strerror(rc));
		return LVM_POWER_NONE;
	}
	for (i = 0; i < ARRAY_SIZE(words); i++)
		if (strcmp(buf, words[i].word) == 0) {
			/* Clearing the node is the acknowledgement the toolstack waits for. */
			lvm_xs_write("control/shutdown", "");
			return words[i].req;
		}
	lvm_puts(RT_TAG "power: ignoring control/shutdown '");
	lvm_put_untrusted(buf, (size_t)rc);
	lvm_puts("'\n");
	lvm_xs_write("control/shutdown", "");
	return LVM_POWER_NONE;
}

static unsigned long to_pfn(unsigned long mfn)
{
	unsigned long pfn = mfn_to_pfn_checked(mfn);

	return pfn == ~0UL ? mfn : pfn;
}

int lvm_suspend(void)
{
	start_info_t *si = rt_start_info;
	struct sched_shutdown sd = { .reason = SHUTDOWN_suspend };
	unsigned long si_mfn = virt_to_mfn(si);
	uint64_t before = lvm_now();
	int cancelled;
	long rc;

	if (!power_ready)
		return -LVM_EINVAL;
	lvm_printf(RT_TAG "suspending (%s)\n", power_noxs ? "noxs" : "xenstore");
	lvm_console_flush();
	rt_irq_disable();
	/* noxs control pages are dom0's frames mapped by grant: off our page tables before the save. */
	rt_noxs_suspend();
	rt_gnttab_suspend();
	/* The restore code finds these pages by pfn; it writes the new frames back. */
	si->store_mfn = to_pfn(si->store_mfn);
	si->console.domU.mfn = to_pfn(si->console.domU.mfn);
	rt_unmap_shared_info();
	/* PV ABI: the start info's frame goes in the third argument. */
	rc = HYPERCALL3(__HYPERVISOR_sched_op, SCHEDOP_shutdown, &sd, si_mfn);
	cancelled = rc != 0;
	rt_map_shared_info();
	if (cancelled) {
		si->store_mfn = pfn_to_mfn(si->store_mfn);
		si->console.domU.mfn = pfn_to_mfn(si->console.domU.mfn);
	}
	rt_time_resume(before);
	if (!cancelled) {
		rt_events_resume();
		rt_p2m_publish();
	}
	rt_console_resume();
	rt_irq_enable();
	if (rt_gnttab_resume(cancelled))
		lvm_panic("cannot map the grant table after resume");
	rt_xs_resume(cancelled);
	/* Before netfront: its noxs vifs reopen from the page this reads again in a new domain. */
	rt_noxs_resume(cancelled);
	rt_net_resume_all(cancelled);
	lvm_printf(RT_TAG "resumed (%s)\n", cancelled ? "suspend cancelled, same domain" : "new domain");
	return cancelled;
}
