/* noxsd's vif data path: maps a guest's netif rings and moves packets by grant copy between them and the vif's tap. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "noxsd.h"
#include "check.h"

/* Requests handled per batch: one grant-copy call each way. */
#define BATCH 64
/* One byte more than a page: a frame that fills it did not fit an rx slot (tap reads truncate silently). */
#define FRAME_MAX (NOXSD_PAGE_SIZE + 1)

static uint8_t bufs[BATCH][FRAME_MAX];
static xengnttab_grant_copy_segment_t segs[BATCH];

void nx_vif_fail(struct nx_dev *d, int err, const char *fmt, ...)
{
    volatile struct noxs_vif_ctrl *v = d->page;
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    nx_vif_disconnect(d);
    d->vif.failed = 1;
    v->be_error = (uint32_t)err;
    xen_wmb();
    v->hdr.be_state = NOXS_STATE_CLOSED;
    xen_wmb();
    xenevtchn_notify(nx_xen.xce, d->port);
    nx_log("domain %u vif %u (%s) closed: %s (%s)", d->domid, d->id, d->vif.ifname, why, strerror(err));
}

int nx_vif_connect(struct nx_dev *d)
{
    volatile struct noxs_vif_ctrl *v = d->page;
    /* The guest's refs: read once, used only as these copies. A bad ref fails the map below, nothing else. */
    uint32_t tx_ref = v->fe_tx_ring_ref, rx_ref = v->fe_rx_ring_ref;

    d->vif.tx_page = xengnttab_map_grant_ref(nx_xen.xgt, d->domid, tx_ref, PROT_READ | PROT_WRITE);
    if (!d->vif.tx_page) { nx_vif_fail(d, errno ? errno : EINVAL, "cannot map tx ring grant %u", tx_ref); return -1; }
    d->vif.rx_page = xengnttab_map_grant_ref(nx_xen.xgt, d->domid, rx_ref, PROT_READ | PROT_WRITE);
    if (!d->vif.rx_page) { nx_vif_fail(d, errno ? errno : EINVAL, "cannot map rx ring grant %u", rx_ref); return -1; }
    /*
     * The shared rings live in guest pages the guest can change at any time:
     * the back rings keep our own indices (req_cons, rsp_prod_pvt) here, and
     * every index or request read from the shared part is checked before use.
     * The guest initialised the shared indices; we start from its req_prod
     * being 0 as the protocol says, and anything else is caught as an overrun.
     */
    BACK_RING_INIT(&d->vif.tx, (netif_tx_sring_t *)d->vif.tx_page, NOXSD_PAGE_SIZE);
    BACK_RING_INIT(&d->vif.rx, (netif_rx_sring_t *)d->vif.rx_page, NOXSD_PAGE_SIZE);
    d->vif.connected = 1;
    d->vif.rx_wait = 0;
    v->be_error = 0;
    xen_wmb();
    v->hdr.be_state = NOXS_STATE_CONNECTED;
    xen_wmb();
    xenevtchn_notify(nx_xen.xce, d->port);
    nx_log("domain %u vif %u (%s) connected: tx ring grant %u, rx ring grant %u", d->domid, d->id, d->vif.ifname, tx_ref, rx_ref);
    /* Requests posted before we connected. */
    nx_vif_tx(d);
    if (d->vif.connected) nx_vif_rx(d);
    return d->vif.connected ? 0 : -1;
}

void nx_vif_disconnect(struct nx_dev *d)
{
    if (d->vif.tx_page) xengnttab_unmap(nx_xen.xgt, d->vif.tx_page, 1);
    if (d->vif.rx_page) xengnttab_unmap(nx_xen.xgt, d->vif.rx_page, 1);
    d->vif.tx_page = d->vif.rx_page = NULL;
    d->vif.connected = 0;
    d->vif.rx_wait = 0;
    d->vif.tx_more = 0;
}

int nx_vif_wants_tap(const struct nx_dev *d)
{
    return d->type == NOXS_DEV_VIF && d->vif.connected && !d->vif.rx_wait && d->vif.tap >= 0;
}

/* Copies a batch; a call that fails as a whole fails each segment. */
static void copy(unsigned n)
{
    if (n && xengnttab_grant_copy(nx_xen.xgt, n, segs) < 0) {
        for (unsigned i = 0; i < n; i++) segs[i].status = GNTST_general_error;
    }
}

