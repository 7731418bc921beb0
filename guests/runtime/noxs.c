/* noxs.c: the noxs client: finds the domain's device page with devctl, picks noxs or XenStore for its devices, maps control pages by grant, binds their channels, and serves the power device. */

#include "rt.h"
#include "noxs_rt.h"

#include <xen/grant_table.h>

/* Xen's errno for "no such hypercall" (public/errno.h): a hypervisor without the noxs patches. */
#define XEN_ENOSYS	38
/* Power and vif entries this client keeps from the page; more are reported and left alone. */
#define NOXS_KEEP	8
/* Seqlock attempts before a page that keeps changing is given up on. */
#define PAGE_TRIES	1000

static enum { MODE_UNDECIDED, MODE_XENSTORE, MODE_NOXS } mode;
static struct noxs_dev kept[NOXS_KEEP];
static unsigned int nkept;
static struct rt_noxs_dev opened[NOXS_KEEP];
static unsigned int nopened;

static const char *type_name(unsigned int type)
{
	return type == NOXS_DEV_POWER ? "power" : type == NOXS_DEV_VIF ? "vif" : type == NOXS_DEV_VBD ? "vbd" : "?";
}

static long devctl(struct noxs_devctl *op)
{
	return HYPERCALL1(__HYPERVISOR_devctl, op);
}

/* Reads the device page once through a read-only mapping into *s; 0, or -error after saying why. */
static int read_page(struct noxs_snapshot *s)
{
	struct noxs_devctl op;
	void *va;
	const char *why;
	long rc;

	memset(&op, 0, sizeof(op));
	op.version = NOXS_DEVCTL_VERSION;
	op.op = NOXS_DEVCTL_GET;
	op.domid = NOXS_DOMID_SELF;
	rc = devctl(&op);
	if (rc == -XEN_ENOSYS)
		return -LVM_ENODEV;	/* stock Xen: quietly no noxs */
	if (rc) {
		lvm_printf(RT_TAG "noxs: devctl get failed (Xen error %ld)\n", -rc);
		return -LVM_EIO;
	}
	if (op.u.get.frame == 0 || op.u.get.frame >= (1ULL << 40)) {
		lvm_printf(RT_TAG "noxs: devctl gave frame %#llx: not a frame\n", (unsigned long long)op.u.get.frame);
		return -LVM_EPROTO;
	}
	/* A page of ours lends its address; its own frame comes back once the page is copied. */
	va = lvm_alloc_pages(1);
	if (!va)
		return -LVM_ENOMEM;
	if (rt_map_frame(va, (unsigned long)op.u.get.frame, 0)) {
		lvm_printf(RT_TAG "noxs: cannot map the device page (frame %#llx) read-only\n", (unsigned long long)op.u.get.frame);
		lvm_free_pages(va, 1);
		return -LVM_EIO;
	}
	rc = noxs_page_read(va, s, PAGE_TRIES, &why);
	if (rt_map_frame(va, ~0UL, 1))
		lvm_panic("noxs: cannot give the device page's address its own frame back");
	lvm_free_pages(va, 1);
	if (rc)
		lvm_printf(RT_TAG "noxs: device page unusable: %s\n", why);
	return (int)rc;
}

/* Keeps the valid power and vif entries; says which entries it refuses. */
static void keep_entries(const struct noxs_snapshot *s)
{
	const char *why = noxs_snapshot_invalid(s);
	unsigned int i;

	if (why) {
		lvm_printf(RT_TAG "noxs: device page refused: %s\n", why);
		return;
	}
	for (i = 0; i < s->count; i++) {
		const struct noxs_dev *d = &s->devs[i];

		why = noxs_dev_invalid(d);
		if (why) {
			lvm_printf(RT_TAG "noxs: entry %u (type %u id %u back-end %u grant %u port %u) ignored: %s\n", i,
				   d->type, d->id, d->be_domid, (unsigned int)d->grant, (unsigned int)d->evtchn, why);
			continue;
		}
		if (d->type != NOXS_DEV_POWER && d->type != NOXS_DEV_VIF)
			continue;	/* vbd: no block front-end here */
		if (nkept == NOXS_KEEP) {
			lvm_printf(RT_TAG "noxs: more than %u power and vif devices; %s/%u ignored\n", NOXS_KEEP,
				   type_name(d->type), d->id);
			continue;
		}
		kept[nkept++] = *d;
	}
}

