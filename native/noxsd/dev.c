/* noxsd's device table: power and vif devices per guest (control page granted, event channel bound), their control requests, and tear-down. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "noxsd.h"
#include "check.h"

struct nx_dev **nx_devs;
size_t nx_ndevs;
static size_t cap;

static void reply(struct noxsd_resp *resp, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reply(struct noxsd_resp *resp, int err, const char *fmt, ...)
{
    va_list ap;
    resp->err = err;
    va_start(ap, fmt);
    vsnprintf(resp->msg, sizeof resp->msg, fmt, ap);
    va_end(ap);
}

static const char *type_name(uint16_t type)
{
    return type == NOXS_DEV_POWER ? "power" : type == NOXS_DEV_VIF ? "vif" : "vbd";
}

struct nx_dev *nx_dev_find(uint16_t domid, uint16_t type, uint16_t id)
{
    for (size_t i = 0; i < nx_ndevs; i++) {
        struct nx_dev *d = nx_devs[i];
        if (d->domid == domid && d->type == type && d->id == id) return d;
    }
    return NULL;
}

struct nx_dev *nx_dev_by_port(evtchn_port_t port)
{
    for (size_t i = 0; i < nx_ndevs; i++)
        if (nx_devs[i]->port == port) return nx_devs[i];
    return NULL;
}

int nx_domain_alive(uint16_t domid)
{
    xc_domaininfo_t info;
    int n = xc_domain_getinfolist(nx_xen.xch, domid, 1, &info);
    if (n < 0) return -errno;
    if (n == 0 || info.domain != domid) return 0;
    return (info.flags & XEN_DOMINF_dying) ? 0 : 1;
}

/*
 * The parts every device has: a granted control page with its header, an
 * unbound port for the guest, and a slot in the table. On failure nothing
 * is left behind and resp says why.
 */
static struct nx_dev *dev_new(const struct noxsd_req *r, uint16_t type, struct noxsd_resp *resp)
{
    struct nx_dev *d;
    struct noxs_ctrl_hdr *h;
    int alive;
    xenevtchn_port_or_error_t port;

    if (nx_dev_find(r->domid, type, r->id)) {
        reply(resp, -EEXIST, "domain %u already has %s device %u", r->domid, type_name(type), r->id);
        return NULL;
    }
    alive = nx_domain_alive(r->domid);
    if (alive < 0) { reply(resp, alive, "xc_domain_getinfolist(%u): %s", r->domid, strerror(-alive)); return NULL; }
    if (!alive) { reply(resp, -ESRCH, "no domain %u (or it is dying)", r->domid); return NULL; }
    if (nx_ndevs == cap) {
        size_t ncap = cap ? cap * 2 : 64;
        struct nx_dev **n = realloc(nx_devs, ncap * sizeof *n);
        if (!n) { reply(resp, -ENOMEM, "out of memory"); return NULL; }
        nx_devs = n;
        cap = ncap;
    }
    d = calloc(1, sizeof *d);
    if (!d) { reply(resp, -ENOMEM, "out of memory"); return NULL; }
    d->domid = r->domid;
    d->type = type;
    d->id = r->id;
    d->vif.tap = -1;
    d->page = xengntshr_share_pages(nx_xen.xgs, r->domid, 1, &d->grant, 1);
    if (!d->page) {
        int e = errno ? -errno : -ENOMEM;
        reply(resp, e, "xengntshr_share_pages(domain %u): %s%s", r->domid, strerror(-e),
              e == -ENOSPC ? " (gntalloc's limit: /sys/module/xen_gntalloc/parameters/limit)" : "");
        free(d);
        return NULL;
    }
    memset(d->page, 0, NOXSD_PAGE_SIZE);
    port = xenevtchn_bind_unbound_port(nx_xen.xce, r->domid);
    if (port < 0) {
        int e = -errno;
        reply(resp, e, "xenevtchn_bind_unbound_port(domain %u): %s", r->domid, strerror(-e));
        xengntshr_unshare(nx_xen.xgs, d->page, 1);
        free(d);
        return NULL;
    }
    d->port = (evtchn_port_t)port;
    h = d->page;
    h->magic = NOXS_CTRL_MAGIC;
    h->version = NOXS_CTRL_VERSION;
    h->type = type;
    h->be_state = NOXS_STATE_INITIALISING;
    nx_devs[nx_ndevs++] = d;
    resp->grant = d->grant;
    resp->evtchn = d->port;
    return d;
}

