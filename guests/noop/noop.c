/* noop.c: the smallest useful PV guest: echoes its command line, prints its ready mark, then powers off, reboots, crashes or sleeps as told. */

#include "lightvm.h"

#include <xen/sched.h>

static const struct action {
	const char *word;
	unsigned int reason;
} actions[] = {
	{ "poweroff", SHUTDOWN_poweroff },
	{ "reboot", SHUTDOWN_reboot },
	{ "crash", SHUTDOWN_crash },
};

/* The first whole word of the command line that names an action, or NULL. */
static const struct action *find_action(void)
{
	const char *line = lvm_cmdline();
	size_t i = 0, start, a;

	while (line[i]) {
		while (line[i] == ' ' || line[i] == '\t')
			i++;
		start = i;
		while (line[i] && line[i] != ' ' && line[i] != '\t')
			i++;
		for (a = 0; a < sizeof(actions) / sizeof(actions[0]); a++) {
			size_t n = i - start, k;

			for (k = 0; k < n && line[start + k] == actions[a].word[k]; k++)
				;
			if (k == n && n > 0 && actions[a].word[n] == '\0')
				return &actions[a];
		}
	}
	return NULL;
}

void app_main(void)
{
	const char *line = lvm_cmdline();
	const struct action *act;
	size_t len = 0;

	while (line[len])
		len++;
	lvm_puts("lightvm-noop: cmdline '");
	lvm_put_untrusted(line, len);
	lvm_puts("'\n");
	lvm_ready("noop");

	act = find_action();
	if (act) {
		lvm_printf("lightvm-noop: %s\n", act->word);
		lvm_shutdown(act->reason);
	}
	/* Nothing wakes us but events nobody asked for: sleep until paused or destroyed. */
	for (;;)
		lvm_wait(0);
}
