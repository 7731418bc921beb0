/* devctl_probe.c: a test guest that calls the noxs devctl hypercall as an ordinary domain, maps its device page, and prints every answer. */

/*
 * It works beneath the runtime's app API (rt.h: raw hypercalls, rt_map_frame) on purpose: it checks
 * what Xen answers an unprivileged domain, not the runtime's noxs client. Each check prints
 * "devctl-probe: <name> ... PASS|FAIL"; the last line is "devctl-probe: done, N checks, M failed"
 * and then "SUCCESS" when none failed. Command line: expect=<type>/<id>/<be>/<grant>/<evtchn> names
 * the one device dom0 put on the page before unpausing the guest (without it, the page must be empty).
 */
#include "rt.h"

#include "noxs.h"

/* Xen's errno values (public/errno.h), which are Linux's on x86. */
#define XEN_EPERM	1
#define XEN_EINVAL	22
#define XEN_ENOSYS	38
#define XEN_EOPNOTSUPP	95

static unsigned int checks, failures;

static void check(const char *name, long rc, long want)
{
	checks++;
	if (rc != want)
		failures++;
	lvm_printf("devctl-probe: %s rc=%ld want=%ld %s\n", name, rc, want, rc == want ? "PASS" : "FAIL");
}

static void check_true(const char *name, int ok, const char *detail)
{
	checks++;
	if (!ok)
		failures++;
	lvm_printf("devctl-probe: %s (%s) %s\n", name, detail, ok ? "PASS" : "FAIL");
}

/* One devctl call with a fresh argument; the caller fills the rest through `op` afterwards. */
static long devctl(struct noxs_devctl *op)
{
	return HYPERCALL1(__HYPERVISOR_devctl, op);
}

static void init_op(struct noxs_devctl *op, uint16_t version, uint16_t cmd, uint16_t domid)
{
	memset(op, 0, sizeof(*op));
	op->version = version;
	op->op = cmd;
	op->domid = domid;
}

/* Parses "a/b/c/d/e" (decimal) into five numbers; 0 on success. */
static int parse_expect(const char *s, unsigned long v[5])
{
	int i;

	for (i = 0; i < 5; i++) {
		int digits = 0;

		v[i] = 0;
		while (*s >= '0' && *s <= '9' && digits < 10) {
			v[i] = v[i] * 10 + (unsigned long)(*s++ - '0');
			digits++;
		}
		if (digits == 0 || (i < 4 && *s++ != '/'))
			return -1;
	}
	return *s == '\0' ? 0 : -1;
}

/* Maps the page read-only at a page of our own, checks what it holds, and tries a writable mapping. */
static void check_page(unsigned long frame)
{
	char want[64];
	unsigned long v[5];
	int have_expect = lvm_cmdline_value("expect", want, sizeof(want)) > 0;
	void *va = lvm_alloc_pages(1);
	const volatile struct noxs_page *page = va;
	uint32_t gen;
	uint16_t count;

	if (!va) {
		check_true("page-map-ro", 0, "no memory for a mapping");
		return;
	}
	check("page-map-ro", rt_map_frame(va, frame, 0), 0);
	/* A consistent copy, as noxs.h tells readers: an even generation that did not move. */
	do {
		gen = page->generation;
		rmb();
		count = page->count;
		rmb();
	} while ((gen & 1) || gen != page->generation);
	check_true("page-header", page->magic == NOXS_PAGE_MAGIC && page->version == NOXS_PAGE_VERSION, "magic and version");
	if (have_expect && parse_expect(want, v) == 0) {
		const volatile struct noxs_dev *d = &page->devs[0];

		lvm_printf("devctl-probe: page count=%u dev0 %u/%u/%u/%u/%u\n", count, d->type, d->id, d->be_domid,
			   (unsigned int)d->grant, (unsigned int)d->evtchn);
		check_true("page-device", count == 1 && d->type == v[0] && d->id == v[1] && d->be_domid == v[2] &&
			   d->grant == v[3] && d->evtchn == v[4], "the device dom0 added");
	} else {
		check_true("page-empty", count == 0, have_expect ? "expect= unreadable" : "no device");
	}
	/* Xen shared it read-only: a writable mapping must fail. */
	check_true("page-map-rw-refused", rt_map_frame(va, frame, 1) != 0, "writable mapping");
	/* Give the page its own frame back, writable, as the allocator handed it out. */
	check("page-unmap", rt_map_frame(va, ~0UL, 1), 0);
	lvm_free_pages(va, 1);
}

void app_main(void)
{
	struct noxs_devctl op;
	long rc;

	lvm_ready("devctl-probe");

	init_op(&op, NOXS_DEVCTL_VERSION, NOXS_DEVCTL_GET, NOXS_DOMID_SELF);
	rc = devctl(&op);
	if (rc == -XEN_ENOSYS) {
		lvm_puts("devctl-probe: this hypervisor has no devctl (stock Xen)\n");
		check("get-self", rc, 0);
	} else {
		check("get-self", rc, 0);
		lvm_printf("devctl-probe: own page frame %lu\n", (unsigned long)op.u.get.frame);
		check_true("get-self-frame", rc == 0 && op.u.get.frame != 0, "a frame");
		if (rc == 0 && op.u.get.frame != 0)
			check_page(op.u.get.frame);
	}

	init_op(&op, NOXS_DEVCTL_VERSION, NOXS_DEVCTL_GET, 0);
	check("get-dom0", devctl(&op), -XEN_EPERM);
	init_op(&op, NOXS_DEVCTL_VERSION, NOXS_DEVCTL_GET, 0x7fe0);
	check("get-missing-domain", devctl(&op), -XEN_EPERM);

	init_op(&op, NOXS_DEVCTL_VERSION, NOXS_DEVCTL_DEV_ADD, NOXS_DOMID_SELF);
	op.u.dev.dev.type = NOXS_DEV_VIF;
	op.u.dev.dev.id = 9;
	check("dev-add-self", devctl(&op), -XEN_EPERM);
	init_op(&op, NOXS_DEVCTL_VERSION, NOXS_DEVCTL_DEV_ADD, 0);
	op.u.dev.dev.type = NOXS_DEV_VIF;
	op.u.dev.dev.id = 9;
	check("dev-add-dom0", devctl(&op), -XEN_EPERM);
	init_op(&op, NOXS_DEVCTL_VERSION, NOXS_DEVCTL_DEV_REM, NOXS_DOMID_SELF);
	op.u.dev.dev.type = NOXS_DEV_POWER;
	check("dev-rem-self", devctl(&op), -XEN_EPERM);
	init_op(&op, NOXS_DEVCTL_VERSION, NOXS_DEVCTL_DEV_ENUM, NOXS_DOMID_SELF);
	check("dev-enum-self", devctl(&op), -XEN_EPERM);

	init_op(&op, NOXS_DEVCTL_VERSION + 1, NOXS_DEVCTL_GET, NOXS_DOMID_SELF);
	check("unknown-version", devctl(&op), -XEN_EINVAL);
	init_op(&op, NOXS_DEVCTL_VERSION, 99, NOXS_DOMID_SELF);
	check("unknown-op", devctl(&op), -XEN_EOPNOTSUPP);

	lvm_printf("devctl-probe: done, %u checks, %u failed\n", checks, failures);
	if (failures == 0)
		lvm_puts("SUCCESS\n");
	lvm_console_flush();
	for (;;)
		lvm_wait(0);
}