int rt_devices_noxs(void)
{
	struct noxs_snapshot *s;
	unsigned int i;
	int rc;

	if (mode != MODE_UNDECIDED)
		return mode == MODE_NOXS;
	mode = MODE_XENSTORE;
	_Static_assert(sizeof(*s) <= PAGE_SIZE, "a snapshot fits in a page");
	s = lvm_alloc_pages(1);
	if (!s) {
		lvm_puts(RT_TAG "devices: xenstore (noxs: no memory to read the device page)\n");
		return 0;
	}
	rc = read_page(s);
	if (rc == 0)
		keep_entries(s);
	lvm_free_pages(s, 1);
	if (nkept == 0) {
		lvm_printf(RT_TAG "devices: xenstore (noxs: %s)\n", rc == -LVM_ENODEV ? "no devctl, stock Xen" :
			   rc ? "device page unusable" : "no power or vif device on the page");
		return 0;
	}
	mode = MODE_NOXS;
	lvm_puts(RT_TAG "devices: noxs (");
	for (i = 0; i < nkept; i++)
		lvm_printf("%s%s/%u", i ? " " : "", type_name(kept[i].type), kept[i].id);
	lvm_puts(")\n");
	return 1;
}

int rt_noxs_find(uint16_t type, uint16_t id)
{
	unsigned int i;

	for (i = 0; i < nkept; i++)
		if (kept[i].type == type && kept[i].id == id)
			return 1;
	return 0;
}

int rt_noxs_first(uint16_t type, uint16_t *id)
{
	unsigned int i, best = 0x10000;

	for (i = 0; i < nkept; i++)
		if (kept[i].type == type && kept[i].id < best)
			best = kept[i].id;
	if (best == 0x10000)
		return 0;
	*id = (uint16_t)best;
	return 1;
}

/* Gives a borrowed address its own frame back and returns the page to the allocator. */
static void give_back(void *va)
{
	if (rt_map_frame(va, ~0UL, 1))
		lvm_panic("noxs: cannot give a control page's address its own frame back");
	lvm_free_pages(va, 1);
}

/* Takes a grant's frame off `va`; the address is left empty until the caller maps something there. */
static void unmap_ctrl(void *va, grant_handle_t handle)
{
	struct gnttab_unmap_grant_ref op = { .host_addr = (unsigned long)va, .handle = handle };

	hyp_grant_table_op(GNTTABOP_unmap_grant_ref, &op, 1);
}

/*
 * Maps grant `grant` of domain `be_domid` at `va` (a page of ours, whose own
 * frame is given back on failure) and checks the control page's header.
 */
static int map_ctrl(void *va, uint16_t type, uint16_t id, domid_t be_domid, grant_ref_t grant, grant_handle_t *handle)
{
	struct gnttab_map_grant_ref map;
	struct noxs_ctrl_hdr hdr;
	const char *why;
	long rc;

	/* The address is emptied first (and its TLB entry flushed), then the grant's frame mapped there. */
	if (hyp_update_va_mapping((unsigned long)va, 0, UVMF_INVLPG | UVMF_LOCAL)) {
		lvm_printf(RT_TAG "noxs %s/%u: cannot empty an address for its control page\n", type_name(type), id);
		return -LVM_EIO;	/* still mapped to its own frame: the update failed */
	}
	memset(&map, 0, sizeof(map));
	map.host_addr = (unsigned long)va;
	map.flags = GNTMAP_host_map;
	map.ref = grant;
	map.dom = be_domid;
	rc = hyp_grant_table_op(GNTTABOP_map_grant_ref, &map, 1);
	if (rc || map.status != GNTST_okay) {
		lvm_printf(RT_TAG "noxs %s/%u: cannot map grant %u of domain %u (hypercall %ld, status %d)\n",
			   type_name(type), id, (unsigned int)grant, be_domid, rc, map.status);
		if (rt_map_frame(va, ~0UL, 1))
			lvm_panic("noxs: cannot give a control page's address its own frame back");
		return -LVM_EIO;
	}
	/* One copy of the header, checked, then used. */
	memcpy(&hdr, (const void *)va, sizeof(hdr));
	why = noxs_ctrl_invalid(&hdr, type);
	if (why) {
		lvm_printf(RT_TAG "noxs %s/%u: control page refused: %s (magic %#x version %u type %u)\n", type_name(type),
			   id, why, (unsigned int)hdr.magic, hdr.version, hdr.type);
		unmap_ctrl(va, map.handle);
		if (rt_map_frame(va, ~0UL, 1))
			lvm_panic("noxs: cannot give a control page's address its own frame back");
		return -LVM_EPROTO;
	}
	*handle = map.handle;
	return 0;
}

