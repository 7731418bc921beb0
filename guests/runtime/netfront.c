/* netfront.c: the Xen netif front-end's ring logic: tx and rx rings, grants and buffers, independent of how the back-end is found. */

#include "netfront.h"
#include "noxs_rt.h"

#include <xen/io/netif.h>

/* Buffers in flight per direction: a page each, granted once and reused. */
#define NF_TX_BUFS	32
#define NF_RX_BUFS	32

/* Slots in one page of ring (xen/io/netif.h has no constant for it). */
#define NF_TX_RING_SIZE	__CONST_RING_SIZE(netif_tx, PAGE_SIZE)
#define NF_RX_RING_SIZE	__CONST_RING_SIZE(netif_rx, PAGE_SIZE)
_Static_assert(NF_TX_BUFS <= NF_TX_RING_SIZE && NF_RX_BUFS <= NF_RX_RING_SIZE, "more buffers than ring slots");

struct nf_buf {
	void *page;
	grant_ref_t ref;
};

struct lvm_net {
	unsigned int index;
	const struct nf_transport *tp;
	void *tp_priv;
	domid_t backend;
	uint8_t mac[6];

	netif_tx_sring_t *tx_sring;
	netif_rx_sring_t *rx_sring;
	netif_tx_front_ring_t tx;
	netif_rx_front_ring_t rx;
	struct nf_rings rings;
	int port_ours;		/* rings.port was allocated here (not the transport's) */

	struct nf_buf txb[NF_TX_BUFS], rxb[NF_RX_BUFS];
	uint16_t tx_free[NF_TX_BUFS];
	unsigned int tx_nfree;
	uint32_t tx_inflight;	/* bit per tx buffer the back-end holds */
	int tx_reserved;	/* buffer lvm_net_tx_buf() handed out, or -1 */

	lvm_net_rx_fn *rx_fn;
	void *rx_arg;
	int connected, broken;
	struct lvm_net *next;
};

_Static_assert(NF_TX_BUFS <= 32, "tx_inflight is 32 bits");

static struct lvm_net *nets;

static void protocol_error(struct lvm_net *n, const char *what, unsigned long v)
{
	if (!n->broken)
		lvm_printf(RT_TAG "netfront vif/%u: back-end broke the protocol (%s %lu); device stopped\n",
			   n->index, what, v);
	n->broken = 1;
}

/* Grants the rings and every buffer to the back-end; rings and buffer pages stay ours across resumes. */
static int grant_all(struct lvm_net *n)
{
	unsigned int i;
	int rc;

	if ((rc = rt_gnttab_grant(n->backend, virt_to_mfn(n->tx_sring), 0, &n->rings.tx_ref)) ||
	    (rc = rt_gnttab_grant(n->backend, virt_to_mfn(n->rx_sring), 0, &n->rings.rx_ref)))
		return rc;
	for (i = 0; i < NF_TX_BUFS; i++)
		if ((rc = rt_gnttab_grant(n->backend, virt_to_mfn(n->txb[i].page), 1, &n->txb[i].ref)))
			return rc;
	for (i = 0; i < NF_RX_BUFS; i++)
		if ((rc = rt_gnttab_grant(n->backend, virt_to_mfn(n->rxb[i].page), 0, &n->rxb[i].ref)))
			return rc;
	return 0;
}

static void post_rx(struct lvm_net *n, unsigned int id)
{
	netif_rx_request_t *req = RING_GET_REQUEST(&n->rx, n->rx.req_prod_pvt);

	req->id = (uint16_t)id;
	req->gref = n->rxb[id].ref;
	n->rx.req_prod_pvt++;
}

static void kick(struct lvm_net *n, int notify)
{
	if (notify)
		rt_evtchn_notify(n->rings.port);
}

/* Fresh rings with every rx buffer posted and every tx buffer free. */
static void reset_rings(struct lvm_net *n)
{
	unsigned int i;
	int notify;

	memset(n->tx_sring, 0, PAGE_SIZE);
	memset(n->rx_sring, 0, PAGE_SIZE);
	SHARED_RING_INIT(n->tx_sring);
	SHARED_RING_INIT(n->rx_sring);
	FRONT_RING_INIT(&n->tx, n->tx_sring, PAGE_SIZE);
	FRONT_RING_INIT(&n->rx, n->rx_sring, PAGE_SIZE);
	for (i = 0; i < NF_TX_BUFS; i++)
		n->tx_free[i] = (uint16_t)i;
	n->tx_nfree = NF_TX_BUFS;
	n->tx_inflight = 0;
	n->tx_reserved = -1;
	for (i = 0; i < NF_RX_BUFS; i++)
		post_rx(n, i);
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&n->rx, notify);
	(void)notify;
}