/* Releases a device's resources and its slot. */
static void dev_free(struct nx_dev *d, const char *why)
{
    struct noxs_ctrl_hdr *h = d->page;
    if (d->type == NOXS_DEV_VIF) {
        nx_vif_disconnect(d);
        if (d->vif.tap >= 0) close(d->vif.tap); /* the last fd: the kernel deletes the tap and unbridges it */
    }
    /* A guest still mapping the page sees CLOSED; the kernel keeps the grant until the guest unmaps it. */
    h->be_state = NOXS_STATE_CLOSED;
    xen_wmb();
    xenevtchn_notify(nx_xen.xce, d->port);
    xenevtchn_unbind(nx_xen.xce, d->port);
    xengntshr_unshare(nx_xen.xgs, d->page, 1);
    if (d->type == NOXS_DEV_VIF)
        nx_log("domain %u vif %u (%s) removed (%s): tx %llu packets, rx %llu, tx errors %llu, rx dropped %llu",
               d->domid, d->id, d->vif.ifname, why, (unsigned long long)d->vif.tx_packets, (unsigned long long)d->vif.rx_packets,
               (unsigned long long)d->vif.tx_errors, (unsigned long long)d->vif.rx_dropped);
    else
        nx_log("domain %u %s %u removed (%s)", d->domid, type_name(d->type), d->id, why);
    for (size_t i = 0; i < nx_ndevs; i++) {
        if (nx_devs[i] == d) {
            nx_devs[i] = nx_devs[--nx_ndevs];
            break;
        }
    }
    free(d);
}

void nx_power_add(const struct noxsd_req *r, struct noxsd_resp *resp)
{
    struct nx_dev *d = dev_new(r, NOXS_DEV_POWER, resp);
    if (!d) return;
    nx_log("domain %u power %u added: grant %u, port %u", d->domid, d->id, d->grant, d->port);
}

void nx_vif_add(const struct noxsd_req *r, struct noxsd_resp *resp)
{
    char ifname[NOXSD_IFNAMSIZ], msg[sizeof resp->msg];
    uint16_t mtu = r->mtu ? r->mtu : NOXS_VIF_MTU_DEFAULT;
    struct noxs_vif_ctrl *v;
    struct nx_dev *d;
    int fd;

    if (r->ifname[0]) snprintf(ifname, sizeof ifname, "%s", r->ifname);
    else noxsd_default_ifname(r->domid, r->id, ifname);
    /* Checked before the tap exists, so that a refused request leaves no interface. */
    if (nx_dev_find(r->domid, NOXS_DEV_VIF, r->id)) {
        reply(resp, -EEXIST, "domain %u already has vif device %u", r->domid, r->id);
        return;
    }
    fd = nx_tap_create(ifname, mtu, r->bridge, msg, sizeof msg);
    if (fd < 0) { reply(resp, fd, "%s", msg); return; }
    d = dev_new(r, NOXS_DEV_VIF, resp);
    if (!d) { close(fd); return; }
    d->vif.tap = fd;
    d->vif.mtu = mtu;
    memcpy(d->vif.mac, r->mac, 6);
    snprintf(d->vif.ifname, sizeof d->vif.ifname, "%s", ifname);
    v = d->page;
    memcpy(v->be_mac, r->mac, 6);
    v->be_mtu = mtu;
    snprintf(resp->ifname, sizeof resp->ifname, "%s", ifname);
    nx_log("domain %u vif %u added: %s on %s, mac %02x:%02x:%02x:%02x:%02x:%02x, mtu %u, grant %u, port %u",
           d->domid, d->id, ifname, r->bridge, r->mac[0], r->mac[1], r->mac[2], r->mac[3], r->mac[4], r->mac[5],
           mtu, d->grant, d->port);
}

void nx_dev_rem(const struct noxsd_req *r, struct noxsd_resp *resp)
{
    struct nx_dev *d = nx_dev_find(r->domid, r->type, r->id);
    if (!d) { reply(resp, -ENOENT, "domain %u has no %s device %u", r->domid, type_name(r->type), r->id); return; }
    dev_free(d, "request");
}

void nx_count(const struct noxsd_req *r, struct noxsd_resp *resp)
{
    uint32_t n = 0;
    for (size_t i = 0; i < nx_ndevs; i++)
        if (r->domid == 0 || nx_devs[i]->domid == r->domid) n++;
    resp->seq = n;
}

void nx_domain_rem(uint16_t domid, const char *why)
{
    size_t i = 0;
    while (i < nx_ndevs) {
        if (nx_devs[i]->domid == domid) dev_free(nx_devs[i], why); /* the last slot moved into i */
        else i++;
    }
}

void nx_dev_all_rem(void)
{
    while (nx_ndevs) dev_free(nx_devs[nx_ndevs - 1], "noxsd stops");
}

void nx_reap_dead(void)
{
    /* One bit per ordinary domain id: set if it lives. Filled from a few bulk calls, not one call per domain. */
    static uint8_t alive[NOXS_DOMID_FIRST_RESERVED / 8];
    static xc_domaininfo_t info[256];
    uint32_t next = 0;
    size_t i;

    if (!nx_ndevs) return;
    memset(alive, 0, sizeof alive);
    for (;;) {
        int n = xc_domain_getinfolist(nx_xen.xch, next, 256, info);
        if (n < 0) { nx_log("xc_domain_getinfolist: %s: dead domains are not looked for this time", strerror(errno)); return; }
        for (int k = 0; k < n; k++) {
            uint32_t id = info[k].domain;
            if (id < NOXS_DOMID_FIRST_RESERVED && !(info[k].flags & XEN_DOMINF_dying)) alive[id / 8] |= (uint8_t)(1u << (id % 8));
        }
        if (n < 256) break;
        next = info[n - 1].domain + 1;
        if (next >= NOXS_DOMID_FIRST_RESERVED) break;
    }
    i = 0;
    while (i < nx_ndevs) {
        uint16_t domid = nx_devs[i]->domid;
        if (!(alive[domid / 8] & (1u << (domid % 8)))) {
            nx_domain_rem(domid, "the domain died");
            i = 0; /* the table changed under us: start over (a removed domain has no entry left) */
        } else {
            i++;
        }
    }
}

