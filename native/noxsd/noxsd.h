/* noxsd's internal interfaces: the Xen handles, the device table, logging, and the parts of the event loop. */
#ifndef NOXSD_H
#define NOXSD_H

#include <stdint.h>
#include <stddef.h>
#include <xenctrl.h>
#include <xenevtchn.h>
#include <xengnttab.h>
#include <xen/io/netif.h>

#include "protocol.h"
#include "noxs.h"
#include "noxs-devices.h"

/* Logging: one line per event, to stderr (or the log file main opened onto it). */
void nx_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The process's Xen handles, opened once at start-up. */
struct nx_xen {
    xc_interface *xch;
    xenevtchn_handle *xce;
    xengnttab_handle *xgt;
    xengntshr_handle *xgs;
};
extern struct nx_xen nx_xen;

struct nx_vif {
    int tap;                    /* the tap's fd, or -1 */
    char ifname[NOXSD_IFNAMSIZ];
    uint16_t mtu;
    uint8_t mac[6];
    int connected;              /* rings mapped */
    int failed;                 /* closed for a protocol violation or a failed connect (be_error set) */
    int rx_wait;                /* frames wait in the tap but the guest posted no rx request */
    int tx_more;                /* tx requests left for the next loop turn (a busy guest does not starve the others) */
    void *tx_page, *rx_page;    /* the guest's rings, mapped by grant */
    netif_tx_back_ring_t tx;
    netif_rx_back_ring_t rx;
    uint64_t tx_packets, rx_packets, tx_errors, rx_dropped;
};

struct nx_dev {
    uint16_t domid, type, id;
    uint32_t grant;             /* the control page's grant to the guest */
    evtchn_port_t port;         /* our end of the device's event channel */
    void *page;                 /* the control page (ours, shared with the guest) */
    uint32_t power_seq;         /* the last power request's number */
    struct nx_vif vif;          /* type NOXS_DEV_VIF only */
};

/* The device table (dev.c). */
extern struct nx_dev **nx_devs;
extern size_t nx_ndevs;

struct nx_dev *nx_dev_find(uint16_t domid, uint16_t type, uint16_t id);
struct nx_dev *nx_dev_by_port(evtchn_port_t port);
/* Each fills resp (err, msg and the op's fields). */
void nx_power_add(const struct noxsd_req *r, struct noxsd_resp *resp);
void nx_vif_add(const struct noxsd_req *r, struct noxsd_resp *resp);
void nx_dev_rem(const struct noxsd_req *r, struct noxsd_resp *resp);
void nx_domain_rem(uint16_t domid, const char *why);
void nx_power_req(const struct noxsd_req *r, struct noxsd_resp *resp);
void nx_status(const struct noxsd_req *r, struct noxsd_resp *resp);
void nx_count(const struct noxsd_req *r, struct noxsd_resp *resp);
/* An event on a device's port: re-read its control page, move packets. */
void nx_dev_event(struct nx_dev *d);
/* Tears every device down (shutdown). */
void nx_dev_all_rem(void);
/* Tears down the devices of domains that are gone or dying. */
void nx_reap_dead(void);
/* 1 if the domain exists and is not dying; 0 if not; -errno if Xen cannot say. */
int nx_domain_alive(uint16_t domid);

/* vif data path (vif.c). */
int nx_vif_connect(struct nx_dev *d);
void nx_vif_disconnect(struct nx_dev *d);
void nx_vif_fail(struct nx_dev *d, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void nx_vif_tx(struct nx_dev *d);   /* guest -> tap */
void nx_vif_rx(struct nx_dev *d);   /* tap -> guest */
/* 1 if the loop should poll the vif's tap for frames. */
int nx_vif_wants_tap(const struct nx_dev *d);
/* Runs the tx work left over by busy vifs; returns 1 if some is still left. */
int nx_vif_tx_leftovers(void);

/* tap interfaces (tap.c). */
int nx_tap_create(const char *ifname, uint16_t mtu, const char *bridge, char *msg, size_t msglen);

#endif