static void ungrant_all(struct lvm_net *n)
{
	unsigned int i;

	rt_gnttab_end(n->rings.tx_ref);
	rt_gnttab_end(n->rings.rx_ref);
	for (i = 0; i < NF_TX_BUFS; i++)
		rt_gnttab_end(n->txb[i].ref);
	for (i = 0; i < NF_RX_BUFS; i++)
		rt_gnttab_end(n->rxb[i].ref);
}

/* Probe, grant, bind and handshake; on failure everything is undone but the pages. */
static int connect(struct lvm_net *n)
{
	int rc;

	n->broken = 0;
	/* Ref 0 is reserved, so 0 marks "not granted" for ungrant_all(). */
	memset(&n->rings, 0, sizeof(n->rings));
	for (unsigned int i = 0; i < NF_TX_BUFS; i++)
		n->txb[i].ref = 0;
	for (unsigned int i = 0; i < NF_RX_BUFS; i++)
		n->rxb[i].ref = 0;
	rc = n->tp->probe(n->index, &n->backend, n->mac, &n->tp_priv);
	if (rc)
		return rc;
	rc = grant_all(n);
	if (rc) {
		lvm_printf(RT_TAG "netfront vif/%u: cannot grant its pages: %s\n", n->index, lvm_strerror(rc));
		goto fail;
	}
	/* After the grants: the posted rx requests carry the buffers' refs. */
	reset_rings(n);
	if (n->tp->channel) {
		n->port_ours = 0;
		rc = n->tp->channel(n->tp_priv, &n->rings.port);
	} else {
		n->port_ours = 1;
		rc = rt_evtchn_alloc_unbound(n->backend, &n->rings.port);
		if (rc == 0)
			rc = rt_evtchn_bind(n->rings.port, NULL, NULL);
	}
	if (rc) {
		lvm_printf(RT_TAG "netfront vif/%u: no event channel to domain %u\n", n->index, n->backend);
		goto fail;
	}
	rc = n->tp->connect(n->tp_priv, &n->rings);
	if (rc)
		goto fail;
	n->connected = 1;
	kick(n, 1);
	return 0;
fail:
	ungrant_all(n);
	if (n->rings.port && n->port_ours)
		rt_evtchn_close(n->rings.port);
	n->rings.port = 0;
	n->tp->close(n->tp_priv, 1);
	n->tp_priv = NULL;
	return rc;
}

int lvm_net_open(unsigned int index, lvm_net_rx_fn *rx, void *arg, struct lvm_net **out)
{
	const struct nf_transport *tp;
	struct lvm_net *n;
	unsigned int i;
	int rc;

	if ((rc = rt_gnttab_init()))
		return rc;
	/* noxs when the device page has power or vif devices: then XenStore is never touched. */
	tp = rt_devices_noxs() ? &nf_transport_noxs : &nf_transport_xenstore;
	if (tp == &nf_transport_xenstore && (rc = rt_xs_init()))
		return rc;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -LVM_ENOMEM;
	n->index = index;
	n->tp = tp;
	n->rx_fn = rx;
	n->rx_arg = arg;
	n->tx_sring = lvm_alloc_pages(1);
	n->rx_sring = lvm_alloc_pages(1);
	for (i = 0; i < NF_TX_BUFS; i++)
		n->txb[i].page = lvm_alloc_pages(1);
	for (i = 0; i < NF_RX_BUFS; i++)
		n->rxb[i].page = lvm_alloc_pages(1);
	for (i = 0; i < NF_TX_BUFS; i++)
		if (!n->txb[i].page)
			n->tx_sring = NULL;
	for (i = 0; i < NF_RX_BUFS; i++)
		if (!n->rxb[i].page)
			n->rx_sring = NULL;
	if (!n->tx_sring || !n->rx_sring) {
		lvm_printf(RT_TAG "netfront vif/%u: not enough memory for its rings and buffers\n", index);
		/* The pages stay allocated: a guest this short of memory cannot do much else anyway. */
		return -LVM_ENOMEM;
	}
	rc = connect(n);
	if (rc)
		return rc;
	n->next = nets;
	nets = n;
	*out = n;
	return 0;
}

void lvm_net_mac(const struct lvm_net *n, uint8_t mac[6])
{
	memcpy(mac, n->mac, 6);
}

