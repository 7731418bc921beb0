// Native errors: errno names and texts, and the NativeError object every failed call rejects with.
#include "errors.h"

#include <cstring>

namespace lightvm {

std::string ErrnoName(int err) {
  // glibc >= 2.32: names without a hand-kept table, and no locale or static buffer involved.
  const char* n = strerrorname_np(err);
  return n != nullptr ? std::string(n) : "E" + std::to_string(err);
}

std::string ErrnoText(int err) {
  const char* d = strerrordesc_np(err);
  return d != nullptr ? std::string(d) : "Unknown error " + std::to_string(err);
}

Napi::Error MakeNativeError(Napi::Env env, const XenError& e) {
  std::string msg = std::string(e.call) + ": " + ErrnoText(e.err);
  if (!e.detail.empty()) msg += " (" + e.detail + ")";
  Napi::Error error = Napi::Error::New(env, msg);
  error.Set("name", Napi::String::New(env, "NativeError"));
  error.Set("call", Napi::String::New(env, e.call));
  error.Set("errno", Napi::Number::New(env, e.err));
  error.Set("code", Napi::String::New(env, ErrnoName(e.err)));
  if (e.domid != kNoDomid) error.Set("domid", Napi::Number::New(env, static_cast<double>(e.domid)));
  if (!e.detail.empty()) error.Set("detail", Napi::String::New(env, e.detail));
  return error;
}

}  // namespace lightvm
