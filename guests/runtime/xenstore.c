/* xenstore.c: a synchronous XenStore client over the store ring: read, write, rm, watch; reconnects after resume. */

#include "rt.h"

#include <xen/io/xs_wire.h>

/* How long one request may wait for xenstored before it fails. */
#define XS_TIMEOUT_NS	(20ULL * 1000000000ULL)
#define MAX_WATCHES	8
#define MAX_PATH	256

static volatile struct xenstore_domain_interface *ring;
static evtchn_port_t port;
static uint32_t next_req_id = 1;

static struct {
	char path[MAX_PATH];
	int used, fired;
} watches[MAX_WATCHES];

/* The ring that broke the protocol stays broken: fail fast instead of reading garbage again. */
static int broken;

static int attach(void)
{
	unsigned long pfn = mfn_to_pfn_checked(rt_start_info->store_mfn);

	if (pfn == ~0UL) {
		lvm_printf(RT_TAG "xenstore: start_info's store frame %#lx is not ours\n",
			   (unsigned long)rt_start_info->store_mfn);
		return -LVM_ENODEV;
	}
	ring = pfn_to_virt(pfn);
	port = rt_start_info->store_evtchn;
	broken = 0;
	return rt_evtchn_bind(port, NULL, NULL);
}

int rt_xs_init(void)
{
	if (ring)
		return 0;
	return attach();
}

/*
 * Blocks until the ring moved or the deadline passed, leaving the
 * "some event came" flag for lvm_wait() to see: the app's loop must
 * not sleep through a network event that arrived while we waited here.
 */
static int wait_ring(volatile XENSTORE_RING_IDX *idx, XENSTORE_RING_IDX seen, uint64_t deadline)
{
	if (lvm_now() >= deadline)
		return -LVM_ETIMEDOUT;
	rt_irq_disable();
	/* Checked again with events masked: an event now stays pending and ends the block at once. */
	if (*idx != seen) {
		rt_irq_enable();
		return 0;
	}
	hyp_set_timer_op(deadline);
	hyp_sched_op(SCHEDOP_block, NULL);
	return 0;
}

static int ring_write(const void *data, size_t len, uint64_t deadline)
{
	const uint8_t *p = data;

	while (len) {
		XENSTORE_RING_IDX prod = ring->req_prod, cons = ring->req_cons;
		size_t room, chunk, off;

		mb();
		if (prod - cons > XENSTORE_RING_SIZE)
			return -LVM_EPROTO;
		room = XENSTORE_RING_SIZE - (prod - cons);
		if (room == 0) {
			if (wait_ring(&ring->req_cons, cons, deadline))
				return -LVM_ETIMEDOUT;
			continue;
		}
		off = MASK_XENSTORE_IDX(prod);
		chunk = XENSTORE_RING_SIZE - off;
		if (chunk > room)
			chunk = room;
		if (chunk > len)
			chunk = len;
		memcpy((void *)&ring->req[off], p, chunk);
		/* Data before the index that publishes it. */
		wmb();
		ring->req_prod = prod + (XENSTORE_RING_IDX)chunk;
		rt_evtchn_notify(port);
		p += chunk;
		len -= chunk;
	}
	return 0;
}

static int ring_read(void *data, size_t len, uint64_t deadline)
{
	uint8_t *p = data;

	while (len) {
		XENSTORE_RING_IDX prod = ring->rsp_prod, cons = ring->rsp_cons;
		size_t avail, chunk, off;

		rmb();
		if (prod - cons > XENSTORE_RING_SIZE)
			return -LVM_EPROTO;
		avail = prod - cons;
		if (avail == 0) {
			if (wait_ring(&ring->rsp_prod, prod, deadline))
				return -LVM_ETIMEDOUT;
			continue;
		}
		off = MASK_XENSTORE_IDX(cons);
		chunk = XENSTORE_RING_SIZE - off;
		if (chunk > avail)
			chunk = avail;
		if (chunk > len)
			chunk = len;
		memcpy(p, (const void *)&ring->rsp[off], chunk);
		/* Done reading before we hand the space back. */
		mb();
		ring->rsp_cons = cons + (XENSTORE_RING_IDX)chunk;
		rt_evtchn_notify(port);
		p += chunk;
		len -= chunk;
	}
	return 0;
}

