/* noxsd: the dom0 noxs back-end, one process for every guest: control socket, event channels and taps in one poll loop. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "noxsd.h"
#include "check.h"

struct nx_xen nx_xen;

#define MAX_CLIENTS 64
/* Responses a client may leave unread before noxsd stops reading its requests. */
#define OUT_MAX 8
/* How often dead domains are looked for when VIRQ_DOM_EXC belongs to another process (ms). */
#define REAP_MS 1000
/* Where a detached noxsd logs unless told. */
#define NOXSD_LOG_DEFAULT "/var/log/lightvm/noxsd.log"

struct client {
    int fd;
    uint8_t in[sizeof(struct noxsd_req)];
    size_t inlen;
    uint8_t out[OUT_MAX * sizeof(struct noxsd_resp)];
    size_t outlen;
    int closing; /* close once `out` is written */
};

static struct client clients[MAX_CLIENTS];
static int listen_fd = -1;
static evtchn_port_t virq_port;
static int virq_bound;
static volatile sig_atomic_t stop_signal;

void nx_log(const char *fmt, ...)
{
    char line[512];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ noxsd[%d]: ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, (int)getpid());
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    strcat(line, "\n");
    /* One write per line: lines from a daemon and its parent never interleave mid-line. */
    if (write(2, line, strlen(line)) < 0) { /* nowhere else to say it */ }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: noxsd [--socket PATH] [--pid-file PATH] [--log-file PATH] [--foreground]\n"
            "\n"
            "The dom0 noxs back-end: creates power and vif devices for guests on request from the\n"
            "toolstack (binary protocol: native/noxsd/protocol.h), shares their control pages by\n"
            "grant, binds their event channels, and moves each vif's packets between the guest's\n"
            "rings and a tap interface on a bridge. Must run in dom0 as root.\n"
            "\n"
            "  --socket PATH    the control socket (default %s), created mode 0600\n"
            "  --pid-file PATH  the pid lock (default: the socket path with .pid for .sock)\n"
            "  --log-file PATH  append log lines there (default: stderr in the foreground, %s detached)\n"
            "  --foreground     stay in the foreground (default: detach once the socket listens)\n"
            "  --help           this text\n"
            "\n"
            "SIGTERM or SIGINT: removes every device (taps included) and exits 0.\n",
            NOXSD_SOCKET, NOXSD_LOG_DEFAULT);
}

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* The pid lock: held (flock) for the process's life; refuses a second noxsd on the same files. */
static int take_pid_lock(const char *path)
{
    char buf[32];
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) { nx_log("cannot open pid file %s: %s", path, strerror(errno)); return -1; }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        nx_log("another noxsd holds %s (pid %s): not starting", path, buf[0] ? buf : "unknown");
        close(fd);
        return -1;
    }
    if (ftruncate(fd, 0) < 0) { /* the write below still says who we are */ }
    snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (pwrite(fd, buf, strlen(buf), 0) < 0) nx_log("cannot write pid file %s: %s", path, strerror(errno));
    return fd;
}

static int listen_on(const char *path)
{
    struct sockaddr_un sa;
    mode_t old;
    int fd;
    if (strlen(path) >= sizeof sa.sun_path) { nx_log("socket path %s is too long (at most %zu bytes)", path, sizeof sa.sun_path - 1); return -1; }
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { nx_log("socket: %s", strerror(errno)); return -1; }
    /* The pid lock is ours, so a socket file left here belongs to a dead noxsd. */
    if (unlink(path) < 0 && errno != ENOENT) nx_log("cannot remove the old socket %s: %s", path, strerror(errno));
    old = umask(0177); /* born 0600: no window in which others may connect */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        nx_log("bind %s: %s", path, strerror(errno));
        umask(old);
        close(fd);
        return -1;
    }
    umask(old);
    if (chmod(path, 0600) < 0) nx_log("chmod %s: %s", path, strerror(errno));
    if (listen(fd, 64) < 0) { nx_log("listen %s: %s", path, strerror(errno)); close(fd); return -1; }
    return fd;
}

