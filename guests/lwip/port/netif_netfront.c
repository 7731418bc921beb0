/* netif_netfront.c: an lwIP Ethernet interface over the runtime's netfront, configured from the command line. */

#include "lvm_lwip.h"

#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"

#include <string.h>

#include "lightvm.h"

static struct netif netif;
static struct lvm_net *net;

static err_t linkoutput(struct netif *nif, struct pbuf *p)
{
	void *buf;

	(void)nif;
	if (p->tot_len > LVM_NET_MTU_FRAME)
		return ERR_IF;
	buf = lvm_net_tx_buf(net);
	if (!buf)
		return ERR_MEM;
	if (pbuf_copy_partial(p, buf, p->tot_len, 0) != p->tot_len)
		return ERR_BUF;
	return lvm_net_tx_send(net, p->tot_len) ? ERR_IF : ERR_OK;
}

static void rx(void *arg, const void *frame, size_t len)
{
	struct netif *nif = arg;
	struct pbuf *p;

	if (len > 0xffff)
		return;
	p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
	if (!p)
		return;	/* out of buffers: dropped, as a busy NIC would */
	if (pbuf_take(p, frame, (u16_t)len) != ERR_OK || nif->input(p, nif) != ERR_OK)
		pbuf_free(p);
}

static err_t init_netif(struct netif *nif)
{
	nif->name[0] = 'x';
	nif->name[1] = 'n';
	nif->output = etharp_output;
	nif->linkoutput = linkoutput;
	nif->mtu = 1500;
	nif->hwaddr_len = ETH_HWADDR_LEN;
	lvm_net_mac(net, nif->hwaddr);
	nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
	return ERR_OK;
}

/* Parses a dotted quad, digits only, each part 0-255; *end points past it. */
static int parse_quad(const char *s, const char **end, ip4_addr_t *out)
{
	uint32_t parts[4];
	int i;

	for (i = 0; i < 4; i++) {
		uint32_t v = 0;
		int digits = 0;

		while (*s >= '0' && *s <= '9' && digits < 4) {
			v = v * 10 + (uint32_t)(*s++ - '0');
			digits++;
		}
		if (digits == 0 || digits > 3 || v > 255)
			return -1;
		parts[i] = v;
		if (i < 3 && *s++ != '.')
			return -1;
	}
	IP4_ADDR(out, parts[0], parts[1], parts[2], parts[3]);
	*end = s;
	return 0;
}

static int bad_option(const char *key, const char *value, const char *want)
{
	lvm_printf("lightvm: net: %s=", key);
	lvm_put_untrusted(value, strlen(value));
	lvm_printf(" is not %s\n", want);
	return -LVM_EINVAL;
}

static int read_config(ip4_addr_t *ip, ip4_addr_t *mask, ip4_addr_t *gw)
{
	char val[40];
	const char *end;
	unsigned long prefix = 0;
	int rc;

	rc = lvm_cmdline_value("ip", val, sizeof(val));
	if (rc == -LVM_ENOENT) {
		lvm_puts("lightvm: net: no ip= on the command line (want ip=A.B.C.D/N, e.g. ip=10.88.0.100/24 gw=10.88.0.1)\n");
		return rc;
	}
	if (rc < 0)
		return bad_option("ip", "(too long)", "an IPv4 address with a prefix length, like 10.88.0.100/24");
	if (parse_quad(val, &end, ip) || *end != '/' || !end[1])
		return bad_option("ip", val, "an IPv4 address with a prefix length, like 10.88.0.100/24");
	for (end++; *end >= '0' && *end <= '9' && prefix <= 32; end++)
		prefix = prefix * 10 + (unsigned long)(*end - '0');
	if (*end || prefix < 1 || prefix > 32)
		return bad_option("ip", val, "an IPv4 address with a prefix length 1-32, like 10.88.0.100/24");
	ip4_addr_set_u32(mask, lwip_htonl(prefix == 32 ? 0xffffffffU : ~(0xffffffffU >> prefix)));

	ip4_addr_set_zero(gw);
	rc = lvm_cmdline_value("gw", val, sizeof(val));
	if (rc >= 0 && (parse_quad(val, &end, gw) || *end))
		return bad_option("gw", val, "an IPv4 address, like 10.88.0.1");
	if (rc == -LVM_E2BIG)
		return bad_option("gw", "(too long)", "an IPv4 address, like 10.88.0.1");
	if (rc >= 0 && !ip4_addr_netcmp(gw, ip, mask))
		return bad_option("gw", val, "on the interface's subnet");
	return 0;
}

int lvm_lwip_start(struct netif **out)
{
	ip4_addr_t ip, mask, gw;
	uint8_t mac[6];
	int rc;

	rc = read_config(&ip, &mask, &gw);
	if (rc)
		return rc;
	lwip_init();
	rc = lvm_net_open(0, rx, &netif, &net);
	if (rc) {
		lvm_printf("lightvm: net: vif 0 did not connect: %s\n", lvm_strerror(rc));
		return rc;
	}
	if (!netif_add(&netif, &ip, &mask, &gw, NULL, init_netif, ethernet_input))
		return -LVM_EIO;
	netif_set_default(&netif);
	netif_set_up(&netif);
	lvm_net_mac(net, mac);
	{
		char ips[16], gws[16];

		ip4addr_ntoa_r(&ip, ips, sizeof(ips));
		ip4addr_ntoa_r(&gw, gws, sizeof(gws));
		lvm_printf("lightvm: net: %s/%d gw %s mac %02x:%02x:%02x:%02x:%02x:%02x\n", ips,
			   32 - __builtin_ctz(lwip_ntohl(ip4_addr_get_u32(&mask))),
			   ip4_addr_isany_val(gw) ? "none" : gws, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	}
	/* Tell the switch (and peers' ARP caches) where we are now, as after a resume. */
	etharp_gratuitous(&netif);
	*out = &netif;
	return 0;
}

void lvm_lwip_poll(void)
{
	lvm_net_poll(net);
	sys_check_timeouts();
}

void lvm_lwip_wait(void)
{
	u32_t ms = sys_timeouts_sleeptime();

	lvm_wait(ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE ? 0 : lvm_now() + (uint64_t)ms * 1000000ULL);
}
