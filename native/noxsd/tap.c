/* noxsd's tap interfaces: created on /dev/net/tun, given an MTU and a fixed MAC, brought up and added to a bridge by ioctl (no scripts). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>

#include "noxsd.h"

#include <stdarg.h>

/* Writes "<what>: <strerror(-err)>" to msg and returns err. */
static int fail(int err, char *msg, size_t msglen, const char *fmt, ...)
{
    char what[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(msg, msglen, "%s: %s", what, strerror(-err));
    return err;
}

/* 1 if `name` is a bridge (the kernel shows /sys/class/net/NAME/bridge for bridges only). */
static int is_bridge(const char *name)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/sys/class/net/%s/bridge", name);
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int nx_tap_create(const char *ifname, uint16_t mtu, const char *bridge, char *msg, size_t msglen)
{
    struct ifreq ifr;
    int fd = -1, sock = -1, err;

    if (!if_nametoindex(bridge))
        return fail(-ENODEV, msg, msglen, "bridge %s does not exist", bridge);
    if (!is_bridge(bridge))
        return fail(-ENODEV, msg, msglen, "%s is not a bridge", bridge);
    /* TUNSETIFF would attach to an existing tap of that name: refuse any existing interface instead. */
    if (if_nametoindex(ifname))
        return fail(-EEXIST, msg, msglen, "interface %s already exists", ifname);

    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) { err = -errno; fail(err, msg, msglen, "open /dev/net/tun"); goto out; }
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) { err = -errno; fail(err, msg, msglen, "TUNSETIFF %s", ifname); goto out; }

    sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) { err = -errno; fail(err, msg, msglen, "socket"); goto out; }

    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    ifr.ifr_mtu = mtu;
    if (ioctl(sock, SIOCSIFMTU, &ifr) < 0) { err = -errno; fail(err, msg, msglen, "SIOCSIFMTU %s", ifname); goto out; }

    /* fe:ff:ff:ff:ff:ff, as Xen's netback vifs: the highest address never becomes the bridge's own. */
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    ifr.ifr_hwaddr.sa_family = 1; /* ARPHRD_ETHER */
    memset(ifr.ifr_hwaddr.sa_data, 0xff, 6);
    ifr.ifr_hwaddr.sa_data[0] = (char)0xfe;
    if (ioctl(sock, SIOCSIFHWADDR, &ifr) < 0) { err = -errno; fail(err, msg, msglen, "SIOCSIFHWADDR %s", ifname); goto out; }

    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", bridge);
    ifr.ifr_ifindex = (int)if_nametoindex(ifname);
    if (ifr.ifr_ifindex == 0 || ioctl(sock, SIOCBRADDIF, &ifr) < 0) {
        err = ifr.ifr_ifindex == 0 ? -ENODEV : -errno;
        fail(err, msg, msglen, "adding %s to bridge %s", ifname, bridge);
        goto out;
    }

    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) { err = -errno; fail(err, msg, msglen, "SIOCGIFFLAGS %s", ifname); goto out; }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) { err = -errno; fail(err, msg, msglen, "bringing %s up", ifname); goto out; }

    close(sock);
    return fd;
out:
    /* Closing the last fd of a non-persistent tap deletes it (and takes it off the bridge). */
    if (sock >= 0) close(sock);
    if (fd >= 0) close(fd);
    return err;
}
