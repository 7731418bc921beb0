/* netfront_noxs.c: netfront's noxs transport: finds vif N on the device page, checks its control page, and runs the ring handshake with the dom0 back-end. */

#include "netfront.h"
#include "noxs_rt.h"

/* As for XenStore: a back-end in an emulated dom0 can be slow, a missing one must still end in an error. */
#define HANDSHAKE_TIMEOUT_NS	(30ULL * 1000000000ULL)

struct nf_noxs {
	unsigned int index;
	struct rt_noxs_dev *dev;
};

static int noxs_probe(unsigned int index, domid_t *backend, uint8_t mac[6], void **priv)
{
	volatile struct noxs_vif_ctrl *c;
	struct rt_noxs_dev *dev;
	struct nf_noxs *x;
	uint32_t state, err;
	uint16_t mtu;
	const char *why;
	int rc;

	if (index > 0xffff) {
		lvm_printf(RT_TAG "netfront vif/%u: noxs vif ids are 16 bits\n", index);
		return -LVM_EINVAL;
	}
	rc = rt_noxs_open(NOXS_DEV_VIF, (uint16_t)index, &dev);
	if (rc)
		return rc;
	c = dev->ctrl;
	/* Each field copied once from the page, checked, then used. */
	for (unsigned int i = 0; i < 6; i++)
		mac[i] = c->be_mac[i];
	mtu = c->be_mtu;
	state = c->hdr.be_state;
	err = c->be_error;
	why = noxs_mac_invalid(mac);
	if (why) {
		lvm_printf(RT_TAG "netfront vif/%u: noxs be_mac %02x:%02x:%02x:%02x:%02x:%02x is %s: want a unicast MAC\n",
			   index, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], why);
		return -LVM_EINVAL;
	}
	why = noxs_mtu_invalid(mtu);
	if (why) {
		lvm_printf(RT_TAG "netfront vif/%u: noxs be_mtu %u is %s\n", index, mtu, why);
		return -LVM_EINVAL;
	}
	if (mtu != NOXS_VIF_MTU_DEFAULT)
		lvm_printf(RT_TAG "netfront vif/%u: back-end MTU %u; this netfront sends frames of up to %u bytes\n",
			   index, mtu, NOXS_VIF_MTU_DEFAULT);
	if (state == NOXS_STATE_CLOSING || state == NOXS_STATE_CLOSED) {
		lvm_printf(RT_TAG "netfront vif/%u: noxs back-end closed (state %u, error %u)\n", index,
			   (unsigned int)state, (unsigned int)err);
		return -LVM_ENODEV;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		return -LVM_ENOMEM;
	x->index = index;
	x->dev = dev;
	*backend = dev->be_domid;
	*priv = x;
	return 0;
}

/* The device's channel, which the control page and both rings share. */
static int noxs_channel(void *priv, evtchn_port_t *port)
{
	struct nf_noxs *x = priv;

	*port = x->dev->port;
	return 0;
}

static int noxs_connect(void *priv, const struct nf_rings *r)
{
	struct nf_noxs *x = priv;
	volatile struct noxs_vif_ctrl *c = x->dev->ctrl;
	uint64_t deadline = lvm_now() + HANDSHAKE_TIMEOUT_NS;
	uint32_t state = 0, err;

	c->fe_tx_ring_ref = r->tx_ref;
	c->fe_rx_ring_ref = r->rx_ref;
	wmb();
	c->hdr.fe_state = NOXS_STATE_CONNECTED;
	wmb();
	rt_evtchn_notify(x->dev->port);
	for (;;) {
		state = c->hdr.be_state;
		rmb();
		if (state == NOXS_STATE_CONNECTED)
			return 0;
		if (state == NOXS_STATE_CLOSING || state == NOXS_STATE_CLOSED) {
			err = c->be_error;
			lvm_printf(RT_TAG "netfront vif/%u: noxs back-end refused the rings (state %u, error %u: %s)\n",
				   x->index, (unsigned int)state, (unsigned int)err,
				   err > 0 && err < 4096 ? lvm_strerror((int)err) : "no errno");
			return -LVM_ENODEV;
		}
		if (lvm_now() >= deadline)
			break;
		lvm_wait(deadline);
	}
	lvm_printf(RT_TAG "netfront vif/%u: noxs back-end of domain %u did not connect within %llu s (be_state %u)\n",
		   x->index, x->dev->be_domid, HANDSHAKE_TIMEOUT_NS / 1000000000ULL, (unsigned int)state);
	return -LVM_ETIMEDOUT;
}

static void noxs_close(void *priv, int tell_backend)
{
	struct nf_noxs *x = priv;

	if (!x)
		return;
	if (tell_backend) {
		volatile struct noxs_vif_ctrl *c = x->dev->ctrl;

		c->hdr.fe_state = NOXS_STATE_CLOSED;
		wmb();
		rt_evtchn_notify(x->dev->port);
	}
	free(x);
}

const struct nf_transport nf_transport_noxs = {
	.name = "noxs",
	.probe = noxs_probe,
	.channel = noxs_channel,
	.connect = noxs_connect,
	.close = noxs_close,
};
