/* daytime.c: an RFC 867 daytime server on TCP port 13 (one line of UTC time, then close); optionally asks a peer for its time too. */

#include "lightvm.h"

#include <stdio.h>
#include <xen/sched.h>

#include "lvm_lwip.h"
#include "lwip/etharp.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

#define DAYTIME_PORT	13
#define PEER_RETRY_MS	1000
#define PEER_TRIES	60

static const char *const weekdays[7] = {
	"Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday",
};
static const char *const months[12] = {
	"January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December",
};

/* The civil (proleptic Gregorian) date of a day count since 1970-01-01, by 400-year eras. */
static void civil_from_days(int64_t days, int64_t *year, unsigned int *month, unsigned int *day)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	uint64_t doe = (uint64_t)(z - era * 146097);
	uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	uint64_t mp = (5 * doy + 2) / 153;

	*day = (unsigned int)(doy - (153 * mp + 2) / 5 + 1);
	*month = (unsigned int)(mp < 10 ? mp + 3 : mp - 9);
	*year = (int64_t)yoe + era * 400 + (*month <= 2);
}

/* "Tuesday, December 1, 2026 23:54:44-UTC\r\n", the format RFC 867 gives as an example. */
static int format_time(char *buf, size_t len)
{
	uint64_t sec;
	uint32_t nsec;
	int64_t year;
	unsigned int month, day, tod;

	lvm_wallclock(&sec, &nsec);
	civil_from_days((int64_t)(sec / 86400), &year, &month, &day);
	tod = (unsigned int)(sec % 86400);
	return snprintf(buf, len, "%s, %s %u, %lld %02u:%02u:%02u-UTC\r\n", weekdays[(sec / 86400) % 7],
			months[month - 1], day, (long long)year, tod / 3600, tod / 60 % 60, tod % 60);
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	char line[64];
	int n;

	(void)arg;
	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	n = format_time(line, sizeof(line));
	/* Queued data goes out before the FIN that tcp_close() adds. */
	if (n <= 0 || n >= (int)sizeof(line) || tcp_write(pcb, line, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK) {
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	tcp_output(pcb);
	if (tcp_close(pcb) != ERR_OK) {
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	return ERR_OK;
}

/* ---- client side: daytime.peer=A.B.C.D asks another daytime server once ---- */

static struct {
	ip4_addr_t addr;
	int done, busy, tries;
	char line[128];
	size_t len;
} peer;

static void peer_finish(struct tcp_pcb *pcb)
{
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_err(pcb, NULL);
	if (tcp_close(pcb) != ERR_OK)
		tcp_abort(pcb);
	peer.busy = 0;
}

static err_t peer_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	(void)arg;
	if (err != ERR_OK) {
		if (p)
			pbuf_free(p);
		return err;
	}
	if (p) {
		size_t room = sizeof(peer.line) - peer.len;
		u16_t n = p->tot_len < room ? p->tot_len : (u16_t)room;

		pbuf_copy_partial(p, peer.line + peer.len, n, 0);
		peer.len += n;
		tcp_recved(pcb, p->tot_len);
		pbuf_free(p);
		return ERR_OK;
	}
	/* The server closed: that ends its answer. */
	while (peer.len && (peer.line[peer.len - 1] == '\n' || peer.line[peer.len - 1] == '\r'))
		peer.len--;
	lvm_printf("daytime: peer %s says: ", ip4addr_ntoa(&peer.addr));
	lvm_put_untrusted(peer.line, peer.len);
	lvm_puts("\n");
	peer.done = 1;
	peer_finish(pcb);
	return ERR_OK;
}

static void peer_err(void *arg, err_t err)
{
	(void)arg;
	/* The pcb is already gone; try again later. */
	lvm_printf("daytime: peer %s: connection failed (lwIP error %d)\n", ip4addr_ntoa(&peer.addr), err);
	peer.busy = 0;
	peer.len = 0;
}

static err_t peer_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	(void)pcb;
	return err;
}

/* An lwIP timer: asks the peer unless a request is under way, then checks again a second later. */
static void peer_try(void *arg)
{
	struct tcp_pcb *pcb;

	(void)arg;
	if (peer.done)
		return;
	if (peer.tries++ >= PEER_TRIES) {
		lvm_printf("daytime: peer %s: no answer after %d tries\n", ip4addr_ntoa(&peer.addr), PEER_TRIES);
		peer.done = 1;
		return;
	}
	sys_timeout(PEER_RETRY_MS, peer_try, NULL);
	if (peer.busy)
		return;
	pcb = tcp_new();
	if (!pcb)
		return;
	peer.len = 0;
	peer.busy = 1;
	tcp_recv(pcb, peer_recv);
	tcp_err(pcb, peer_err);
	if (tcp_connect(pcb, &peer.addr, DAYTIME_PORT, peer_connected) != ERR_OK) {
		peer.busy = 0;
		tcp_abort(pcb);
	}
}

static void peer_init(void)
{
	char val[24];
	int rc = lvm_cmdline_value("daytime.peer", val, sizeof(val));

	if (rc == -LVM_ENOENT)
		return;
	if (rc < 0 || !ip4addr_aton(val, &peer.addr)) {
		lvm_puts("daytime: daytime.peer=");
		lvm_put_untrusted(val, rc < 0 ? 0 : (size_t)rc);
		lvm_puts(" is not an IPv4 address; not asking a peer\n");
		return;
	}
	sys_timeout(0, peer_try, NULL);
}

void app_main(void)
{
	struct tcp_pcb *listener, *pcb;
	struct netif *nif;
	int rc;

	rc = lvm_power_init();
	if (rc)
		lvm_printf("daytime: no power control (%s): cannot be suspended\n", lvm_strerror(rc));
	if (lvm_lwip_start(&nif))
		lvm_panic("daytime: no network");
	pcb = tcp_new();
	if (!pcb || tcp_bind(pcb, IP4_ADDR_ANY, DAYTIME_PORT) != ERR_OK)
		lvm_panic("daytime: cannot bind TCP port %d", DAYTIME_PORT);
	listener = tcp_listen(pcb);
	if (!listener)
		lvm_panic("daytime: cannot listen");
	tcp_accept(listener, on_accept);
	peer_init();
	lvm_ready("daytime");

	for (;;) {
		lvm_lwip_poll();
		switch (lvm_power_poll()) {
		case LVM_POWER_POWEROFF:
			lvm_puts("daytime: poweroff\n");
			lvm_shutdown(SHUTDOWN_poweroff);
		case LVM_POWER_REBOOT:
			lvm_puts("daytime: reboot\n");
			lvm_shutdown(SHUTDOWN_reboot);
		case LVM_POWER_SUSPEND:
			if (lvm_suspend() >= 0)
				etharp_gratuitous(nif);
			break;
		case LVM_POWER_NONE:
			break;
		}
		lvm_lwip_wait();
	}
}
