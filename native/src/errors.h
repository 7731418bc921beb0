// Native errors: what a failed Xen call leaves behind, and the JS Error (NativeError) it becomes.
#ifndef LIGHTVM_NATIVE_ERRORS_H
#define LIGHTVM_NATIVE_ERRORS_H

#include <napi.h>

#include <cstdint>
#include <string>

namespace lightvm {

/** No domain: the call was not about one (e.g. xc_physinfo). */
constexpr int64_t kNoDomid = -1;

/** A failed call, recorded on a worker thread and turned into a JS Error on the JS thread. */
struct XenError {
  const char* call = nullptr;  // a string literal: the Xen library function that failed
  int err = 0;                 // errno
  int64_t domid = kNoDomid;
  std::string detail;          // the library's own message, or the XenStore path

  bool failed() const { return call != nullptr; }
  // An errno of 0 means the library failed without saying why; EIO keeps the error an error.
  void Set(const char* c, int e, int64_t d = kNoDomid, std::string det = {}) {
    call = c;
    err = e != 0 ? e : EIO;
    domid = d;
    detail = std::move(det);
  }
};

/** errno's symbolic name ("ENOENT"), or "E<number>" when the C library has none. */
std::string ErrnoName(int err);
/** errno's text ("No such file or directory"), thread-safe and not localised. */
std::string ErrnoText(int err);

/** The Error a promise rejects with: message "<call>: <strerror>[ (<detail>)]", plus .call .errno .code .domid .detail. */
Napi::Error MakeNativeError(Napi::Env env, const XenError& e);

}  // namespace lightvm

#endif
