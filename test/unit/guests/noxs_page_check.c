/* noxs_page_check.c: host-side checks of the guest runtime's noxs logic (guests/runtime/noxs_page.c), run by noxs-page.test.ts; prints "ok NAME" or "not ok NAME: why" per check. */

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "noxs_page.h"

static int failures, checks;

static void check(const char *name, int ok, const char *detail)
{
	checks++;
	if (ok) {
		printf("ok %s\n", name);
	} else {
		failures++;
		printf("not ok %s: %s\n", name, detail ? detail : "");
	}
}

static struct noxs_page page __attribute__((aligned(4096)));
static struct noxs_snapshot snap;

static void fill(unsigned int count)
{
	unsigned int i;

	memset(&page, 0, sizeof(page));
	page.magic = NOXS_PAGE_MAGIC;
	page.version = NOXS_PAGE_VERSION;
	page.count = (uint16_t)count;
	page.generation = 6;
	for (i = 0; i < count && i < NOXS_PAGE_MAX_DEVS; i++) {
		page.devs[i].type = (uint16_t)(i % 3 + 1);
		page.devs[i].id = (uint16_t)i;
		page.devs[i].be_domid = 0;
		page.devs[i].grant = 8 + i;
		page.devs[i].evtchn = 5 + i;
	}
}

static void page_reads(void)
{
	const char *why;
	int rc;

	fill(3);
	rc = noxs_page_read(&page, &snap, 10, &why);
	check("read-good", rc == 0 && snap.count == 3 && snap.generation == 6, why);
	check("read-copies-fields", snap.devs[2].type == 3 && snap.devs[2].id == 2 && snap.devs[2].grant == 10 &&
	      snap.devs[2].evtchn == 7, "entry 2");
	fill(0);
	check("read-empty", noxs_page_read(&page, &snap, 10, &why) == 0 && snap.count == 0, why);
	fill(NOXS_PAGE_MAX_DEVS);
	check("read-full", noxs_page_read(&page, &snap, 10, &why) == 0 && snap.count == 255 && snap.devs[254].grant == 262, why);
	fill(1);
	page.magic = 0x12345678;
	rc = noxs_page_read(&page, &snap, 10, &why);
	check("read-bad-magic", rc == -LVM_EPROTO && why && strstr(why, "magic"), why);
	fill(1);
	page.version = 2;
	rc = noxs_page_read(&page, &snap, 10, &why);
	check("read-bad-version", rc == -LVM_EPROTO && why && strstr(why, "version"), why);
	fill(1);
	page.count = NOXS_PAGE_MAX_DEVS + 1;
	rc = noxs_page_read(&page, &snap, 10, &why);
	check("read-count-over-capacity", rc == -LVM_EPROTO && why && strstr(why, "count"), why);
	fill(1);
	page.count = 0xffff;
	rc = noxs_page_read(&page, &snap, 10, &why);
	check("read-count-ffff", rc == -LVM_EPROTO, why);
	fill(1);
	page.generation = 7;
	rc = noxs_page_read(&page, &snap, 50, &why);
	check("read-odd-generation-gives-up", rc == -LVM_EAGAIN && why && strstr(why, "changing"), why);
}

/* A writer that rewrites the page as Xen does (odd generation while changing): every entry of one version carries that version. */
static volatile int stop;
static unsigned long writes;

static void *writer(void *arg)
{
	uint32_t v = 0;

	(void)arg;
	while (!stop) {
		unsigned int i, n;

		v++;
		n = 1 + v % 200;
		__atomic_store_n(&page.generation, page.generation + 1, __ATOMIC_RELEASE);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		__atomic_store_n(&page.count, (uint16_t)n, __ATOMIC_RELAXED);
		for (i = 0; i < n; i++) {
			__atomic_store_n(&page.devs[i].grant, v, __ATOMIC_RELAXED);
			__atomic_store_n(&page.devs[i].evtchn, v, __ATOMIC_RELAXED);
			__atomic_store_n(&page.devs[i].id, (uint16_t)i, __ATOMIC_RELAXED);
		}
		__atomic_store_n(&page.generation, page.generation + 1, __ATOMIC_RELEASE);
		writes++;
	}
	return NULL;
}

static void seqlock_under_writer(void)
{
	pthread_t th;
	unsigned long reads = 0, torn = 0, gaveup = 0, i;
	char detail[160];

	fill(1);
	page.generation = 0;
	page.devs[0].grant = page.devs[0].evtchn = 0;
	if (pthread_create(&th, NULL, writer, NULL)) {
		check("seqlock-writer", 0, "no thread");
		return;
	}
	for (i = 0; i < 200000; i++) {
		const char *why;
		unsigned int k;

		if (noxs_page_read(&page, &snap, 100000, &why)) {
			gaveup++;
			continue;
		}
		reads++;
		if (snap.generation & 1)
			torn++;
		else if (snap.devs[0].grant != 0 && snap.count != 1 + snap.devs[0].grant % 200)
			torn++;
		else
			for (k = 0; k < snap.count; k++)
				if (snap.devs[k].grant != snap.devs[0].grant || snap.devs[k].evtchn != snap.devs[0].grant ||
				    snap.devs[k].id != k) {
					torn++;
					break;
				}
	}
	stop = 1;
	pthread_join(th, NULL);
	snprintf(detail, sizeof(detail), "%lu reads, %lu torn, %lu gave up, %lu writes", reads, torn, gaveup, writes);
	check("seqlock-no-torn-copy", reads > 0 && torn == 0, detail);
	printf("# %s\n", detail);
}