static int open_xen(void)
{
    int fl;
    nx_xen.xch = xc_interface_open(NULL, NULL, 0);
    if (!nx_xen.xch) { nx_log("xc_interface_open: %s (not in Xen's dom0, or not root?)", strerror(errno)); return -1; }
    nx_xen.xce = xenevtchn_open(NULL, 0);
    if (!nx_xen.xce) { nx_log("xenevtchn_open: %s (module xen-evtchn loaded?)", strerror(errno)); return -1; }
    nx_xen.xgt = xengnttab_open(NULL, 0);
    if (!nx_xen.xgt) { nx_log("xengnttab_open: %s (module xen-gntdev loaded?)", strerror(errno)); return -1; }
    nx_xen.xgs = xengntshr_open(NULL, 0);
    if (!nx_xen.xgs) { nx_log("xengntshr_open: %s (module xen-gntalloc loaded?)", strerror(errno)); return -1; }
    /* Pending ports are drained until EAGAIN; a blocking read would stall the loop. */
    fl = fcntl(xenevtchn_fd(nx_xen.xce), F_GETFL);
    if (fl < 0 || fcntl(xenevtchn_fd(nx_xen.xce), F_SETFL, fl | O_NONBLOCK) < 0) {
        nx_log("fcntl on the event channel device: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * VIRQ_DOM_EXC reaches one port in dom0 only, and xenstored needs it: where
 * xenstored already runs it holds it (EEXIST), and noxsd looks for dead
 * domains every REAP_MS instead. noxsd tries once, at start-up, and never
 * again: taking the VIRQ while xenstored is stopped for a moment would keep
 * xenstored from starting again.
 */
static void bind_virq(void)
{
    xenevtchn_port_or_error_t p = xenevtchn_bind_virq(nx_xen.xce, VIRQ_DOM_EXC);
    if (p >= 0) {
        virq_port = (evtchn_port_t)p;
        virq_bound = 1;
        nx_log("VIRQ_DOM_EXC bound (port %u): dead domains' devices go when Xen reports them", virq_port);
    } else {
        nx_log("VIRQ_DOM_EXC is not available (%s: xenstored holds it where it runs): looking for dead domains every %d ms instead",
               strerror(errno), REAP_MS);
    }
}

static void drain_events(void)
{
    for (;;) {
        xenevtchn_port_or_error_t p = xenevtchn_pending(nx_xen.xce);
        struct nx_dev *d;
        if (p < 0) {
            if (errno != EAGAIN && errno != EINTR) nx_log("xenevtchn_pending: %s", strerror(errno));
            return;
        }
        xenevtchn_unmask(nx_xen.xce, (evtchn_port_t)p);
        if (virq_bound && (evtchn_port_t)p == virq_port) { nx_reap_dead(); continue; }
        d = nx_dev_by_port((evtchn_port_t)p);
        if (d) nx_dev_event(d);
    }
}

static void handle(const struct noxsd_req *r, struct noxsd_resp *resp, int *close_after)
{
    int rc = noxsd_check_req(r, resp->msg, sizeof resp->msg);
    if (rc) {
        resp->err = rc;
        if (rc == -EPROTO) *close_after = 1;
        return;
    }
    switch (r->op) {
    case NOXSD_OP_PING: break;
    case NOXSD_OP_POWER_ADD: nx_power_add(r, resp); break;
    case NOXSD_OP_VIF_ADD: nx_vif_add(r, resp); break;
    case NOXSD_OP_DEV_REM: nx_dev_rem(r, resp); break;
    case NOXSD_OP_DOMAIN_REM: nx_domain_rem(r->domid, "request"); break;
    case NOXSD_OP_POWER_REQ: nx_power_req(r, resp); break;
    case NOXSD_OP_STATUS: nx_status(r, resp); break;
    case NOXSD_OP_COUNT: nx_count(r, resp); break;
    }
}

static void client_close(struct client *c)
{
    close(c->fd);
    c->fd = -1;
}

static void client_write(struct client *c)
{
    while (c->outlen) {
        ssize_t n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            client_close(c);
            return;
        }
        memmove(c->out, c->out + n, c->outlen - (size_t)n);
        c->outlen -= (size_t)n;
    }
    if (c->closing) client_close(c);
}

static void client_read(struct client *c)
{
    while (!c->closing && c->outlen + sizeof(struct noxsd_resp) <= sizeof c->out) {
        ssize_t n = recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) { client_close(c); return; }
        if (n < 0) break;
        c->inlen += (size_t)n;
        if (c->inlen == sizeof c->in) {
            struct noxsd_req r;
            struct noxsd_resp resp;
            int close_after = 0;
            memcpy(&r, c->in, sizeof r);
            c->inlen = 0;
            memset(&resp, 0, sizeof resp);
            handle(&r, &resp, &close_after);
            if (resp.err) nx_log("request op %u domid %u type %u id %u refused: %s (%s)", r.op, r.domid, r.type, r.id, resp.msg, strerror(-resp.err));
            memcpy(c->out + c->outlen, &resp, sizeof resp);
            c->outlen += sizeof resp;
            if (close_after) c->closing = 1;
        }
    }
    client_write(c);
}

static void accept_clients(void)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), i;
        if (fd < 0) return;
        for (i = 0; i < MAX_CLIENTS && clients[i].fd >= 0; i++) {}
        if (i == MAX_CLIENTS) { nx_log("too many clients (%d): refusing one", MAX_CLIENTS); close(fd); continue; }
        memset(&clients[i], 0, sizeof clients[i]);
        clients[i].fd = fd;
    }
}

