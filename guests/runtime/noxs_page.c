/* noxs_page.c: the noxs client's pure logic: a seqlock copy of the device page and the checks of every value read from it and from control pages. */

#include "noxs_page.h"

/* x86 keeps loads in order; the fence stops the compiler from moving them (and is a full barrier elsewhere). */
#define noxs_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)

int noxs_page_read(const volatile struct noxs_page *p, struct noxs_snapshot *s, unsigned int tries, const char **why)
{
	unsigned int t, i;

	*why = NULL;
	for (t = 0; t < tries; t++) {
		uint32_t gen = p->generation, magic;
		uint16_t version, count;

		noxs_rmb();
		if (gen & 1)
			continue;	/* Xen is changing the page */
		magic = p->magic;
		version = p->version;
		count = p->count;
		/* A torn count is caught by the generation check; this one only bounds the copy. */
		if (count > NOXS_PAGE_MAX_DEVS)
			count = NOXS_PAGE_MAX_DEVS + 1;
		for (i = 0; i < count && i < NOXS_PAGE_MAX_DEVS; i++) {
			s->devs[i].type = p->devs[i].type;
			s->devs[i].id = p->devs[i].id;
			s->devs[i].be_domid = p->devs[i].be_domid;
			s->devs[i].pad = p->devs[i].pad;
			s->devs[i].grant = p->devs[i].grant;
			s->devs[i].evtchn = p->devs[i].evtchn;
		}
		noxs_rmb();
		if (p->generation != gen)
			continue;
		if (magic != NOXS_PAGE_MAGIC) {
			*why = "bad magic";
			return -LVM_EPROTO;
		}
		if (version != NOXS_PAGE_VERSION) {
			*why = "unknown version";
			return -LVM_EPROTO;
		}
		if (count > NOXS_PAGE_MAX_DEVS) {
			*why = "count above the page's capacity";
			return -LVM_EPROTO;
		}
		s->generation = gen;
		s->count = count;
		s->pad = 0;
		return 0;
	}
	*why = "the page kept changing";
	return -LVM_EAGAIN;
}

const char *noxs_dev_invalid(const struct noxs_dev *d)
{
	if (d->type == 0 || d->type > NOXS_DEV_TYPE_MAX)
		return "unknown device type";
	if (d->be_domid >= NOXS_DOMID_FIRST_RESERVED)
		return "back-end is not an ordinary domain";
	/* Xen's grant_table.h keeps the first refs for the toolstack (console, XenStore). */
	if (d->grant < 8)
		return "grant reference is a reserved one";
	/* Port 0 is never a valid port; the FIFO ABI's limit bounds the rest. */
	if (d->evtchn == 0 || d->evtchn >= (1U << 17))
		return "event channel port out of range";
	return NULL;
}

const char *noxs_snapshot_invalid(const struct noxs_snapshot *s)
{
	unsigned int i, j;

	for (i = 0; i < s->count; i++)
		for (j = i + 1; j < s->count; j++)
			if (s->devs[i].type == s->devs[j].type && s->devs[i].id == s->devs[j].id)
				return "two entries with the same type and id";
	return NULL;
}

const char *noxs_ctrl_invalid(const struct noxs_ctrl_hdr *h, uint16_t type)
{
	if (h->magic != NOXS_CTRL_MAGIC)
		return "bad magic";
	if (h->version != NOXS_CTRL_VERSION)
		return "unknown version";
	if (h->type != type)
		return "type differs from the device page's";
	return NULL;
}

const char *noxs_mac_invalid(const uint8_t mac[6])
{
	unsigned int i, any = 0;

	if (mac[0] & 1)
		return "a multicast address";
	for (i = 0; i < 6; i++)
		any |= mac[i];
	return any ? NULL : "all zeros";
}

const char *noxs_mtu_invalid(uint32_t mtu)
{
	return mtu < 68 || mtu > 65535 ? "outside 68..65535" : NULL;
}

int noxs_power_decode(uint32_t seq, uint32_t req, uint32_t acked)
{
	if (seq == acked)
		return LVM_POWER_NONE;
	switch (req) {
	case NOXS_POWER_POWEROFF:
		return LVM_POWER_POWEROFF;
	case NOXS_POWER_REBOOT:
		return LVM_POWER_REBOOT;
	case NOXS_POWER_SUSPEND:
		return LVM_POWER_SUSPEND;
	default:
		return -1;
	}
}
