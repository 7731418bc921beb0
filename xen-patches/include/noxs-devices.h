/* noxs devices: the control pages a noxs back-end shares with a guest (power, vif) and how the two ends use them. */
/*
 * This is the front-end/back-end half of the noxs ABI; noxs.h (beside it) is
 * the hypervisor's half. Xen never reads these pages: only the dom0 back-end
 * (native/noxsd) and the guests (guests/runtime) include this header, so it
 * is not part of the patch series.
 *
 * Users provide uint8_t, uint16_t, uint32_t (<stdint.h> or Xen's types)
 * before including it. Layouts are fixed: naturally aligned fields, explicit
 * padding, all multi-byte fields little-endian (x86). Padding MUST be zero
 * when written and MUST be ignored when read.
 *
 * How a device appears
 * --------------------
 * 1. The back-end allocates one page per device, fills its header (magic,
 *    version, type, the back-end's fields) and grants it to the guest,
 *    writable. It allocates an unbound event channel port for the guest.
 * 2. The toolstack adds {type, id, be_domid, grant, evtchn} to the guest's
 *    device page with devctl NOXS_DEVCTL_DEV_ADD (noxs.h).
 * 3. The guest reads its device page, maps the control page by grant
 *    (GNTTABOP_map_grant_ref from be_domid), checks magic, version and type,
 *    and binds the port with EVTCHNOP_bind_interdomain(be_domid, evtchn).
 *    It refuses (and reports on its console) a page whose magic, version or
 *    type does not match, and never trusts a value it reads twice: it copies
 *    a field once, checks it, then uses the copy.
 * 4. Either end notifies the event channel after changing the page; the
 *    other end re-reads the page. Writers issue a write barrier before the
 *    notification; readers a read barrier after the event.
 *
 * Field ownership: fields prefixed `be_` are written only by the back-end,
 * `fe_` only by the guest. Each end treats the other's fields as untrusted
 * input (bounds and values checked).
 *
 * States (be_state, fe_state) use xenbus numbering so that logs read alike:
 *   0 unknown (page fresh), 1 initialising, 4 connected, 5 closing, 6 closed.
 */
#ifndef LIGHTVM_NOXS_DEVICES_H
#define LIGHTVM_NOXS_DEVICES_H

#define NOXS_CTRL_VERSION 1

#define NOXS_STATE_UNKNOWN      0
#define NOXS_STATE_INITIALISING 1
#define NOXS_STATE_CONNECTED    4
#define NOXS_STATE_CLOSING      5
#define NOXS_STATE_CLOSED       6

/* Header common to every control page: 16 bytes. */
struct noxs_ctrl_hdr {
    uint32_t magic;   /* NOXS_CTRL_MAGIC */
    uint16_t version; /* NOXS_CTRL_VERSION */
    uint16_t type;    /* NOXS_DEV_* of noxs.h: must match the device page's entry */
    uint32_t be_state;
    uint32_t fe_state;
};

#define NOXS_CTRL_MAGIC 0x6c72746eU /* "ntrl" in little-endian memory */

/*
 * Power (NOXS_DEV_POWER)
 * ----------------------
 * The back-end asks; the guest acknowledges. A request is a new value of
 * be_request_seq (incremented by one for each request, never zero once a
 * request was made) with its kind in be_request. The guest, on the event,
 * reads be_request_seq and be_request, writes fe_ack_seq = be_request_seq,
 * notifies, then acts (powers off, reboots, or suspends). A guest that
 * ignores a request leaves fe_ack_seq behind; the toolstack times out.
 * The guest sets fe_state to CONNECTED once it listens, and sets the
 * feature bits it supports in fe_features before that.
 */
#define NOXS_POWER_NONE     0
#define NOXS_POWER_POWEROFF 1
#define NOXS_POWER_REBOOT   2
#define NOXS_POWER_SUSPEND  3
#define NOXS_POWER_MAX      NOXS_POWER_SUSPEND

/* fe_features bits */
#define NOXS_POWER_F_SUSPEND 1U /* the guest can suspend (and resume) */

struct noxs_power_ctrl {
    struct noxs_ctrl_hdr hdr; /* hdr.type == NOXS_DEV_POWER */
    uint32_t be_request;      /* NOXS_POWER_* */
    uint32_t be_request_seq;
    uint32_t fe_ack_seq;
    uint32_t fe_features;     /* NOXS_POWER_F_* */
};

/*
 * Network interface (NOXS_DEV_VIF)
 * --------------------------------
 * Rings and packets are Xen's netif protocol (xen/io/netif.h): one tx and
 * one rx shared ring, one page each, granted by the guest to the back-end,
 * and one event channel (the device's) for both rings and the control page.
 * The back-end copies every packet (grant copy), so the guest must post rx
 * requests with granted pages as for feature-rx-copy; no other netif
 * feature (scatter-gather, GSO, checksum offload, multi-queue) is used.
 *
 * Handshake:
 *   back-end  fills be_mac, be_mtu, be_state = INITIALISING, then the
 *             toolstack adds the device;
 *   guest     allocates and grants both rings, writes fe_tx_ring_ref,
 *             fe_rx_ring_ref, then fe_state = CONNECTED, notifies;
 *   back-end  maps both rings, checks them, sets be_state = CONNECTED (or
 *             CLOSED with be_error set to a positive errno when it cannot),
 *             notifies; the guest waits for one of the two, with a timeout.
 *   Either end sets its state to CLOSING/CLOSED to disconnect.
 */
#define NOXS_VIF_MTU_DEFAULT 1500

struct noxs_vif_ctrl {
    struct noxs_ctrl_hdr hdr; /* hdr.type == NOXS_DEV_VIF */
    uint8_t  be_mac[6];       /* the guest's MAC address (unicast) */
    uint16_t be_mtu;          /* 68..65535; 1500 unless the toolstack says */
    uint32_t be_error;        /* a positive errno when be_state is CLOSED after a failure */
    uint32_t fe_tx_ring_ref;  /* grant of the tx shared ring page */
    uint32_t fe_rx_ring_ref;  /* grant of the rx shared ring page */
    uint32_t pad[3];
};

#endif /* LIGHTVM_NOXS_DEVICES_H */
