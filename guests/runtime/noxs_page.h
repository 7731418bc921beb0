/* noxs_page.h: the noxs client's pure logic (device page snapshot, entry, control page, MAC and power checks), also built on the host for unit tests. */
#ifndef LVM_NOXS_PAGE_H
#define LVM_NOXS_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "lightvm.h"
#include "noxs.h"
#include "noxs-devices.h"

/* A consistent copy of the device page (fits in one page: 8 + 255 * 16 bytes). */
struct noxs_snapshot {
	uint32_t generation;
	uint16_t count;
	uint16_t pad;
	struct noxs_dev devs[NOXS_PAGE_MAX_DEVS];
};

/*
 * Copies the page with the seqlock rule of noxs.h: an even generation that
 * did not change across the copy. 0; -LVM_EPROTO for a bad magic, version
 * or count (named in *why); -LVM_EAGAIN when it kept changing for `tries`
 * attempts.
 */
int noxs_page_read(const volatile struct noxs_page *p, struct noxs_snapshot *s, unsigned int tries, const char **why);

/* NULL when the entry is usable, else what is wrong with it. */
const char *noxs_dev_invalid(const struct noxs_dev *d);
/* NULL when no two entries share a type and id, else a message. */
const char *noxs_snapshot_invalid(const struct noxs_snapshot *s);
/* NULL for a control page header that matches `type`, else what is wrong. */
const char *noxs_ctrl_invalid(const struct noxs_ctrl_hdr *h, uint16_t type);
/* NULL for a unicast, non-zero MAC address. */
const char *noxs_mac_invalid(const uint8_t mac[6]);
/* NULL for an MTU the vif ABI allows (68..65535). */
const char *noxs_mtu_invalid(uint32_t mtu);

/*
 * A power request seen on the control page: seq and req as read once,
 * acked the last sequence number we acknowledged. LVM_POWER_NONE when seq
 * is not new; the request; or -1 for a new request of an unknown kind.
 */
int noxs_power_decode(uint32_t seq, uint32_t req, uint32_t acked);

#endif
