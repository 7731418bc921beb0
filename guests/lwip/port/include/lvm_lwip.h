/* lvm_lwip.h: lwIP on the lightvm runtime: network setup from the command line and the event loop's two steps. */
#ifndef LVM_LWIP_H
#define LVM_LWIP_H

#include "lwip/netif.h"

/*
 * Reads `ip=A.B.C.D/N` (required) and `gw=A.B.C.D` (optional) from the
 * command line, connects vif 0 and brings it up as lwIP's default
 * interface. On bad input or a device that does not connect it prints
 * why and returns a negative LVM_E* value.
 */
int lvm_lwip_start(struct netif **out);
/* Feeds received frames to lwIP and runs its due timers. */
void lvm_lwip_poll(void);
/* Sleeps until an event or lwIP's next timer. */
void lvm_lwip_wait(void);

#endif
