// daytime: /init of a tinyx VM; loads netfront, configures eth0 from the kernel's ip= option by ioctl, and serves RFC 867 daytime on TCP port 13.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define READY_MARK "LIGHTVM-READY tinyx-daytime\n"
#define DAYTIME_PORT 13
/* The Xen network front end, a module in Debian's kernel; the Makefile puts it here (daytime/modules). */
#define NETFRONT_KO "/modules/xen-netfront.ko"
/* netfront probes in the background after loading; under emulation that can take a while. */
#define LINK_WAIT_SEC 120

static int out = 2;

static void say(const char *s)
{
	size_t len = strlen(s);
	while (len > 0) {
		ssize_t n = write(out, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* nowhere to report it: PID 1 carries on */
		s += n;
		len -= (size_t)n;
	}
}

static void sayf(const char *what, const char *arg, int err)
{
	char buf[256];
	if (err)
		snprintf(buf, sizeof(buf), "daytime: %s %s: %s\n", what, arg, strerror(err));
	else
		snprintf(buf, sizeof(buf), "daytime: %s %s\n", what, arg);
	say(buf);
}

static void mount_fs(const char *type, const char *dir)
{
	mkdir(dir, 0755);
	if (mount(type, dir, type, MS_NOSUID | MS_NOEXEC, NULL) < 0 && errno != EBUSY)
		sayf("cannot mount", dir, errno);
}

static void open_console(void)
{
	mkdir("/dev", 0755);
	if (access("/dev/hvc0", F_OK) < 0 && mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, NULL) < 0 && errno != EBUSY)
		say("daytime: cannot mount devtmpfs on /dev\n");
	int fd = open("/dev/hvc0", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0)
		out = fd;
}

/* Loads a kernel module from a file; "already loaded" (or built in) is fine. */
static bool load_module(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		sayf("cannot open", path, errno);
		return false;
	}
	long r = syscall(SYS_finit_module, fd, "", 0);
	int err = errno;
	close(fd);
	if (r != 0 && err != EEXIST) {
		sayf("cannot load", path, err);
		return false;
	}
	return true;
}

/* The interface settings of the kernel's ip= option: ip=<client>:<server>:<gw>:<netmask>:<host>:<device>:<autoconf>. */
struct ipconf {
	struct in_addr addr, gw, mask;
	bool have_gw;
	char dev[IFNAMSIZ];
};

/* Copies field `n` (0-based, ':'-separated) of `s` into buf; false if it is absent or too long. */
static bool field(const char *s, int n, char *buf, size_t size)
{
	for (; n > 0; n--) {
		s = strchr(s, ':');
		if (!s)
			return false;
		s++;
	}
	size_t len = strcspn(s, ":");
	if (len >= size)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return true;
}

/* The value of the last word `<key>=<value>` on the kernel command line, copied into buf; false if none. */
static bool cmdline_value(const char *key, char *buf, size_t size)
{
	char cmd[4096];
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (n <= 0)
		return false;
	cmd[n] = '\0';
	size_t klen = strlen(key);
	bool found = false;
	for (char *save, *w = strtok_r(cmd, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
		/* the last one wins, as for the kernel's own options */
		if (strncmp(w, key, klen) == 0 && w[klen] == '=' && strlen(w + klen + 1) < size) {
			strcpy(buf, w + klen + 1);
			found = true;
		}
	}
	return found;
}

/* Parses ip= from the command line; returns an error text, or NULL on success. */
static const char *parse_ip(struct ipconf *c)
{
	static char v[256];
	if (!cmdline_value("ip", v, sizeof(v)))
		return "no ip= on the kernel command line (ip=<address>::<gateway>:<netmask>::<device>)";
	char buf[64];
	memset(c, 0, sizeof(*c));
	if (!field(v, 0, buf, sizeof(buf)) || inet_pton(AF_INET, buf, &c->addr) != 1)
		return "ip=: the first field is not an IPv4 address";
	if (field(v, 2, buf, sizeof(buf)) && buf[0]) {
		if (inet_pton(AF_INET, buf, &c->gw) != 1)
			return "ip=: the gateway (third field) is not an IPv4 address";
		c->have_gw = true;
	}
	c->mask.s_addr = htonl(0xffffff00u); /* a /24 when no netmask is given */
	if (field(v, 3, buf, sizeof(buf)) && buf[0]) {
		if (inet_pton(AF_INET, buf, &c->mask) != 1)
			return "ip=: the netmask (fourth field) is not an IPv4 address";
		uint32_t m = ntohl(c->mask.s_addr);
		if (m != 0 && (~m & (~m + 1)) != 0)
			return "ip=: the netmask is not contiguous";
	}
	if (!field(v, 5, c->dev, sizeof(c->dev)) || !c->dev[0])
		strcpy(c->dev, "eth0");
	if (strchr(c->dev, '/'))
		return "ip=: the device name is not valid";
	return NULL;
}

static int set_addr(int s, const char *dev, unsigned long req, struct in_addr a)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, dev, IFNAMSIZ - 1);
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	sin->sin_addr = a;
	return ioctl(s, req, &ifr);
}