/* What a poll slot stands for. */
enum { SLOT_LISTEN, SLOT_EVTCHN, SLOT_CLIENT, SLOT_TAP };

static int run(void)
{
    struct pollfd *pfd = NULL;
    int *kind = NULL;
    void **obj = NULL;
    size_t pcap = 0;
    sigset_t none;
    struct timespec last_reap;
    int tx_left = 0;
    sigemptyset(&none);
    clock_gettime(CLOCK_MONOTONIC, &last_reap);

    while (!stop_signal) {
        size_t n = 0, need = 2 + MAX_CLIENTS + nx_ndevs;
        struct timespec now, tmo = { REAP_MS / 1000, (REAP_MS % 1000) * 1000000L };
        int rc;
        if (need > pcap) {
            size_t ncap = need * 2;
            free(pfd);
            free(kind);
            free(obj);
            pfd = malloc(ncap * sizeof *pfd);
            kind = malloc(ncap * sizeof *kind);
            obj = malloc(ncap * sizeof *obj);
            if (!pfd || !kind || !obj) { nx_log("out of memory for the poll set"); break; }
            pcap = ncap;
        }
        pfd[n] = (struct pollfd){ listen_fd, POLLIN, 0 }; kind[n] = SLOT_LISTEN; obj[n++] = NULL;
        pfd[n] = (struct pollfd){ xenevtchn_fd(nx_xen.xce), POLLIN, 0 }; kind[n] = SLOT_EVTCHN; obj[n++] = NULL;
        for (int i = 0; i < MAX_CLIENTS; i++) {
            struct client *c = &clients[i];
            short ev = 0;
            if (c->fd < 0) continue;
            if (!c->closing && c->outlen + sizeof(struct noxsd_resp) <= sizeof c->out) ev |= POLLIN;
            if (c->outlen) ev |= POLLOUT;
            pfd[n] = (struct pollfd){ c->fd, ev, 0 }; kind[n] = SLOT_CLIENT; obj[n++] = c;
        }
        for (size_t i = 0; i < nx_ndevs; i++) {
            if (!nx_vif_wants_tap(nx_devs[i])) continue;
            pfd[n] = (struct pollfd){ nx_devs[i]->vif.tap, POLLIN, 0 }; kind[n] = SLOT_TAP; obj[n++] = nx_devs[i];
        }
        if (tx_left) tmo = (struct timespec){ 0, 0 };
        rc = ppoll(pfd, n, (tx_left || (!virq_bound && nx_ndevs)) ? &tmo : NULL, &none);
        if (rc < 0 && errno != EINTR) { nx_log("ppoll: %s", strerror(errno)); break; }
        if (stop_signal) break;

        if (!virq_bound) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if ((now.tv_sec - last_reap.tv_sec) * 1000 + (now.tv_nsec - last_reap.tv_nsec) / 1000000 >= REAP_MS) {
                last_reap = now;
                nx_reap_dead();
            }
        }
        tx_left = nx_vif_tx_leftovers();
        if (rc <= 0) continue;
        /* Event channels first: a device an event removes is not in a later slot's way (taps are looked up again). */
        for (size_t i = 0; i < n; i++) if (kind[i] == SLOT_EVTCHN && pfd[i].revents) drain_events();
        for (size_t i = 0; i < n; i++) {
            if (!pfd[i].revents) continue;
            if (kind[i] == SLOT_TAP) {
                struct nx_dev *d = obj[i];
                size_t j;
                for (j = 0; j < nx_ndevs && nx_devs[j] != d; j++) {}
                if (j < nx_ndevs && nx_vif_wants_tap(d)) nx_vif_rx(d);
            } else if (kind[i] == SLOT_CLIENT) {
                struct client *c = obj[i];
                if (c->fd < 0) continue;
                if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) client_read(c);
                else if (pfd[i].revents & POLLOUT) client_write(c);
            }
        }
        /* Accepting last: the client slots above still match the poll set. */
        if (pfd[0].revents) accept_clients();
    }
    free(pfd);
    free(kind);
    free(obj);
    return stop_signal ? 0 : 1;
}