/* A watch event's payload is "path\0token\0"; we use the watched path as the token. */
static void note_watch_event(const char *body, size_t len)
{
	size_t plen = strnlen(body, len), i;
	const char *token;

	if (plen == len)
		return;
	token = body + plen + 1;
	for (i = 0; i < MAX_WATCHES; i++)
		if (watches[i].used && strnlen(token, len - plen - 1) < len - plen - 1 &&
		    strcmp(watches[i].path, token) == 0)
			watches[i].fired = 1;
}

static int error_code(const char *body, size_t len)
{
	static const struct { const char *name; int err; } names[] = {
		{ "ENOENT", LVM_ENOENT }, { "EINVAL", LVM_EINVAL }, { "E2BIG", LVM_E2BIG },
		{ "ENOSPC", LVM_ENOSPC }, { "EAGAIN", LVM_EAGAIN }, { "EBUSY", LVM_EBUSY },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (strnlen(body, len) == strlen(names[i].name) && memcmp(body, names[i].name, strlen(names[i].name)) == 0)
			return -names[i].err;
	return -LVM_EIO;
}

/*
 * One request and its reply. parts: the payload pieces; reply (may be
 * NULL) receives up to *reply_len bytes, and *reply_len the reply's size.
 */
static int request(uint32_t type, const char *const parts[], const size_t lens[], unsigned int nparts,
		   char *reply, size_t *reply_len)
{
	static char body[XENSTORE_PAYLOAD_MAX + 1];
	struct xsd_sockmsg msg = { .type = type, .req_id = next_req_id++, .tx_id = 0, .len = 0 };
	uint64_t deadline = lvm_now() + XS_TIMEOUT_NS;
	unsigned int i;
	int rc;

	if (!ring && (rc = rt_xs_init()))
		return rc;
	if (broken)
		return -LVM_EPROTO;
	for (i = 0; i < nparts; i++)
		msg.len += lens[i];
	if (msg.len > XENSTORE_PAYLOAD_MAX)
		return -LVM_E2BIG;
	rc = ring_write(&msg, sizeof(msg), deadline);
	for (i = 0; rc == 0 && i < nparts; i++)
		rc = ring_write(parts[i], lens[i], deadline);
	while (rc == 0) {
		struct xsd_sockmsg hdr;

		rc = ring_read(&hdr, sizeof(hdr), deadline);
		if (rc)
			break;
		if (hdr.len > XENSTORE_PAYLOAD_MAX) {
			rc = -LVM_EPROTO;
			break;
		}
		rc = ring_read(body, hdr.len, deadline);
		if (rc)
			break;
		body[hdr.len] = '\0';
		if (hdr.type == XS_WATCH_EVENT) {
			note_watch_event(body, hdr.len);
			continue;
		}
		if (hdr.req_id != msg.req_id)
			continue;	/* a stale reply from before a resume */
		if (hdr.type == XS_ERROR)
			return error_code(body, hdr.len);
		if (hdr.type != type) {
			rc = -LVM_EPROTO;
			break;
		}
		if (reply_len) {
			size_t n = hdr.len < *reply_len ? hdr.len : *reply_len;

			if (reply)
				memcpy(reply, body, n);
			*reply_len = hdr.len;
		}
		return 0;
	}
	if (rc == -LVM_EPROTO) {
		broken = 1;
		lvm_printf(RT_TAG "xenstore: the ring broke the protocol; no more requests\n");
	} else if (rc == -LVM_ETIMEDOUT) {
		lvm_printf(RT_TAG "xenstore: no answer within %llu s\n", XS_TIMEOUT_NS / 1000000000ULL);
	}
	return rc;
}

static int check_path(const char *path)
{
	size_t n = strnlen(path, MAX_PATH);

	return n == 0 || n >= MAX_PATH ? -LVM_EINVAL : (int)n;
}

int lvm_xs_read(const char *path, char *buf, size_t len)
{
	const char *parts[1] = { path };
	size_t lens[1], got;
	int rc = check_path(path);

	if (rc < 0)
		return rc;
	if (len == 0)
		return -LVM_E2BIG;
	lens[0] = (size_t)rc + 1;
	got = len - 1;
	rc = request(XS_READ, parts, lens, 1, buf, &got);
	if (rc)
		return rc;
	if (got > len - 1)
		return -LVM_E2BIG;
	buf[got] = '\0';
	/* A value with a NUL inside is not a string we can use. */
	if (strlen(buf) != got)
		return -LVM_EINVAL;
	return (int)got;
}

int lvm_xs_write(const char *path, const char *value)
{
	const char *parts[2] = { path, value };
	size_t lens[2];
	int rc = check_path(path);

	if (rc < 0)
		return rc;
	lens[0] = (size_t)rc + 1;
	lens[1] = strlen(value);
	return request(XS_WRITE, parts, lens, 2, NULL, NULL);
}

int lvm_xs_rm(const char *path)
{
	const char *parts[1] = { path };
	size_t lens[1];
	int rc = check_path(path);

	if (rc < 0)
		return rc;
	lens[0] = (size_t)rc + 1;
	return request(XS_RM, parts, lens, 1, NULL, NULL);
}

static int send_watch(const char *path)
{
	const char *parts[2] = { path, path };
	size_t lens[2] = { strlen(path) + 1, strlen(path) + 1 };

	return request(XS_WATCH, parts, lens, 2, NULL, NULL);
}

int lvm_xs_watch(const char *path)
{
	unsigned int i, slot = MAX_WATCHES;
	int rc = check_path(path);

	if (rc < 0)
		return rc;
	for (i = 0; i < MAX_WATCHES; i++) {
		if (watches[i].used && strcmp(watches[i].path, path) == 0)
			return 0;
		if (!watches[i].used && slot == MAX_WATCHES)
			slot = i;
	}
	if (slot == MAX_WATCHES)
		return -LVM_ENOSPC;
	memcpy(watches[slot].path, path, (size_t)rc + 1);
	watches[slot].used = 1;
	watches[slot].fired = 0;
	rc = send_watch(path);
	if (rc)
		watches[slot].used = 0;
	return rc;
}

/* Reads events that arrived without a request of ours waiting for them. */
static void drain_events(void)
{
	static char body[XENSTORE_PAYLOAD_MAX + 1];

	while (ring && !broken) {
		XENSTORE_RING_IDX prod = ring->rsp_prod, cons = ring->rsp_cons;
		struct xsd_sockmsg hdr;
		uint64_t deadline;

		rmb();
		if (prod - cons > XENSTORE_RING_SIZE) {
			broken = 1;
			return;
		}
		if (prod - cons < sizeof(hdr))
			return;
		deadline = lvm_now() + XS_TIMEOUT_NS;
		if (ring_read(&hdr, sizeof(hdr), deadline) || hdr.len > XENSTORE_PAYLOAD_MAX ||
		    ring_read(body, hdr.len, deadline)) {
			broken = 1;
			return;
		}
		body[hdr.len] = '\0';
		if (hdr.type == XS_WATCH_EVENT)
			note_watch_event(body, hdr.len);
	}
}

int lvm_xs_watch_pending(const char *path)
{
	unsigned int i;

	drain_events();
	for (i = 0; i < MAX_WATCHES; i++)
		if (watches[i].used && strcmp(watches[i].path, path) == 0 && watches[i].fired) {
			watches[i].fired = 0;
			return 1;
		}
	return 0;
}

int rt_xs_read_uint(const char *path, unsigned long max, unsigned long *out)
{
	char buf[24];
	unsigned long v = 0;
	int rc = lvm_xs_read(path, buf, sizeof(buf)), i;

	if (rc < 0)
		return rc;
	if (rc == 0)
		return -LVM_EINVAL;
	for (i = 0; i < rc; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -LVM_EINVAL;
		if (v > (max - (unsigned long)(buf[i] - '0')) / 10)
			return -LVM_ERANGE;
		v = v * 10 + (unsigned long)(buf[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * After a resume in a new domain the ring page is the one we had, at a
 * new frame, with a new port and a connection that has no watches. A
 * reply cut in half by the suspend is dropped; we never suspend mid-request.
 */
void rt_xs_resume(int cancelled)
{
	unsigned int i;

	if (!ring || cancelled)
		return;
	if (attach())
		return;
	if (ring->rsp_prod != ring->rsp_cons)
		ring->rsp_cons = ring->rsp_prod;
	for (i = 0; i < MAX_WATCHES; i++)
		if (watches[i].used) {
			watches[i].fired = 1;
			send_watch(watches[i].path);
		}
}
