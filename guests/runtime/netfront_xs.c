/* netfront_xs.c: netfront's XenStore transport: reads and checks device/vif/N, and runs the xenbus state handshake with netback. */

#include "netfront.h"

#include <xen/io/xenbus.h>

/* Netback in a TCG-emulated dom0 can take a while; a missing one must still end in an error. */
#define HANDSHAKE_TIMEOUT_NS	(30ULL * 1000000000ULL)

struct nf_xs {
	unsigned int index;
	char fe[32];		/* device/vif/N */
	char be[128];		/* the back-end's directory, checked */
};

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int i, j;

	if (strlen(s) != 17)
		return -LVM_EINVAL;
	for (i = 0; i < 6; i++) {
		unsigned int v = 0;

		for (j = 0; j < 2; j++) {
			char c = s[i * 3 + j];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned int)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned int)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				v |= (unsigned int)(c - 'A' + 10);
			else
				return -LVM_EINVAL;
		}
		if (i < 5 && s[i * 3 + 2] != ':')
			return -LVM_EINVAL;
		mac[i] = (uint8_t)v;
	}
	/* A multicast address cannot be a NIC's own. */
	return mac[0] & 1 ? -LVM_EINVAL : 0;
}

/* The back-end's directory must be a plain XenStore path under /local/domain/. */
static int check_backend_path(const char *p)
{
	static const char prefix[] = "/local/domain/";
	size_t i;

	if (strncmp(p, prefix, sizeof(prefix) - 1) != 0)
		return -LVM_EINVAL;
	for (i = 0; p[i]; i++) {
		char c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '-' || c == '_'))
			return -LVM_EINVAL;
		if (c == '/' && p[i + 1] == '/')
			return -LVM_EINVAL;
	}
	return 0;
}

/* Prints a bad node's value (it came from outside: untrusted) and why it is bad. */
static void complain(const struct nf_xs *x, const char *key, const char *value, int rc, const char *want)
{
	lvm_printf(RT_TAG "netfront vif/%u: %s/%s ", x->index, x->fe, key);
	if (rc == -LVM_ENOENT) {
		lvm_puts("is missing");
	} else if (value) {
		lvm_puts("is '");
		lvm_put_untrusted(value, strlen(value));
		lvm_puts("'");
	} else {
		lvm_printf("cannot be read (%s)", lvm_strerror(rc));
	}
	lvm_printf(": want %s\n", want);
}

static int xs_probe(unsigned int index, domid_t *backend, uint8_t mac[6], void **priv)
{
	struct nf_xs *x = calloc(1, sizeof(*x));
	char path[64], val[128];
	unsigned long id;
	int rc;

	if (!x)
		return -LVM_ENOMEM;
	x->index = index;
	snprintf(x->fe, sizeof(x->fe), "device/vif/%u", index);

	snprintf(path, sizeof(path), "%s/backend-id", x->fe);
	rc = rt_xs_read_uint(path, DOMID_FIRST_RESERVED - 1, &id);
	if (rc) {
		rc = lvm_xs_read(path, val, sizeof(val)) >= 0 ? -LVM_EINVAL : rc;
		complain(x, "backend-id", rc == -LVM_EINVAL ? val : NULL, rc, "a domain id");
		goto fail;
	}
	*backend = (domid_t)id;

	snprintf(path, sizeof(path), "%s/backend", x->fe);
	rc = lvm_xs_read(path, x->be, sizeof(x->be));
	if (rc >= 0 && check_backend_path(x->be) != 0)
		rc = -LVM_EINVAL;
	if (rc < 0) {
		complain(x, "backend", rc == -LVM_EINVAL ? x->be : NULL, rc, "a path under /local/domain/");
		goto fail;
	}

	snprintf(path, sizeof(path), "%s/mac", x->fe);
	rc = lvm_xs_read(path, val, sizeof(val));
	if (rc >= 0)
		rc = parse_mac(val, mac);
	if (rc < 0) {
		complain(x, "mac", rc == -LVM_EINVAL ? val : NULL, rc, "a unicast MAC like 00:16:3e:01:02:03");
		goto fail;
	}
	*priv = x;
	return 0;
fail:
	free(x);
	return rc;
}

static int read_state(const char *dir, unsigned long *state)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/state", dir);
	return rt_xs_read_uint(path, XenbusStateReconfigured, state);
}

/* Waits for the back-end to reach `want`; a back-end that closes or never gets there is an error. */
static int wait_backend(struct nf_xs *x, unsigned long want)
{
	uint64_t deadline = lvm_now() + HANDSHAKE_TIMEOUT_NS;
	char path[160];
	unsigned long state = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/state", x->be);
	rc = lvm_xs_watch(path);
	if (rc)
		goto out;
	for (;;) {
		rc = read_state(x->be, &state);
		if (rc == 0 && state == want)
			return 0;
		if (rc && rc != -LVM_ENOENT)
			break;
		if (rc == 0 && (state == XenbusStateClosing || state == XenbusStateClosed)) {
			lvm_printf(RT_TAG "netfront vif/%u: back-end %s closed (state %lu)\n", x->index, x->be, state);
			return -LVM_ENODEV;
		}
		if (lvm_now() >= deadline) {
			rc = -LVM_ETIMEDOUT;
			break;
		}
		lvm_wait(deadline);
	}
out:
	lvm_printf(RT_TAG "netfront vif/%u: back-end %s/state did not reach %lu (%s, last %lu)\n",
		   x->index, x->be, want, lvm_strerror(rc), state);
	return rc;
}

static int write_uint(struct nf_xs *x, const char *key, unsigned long v)
{
	char path[64], val[24];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", x->fe, key);
	snprintf(val, sizeof(val), "%lu", v);
	rc = lvm_xs_write(path, val);
	if (rc)
		lvm_printf(RT_TAG "netfront vif/%u: cannot write %s: %s\n", x->index, path, lvm_strerror(rc));
	return rc;
}

static int xs_connect(void *priv, const struct nf_rings *r)
{
	struct nf_xs *x = priv;
	int rc;

	rc = wait_backend(x, XenbusStateInitWait);
	if (rc)
		return rc;
	/* One queue, copy mode (the only one netback has), checksums filled in by dom0. */
	if ((rc = write_uint(x, "tx-ring-ref", r->tx_ref)) ||
	    (rc = write_uint(x, "rx-ring-ref", r->rx_ref)) ||
	    (rc = write_uint(x, "event-channel", r->port)) ||
	    (rc = write_uint(x, "request-rx-copy", 1)) ||
	    (rc = write_uint(x, "feature-rx-notify", 1)) ||
	    (rc = write_uint(x, "feature-sg", 0)) ||
	    (rc = write_uint(x, "feature-gso-tcpv4", 0)) ||
	    (rc = write_uint(x, "feature-no-csum-offload", 1)) ||
	    (rc = write_uint(x, "state", XenbusStateConnected)))
		return rc;
	return wait_backend(x, XenbusStateConnected);
}

static void xs_close(void *priv, int tell_backend)
{
	struct nf_xs *x = priv;

	if (!x)
		return;
	if (tell_backend)
		write_uint(x, "state", XenbusStateClosed);
	free(x);
}

const struct nf_transport nf_transport_xenstore = {
	.name = "xenstore",
	.probe = xs_probe,
	.connect = xs_connect,
	.close = xs_close,
};
