/* netfront.h: the seam between netfront's ring logic (netfront.c) and how it finds and handshakes with its back-end (XenStore or noxs). */
#ifndef LVM_NETFRONT_H
#define LVM_NETFRONT_H

#include "rt.h"

/* What the ring logic hands the transport to publish. */
struct nf_rings {
	grant_ref_t tx_ref, rx_ref;
	evtchn_port_t port;
};

/* One transport; every call returns 0 or -error after printing why on the console. */
struct nf_transport {
	const char *name;
	/* Finds vif `index`: its back-end's domain and our MAC address. State goes in *priv. */
	int (*probe)(unsigned int index, domid_t *backend, uint8_t mac[6], void **priv);
	/*
	 * Optional: the device's own event channel, already bound, which stays the
	 * transport's (noxs). NULL: netfront allocates an unbound port for the
	 * back-end and hands it to connect to publish (XenStore).
	 */
	int (*channel)(void *priv, evtchn_port_t *port);
	/* Publishes the rings and waits until the back-end serves them. */
	int (*connect)(void *priv, const struct nf_rings *rings);
	/* Frees priv; with tell_backend, first tells the back-end we are gone (best effort). */
	void (*close)(void *priv, int tell_backend);
};

extern const struct nf_transport nf_transport_xenstore;
extern const struct nf_transport nf_transport_noxs;

#endif