static void entries(void)
{
	struct noxs_dev good = { .type = NOXS_DEV_VIF, .id = 0, .be_domid = 0, .grant = 8, .evtchn = 5 }, d;

	check("dev-good", noxs_dev_invalid(&good) == NULL, noxs_dev_invalid(&good));
	d = good; d.type = 0;
	check("dev-type-0", noxs_dev_invalid(&d) != NULL, "accepted");
	d = good; d.type = NOXS_DEV_TYPE_MAX + 1;
	check("dev-type-over-max", noxs_dev_invalid(&d) != NULL, "accepted");
	d = good; d.type = NOXS_DEV_VBD;
	check("dev-type-vbd", noxs_dev_invalid(&d) == NULL, "refused");
	d = good; d.be_domid = NOXS_DOMID_FIRST_RESERVED;
	check("dev-backend-reserved", noxs_dev_invalid(&d) != NULL, "accepted");
	d = good; d.be_domid = NOXS_DOMID_FIRST_RESERVED - 1;
	check("dev-backend-last-ordinary", noxs_dev_invalid(&d) == NULL, "refused");
	d = good; d.grant = 0;
	check("dev-grant-0", noxs_dev_invalid(&d) != NULL, "accepted");
	d = good; d.grant = 7;
	check("dev-grant-reserved", noxs_dev_invalid(&d) != NULL, "accepted");
	d = good; d.evtchn = 0;
	check("dev-port-0", noxs_dev_invalid(&d) != NULL, "accepted");
	d = good; d.evtchn = 1U << 17;
	check("dev-port-too-big", noxs_dev_invalid(&d) != NULL, "accepted");

	memset(&snap, 0, sizeof(snap));
	snap.count = 3;
	snap.devs[0] = good;
	snap.devs[1] = good; snap.devs[1].id = 1;
	snap.devs[2] = good; snap.devs[2].type = NOXS_DEV_POWER;
	check("page-distinct", noxs_snapshot_invalid(&snap) == NULL, "refused");
	snap.devs[2] = good; snap.devs[2].id = 1;
	check("page-duplicate", noxs_snapshot_invalid(&snap) != NULL, "accepted");
}

static void ctrl_mac_mtu_power(void)
{
	struct noxs_ctrl_hdr h = { .magic = NOXS_CTRL_MAGIC, .version = NOXS_CTRL_VERSION, .type = NOXS_DEV_POWER }, b;
	uint8_t mac_ok[6] = { 0x00, 0x16, 0x3e, 0x01, 0x02, 0x03 }, mac_mc[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 },
		mac_bc[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, mac_zero[6] = { 0 }, mac_local[6] = { 0x02, 0, 0, 0, 0, 1 };

	check("ctrl-good", noxs_ctrl_invalid(&h, NOXS_DEV_POWER) == NULL, "refused");
	check("ctrl-type-mismatch", noxs_ctrl_invalid(&h, NOXS_DEV_VIF) != NULL, "accepted");
	b = h; b.magic = NOXS_PAGE_MAGIC;
	check("ctrl-bad-magic", noxs_ctrl_invalid(&b, NOXS_DEV_POWER) != NULL, "accepted");
	b = h; b.version = 2;
	check("ctrl-bad-version", noxs_ctrl_invalid(&b, NOXS_DEV_POWER) != NULL, "accepted");

	check("mac-unicast", noxs_mac_invalid(mac_ok) == NULL, "refused");
	check("mac-locally-administered", noxs_mac_invalid(mac_local) == NULL, "refused");
	check("mac-multicast", noxs_mac_invalid(mac_mc) != NULL, "accepted");
	check("mac-broadcast", noxs_mac_invalid(mac_bc) != NULL, "accepted");
	check("mac-zero", noxs_mac_invalid(mac_zero) != NULL, "accepted");

	check("mtu-0", noxs_mtu_invalid(0) != NULL, "accepted");
	check("mtu-67", noxs_mtu_invalid(67) != NULL, "accepted");
	check("mtu-68", noxs_mtu_invalid(68) == NULL, "refused");
	check("mtu-1500", noxs_mtu_invalid(1500) == NULL, "refused");
	check("mtu-65535", noxs_mtu_invalid(65535) == NULL, "refused");
	check("mtu-65536", noxs_mtu_invalid(65536) != NULL, "accepted");

	check("power-none-before-any", noxs_power_decode(0, NOXS_POWER_NONE, 0) == LVM_POWER_NONE, "not none");
	check("power-same-seq", noxs_power_decode(3, NOXS_POWER_POWEROFF, 3) == LVM_POWER_NONE, "not none");
	check("power-poweroff", noxs_power_decode(1, NOXS_POWER_POWEROFF, 0) == LVM_POWER_POWEROFF, "wrong");
	check("power-reboot", noxs_power_decode(2, NOXS_POWER_REBOOT, 1) == LVM_POWER_REBOOT, "wrong");
	check("power-suspend", noxs_power_decode(5, NOXS_POWER_SUSPEND, 1) == LVM_POWER_SUSPEND, "wrong");
	check("power-kind-0", noxs_power_decode(1, NOXS_POWER_NONE, 0) == -1, "not refused");
	check("power-kind-unknown", noxs_power_decode(1, NOXS_POWER_MAX + 1, 0) == -1, "not refused");
	check("power-seq-wraps", noxs_power_decode(0, NOXS_POWER_REBOOT, 0xffffffffU) == LVM_POWER_REBOOT, "wrong");
}

int main(void)
{
	page_reads();
	entries();
	ctrl_mac_mtu_power();
	seqlock_under_writer();
	printf("done %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