static int link_up(int s, const char *dev)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, dev, IFNAMSIZ - 1);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	return ioctl(s, SIOCSIFFLAGS, &ifr);
}

/* Brings lo and the configured device up with its address, netmask and default route. */
static bool configure(const struct ipconf *c)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		sayf("cannot open a socket", "", errno);
		return false;
	}
	struct in_addr lo;
	inet_pton(AF_INET, "127.0.0.1", &lo);
	if (set_addr(s, "lo", SIOCSIFADDR, lo) < 0 || link_up(s, "lo") < 0)
		sayf("cannot bring up", "lo", errno);

	char path[64];
	snprintf(path, sizeof(path), "/sys/class/net/%s", c->dev);
	int waited = 0;
	while (access(path, F_OK) < 0 && waited < LINK_WAIT_SEC * 10) {
		usleep(100000);
		waited++;
	}
	bool ok = false;
	if (access(path, F_OK) < 0)
		sayf("no such interface (did netfront find a vif?):", c->dev, 0);
	else if (set_addr(s, c->dev, SIOCSIFADDR, c->addr) < 0)
		sayf("cannot set the address of", c->dev, errno);
	else if (set_addr(s, c->dev, SIOCSIFNETMASK, c->mask) < 0)
		sayf("cannot set the netmask of", c->dev, errno);
	else if (link_up(s, c->dev) < 0)
		sayf("cannot bring up", c->dev, errno);
	else
		ok = true;
	if (ok && c->have_gw) {
		struct rtentry rt;
		memset(&rt, 0, sizeof(rt));
		struct sockaddr_in *dst = (struct sockaddr_in *)&rt.rt_dst, *gw = (struct sockaddr_in *)&rt.rt_gateway,
				   *mask = (struct sockaddr_in *)&rt.rt_genmask;
		dst->sin_family = gw->sin_family = mask->sin_family = AF_INET;
		gw->sin_addr = c->gw;
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		if (ioctl(s, SIOCADDRT, &rt) < 0)
			sayf("cannot add the default route via the gateway on", c->dev, errno);
	}
	close(s);
	return ok;
}

/* RFC 867 leaves the format free; this is one line of ASCII, in UTC. */
static size_t daytime(char *buf, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	size_t n = strftime(buf, size - 2, "%A, %B %d, %Y %H:%M:%S-UTC", &tm);
	buf[n++] = '\r';
	buf[n++] = '\n';
	return n;
}

/*
 * daytime.ask=<address>: before serving, ask another daytime server (a guest on the same bridge)
 * for the time and print its answer, so that a test sees two guests reach each other. Retries for
 * a while: the other guest may still be booting.
 */
static void ask(const char *addr)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(DAYTIME_PORT);
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		sayf("daytime.ask: not an IPv4 address:", addr, 0);
		return;
	}
	for (int attempt = 0; attempt < 120; attempt++) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			break;
		struct timeval tv = {5, 0};
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			char buf[128];
			size_t got = 0;
			ssize_t n;
			while (got < sizeof(buf) - 1 && (n = read(s, buf + got, sizeof(buf) - 1 - got)) > 0)
				got += (size_t)n;
			close(s);
			buf[got] = '\0';
			/* Only printable ASCII reaches the console: the answer comes from elsewhere. */
			for (size_t i = 0; i < got; i++)
				if (buf[i] < 0x20 || buf[i] > 0x7e)
					buf[i] = buf[i] == '\r' || buf[i] == '\n' ? '\0' : '?';
			char line[256];
			snprintf(line, sizeof(line), "daytime: %s says %s\n", addr, buf);
			say(line);
			return;
		}
		close(s);
		sleep(1);
	}
	sayf("daytime.ask: no answer from", addr, 0);
}

static int serve(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		sayf("cannot open a socket", "", errno);
		return -1;
	}
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(DAYTIME_PORT);
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0) {
		sayf("cannot listen on port", "13", errno);
		close(s);
		return -1;
	}
	say(READY_MARK);
	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				usleep(10000); /* e.g. out of memory or descriptors: try again shortly, never spin */
			continue;
		}
		/* A client that never reads must not hold up the next one. */
		struct timeval tv = {1, 0};
		setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		char buf[128];
		size_t n = daytime(buf, sizeof(buf));
		if (send(c, buf, n, MSG_NOSIGNAL) < 0)
			sayf("cannot answer a client", "", errno);
		close(c);
	}
}

int main(void)
{
	mount_fs("proc", "/proc");
	mount_fs("sysfs", "/sys");
	open_console();
	signal(SIGPIPE, SIG_IGN);

	struct ipconf c;
	const char *err = parse_ip(&c);
	if (err) {
		sayf(err, "", 0);
	} else {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &c.addr, a, sizeof(a));
		sayf("address", a, 0);
		if (load_module(NETFRONT_KO) && configure(&c)) {
			char peer[64];
			if (cmdline_value("daytime.ask", peer, sizeof(peer)))
				ask(peer);
			serve();
		}
	}
	/* PID 1 must not exit (the kernel would panic): stay, so the console shows what went wrong. */
	say("daytime: not serving\n");
	for (;;)
		pause();
}
