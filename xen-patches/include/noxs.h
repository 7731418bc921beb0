/* noxs: the per-domain device page and the devctl hypercall that lightvm's Xen 4.17 patches add (the ABI's one copy). */
/*
 * This header is the single definition of the noxs ABI. The patch series in
 * xen-patches/ installs it unchanged as xen/include/public/noxs.h, the dom0
 * addon (native/) and the guests (guests/) include it from here.
 * xen-patches/build.sh refuses to build a hypervisor whose copy differs, and
 * a unit test (test/unit/xen-patches/header.test.ts) checks that the series
 * adds exactly this file.
 *
 * Users provide uint16_t, uint32_t and uint64_t (<stdint.h> or Xen's own
 * types) before including it. Every structure has a fixed layout made of
 * naturally aligned fields and explicit padding, identical for every
 * compiler and 64-bit guest; padding MUST be zero.
 *
 * The device page
 * ---------------
 * Xen gives every domain (dom0 included) one page when it creates it and
 * frees it when the domain is destroyed. The domain may map that page
 * read-only (a writable mapping is refused); only the control domain changes
 * it, through devctl. Its frame is a machine frame number (PV guests map
 * machine frames); get it with NOXS_DEVCTL_GET.
 *
 * Readers see a consistent page with the generation count, like a seqlock:
 * read `generation`; if it is odd, Xen is changing the page: read again;
 * otherwise copy the entries, then read `generation` again and start over if
 * it changed.
 *
 * The devctl hypercall
 * --------------------
 *     long HYPERVISOR_devctl(struct noxs_devctl *arg);
 * One argument: the guest-virtual address of a struct noxs_devctl, which Xen
 * reads and, for GET and DEV_ENUM, writes back. 64-bit callers only (PV or
 * HVM); 32-bit callers get -ENOSYS, as on an unpatched Xen.
 * Returns 0 or a negative errno value (Xen's public/errno.h numbering):
 *   -ENOSYS      no devctl here: an unpatched Xen, or a 32-bit caller
 *   -EINVAL      unknown version (NOXS_DEVCTL_VERSION is the only one), a
 *                non-zero padding field, an unknown device type, a back-end
 *                domid that is not an ordinary domain id
 *   -EOPNOTSUPP  unknown op
 *   -EFAULT      the argument (or DEV_ENUM's buffer) cannot be read or written
 *   -EPERM       the caller is not the control domain and asked for
 *                DEV_ADD, DEV_REM, DEV_ENUM, or GET of another domain
 *   -ESRCH       no such domain (or a system domain, which has no page)
 *   -ENOSPC      DEV_ADD on a full page (NOXS_PAGE_MAX_DEVS entries)
 *   -EEXIST      DEV_ADD of a type and id that the page already holds
 *   -ENOENT      DEV_REM of a type and id that the page does not hold
 */
#ifndef __XEN_PUBLIC_NOXS_H__
#define __XEN_PUBLIC_NOXS_H__

/*
 * The hypercall's number. Xen 4.17 uses 0-10 and 12-42 (public/xen.h's
 * __HYPERVISOR_* list; 11 was used by old releases and is left alone) and
 * keeps 48-55 for architecture-specific calls: 43 is the first free number.
 */
#define __HYPERVISOR_devctl 43

/* The layout of struct noxs_devctl this header describes. */
#define NOXS_DEVCTL_VERSION 1

/* Operations (struct noxs_devctl.op). */
#define NOXS_DEVCTL_GET      1 /* the frame of a domain's device page */
#define NOXS_DEVCTL_DEV_ADD  2 /* add an entry (control domain only) */
#define NOXS_DEVCTL_DEV_REM  3 /* remove the entry of a type and id (control domain only) */
#define NOXS_DEVCTL_DEV_ENUM 4 /* copy out a domain's entries (control domain only) */

/* Device types (struct noxs_dev.type). */
#define NOXS_DEV_POWER 1 /* power control: shutdown, reboot, suspend */
#define NOXS_DEV_VIF   2 /* network interface */
#define NOXS_DEV_VBD   3 /* block device */
#define NOXS_DEV_TYPE_MAX NOXS_DEV_VBD

/* struct noxs_devctl.domid: the caller itself (same value as Xen's DOMID_SELF). */
#define NOXS_DOMID_SELF 0x7FF0U
/* Ordinary domain ids are below this (Xen's DOMID_FIRST_RESERVED). */
#define NOXS_DOMID_FIRST_RESERVED 0x7FF0U

/* One device: 16 bytes. */
struct noxs_dev {
    uint16_t type;     /* NOXS_DEV_* */
    uint16_t id;       /* chosen by the toolstack; unique per type on a page */
    uint16_t be_domid; /* the domain that runs the device's back-end */
    uint16_t pad;      /* zero */
    uint32_t grant;    /* grant reference of the device's control page, granted by the back-end */
    uint32_t evtchn;   /* the back-end's event channel port, unbound, for this domain to bind */
};

#define NOXS_PAGE_MAGIC   0x73786f6eU /* "noxs" in little-endian memory */
#define NOXS_PAGE_VERSION 1
#define NOXS_PAGE_SIZE    4096
#define NOXS_PAGE_HEADER  16
/* Entries one page holds: (4096 - 16) / 16. */
#define NOXS_PAGE_MAX_DEVS ((NOXS_PAGE_SIZE - NOXS_PAGE_HEADER) / 16)

/* The device page as the domain sees it. */
struct noxs_page {
    uint32_t magic;      /* NOXS_PAGE_MAGIC, set at creation */
    uint16_t version;    /* NOXS_PAGE_VERSION */
    uint16_t count;      /* devs[0 .. count) are in use, in no particular order */
    uint32_t generation; /* odd while Xen changes the page; bumped twice per change */
    uint32_t pad;
    struct noxs_dev devs[NOXS_PAGE_MAX_DEVS];
};

/* The hypercall's argument: 32 bytes. */
struct noxs_devctl {
    uint16_t version; /* IN: NOXS_DEVCTL_VERSION */
    uint16_t op;      /* IN: NOXS_DEVCTL_* */
    uint16_t domid;   /* IN: the domain whose page is meant, or NOXS_DOMID_SELF */
    uint16_t pad;     /* IN: zero */
    union {
        /* NOXS_DEVCTL_GET */
        struct {
            uint64_t frame; /* OUT: machine frame number of the page */
            uint64_t pad[2];
        } get;
        /* NOXS_DEVCTL_DEV_ADD (every field) and NOXS_DEVCTL_DEV_REM (type and id; the rest is ignored) */
        struct {
            struct noxs_dev dev;
            uint64_t pad;
        } dev;
        /* NOXS_DEVCTL_DEV_ENUM */
        struct {
            uint64_t buf;   /* IN: guest-virtual address of `max` struct noxs_dev */
            uint32_t max;   /* IN: entries buf holds; 0 only counts */
            uint32_t count; /* OUT: entries on the page; min(count, max) were copied */
            uint64_t pad;
        } enumerate;
    } u;
};

#endif /* __XEN_PUBLIC_NOXS_H__ */
