// Entry point of xen.node: gathers every library's functions on one exports object.
#include <napi.h>

#include "addon.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  lightvm::InitXc(env, exports);
  lightvm::InitXenguest(env, exports);
  lightvm::InitXs(env, exports);
  lightvm::InitXsWatch(env, exports);
  lightvm::InitForeign(env, exports);
  lightvm::InitEvtchn(env, exports);
  lightvm::InitSave(env, exports);
  lightvm::InitUevent(env, exports);
  lightvm::InitNetif(env, exports);
  lightvm::InitDevctl(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(xen, Init)