void nx_vif_tx(struct nx_dev *d)
{
    netif_tx_back_ring_t *ring = &d->vif.tx;
    uint16_t ids[BATCH];
    int8_t verdict[BATCH];
    char why[128];
    int more, notify, rounds = 0;

    d->vif.tx_more = 0;
    if (!d->vif.connected) return;
    do {
        RING_IDX prod = ring->sring->req_prod;
        long pending;
        unsigned n = 0, nseg = 0;
        xen_rmb(); /* the requests are read after the index that covers them */
        pending = noxsd_ring_pending(prod, ring->req_cons, RING_SIZE(ring));
        if (pending < 0) {
            nx_vif_fail(d, EPROTO, "tx ring producer %u runs %u ahead of our consumer %u (ring of %u)",
                        prod, prod - ring->req_cons, ring->req_cons, RING_SIZE(ring));
            return;
        }
        while (pending > 0 && n < BATCH) {
            netif_tx_request_t req;
            int v;
            RING_COPY_REQUEST(ring, ring->req_cons, &req);
            ring->req_cons++;
            pending--;
            v = noxsd_check_tx(req.offset, req.size, req.flags, req.id, RING_SIZE(ring), why, sizeof why);
            if (v == NOXSD_TX_FATAL) { nx_vif_fail(d, EPROTO, "%s", why); return; }
            ids[n] = req.id;
            verdict[n] = (int8_t)v;
            if (v == NOXSD_TX_OK) {
                xengnttab_grant_copy_segment_t *s = &segs[nseg++];
                memset(s, 0, sizeof *s);
                s->source.foreign.ref = req.gref;
                s->source.foreign.offset = req.offset; /* offset + size <= 4096: checked above */
                s->source.foreign.domid = d->domid;
                s->dest.virt = bufs[nseg - 1];
                s->len = req.size;
                s->flags = GNTCOPY_source_gref;
            } else {
                d->vif.tx_errors++;
                if (d->vif.tx_errors <= 10) nx_log("domain %u vif %u: dropped a tx request: %s", d->domid, d->id, why);
            }
            n++;
        }
        copy(nseg);
        for (unsigned i = 0, k = 0; i < n; i++) {
            netif_tx_response_t *rsp = RING_GET_RESPONSE(ring, ring->rsp_prod_pvt);
            int16_t status = NETIF_RSP_ERROR;
            if (verdict[i] == NOXSD_TX_OK) {
                xengnttab_grant_copy_segment_t *s = &segs[k];
                if (s->status == GNTST_okay) {
                    /* A full tap queue drops the frame, as a NIC would; the guest still gets OKAY. */
                    if (write(d->vif.tap, bufs[k], s->len) < 0 && errno != EAGAIN) d->vif.tx_errors++;
                    else d->vif.tx_packets++;
                    status = NETIF_RSP_OKAY;
                } else {
                    d->vif.tx_errors++;
                    if (d->vif.tx_errors <= 10)
                        nx_log("domain %u vif %u: tx grant copy of ref %u failed (status %d)", d->domid, d->id, s->source.foreign.ref, s->status);
                }
                k++;
            }
            rsp->id = ids[i];
            rsp->status = status;
            ring->rsp_prod_pvt++;
        }
        RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(ring, notify);
        if (notify) xenevtchn_notify(nx_xen.xce, d->port);
        RING_FINAL_CHECK_FOR_REQUESTS(ring, more);
        if (more && ++rounds == 8) { d->vif.tx_more = 1; return; } /* the loop comes back before it sleeps */
    } while (more && d->vif.connected);
}

int nx_vif_tx_leftovers(void)
{
    int left = 0;
    for (size_t i = 0; i < nx_ndevs; i++) {
        struct nx_dev *d = nx_devs[i];
        if (d->type != NOXS_DEV_VIF || !d->vif.tx_more) continue;
        nx_vif_tx(d);
        left |= d->vif.tx_more;
    }
    return left;
}

void nx_vif_rx(struct nx_dev *d)
{
    netif_rx_back_ring_t *ring = &d->vif.rx;
    uint16_t ids[BATCH];
    int notify, rounds = 0;

    if (!d->vif.connected) return;
    d->vif.rx_wait = 0;
    /* A bounded number of batches per call, so that one busy vif does not starve the others. */
    while (rounds++ < 4) {
        RING_IDX prod = ring->sring->req_prod;
        long pending;
        unsigned n = 0;
        xen_rmb();
        pending = noxsd_ring_pending(prod, ring->req_cons, RING_SIZE(ring));
        if (pending < 0) {
            nx_vif_fail(d, EPROTO, "rx ring producer %u runs %u ahead of our consumer %u (ring of %u)",
                        prod, prod - ring->req_cons, ring->req_cons, RING_SIZE(ring));
            return;
        }
        if (pending == 0) {
            int more;
            /* Ask the guest to notify when it posts, then look once more (it may have posted meanwhile). */
            RING_FINAL_CHECK_FOR_REQUESTS(ring, more);
            if (!more) { d->vif.rx_wait = 1; return; }
            continue;
        }
        while (n < (unsigned)pending && n < BATCH) {
            ssize_t len = read(d->vif.tap, bufs[n], FRAME_MAX);
            netif_rx_request_t req;
            if (len < 0) break; /* EAGAIN: the tap is empty */
            if (len > (ssize_t)NOXSD_PAGE_SIZE || len < (ssize_t)NOXSD_ETH_HLEN) { d->vif.rx_dropped++; continue; }
            RING_COPY_REQUEST(ring, ring->req_cons, &req);
            ring->req_cons++;
            if (!noxsd_check_rx_id(req.id, RING_SIZE(ring))) {
                nx_vif_fail(d, EPROTO, "rx request id %u is out of range (ring of %u)", req.id, RING_SIZE(ring));
                return;
            }
            ids[n] = req.id;
            memset(&segs[n], 0, sizeof segs[n]);
            segs[n].source.virt = bufs[n];
            segs[n].dest.foreign.ref = req.gref;
            segs[n].dest.foreign.offset = 0; /* len <= 4096: checked above */
            segs[n].dest.foreign.domid = d->domid;
            segs[n].len = (uint16_t)len;
            segs[n].flags = GNTCOPY_dest_gref;
            n++;
        }
        copy(n);
        for (unsigned i = 0; i < n; i++) {
            netif_rx_response_t *rsp = RING_GET_RESPONSE(ring, ring->rsp_prod_pvt);
            rsp->id = ids[i];
            rsp->offset = 0;
            rsp->flags = 0;
            if (segs[i].status == GNTST_okay) {
                rsp->status = (int16_t)segs[i].len;
                d->vif.rx_packets++;
            } else {
                rsp->status = NETIF_RSP_ERROR;
                d->vif.rx_dropped++;
            }
            ring->rsp_prod_pvt++;
        }
        if (n) {
            RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(ring, notify);
            if (notify) xenevtchn_notify(nx_xen.xce, d->port);
        }
        if (n < BATCH && n < (unsigned)pending) return; /* the tap ran dry */
    }
}
