/* lightvm.h: the lightvm PV runtime's whole API for apps: console, command line, time, waiting, memory, XenStore, power and network. */
#ifndef LIGHTVM_H
#define LIGHTVM_H

#include <stddef.h>
#include <stdint.h>

/*
 * Errors: functions that can fail return a negative LVM_E* value (the
 * numbers are Linux's errno values) or a pointer/0; lvm_strerror() names one.
 */
#define LVM_ENOENT	2
#define LVM_EIO		5
#define LVM_E2BIG	7
#define LVM_EAGAIN	11
#define LVM_ENOMEM	12
#define LVM_EBUSY	16
#define LVM_ENODEV	19
#define LVM_EINVAL	22
#define LVM_ENOSPC	28
#define LVM_ERANGE	34
#define LVM_EPROTO	71
#define LVM_ETIMEDOUT	110

const char *lvm_strerror(int err);

/*
 * The app's entry point. The runtime calls it once the console, event
 * channels, the clock and the allocator work; an app that returns is
 * powered off.
 */
void app_main(void);

/* ---- console (the domain's PV console ring) ---- */
void lvm_puts(const char *s);
int lvm_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints text from outside (command line, XenStore) with control bytes as '?'. */
void lvm_put_untrusted(const char *s, size_t len);
/* Prints "LIGHTVM-READY <app>": the app can now do its work. A literal, so the image carries its mark. */
#define lvm_ready(app_literal) lvm_puts("LIGHTVM-READY " app_literal "\n")
/* Hands everything written so far to the console back-end and waits (bounded) until it has read it. */
void lvm_console_flush(void);

/* ---- command line: words separated by spaces; key=value words ---- */
const char *lvm_cmdline(void);
/* 1 if the whole word `word` is on the command line, else 0. */
int lvm_cmdline_has(const char *word);
/* Copies the value of the first `key=` word into buf (NUL-terminated); its length, -LVM_ENOENT or -LVM_E2BIG. */
int lvm_cmdline_value(const char *key, char *buf, size_t len);

/* ---- time ---- */
/* Nanoseconds of Xen system time (monotonic, since the host booted). */
uint64_t lvm_now(void);
/* Wall-clock time (UTC) in seconds and nanoseconds since 1970. */
void lvm_wallclock(uint64_t *sec, uint32_t *nsec);

/* A pseudo-random number seeded from the TSC and the clock: for TCP sequence numbers and ports, not for keys. */
uint32_t lvm_random(void);

/* ---- waiting: sleeps until an event arrives or `deadline` (lvm_now() time; 0 = none) passes ---- */
void lvm_wait(uint64_t deadline);

/* ---- memory ---- */
void *lvm_alloc_pages(unsigned int n);		/* n zeroed, contiguous, page-aligned pages */
void lvm_free_pages(void *p, unsigned int n);
void *malloc(size_t n);
void *calloc(size_t n, size_t size);
void free(void *p);
/* Pages the allocator manages, and how many are free. */
void lvm_mem_stats(unsigned long *total_pages, unsigned long *free_pages);

/* ---- XenStore (paths relative to the domain's home unless they start with '/') ---- */
/* Reads a value into buf (NUL-terminated): its length, or -LVM_ENOENT, -LVM_E2BIG, ... */
int lvm_xs_read(const char *path, char *buf, size_t len);
int lvm_xs_write(const char *path, const char *value);
int lvm_xs_rm(const char *path);
/* Watches path; lvm_xs_watch_pending() tells (and forgets) whether a watched node changed since. */
int lvm_xs_watch(const char *path);
int lvm_xs_watch_pending(const char *path);

/* ---- power ---- */
enum lvm_power_request {
	LVM_POWER_NONE = 0,
	LVM_POWER_POWEROFF,
	LVM_POWER_REBOOT,
	LVM_POWER_SUSPEND,
};
/* Starts serving control/shutdown and makes the domain saveable; 0 or -error. */
int lvm_power_init(void);
/* The request the toolstack made since the last call (acknowledged), or LVM_POWER_NONE. */
enum lvm_power_request lvm_power_poll(void);
/*
 * Suspends the domain (save or checkpoint) and resumes it: console,
 * XenStore, event channels, timers and open network devices work again
 * on return. 1: the suspend was cancelled (checkpoint: same domain);
 * 0: resumed in a new domain; negative: it could not suspend.
 */
int lvm_suspend(void);
/* Shuts the domain down (SHUTDOWN_poweroff/reboot/crash from xen/sched.h) after flushing the console. */
void lvm_shutdown(unsigned int reason) __attribute__((noreturn));
/* Prints "lightvm: fatal: ..." and crashes the domain. */
void lvm_panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* ---- network (netfront) ---- */
struct lvm_net;
/* Called from lvm_net_poll() for each received Ethernet frame; frame is valid only during the call. */
typedef void lvm_net_rx_fn(void *arg, const void *frame, size_t len);
#define LVM_NET_MTU_FRAME 1514
/* Connects vif `index` (device/vif/<index>); 0 or -error, after printing why on the console. */
int lvm_net_open(unsigned int index, lvm_net_rx_fn *rx, void *arg, struct lvm_net **out);
void lvm_net_mac(const struct lvm_net *net, uint8_t mac[6]);
/* A buffer of LVM_NET_MTU_FRAME bytes for the next frame, or NULL while the ring is full. */
void *lvm_net_tx_buf(struct lvm_net *net);
/* Sends the first len bytes of the buffer lvm_net_tx_buf() returned. */
int lvm_net_tx_send(struct lvm_net *net, size_t len);
/* Delivers received frames and reclaims sent ones; call it after every lvm_wait(). */
void lvm_net_poll(struct lvm_net *net);

#endif