static void tx_reclaim(struct lvm_net *n)
{
	RING_IDX prod, cons;
	int more;

	do {
		prod = n->tx.sring->rsp_prod;
		rmb();
		if (prod - n->tx.rsp_cons > NF_TX_RING_SIZE) {
			protocol_error(n, "tx rsp_prod", prod);
			return;
		}
		for (cons = n->tx.rsp_cons; cons != prod; cons++) {
			netif_tx_response_t *rsp = RING_GET_RESPONSE(&n->tx, cons);
			unsigned int id = rsp->id;

			if (rsp->status == NETIF_RSP_NULL)
				continue;
			if (id >= NF_TX_BUFS || !(n->tx_inflight & (1U << id))) {
				protocol_error(n, "tx response id", id);
				return;
			}
			n->tx_inflight &= ~(1U << id);
			n->tx_free[n->tx_nfree++] = (uint16_t)id;
		}
		n->tx.rsp_cons = prod;
		RING_FINAL_CHECK_FOR_RESPONSES(&n->tx, more);
	} while (more);
}

void *lvm_net_tx_buf(struct lvm_net *n)
{
	if (!n->connected || n->broken)
		return NULL;
	if (n->tx_reserved >= 0)
		return n->txb[n->tx_reserved].page;
	if (!n->tx_nfree)
		tx_reclaim(n);
	if (!n->tx_nfree)
		return NULL;
	n->tx_reserved = n->tx_free[--n->tx_nfree];
	return n->txb[n->tx_reserved].page;
}

int lvm_net_tx_send(struct lvm_net *n, size_t len)
{
	netif_tx_request_t *req;
	int id = n->tx_reserved, notify;

	if (id < 0)
		return -LVM_EINVAL;
	if (len < 14 || len > LVM_NET_MTU_FRAME)
		return -LVM_EINVAL;
	n->tx_reserved = -1;
	req = RING_GET_REQUEST(&n->tx, n->tx.req_prod_pvt);
	req->gref = n->txb[id].ref;
	req->offset = 0;
	req->flags = 0;
	req->id = (uint16_t)id;
	req->size = (uint16_t)len;
	n->tx.req_prod_pvt++;
	n->tx_inflight |= 1U << id;
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&n->tx, notify);
	kick(n, notify);
	return 0;
}

static void rx_poll(struct lvm_net *n)
{
	RING_IDX prod, cons;
	int more, notify;

	do {
		prod = n->rx.sring->rsp_prod;
		rmb();
		if (prod - n->rx.rsp_cons > NF_RX_RING_SIZE) {
			protocol_error(n, "rx rsp_prod", prod);
			return;
		}
		for (cons = n->rx.rsp_cons; cons != prod; cons++) {
			netif_rx_response_t *rsp = RING_GET_RESPONSE(&n->rx, cons);
			unsigned int id = rsp->id;
			int status = rsp->status;
			unsigned int off = rsp->offset, flags = rsp->flags;

			if (id >= NF_RX_BUFS) {
				protocol_error(n, "rx response id", id);
				return;
			}
			/* Single-slot frames only: we offered neither scatter-gather nor GSO. */
			if (status > 0 && off + (unsigned int)status <= PAGE_SIZE &&
			    !(flags & (NETRXF_more_data | NETRXF_extra_info)) && n->rx_fn)
				n->rx_fn(n->rx_arg, (uint8_t *)n->rxb[id].page + off, (size_t)status);
			post_rx(n, id);
		}
		n->rx.rsp_cons = prod;
		RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&n->rx, notify);
		kick(n, notify);
		RING_FINAL_CHECK_FOR_RESPONSES(&n->rx, more);
	} while (more);
}

void lvm_net_poll(struct lvm_net *n)
{
	if (!n->connected || n->broken)
		return;
	tx_reclaim(n);
	rx_poll(n);
}

/*
 * A cancelled suspend (checkpoint) left the back-end connected: nothing
 * to do. In a new domain the back-end, the grants and the channel are
 * new: probe and connect again; frames in flight are lost, as on a wire.
 */
void rt_net_resume_all(int cancelled)
{
	struct lvm_net *n;

	if (cancelled)
		return;
	for (n = nets; n; n = n->next) {
		n->connected = 0;
		/* The old back-end is gone with the old domain: nobody to tell. */
		n->tp->close(n->tp_priv, 0);
		n->tp_priv = NULL;
		if (connect(n) == 0)
			lvm_printf(RT_TAG "netfront vif/%u: reconnected\n", n->index);
	}
}
