/* time.c: Xen system time from the vcpu time info, and wall-clock time from the shared info. */

#include "rt.h"

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a" (lo), "=d" (hi));
	return ((uint64_t)hi << 32) | lo;
}

/* Added to Xen's time so that ours never goes back across a resume on another host. */
static uint64_t offset;

static uint64_t system_time(void)
{
	volatile struct vcpu_time_info *t = &rt_vcpu()->time;
	uint32_t version, mul;
	uint64_t stamp, sys, delta;
	int8_t shift;

	/* Xen updates the record under an odd version: read until a stable even one. */
	do {
		version = t->version;
		rmb();
		stamp = t->tsc_timestamp;
		sys = t->system_time;
		mul = t->tsc_to_system_mul;
		shift = t->tsc_shift;
		rmb();
	} while ((version & 1) || version != t->version);
	delta = rdtsc() - stamp;
	if (shift < 0)
		delta >>= -shift;
	else
		delta <<= shift;
	return sys + (uint64_t)(((__uint128_t)delta * mul) >> 32);
}

uint64_t lvm_now(void)
{
	return system_time() + offset;
}

void rt_time_resume(uint64_t before)
{
	uint64_t now = lvm_now();

	if (now < before)
		offset += before - now;
}

void lvm_wallclock(uint64_t *sec, uint32_t *nsec)
{
	volatile shared_info_t *s = rt_shared_info;
	uint32_t version, wc_nsec;
	uint64_t wc_sec, ns;

	do {
		version = s->wc_version;
		rmb();
		wc_sec = s->wc_sec | ((uint64_t)s->xen_wc_sec_hi << 32);
		wc_nsec = s->wc_nsec;
		rmb();
	} while ((version & 1) || version != s->wc_version);
	/* The wall clock is that of system time 0. */
	ns = wc_nsec + system_time();
	*sec = wc_sec + ns / 1000000000ULL;
	*nsec = (uint32_t)(ns % 1000000000ULL);
}

uint32_t lvm_random(void)
{
	static uint64_t state;

	if (!state) {
		uint64_t sec;
		uint32_t nsec;

		lvm_wallclock(&sec, &nsec);
		state = (rdtsc() ^ (sec << 32) ^ nsec) | 1;
	}
	/* xorshift64* */
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return (uint32_t)((state * 0x2545f4914f6cdd1dULL) >> 32);
}
