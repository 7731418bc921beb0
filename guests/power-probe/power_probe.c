/* power_probe.c: a test guest that serves power requests through the runtime (noxs power device or XenStore's control/shutdown) and prints each one before it acts. */

/*
 * Console: the runtime's line on how devices are found, then
 * "power-probe: power control ready" (or "power-probe: no power control
 * (<why>)"), its ready mark, and for each request "power-probe: <kind>"
 * before it powers off or reboots. A suspend request suspends (over XenStore
 * or noxs) and prints "power-probe: suspend: <rc>".
 */
#include "lightvm.h"

#include <xen/sched.h>

void app_main(void)
{
	int rc = lvm_power_init();

	if (rc)
		lvm_printf("power-probe: no power control (%s)\n", lvm_strerror(rc));
	else
		lvm_puts("power-probe: power control ready\n");
	lvm_ready("power-probe");
	for (;;) {
		switch (lvm_power_poll()) {
		case LVM_POWER_POWEROFF:
			lvm_puts("power-probe: poweroff\n");
			lvm_shutdown(SHUTDOWN_poweroff);
		case LVM_POWER_REBOOT:
			lvm_puts("power-probe: reboot\n");
			lvm_shutdown(SHUTDOWN_reboot);
		case LVM_POWER_SUSPEND:
			rc = lvm_suspend();
			lvm_printf("power-probe: suspend: %d\n", rc);
			break;
		case LVM_POWER_NONE:
			break;
		}
		/* Woken by the power device's channel or XenStore's; no timer. */
		lvm_wait(0);
	}
}
