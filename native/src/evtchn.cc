// libxenevtchn: dom0's end of interdomain event channels (bind to a guest's port, notify, unbind).
#include <cerrno>
#include <functional>

#include "addon.h"
#include "args.h"
#include "handles.h"
#include "worker.h"
#include "xenlibs.h"

namespace lightvm {

namespace {

/** A libxenevtchn call that returns -1 with errno on failure; bind resolves with the local port. */
class EvtchnCall : public XenWorker {
 public:
  using Fn = std::function<int(xenevtchn_handle*)>;
  EvtchnCall(Napi::Env env, const char* call, int64_t domid, bool returnsPort, Fn fn)
      : XenWorker(env, call, domid), call_(call), returnsPort_(returnsPort), fn_(std::move(fn)) {}

 private:
  void Run() override {
    xenevtchn_handle* xce = EvtchnHandle(&err_);
    if (xce == nullptr) return;
    errno = 0;
    value_ = fn_(xce);
    if (value_ < 0) Fail(call_);
  }
  Napi::Value Result(Napi::Env env) override {
    return returnsPort_ ? Napi::Value(Napi::Number::New(env, value_)) : env.Undefined();
  }

  const char* call_;
  bool returnsPort_;
  Fn fn_;
  int value_ = 0;
};

Napi::Value EvtchnBindInterdomain(const Napi::CallbackInfo& info) {
  Args a(info, "evtchnBindInterdomain");
  uint32_t domid = a.Domid(a.At(0), "domid");
  evtchn_port_t remote = static_cast<evtchn_port_t>(a.Uint(a.At(1), "remotePort", UINT32_MAX));
  if (!a.ok()) return a.Reject();
  return (new EvtchnCall(info.Env(), "xenevtchn_bind_interdomain", domid, true,
                         [=](xenevtchn_handle* xce) { return xenevtchn_bind_interdomain(xce, domid, remote); }))
      ->Start();
}

Napi::Value EvtchnNotify(const Napi::CallbackInfo& info) {
  Args a(info, "evtchnNotify");
  evtchn_port_t port = static_cast<evtchn_port_t>(a.Uint(a.At(0), "localPort", UINT32_MAX));
  if (!a.ok()) return a.Reject();
  return (new EvtchnCall(info.Env(), "xenevtchn_notify", kNoDomid, false,
                         [=](xenevtchn_handle* xce) { return xenevtchn_notify(xce, port); }))
      ->Start();
}

Napi::Value EvtchnUnbind(const Napi::CallbackInfo& info) {
  Args a(info, "evtchnUnbind");
  evtchn_port_t port = static_cast<evtchn_port_t>(a.Uint(a.At(0), "localPort", UINT32_MAX));
  if (!a.ok()) return a.Reject();
  return (new EvtchnCall(info.Env(), "xenevtchn_unbind", kNoDomid, false,
                         [=](xenevtchn_handle* xce) { return xenevtchn_unbind(xce, port); }))
      ->Start();
}

}  // namespace

void InitEvtchn(Napi::Env env, Napi::Object exports) {
  exports.Set("evtchnBindInterdomain", Napi::Function::New(env, EvtchnBindInterdomain, "evtchnBindInterdomain"));
  exports.Set("evtchnNotify", Napi::Function::New(env, EvtchnNotify, "evtchnNotify"));
  exports.Set("evtchnUnbind", Napi::Function::New(env, EvtchnUnbind, "evtchnUnbind"));
}

}  // namespace lightvm
