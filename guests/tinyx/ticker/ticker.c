// ticker: /init of a tinyx VM; prints its ready mark, then "tick N" once a second (or powers off on ticker.poweroff).
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>

#define READY_MARK "LIGHTVM-READY tinyx-ticker\n"

static int out = 2;

static void say(const char *s)
{
	size_t len = strlen(s);
	while (len > 0) {
		ssize_t n = write(out, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* nowhere to report it: PID 1 must carry on regardless */
		s += n;
		len -= (size_t)n;
	}
}

/* Mounts a pseudo file system, creating its mount point; "already mounted" is fine. */
static void mount_fs(const char *type, const char *dir)
{
	mkdir(dir, 0755);
	if (mount(type, dir, type, MS_NOSUID | MS_NOEXEC, NULL) < 0 && errno != EBUSY) {
		say("ticker: cannot mount ");
		say(dir);
		say("\n");
	}
}

/* The Xen console. The kernel's built-in initramfs has /dev/console but no other node, hence devtmpfs. */
static void open_console(void)
{
	mkdir("/dev", 0755);
	if (access("/dev/hvc0", F_OK) < 0 && mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, NULL) < 0 && errno != EBUSY)
		say("ticker: cannot mount devtmpfs on /dev\n");
	int fd = open("/dev/hvc0", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0)
		out = fd;
}

/* True if the kernel command line holds `word` as a whole, space-separated word. */
static bool cmdline_has(const char *word)
{
	char buf[4096];
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *save, *w = strtok_r(buf, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
		if (strcmp(w, word) == 0)
			return true;
	return false;
}

static void say_tick(unsigned long n)
{
	char buf[32] = "tick ";
	char digits[21];
	int i = 0;
	do
		digits[i++] = (char)('0' + n % 10);
	while ((n /= 10) > 0);
	size_t at = strlen(buf);
	while (i > 0)
		buf[at++] = digits[--i];
	buf[at++] = '\n';
	buf[at] = '\0';
	say(buf);
}

int main(void)
{
	mount_fs("proc", "/proc");
	mount_fs("sysfs", "/sys");
	open_console();
	say(READY_MARK);

	if (cmdline_has("ticker.poweroff")) {
		say("ticker: poweroff\n");
		reboot(RB_POWER_OFF);
		say("ticker: poweroff failed, ticking instead\n");
	}

	/* Absolute deadlines keep the ticks one second apart however long each write takes. */
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (unsigned long n = 1;; n++) {
		next.tv_sec++;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		/* After a long stop (a restore may move the clock on), tick on from now rather than in a burst. */
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > next.tv_sec + 1)
			next = now;
		say_tick(n);
	}
}
