/* noxsd's pure checks of untrusted input: control requests from the toolstack, ring indices and tx requests from guests. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "noxs.h"
#include "noxs-devices.h"

/* netif's flag bits, as xen/io/netif.h numbers them (kept here so that this file needs no Xen header). */
#define TXF_MORE_DATA  (1u << 2)
#define TXF_EXTRA_INFO (1u << 3)

static int fail(int err, char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
    return err;
}

/* 1 if a fixed-size string field holds a NUL. */
static int terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

int noxsd_ifname_ok(const char *name, size_t cap)
{
    size_t n;
    if (!terminated(name, cap)) return 0;
    n = strlen(name);
    if (n == 0 || n >= NOXSD_IFNAMSIZ) return 0;
    if (!strcmp(name, ".") || !strcmp(name, "..")) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c >= 0x7f || c == '/' || c == ':') return 0;
    }
    return 1;
}

void noxsd_default_ifname(uint16_t domid, uint16_t id, char out[NOXSD_IFNAMSIZ])
{
    /* "vif32767.65535" is 14 characters: it always fits. */
    snprintf(out, NOXSD_IFNAMSIZ, "vif%u.%u", (unsigned)domid, (unsigned)id);
}

static int check_domid(uint16_t domid, char *msg, size_t msglen)
{
    if (domid == 0) return fail(-EINVAL, msg, msglen, "domid 0 is dom0: noxs devices are for guests");
    if (domid >= NOXS_DOMID_FIRST_RESERVED)
        return fail(-EINVAL, msg, msglen, "domid %u is not an ordinary domain id (below %u)", domid, NOXS_DOMID_FIRST_RESERVED);
    return 0;
}

static int check_type(uint16_t type, char *msg, size_t msglen)
{
    if (type == NOXS_DEV_POWER || type == NOXS_DEV_VIF) return 0;
    if (type == NOXS_DEV_VBD) return fail(-EOPNOTSUPP, msg, msglen, "device type %u (vbd) is not served by noxsd", type);
    return fail(-EINVAL, msg, msglen, "unknown device type %u (power is %u, vif %u)", type, NOXS_DEV_POWER, NOXS_DEV_VIF);
}

int noxsd_check_req(const struct noxsd_req *r, char *msg, size_t msglen)
{
    int rc;
    if (r->magic != NOXSD_MAGIC)
        return fail(-EPROTO, msg, msglen, "bad magic 0x%08x (expected 0x%08x): not a noxsd request", r->magic, NOXSD_MAGIC);
    if (r->version != NOXSD_VERSION)
        return fail(-EPROTO, msg, msglen, "protocol version %u is not supported (this noxsd speaks %u)", r->version, NOXSD_VERSION);
    if (r->pad != 0 || r->pad2 != 0) return fail(-EINVAL, msg, msglen, "padding fields must be zero");

    switch (r->op) {
    case NOXSD_OP_PING:
        return 0;
    case NOXSD_OP_POWER_ADD:
        return check_domid(r->domid, msg, msglen);
    case NOXSD_OP_VIF_ADD: {
        static const uint8_t zero[6];
        if ((rc = check_domid(r->domid, msg, msglen))) return rc;
        if (r->mac[0] & 1) return fail(-EINVAL, msg, msglen, "MAC address %02x:%02x:%02x:%02x:%02x:%02x is multicast: a vif needs a unicast address",
                                       r->mac[0], r->mac[1], r->mac[2], r->mac[3], r->mac[4], r->mac[5]);
        if (!memcmp(r->mac, zero, 6)) return fail(-EINVAL, msg, msglen, "MAC address 00:00:00:00:00:00 is not usable");
        if (r->mtu != 0 && r->mtu < 68) return fail(-EINVAL, msg, msglen, "MTU %u is below 68 (0 means %u)", r->mtu, NOXS_VIF_MTU_DEFAULT);
        if (!terminated(r->bridge, sizeof r->bridge)) return fail(-EINVAL, msg, msglen, "bridge name is not NUL-terminated within %d bytes", NOXSD_IFNAMSIZ);
        if (r->bridge[0] == '\0') return fail(-EINVAL, msg, msglen, "no bridge named: a vif needs one");
        if (!noxsd_ifname_ok(r->bridge, sizeof r->bridge)) return fail(-EINVAL, msg, msglen, "bridge name \"%s\" is not a valid interface name", r->bridge);
        if (!terminated(r->ifname, sizeof r->ifname)) return fail(-EINVAL, msg, msglen, "interface name is not NUL-terminated within %d bytes", NOXSD_IFNAMSIZ);
        if (r->ifname[0] != '\0' && !noxsd_ifname_ok(r->ifname, sizeof r->ifname))
            return fail(-EINVAL, msg, msglen, "interface name \"%s\" is not valid (1-15 printable characters, no '/', ':' or blank)", r->ifname);
        return 0;
    }
    case NOXSD_OP_DEV_REM:
    case NOXSD_OP_STATUS:
        if ((rc = check_domid(r->domid, msg, msglen))) return rc;
        return check_type(r->type, msg, msglen);
    case NOXSD_OP_DOMAIN_REM:
        return check_domid(r->domid, msg, msglen);
    case NOXSD_OP_COUNT:
        return r->domid == 0 ? 0 : check_domid(r->domid, msg, msglen);
    case NOXSD_OP_POWER_REQ:
        if ((rc = check_domid(r->domid, msg, msglen))) return rc;
        if (r->arg < NOXS_POWER_POWEROFF || r->arg > NOXS_POWER_MAX)
            return fail(-EINVAL, msg, msglen, "power request %u is unknown (1 poweroff, 2 reboot, 3 suspend)", r->arg);
        return 0;
    default:
        return fail(-EOPNOTSUPP, msg, msglen, "unknown op %u", r->op);
    }
}

long noxsd_ring_pending(uint32_t req_prod, uint32_t req_cons, uint32_t ring_size)
{
    /* Indices wrap at 2^32: the difference is right in unsigned arithmetic whatever their values. */
    uint32_t n = req_prod - req_cons;
    return n > ring_size ? -1 : (long)n;
}

int noxsd_check_tx(uint16_t offset, uint16_t size, uint16_t flags, uint16_t id, uint32_t ring_size,
                   char *msg, size_t msglen)
{
    if (id >= ring_size) return fail(NOXSD_TX_FATAL, msg, msglen, "tx request id %u is out of range (ring of %u)", id, ring_size);
    if (flags & TXF_MORE_DATA) return fail(NOXSD_TX_FATAL, msg, msglen, "tx request with more_data: scatter-gather is not offered");
    if (flags & TXF_EXTRA_INFO) return fail(NOXSD_TX_FATAL, msg, msglen, "tx request with extra_info: no extra feature is offered");
    if ((uint32_t)offset + size > NOXSD_PAGE_SIZE)
        return fail(NOXSD_TX_DROP, msg, msglen, "tx request offset %u + size %u passes the page's end", offset, size);
    if (size < NOXSD_ETH_HLEN) return fail(NOXSD_TX_DROP, msg, msglen, "tx request size %u is shorter than an Ethernet header", size);
    return NOXSD_TX_OK;
}

int noxsd_check_rx_id(uint16_t id, uint32_t ring_size)
{
    return id < ring_size;
}