void nx_power_req(const struct noxsd_req *r, struct noxsd_resp *resp)
{
    struct nx_dev *d = nx_dev_find(r->domid, NOXS_DEV_POWER, r->id);
    volatile struct noxs_power_ctrl *p;
    uint32_t fe_state, features;

    if (!d) { reply(resp, -ENOENT, "domain %u has no power device %u", r->domid, r->id); return; }
    p = d->page;
    fe_state = p->hdr.fe_state;
    features = p->fe_features;
    if (fe_state != NOXS_STATE_CONNECTED) {
        reply(resp, -ENOTCONN, "domain %u does not listen on power device %u (fe_state %u)", r->domid, r->id, fe_state);
        return;
    }
    if (r->arg == NOXS_POWER_SUSPEND && !(features & NOXS_POWER_F_SUSPEND)) {
        reply(resp, -EOPNOTSUPP, "domain %u cannot suspend (its power device lacks the suspend feature)", r->domid);
        return;
    }
    d->power_seq++;
    if (d->power_seq == 0) d->power_seq = 1; /* never zero once a request was made */
    p->be_request = r->arg;
    xen_wmb(); /* the guest sees the kind before the new number */
    p->be_request_seq = d->power_seq;
    xen_wmb();
    xenevtchn_notify(nx_xen.xce, d->port);
    resp->seq = d->power_seq;
    nx_log("domain %u power %u: request %u (seq %u)", d->domid, d->id, r->arg, d->power_seq);
}

void nx_status(const struct noxsd_req *r, struct noxsd_resp *resp)
{
    struct nx_dev *d = nx_dev_find(r->domid, r->type, r->id);
    volatile struct noxs_ctrl_hdr *h;
    if (!d) { reply(resp, -ENOENT, "domain %u has no %s device %u", r->domid, type_name(r->type), r->id); return; }
    h = d->page;
    resp->grant = d->grant;
    resp->evtchn = d->port;
    resp->be_state = h->be_state;
    resp->fe_state = h->fe_state;
    if (d->type == NOXS_DEV_POWER) {
        volatile struct noxs_power_ctrl *p = d->page;
        resp->fe_features = p->fe_features;
        resp->seq = p->fe_ack_seq;
    } else {
        volatile struct noxs_vif_ctrl *v = d->page;
        uint32_t e = v->be_error;
        snprintf(resp->ifname, sizeof resp->ifname, "%s", d->vif.ifname);
        if (e) snprintf(resp->msg, sizeof resp->msg, "closed: %s", strerror((int)e));
    }
}

void nx_dev_event(struct nx_dev *d)
{
    volatile struct noxs_ctrl_hdr *h = d->page;
    uint32_t fe_state = h->fe_state; /* the guest's field: read once, then only the copy */
    xen_rmb();

    if (d->type == NOXS_DEV_POWER) {
        if (fe_state == NOXS_STATE_CONNECTED && h->be_state != NOXS_STATE_CONNECTED) {
            h->be_state = NOXS_STATE_CONNECTED;
            nx_log("domain %u power %u connected", d->domid, d->id);
        } else if ((fe_state == NOXS_STATE_CLOSING || fe_state == NOXS_STATE_CLOSED) && h->be_state == NOXS_STATE_CONNECTED) {
            h->be_state = NOXS_STATE_INITIALISING; /* ready for the guest to listen again (after a resume) */
        }
        return;
    }

    if (d->vif.failed) return;
    if (!d->vif.connected) {
        if (fe_state == NOXS_STATE_CONNECTED) {
            if (nx_vif_connect(d) < 0) return;
        } else if (h->be_state == NOXS_STATE_CLOSED && (fe_state == NOXS_STATE_INITIALISING || fe_state == NOXS_STATE_UNKNOWN)) {
            h->be_state = NOXS_STATE_INITIALISING; /* the guest starts over: wait for its new rings */
            xen_wmb();
            xenevtchn_notify(nx_xen.xce, d->port);
        }
        return;
    }
    if (fe_state == NOXS_STATE_CLOSING || fe_state == NOXS_STATE_CLOSED || fe_state == NOXS_STATE_INITIALISING) {
        nx_vif_disconnect(d);
        h->be_state = fe_state == NOXS_STATE_INITIALISING ? NOXS_STATE_INITIALISING : NOXS_STATE_CLOSED;
        xen_wmb();
        xenevtchn_notify(nx_xen.xce, d->port);
        nx_log("domain %u vif %u disconnected by the guest (fe_state %u)", d->domid, d->id, fe_state);
        return;
    }
    nx_vif_tx(d);
    if (!d->vif.failed && d->vif.connected) nx_vif_rx(d);
}