int rt_noxs_open(uint16_t type, uint16_t id, struct rt_noxs_dev **out)
{
	struct evtchn_bind_interdomain bind;
	const struct noxs_dev *d = NULL;
	struct rt_noxs_dev *o;
	grant_handle_t handle;
	void *va;
	unsigned int i;
	long rc;

	for (i = 0; i < nopened; i++)
		if (opened[i].type == type && opened[i].id == id) {
			if (!opened[i].mapped)
				return -LVM_ENODEV;	/* lost in a cancelled suspend (said then) */
			*out = &opened[i];
			return 0;
		}
	for (i = 0; i < nkept; i++)
		if (kept[i].type == type && kept[i].id == id)
			d = &kept[i];
	if (!d) {
		lvm_printf(RT_TAG "noxs %s/%u: not on the device page\n", type_name(type), id);
		return -LVM_ENOENT;
	}
	va = lvm_alloc_pages(1);
	if (!va)
		return -LVM_ENOMEM;
	rc = map_ctrl(va, type, id, d->be_domid, d->grant, &handle);
	if (rc) {
		lvm_free_pages(va, 1);
		return (int)rc;
	}
	memset(&bind, 0, sizeof(bind));
	bind.remote_dom = d->be_domid;
	bind.remote_port = d->evtchn;
	rc = hyp_evtchn_op(EVTCHNOP_bind_interdomain, &bind);
	if (rc == 0 && rt_evtchn_bind(bind.local_port, NULL, NULL)) {
		rt_evtchn_close(bind.local_port);
		rc = -1;
	}
	if (rc) {
		lvm_printf(RT_TAG "noxs %s/%u: cannot bind port %u of domain %u (Xen error %ld)\n", type_name(type), id,
			   (unsigned int)d->evtchn, d->be_domid, -rc);
		unmap_ctrl(va, handle);
		give_back(va);
		return -LVM_EIO;
	}
	o = &opened[nopened++];
	o->type = type;
	o->id = id;
	o->be_domid = d->be_domid;
	o->grant = d->grant;
	o->ctrl = va;
	o->handle = handle;
	o->port = bind.local_port;
	o->mapped = 1;
	*out = o;
	return 0;
}

/* ---- the power device ---- */

static struct rt_noxs_dev *power;
static uint32_t power_acked;

int rt_noxs_power_init(void)
{
	volatile struct noxs_power_ctrl *c;
	uint16_t id;
	int rc;

	/* One power device per domain; should the toolstack add more, the lowest id serves. */
	if (!rt_noxs_first(NOXS_DEV_POWER, &id)) {
		lvm_puts(RT_TAG "noxs: no power device on the device page: no power control\n");
		return -LVM_ENODEV;
	}
	rc = rt_noxs_open(NOXS_DEV_POWER, id, &power);
	if (rc)
		return rc;
	c = power->ctrl;
	/* rt_noxs_suspend() and rt_noxs_resume() drop and remake the devices around a save. */
	c->fe_features = NOXS_POWER_F_SUSPEND;
	c->fe_ack_seq = 0;
	wmb();
	c->hdr.fe_state = NOXS_STATE_CONNECTED;
	wmb();
	rt_evtchn_notify(power->port);
	lvm_printf(RT_TAG "noxs power/%u: connected (back-end domain %u)\n", id, power->be_domid);
	return 0;
}

enum lvm_power_request rt_noxs_power_poll(void)
{
	volatile struct noxs_power_ctrl *c;
	uint32_t seq, req;
	int r;

