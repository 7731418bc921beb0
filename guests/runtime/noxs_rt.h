/* noxs_rt.h: what the runtime's parts share about noxs devices (not for apps). */
#ifndef LVM_NOXS_RT_H
#define LVM_NOXS_RT_H

#include "rt.h"
#include "noxs_page.h"

#include <xen/grant_table.h>

/* A device whose control page is mapped and whose event channel is bound. */
struct rt_noxs_dev {
	uint16_t type, id;
	domid_t be_domid;
	grant_ref_t grant;	/* the back-end's grant of the control page (mapped again after a cancelled suspend) */
	volatile void *ctrl;	/* the control page, mapped writable: untrusted, copy fields once */
	grant_handle_t handle;
	evtchn_port_t port;	/* our end of the device's channel */
	int mapped;		/* 0 between rt_noxs_suspend() and a resume that mapped it again */
};

/*
 * Decides once, on first use, whether this domain's devices come over noxs
 * (a device page with a power or vif entry) or XenStore, and says which on
 * the console. 1 for noxs, 0 for XenStore.
 */
int rt_devices_noxs(void);
/* 1 when the page holds a valid entry of this type and id. */
int rt_noxs_find(uint16_t type, uint16_t id);
/* 1 and the lowest id of a valid entry of this type, or 0 when there is none. */
int rt_noxs_first(uint16_t type, uint16_t *id);
/* Maps the device's control page, checks its header and binds its channel (once); 0 or -error after saying why. */
int rt_noxs_open(uint16_t type, uint16_t id, struct rt_noxs_dev **out);

/* The power device (power/0): connect, and the next acknowledged request. */
int rt_noxs_power_init(void);
enum lvm_power_request rt_noxs_power_poll(void);

/* Around SCHEDOP_shutdown(suspend): control pages unmapped before; after, mapped again (cancelled) or the new page read and power reopened (new domain). */
void rt_noxs_suspend(void);
int rt_noxs_resume(int cancelled);

#endif
