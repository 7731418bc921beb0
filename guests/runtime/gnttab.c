/* gnttab.c: grant table v1: Xen's frames mapped over pages of ours, grants given and revoked, kept across suspend. */

#include "rt.h"

#include <xen/grant_table.h>

#define GNT_FRAMES	4
#define GNT_ENTRIES	(GNT_FRAMES * PAGE_SIZE / sizeof(grant_entry_v1_t))
/* Xen and the toolstack use the first refs (console, XenStore). */
#define GNT_FIRST_FREE	GNTTAB_NR_RESERVED_ENTRIES

static uint8_t table_pages[GNT_FRAMES][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static grant_entry_v1_t *table;
static uint16_t free_next[GNT_ENTRIES];
static uint32_t free_head, free_count;

static void reset_free_list(void)
{
	uint32_t r;

	for (r = GNT_FIRST_FREE; r < GNT_ENTRIES; r++)
		free_next[r] = (uint16_t)(r + 1);
	free_head = GNT_FIRST_FREE;
	free_count = GNT_ENTRIES - GNT_FIRST_FREE;
}

static int map_table(void)
{
	xen_pfn_t frames[GNT_FRAMES];
	struct gnttab_setup_table op = { .dom = DOMID_SELF, .nr_frames = GNT_FRAMES };
	unsigned int i;

	set_xen_guest_handle(op.frame_list, frames);
	if (hyp_grant_table_op(GNTTABOP_setup_table, &op, 1) || op.status != GNTST_okay) {
		lvm_printf(RT_TAG "grant table: setup_table failed (status %d)\n", op.status);
		return -LVM_EIO;
	}
	for (i = 0; i < GNT_FRAMES; i++)
		if (rt_map_frame(table_pages[i], frames[i], 1))
			return -LVM_EIO;
	table = (grant_entry_v1_t *)table_pages;
	return 0;
}

int rt_gnttab_init(void)
{
	int rc;

	if (table)
		return 0;
	rc = map_table();
	if (rc == 0)
		reset_free_list();
	return rc;
}

int rt_gnttab_grant(domid_t domid, unsigned long mfn, int readonly, grant_ref_t *ref)
{
	grant_ref_t r;

	if (!table)
		return -LVM_EIO;
	if (!free_count)
		return -LVM_ENOSPC;
	r = free_head;
	free_head = free_next[r];
	free_count--;
	table[r].frame = (uint32_t)mfn;
	table[r].domid = domid;
	/* Frame and domain must be in place before the flags make the entry valid. */
	wmb();
	table[r].flags = GTF_permit_access | (readonly ? GTF_readonly : 0);
	*ref = r;
	return 0;
}

int rt_gnttab_end(grant_ref_t ref)
{
	uint16_t flags;

	if (!table || ref < GNT_FIRST_FREE || ref >= GNT_ENTRIES)
		return -LVM_EINVAL;
	/* Revoke only while the other side has it neither mapped nor in use. */
	flags = table[ref].flags;
	do {
		if (flags & (GTF_reading | GTF_writing))
			return -LVM_EBUSY;
	} while (!__atomic_compare_exchange_n(&table[ref].flags, &flags, 0, 0,
					      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	free_next[ref] = (uint16_t)free_head;
	free_head = ref;
	free_count++;
	return 0;
}

/* Xen's frames must not be in our page tables when the domain is saved. */
void rt_gnttab_suspend(void)
{
	unsigned int i;

	if (!table)
		return;
	for (i = 0; i < GNT_FRAMES; i++)
		rt_map_frame(table_pages[i], ~0UL, 1);
}

/* A new domain's table is empty: every ref is free again (drivers grant anew); a cancelled suspend keeps them. */
int rt_gnttab_resume(int cancelled)
{
	int rc;

	if (!table)
		return 0;
	rc = map_table();
	if (rc == 0 && !cancelled)
		reset_free_list();
	return rc;
}