/* "/x/noxsd.sock" -> "/x/noxsd.pid"; any other name gets ".pid" appended. */
static char *pid_path_for(const char *sock)
{
    size_t n = strlen(sock);
    char *p = malloc(n + 5);
    if (!p) return NULL;
    strcpy(p, sock);
    if (n > 5 && !strcmp(p + n - 5, ".sock")) strcpy(p + n - 5, ".pid");
    else strcat(p, ".pid");
    return p;
}

static int mkdir_parent(const char *path)
{
    char dir[4096];
    char *slash;
    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = '\0';
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) { nx_log("mkdir %s: %s", dir, strerror(errno)); return -1; }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "socket", required_argument, NULL, 's' },
        { "pid-file", required_argument, NULL, 'p' },
        { "log-file", required_argument, NULL, 'l' },
        { "foreground", no_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *sock = NOXSD_SOCKET, *log_file = NULL;
    char *pid_file = NULL;
    int foreground = 0, c, lock_fd, ready[2] = { -1, -1 }, status = 1;
    struct sigaction sa;
    sigset_t block;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': sock = optarg; break;
        case 'p': pid_file = optarg; break;
        case 'l': log_file = optarg; break;
        case 'f': foreground = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) { fprintf(stderr, "noxsd: unexpected argument \"%s\"\n", argv[optind]); usage(stderr); return 2; }
    if (sock[0] != '/') { fprintf(stderr, "noxsd: --socket needs an absolute path, not \"%s\"\n", sock); return 2; }
    if (!pid_file && !(pid_file = pid_path_for(sock))) { fprintf(stderr, "noxsd: out of memory\n"); return 1; }
    /* Detached, stderr would hold its caller's pipe open: the log goes to a file. */
    if (!foreground && !log_file) log_file = NOXSD_LOG_DEFAULT;
    if (log_file) {
        if (mkdir_parent(log_file) < 0) return 1;
        int fd = open(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0) { fprintf(stderr, "noxsd: cannot open log file %s: %s\n", log_file, strerror(errno)); return 1; }
        dup2(fd, 2);
        close(fd);
    }

    if (!foreground) {
        /* The parent returns once the child listens (exit 0) or has failed (exit 1): callers can connect at once. */
        pid_t pid;
        if (pipe2(ready, O_CLOEXEC) < 0) { nx_log("pipe: %s", strerror(errno)); return 1; }
        pid = fork();
        if (pid < 0) { nx_log("fork: %s", strerror(errno)); return 1; }
        if (pid > 0) {
            char b;
            close(ready[1]);
            return read(ready[0], &b, 1) == 1 ? 0 : 1;
        }
        close(ready[0]);
        setsid();
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) { dup2(null, 0); dup2(null, 1); close(null); }
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    /* Signals arrive only inside ppoll: no check-then-sleep race. */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, NULL);

    for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;
    if (mkdir_parent(sock) < 0 || mkdir_parent(pid_file) < 0) goto out;
    if ((lock_fd = take_pid_lock(pid_file)) < 0) goto out;
    if (open_xen() < 0) goto out_lock;
    if ((listen_fd = listen_on(sock)) < 0) goto out_lock;
    bind_virq();
    nx_log("listening on %s (pid file %s)", sock, pid_file);
    if (ready[1] >= 0) { if (write(ready[1], "1", 1) < 0) { /* the parent is gone: carry on */ } close(ready[1]); ready[1] = -1; }

    status = run();
    nx_log("stopping (%s): removing %zu device(s)", stop_signal ? strsignal(stop_signal) : "error", nx_ndevs);
    nx_dev_all_rem();
    for (int i = 0; i < MAX_CLIENTS; i++) if (clients[i].fd >= 0) close(clients[i].fd);
    close(listen_fd);
    unlink(sock);
out_lock:
    unlink(pid_file);
    close(lock_fd);
out:
    if (nx_xen.xgs) xengntshr_close(nx_xen.xgs);
    if (nx_xen.xgt) xengnttab_close(nx_xen.xgt);
    if (nx_xen.xce) xenevtchn_close(nx_xen.xce);
    if (nx_xen.xch) xc_interface_close(nx_xen.xch);
    if (status == 0) nx_log("stopped");
    return status;
}