	if (!power)
		return LVM_POWER_NONE;
	c = power->ctrl;
	seq = c->be_request_seq;
	rmb();
	req = c->be_request;
	r = noxs_power_decode(seq, req, power_acked);
	if (r == LVM_POWER_NONE)
		return LVM_POWER_NONE;
	power_acked = seq;
	/* An unknown kind is refused by not acknowledging it: the toolstack times out. */
	if (r < 0) {
		lvm_printf(RT_TAG "noxs power/%u: ignoring request %u (unknown kind %u)\n", power->id, (unsigned int)seq,
			   (unsigned int)req);
		return LVM_POWER_NONE;
	}
	c->fe_ack_seq = seq;
	wmb();
	rt_evtchn_notify(power->port);
	return (enum lvm_power_request)r;
}

/* ---- suspend and resume ---- */

/*
 * Before SCHEDOP_shutdown(suspend): a control page is dom0's frame mapped by
 * grant, which a save cannot carry (the domain's page tables must hold only
 * its own frames), so each is unmapped and its address given its own frame
 * back; the addresses stay allocated for a cancelled suspend. The power
 * device says it no longer listens (fe_state CLOSING: noxsd refuses further
 * requests with ENOTCONN instead of leaving them unanswered).
 */
void rt_noxs_suspend(void)
{
	unsigned int i;

	if (mode != MODE_NOXS)
		return;
	if (power && power->mapped) {
		volatile struct noxs_power_ctrl *c = power->ctrl;

		c->hdr.fe_state = NOXS_STATE_CLOSING;
		wmb();
		rt_evtchn_notify(power->port);
	}
	for (i = 0; i < nopened; i++) {
		struct rt_noxs_dev *o = &opened[i];

		if (!o->mapped)
			continue;
		unmap_ctrl((void *)o->ctrl, o->handle);
		if (rt_map_frame((void *)o->ctrl, ~0UL, 1))
			lvm_panic("noxs: cannot give a control page's address its own frame back before a suspend");
		o->mapped = 0;
	}
}

/*
 * After SCHEDOP_shutdown(suspend) returned. Cancelled (a checkpoint, the same
 * domain): the same grants map again, the channels are still bound, the
 * power device listens again. In a new domain (a restore or a migration)
 * everything the old page named is gone: the new page is read through
 * devctl as at boot, and the power device is opened anew; netfront reopens
 * its vifs itself (rt_net_resume_all). 0, or -error after saying why (the
 * guest runs on without the devices it lost).
 */
int rt_noxs_resume(int cancelled)
{
	unsigned int i;
	int rc = 0, had_power = power != NULL;

	if (mode != MODE_NOXS)
		return 0;
	if (cancelled) {
		for (i = 0; i < nopened; i++) {
			struct rt_noxs_dev *o = &opened[i];

			if (map_ctrl((void *)o->ctrl, o->type, o->id, o->be_domid, o->grant, &o->handle) == 0) {
				o->mapped = 1;
				continue;
			}
			lvm_printf(RT_TAG "noxs %s/%u: lost in the cancelled suspend\n", type_name(o->type), o->id);
			rc = -LVM_EIO;
		}
		if (power && power->mapped) {
			volatile struct noxs_power_ctrl *c = power->ctrl;

			c->hdr.fe_state = NOXS_STATE_CONNECTED;
			wmb();
			rt_evtchn_notify(power->port);
		} else if (power) {
			power = NULL;
		}
		return rc;
	}
	/* The old ports died with the old domain (rt_events_resume); the addresses hold our own frames. */
	for (i = 0; i < nopened; i++)
		lvm_free_pages((void *)opened[i].ctrl, 1);
	nopened = 0;
	nkept = 0;
	power = NULL;
	power_acked = 0;
	mode = MODE_UNDECIDED;
	if (!rt_devices_noxs()) {
		/* Restored where the devices are in XenStore: this runtime does not switch methods (docs/noxs.md). */
		lvm_puts(RT_TAG "noxs: the new domain's device page has no power or vif device: no devices after resume\n");
		mode = MODE_NOXS;	/* keep netfront and power on noxs: they fail with a message instead of using XenStore */
		return -LVM_ENODEV;
	}
	if (had_power)
		rc = rt_noxs_power_init();
	return rc;
}
