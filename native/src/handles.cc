// The library handles: opened lazily, once per process, with a logger that keeps the libraries off stderr.
#include "handles.h"

#include <cerrno>
#include <cstdio>
#include <mutex>
#include <string>

namespace lightvm {

namespace {

// The libraries log failures to stderr by default, which would interleave with the daemons' JSON
// logs. Every failure reaches the caller as an error (errno, and libxc's last message), so the
// logger writes nothing; it only keeps, per thread, the first error a long call (a save or a
// restore) reported, since libxc's last message there is only "Save failed".
thread_local std::string first_error;

void QuietMessage(xentoollog_logger*, xentoollog_level level, int errnoval, const char* context, const char* format, va_list al) {
  if (level < XTL_ERROR || !first_error.empty()) return;
  char buf[400];
  vsnprintf(buf, sizeof buf, format, al);
  first_error = context != nullptr ? std::string(context) + ": " + buf : std::string(buf);
  if (errnoval > 0) first_error += " (" + ErrnoText(errnoval) + ")";
}
void QuietProgress(xentoollog_logger*, const char*, const char*, int, unsigned long, unsigned long) {}
void QuietDestroy(xentoollog_logger*) {}
xentoollog_logger quiet_logger = {QuietMessage, QuietProgress, QuietDestroy};

// One mutex per handle so that opening one (xs_open may wait on a socket) does not hold up the others.
template <typename H>
struct Lazy {
  std::mutex mu;
  H* h = nullptr;

  template <typename Open>
  H* Get(XenError* err, const char* call, Open open) {
    std::lock_guard<std::mutex> lock(mu);
    if (h == nullptr) {
      errno = 0;
      h = open();
      if (h == nullptr) err->Set(call, errno);
    }
    return h;
  }
};

// Never closed: they live as long as the process, and closing them at exit could race a worker
// thread still inside a call. The kernel releases them when the process ends.
Lazy<xc_interface> xc;
Lazy<struct xs_handle> xs;
Lazy<xenforeignmemory_handle> fmem;
Lazy<xenevtchn_handle> xce;
Lazy<xencall_handle> xcall;

}  // namespace

void ClearFirstLibError() { first_error.clear(); }
std::string FirstLibError() { return first_error; }

xc_interface* XcHandle(XenError* err) {
  return xc.Get(err, "xc_interface_open", [] { return xc_interface_open(&quiet_logger, &quiet_logger, 0); });
}

struct xs_handle* XsHandle(XenError* err) {
  return xs.Get(err, "xs_open", [] { return xs_open(0); });
}

xenforeignmemory_handle* ForeignHandle(XenError* err) {
  return fmem.Get(err, "xenforeignmemory_open", [] { return xenforeignmemory_open(&quiet_logger, 0); });
}

xenevtchn_handle* EvtchnHandle(XenError* err) {
  return xce.Get(err, "xenevtchn_open", [] { return xenevtchn_open(&quiet_logger, 0); });
}

xencall_handle* XencallHandle(XenError* err) {
  return xcall.Get(err, "xencall_open", [] { return xencall_open(&quiet_logger, 0); });
}

}  // namespace lightvm
