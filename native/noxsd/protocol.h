/* noxsd's control protocol: fixed-size binary requests from the toolstack over a Unix socket, one response each. */
/*
 * noxsd (the dom0 noxs back-end) listens on a Unix stream socket, by default
 * /run/lightvm/noxsd.sock, mode 0600, owner root: only the toolstack in the
 * control domain talks to it. A client writes whole requests (64 bytes) and
 * reads one response (128 bytes) per request, in order; it may keep the
 * connection open for many requests. noxsd checks every field: a bad magic
 * or version closes the connection (after an -EPROTO answer); any other bad
 * field (non-zero padding included) gets err = -EINVAL
 * and a message. Integers are little-endian (x86). toolstack/devices/noxs-*.ts
 * mirrors these layouts; change both together.
 *
 * Ops
 *   PING        nothing; answers err 0 (liveness and version check).
 *   POWER_ADD   (domid, id): a power device for domid; answers grant, evtchn.
 *   VIF_ADD     (domid, id, mac, mtu, bridge, ifname): a vif whose packets go
 *               to a tap interface (ifname, or "vifD.I" when empty) that
 *               noxsd creates and adds to bridge (must exist); answers grant,
 *               evtchn, ifname.
 *   DEV_REM     (domid, type, id): tears down one device (unmaps the guest's
 *               rings, ends the grant, closes the port, deletes the tap).
 *   DOMAIN_REM  (domid): every device of domid; ok if there is none.
 *   POWER_REQ   (domid, id, arg = NOXS_POWER_*): writes a request on the
 *               power page and notifies; answers seq (the request's number).
 *               Refused with -ENOTCONN while the guest does not listen
 *               (fe_state not CONNECTED), -EOPNOTSUPP for SUSPEND when the
 *               guest lacks NOXS_POWER_F_SUSPEND.
 *   STATUS      (domid, type, id): answers be_state, fe_state, fe_features,
 *               fe_ack_seq (power) and ifname (vif); msg says why when a vif
 *               was closed with be_error set (err stays 0).
 *   COUNT       (domid, or 0 for every domain): answers seq, the number of
 *               devices noxsd holds for it (a toolstack's check that what it
 *               removed is gone, and that nothing is left anywhere).
 * Other errors: -EEXIST (a device of that type and id exists), -ENOENT (no
 * such device), -ESRCH (no such domain, or it is dying), -ENODEV (VIF_ADD:
 * no such bridge), -EEXIST (VIF_ADD: an interface of that name exists).
 * noxsd also tears down a domain's devices by itself when the domain dies
 * (VIRQ_DOM_EXC, or, where xenstored holds that VIRQ, a look at Xen's domain
 * list every second), so nothing is left when a toolstack dies.
 */
#ifndef LIGHTVM_NOXSD_PROTOCOL_H
#define LIGHTVM_NOXSD_PROTOCOL_H

#include <stdint.h>

#define NOXSD_MAGIC   0x6473786eU /* "nxsd" in little-endian memory */
#define NOXSD_VERSION 1
#define NOXSD_SOCKET  "/run/lightvm/noxsd.sock"

#define NOXSD_OP_PING       1
#define NOXSD_OP_POWER_ADD  2
#define NOXSD_OP_VIF_ADD    3
#define NOXSD_OP_DEV_REM    4
#define NOXSD_OP_DOMAIN_REM 5
#define NOXSD_OP_POWER_REQ  6
#define NOXSD_OP_STATUS     7
#define NOXSD_OP_COUNT      8

#define NOXSD_IFNAMSIZ 16 /* as the kernel's IFNAMSIZ: at most 15 characters and a NUL */

/* 64 bytes. */
struct noxsd_req {
    uint32_t magic;   /* NOXSD_MAGIC */
    uint16_t version; /* NOXSD_VERSION */
    uint16_t op;      /* NOXSD_OP_* */
    uint16_t domid;   /* an ordinary domain id, not 0 */
    uint16_t type;    /* NOXS_DEV_* (DEV_REM, STATUS) */
    uint16_t id;      /* device id, unique per type and domain */
    uint16_t mtu;     /* VIF_ADD: 68..65535, 0 for the default */
    uint32_t arg;     /* POWER_REQ: NOXS_POWER_POWEROFF..NOXS_POWER_MAX */
    uint8_t  mac[6];  /* VIF_ADD: unicast */
    uint16_t pad;
    char     bridge[NOXSD_IFNAMSIZ]; /* VIF_ADD: NUL-terminated */
    char     ifname[NOXSD_IFNAMSIZ]; /* VIF_ADD: NUL-terminated, or empty */
    uint32_t pad2;
};

/* 128 bytes. */
struct noxsd_resp {
    int32_t  err;         /* 0 or a negative errno */
    uint32_t grant;       /* *_ADD: grant of the control page, for the guest */
    uint32_t evtchn;      /* *_ADD: noxsd's unbound port, for the guest to bind */
    uint32_t seq;         /* POWER_REQ: the request's number; STATUS (power): fe_ack_seq; COUNT: the count */
    uint32_t be_state;    /* STATUS */
    uint32_t fe_state;    /* STATUS */
    uint32_t fe_features; /* STATUS (power) */
    uint32_t pad;
    char     ifname[NOXSD_IFNAMSIZ]; /* VIF_ADD, STATUS (vif) */
    char     msg[80];     /* NUL-terminated, why err is not 0 */
};

#endif /* LIGHTVM_NOXSD_PROTOCOL_H */
