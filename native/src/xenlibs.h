// Xen's library headers, all in one place: they are C without `extern "C"` guards, so C++ must add them.
#ifndef LIGHTVM_NATIVE_XENLIBS_H
#define LIGHTVM_NATIVE_XENLIBS_H

// libc headers first, outside the C block: the Xen headers include them too, and glibc's are
// C++-aware already.
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>

extern "C" {
#include <xenctrl.h>  // first: defines __XEN_TOOLS__ before any xen/*.h is read
#include <xencall.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xenguest.h>
#include <xenstore.h>
#include <xentoollog.h>
}

#endif
