/* noxsd's pure checks of untrusted input (control requests, guest ring indices and requests), free of Xen calls so that they are unit-tested. */
#ifndef NOXSD_CHECK_H
#define NOXSD_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include "protocol.h"

/* Ring slots noxsd's netif rings hold: both netif rings on one 4096-byte page have 256 entries. */
#define NOXSD_PAGE_SIZE 4096u
/* The shortest frame noxsd passes on: an Ethernet header. */
#define NOXSD_ETH_HLEN 14u

/*
 * Checks a request read from the control socket. Returns 0, -EPROTO for a bad
 * magic or version (the caller answers and closes the connection), -EINVAL
 * for a bad field, -EOPNOTSUPP for an unknown op or a device type noxsd does
 * not serve (vbd). On error, writes a sentence to msg (at most msglen bytes,
 * NUL-terminated). Only the fields the op uses are checked; padding must be
 * zero whatever the op.
 */
int noxsd_check_req(const struct noxsd_req *r, char *msg, size_t msglen);

/* The name a vif's tap gets when the request names none: "vifD.I". */
void noxsd_default_ifname(uint16_t domid, uint16_t id, char out[NOXSD_IFNAMSIZ]);

/* 1 if name is a usable interface name (1-15 bytes, printable, no '/', ':' or blank, not "." or ".."). */
int noxsd_ifname_ok(const char *name, size_t cap);

/*
 * A guest's ring producer index against the back-end's consumer index: the
 * number of new requests, or -1 if the guest claims more than the ring holds
 * (a protocol violation). `ring_size` is a power of two.
 */
long noxsd_ring_pending(uint32_t req_prod, uint32_t req_cons, uint32_t ring_size);

/* Verdicts on one netif tx request. */
#define NOXSD_TX_OK    0 /* send it */
#define NOXSD_TX_DROP  1 /* answer NETIF_RSP_ERROR, keep the ring */
#define NOXSD_TX_FATAL 2 /* protocol violation: close the vif */

/*
 * Checks one tx request's offset, size, flags and id (as copied from the
 * ring once). Writes why it is not OK to msg.
 */
int noxsd_check_tx(uint16_t offset, uint16_t size, uint16_t flags, uint16_t id, uint32_t ring_size,
                   char *msg, size_t msglen);

/* 1 if an rx request's id is in range (ids are only echoed, but a guest with an id out of range is broken). */
int noxsd_check_rx_id(uint16_t id, uint32_t ring_size);

#endif
