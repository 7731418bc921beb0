// The library handles, each opened on first use and then shared by every call for the life of the process.
#ifndef LIGHTVM_NATIVE_HANDLES_H
#define LIGHTVM_NATIVE_HANDLES_H

#include <string>

#include "errors.h"
#include "xenlibs.h"

namespace lightvm {

// Each returns the open handle, or nullptr with `err` set to the open call's failure (e.g.
// xc_interface_open / ENOENT outside dom0). A failed open is retried by the next call: Xen's device
// nodes may appear after the process starts. Safe to call from any thread.
xc_interface* XcHandle(XenError* err);
struct xs_handle* XsHandle(XenError* err);
xenforeignmemory_handle* ForeignHandle(XenError* err);
xenevtchn_handle* EvtchnHandle(XenError* err);
/** libxencall, for hypercalls that no library wraps (devctl, from lightvm's Xen patches). */
xencall_handle* XencallHandle(XenError* err);

/** The first error-level message the libraries logged on this thread since ClearFirstLibError(), or "". */
std::string FirstLibError();
void ClearFirstLibError();

}  // namespace lightvm

#endif
