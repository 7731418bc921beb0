// libxenguest save and restore streams (xc_domain_save, xc_domain_restore, xc_domain_resume) and the pipe they travel through.
//
// The save stream needs the guest suspended at a moment only libxc knows (at once for a plain
// save, after the pre-copy rounds for a live one). libxc asks through its `suspend` callback on
// the worker thread; the callback hands the question to the caller's JS function and blocks until
// the promise that function returns settles. How to suspend a guest (XenStore, an event channel, a
// timeout) is the toolstack's business: nothing here decides it.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <future>
#include <memory>
#include <string>

#include "addon.h"
#include "args.h"
#include "handles.h"
#include "worker.h"
#include "xenlibs.h"

namespace lightvm {

namespace {

/** What libxc said first on this thread (the cause), else its last message for this handle, or nothing. */
std::string LastError(xc_interface* xch) {
  std::string first = FirstLibError();
  if (!first.empty()) return first;
  const xc_error* last = xc_get_last_error(xch);
  if (last == nullptr || last->code == XC_ERROR_NONE) return {};
  return std::string(last->message, strnlen(last->message, sizeof last->message));
}

/**
 * A descriptor the caller handed over, switched to blocking for the call (libxc's reads and writes
 * do not retry EAGAIN) and given back with its flags as they were (a socket may belong to an event
 * loop that expects it non-blocking).
 */
class BlockingFd {
 public:
  explicit BlockingFd(int fd) : fd_(fd), flags_(fcntl(fd, F_GETFL)) {
    ok_ = flags_ >= 0 && ((flags_ & O_NONBLOCK) == 0 || fcntl(fd, F_SETFL, flags_ & ~O_NONBLOCK) == 0);
  }
  ~BlockingFd() {
    if (ok_ && (flags_ & O_NONBLOCK) != 0) fcntl(fd_, F_SETFL, flags_);
  }
  bool ok() const { return ok_; }

 private:
  int fd_, flags_;
  bool ok_ = false;
};

/** One question from libxc's thread to JS: the answer arrives through `answer` exactly once. */
struct SuspendAsk {
  std::promise<bool> answer;
  bool answered = false;
  void Settle(bool ok) {
    if (answered) return;
    answered = true;
    answer.set_value(ok);
  }
};

/** JS thread: calls onSuspend() and settles the ask when its promise does (true only for a resolved `true`). */
void AskJs(Napi::Env env, Napi::Function fn, std::shared_ptr<SuspendAsk>* holder) {
  std::shared_ptr<SuspendAsk> ask = *holder;
  delete holder;
  if (env == nullptr || fn.IsEmpty()) return ask->Settle(false);
  Napi::Value r = fn.Call({});
  if (env.IsExceptionPending()) {
    env.GetAndClearPendingException();
    return ask->Settle(false);
  }
  if (!r.IsPromise()) return ask->Settle(r.IsBoolean() && r.As<Napi::Boolean>().Value());
  Napi::Object p = r.As<Napi::Object>();
  Napi::Value then = p.Get("then");
  if (!then.IsFunction()) return ask->Settle(false);
  auto onOk = Napi::Function::New(env, [ask](const Napi::CallbackInfo& info) {
    ask->Settle(info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value());
    return info.Env().Undefined();
  }, "onSuspendResolved");
  auto onErr = Napi::Function::New(env, [ask](const Napi::CallbackInfo& info) {
    ask->Settle(false);
    return info.Env().Undefined();
  }, "onSuspendRejected");
  then.As<Napi::Function>().Call(p, {onOk, onErr});
}

class SaveWorker : public XenWorker {
 public:
  SaveWorker(Napi::Env env, uint32_t domid, int fd, bool live, Napi::Function onSuspend)
      : XenWorker(env, "xc_domain_save", domid), dom_id_(domid), fd_(fd), live_(live),
        tsfn_(Napi::ThreadSafeFunction::New(env, onSuspend, "domainSave.onSuspend", 0, 1)) {}

 private:
  /** libxc's thread: 1 when the guest is suspended, 0 to abandon the save. */
  static int Suspend(void* data) {
    auto* self = static_cast<SaveWorker*>(data);
    auto ask = std::make_shared<SuspendAsk>();
    std::future<bool> answer = ask->answer.get_future();
    auto* holder = new std::shared_ptr<SuspendAsk>(ask);
    if (self->tsfn_.BlockingCall(holder, AskJs) != napi_ok) {
      delete holder;
      return 0;
    }
    self->asked_ = true;
    self->suspended_ = answer.get();
    return self->suspended_ ? 1 : 0;
  }

  void Run() override {
    xc_interface* xch = XcHandle(&err_);
    if (xch == nullptr) return;
    BlockingFd blocking(fd_);
    if (!blocking.ok()) return Fail("fcntl", "the save stream's file descriptor");
    struct save_callbacks cb;
    std::memset(&cb, 0, sizeof cb);
    cb.suspend = Suspend;
    cb.data = this;
    xc_clear_last_error(xch);
    ClearFirstLibError();
    errno = 0;
    if (xc_domain_save(xch, fd_, dom_id_, live_ ? XCFLAGS_LIVE : 0, &cb, XC_STREAM_PLAIN, -1) != 0) {
      Fail("xc_domain_save", asked_ && !suspended_ ? "onSuspend did not report the guest suspended" : LastError(xch));
    }
  }
  void Done(Napi::Env) override { tsfn_.Release(); }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

  uint32_t dom_id_;
  int fd_;
  bool live_;
  Napi::ThreadSafeFunction tsfn_;
  bool asked_ = false, suspended_ = false;
};

class RestoreWorker : public XenWorker {
 public:
  RestoreWorker(Napi::Env env, uint32_t domid) : XenWorker(env, "xc_domain_restore", domid), dom_id_(domid) {}

  int fd = -1;
  unsigned int storePort = 0, consolePort = 0;
  uint32_t storeDomid = 0, consoleDomid = 0;

 private:
  void Run() override {
    xc_interface* xch = XcHandle(&err_);
    if (xch == nullptr) return;
    BlockingFd blocking(fd);
    if (!blocking.ok()) return Fail("fcntl", "the restore stream's file descriptor");
    // libxc reads every callback field; none is needed for a plain stream.
    struct restore_callbacks cb;
    std::memset(&cb, 0, sizeof cb);
    xc_clear_last_error(xch);
    ClearFirstLibError();
    errno = 0;
    if (xc_domain_restore(xch, fd, dom_id_, storePort, &store_mfn_, storeDomid, consolePort, &console_mfn_, consoleDomid,
                          XC_STREAM_PLAIN, &cb, -1) != 0) {
      Fail("xc_domain_restore", LastError(xch));
    }
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("storeMfn", Napi::Number::New(env, static_cast<double>(store_mfn_)));
    o.Set("consoleMfn", Napi::Number::New(env, static_cast<double>(console_mfn_)));
    return o;
  }

  uint32_t dom_id_;
  unsigned long store_mfn_ = 0, console_mfn_ = 0;
};

class ResumeWorker : public XenWorker {
 public:
  ResumeWorker(Napi::Env env, uint32_t domid, bool fast) : XenWorker(env, "xc_domain_resume", domid), dom_id_(domid), fast_(fast) {}

 private:
  void Run() override {
    xc_interface* xch = XcHandle(&err_);
    if (xch == nullptr) return;
    xc_clear_last_error(xch);
    ClearFirstLibError();
    errno = 0;
    if (xc_domain_resume(xch, dom_id_, fast_ ? 1 : 0) != 0) Fail("xc_domain_resume", LastError(xch));
  }

  uint32_t dom_id_;
  bool fast_;
};

int FdArg(Args& a, const Napi::Value& v, const char* name) { return static_cast<int>(a.Int(v, name, 0, INT_MAX)); }

Napi::Value DomainSave(const Napi::CallbackInfo& info) {
  Args a(info, "domainSave");
  Napi::Object p = a.Object(0, "params");
  uint32_t domid = a.Domid(a.Prop(p, "domid"), "params.domid");
  int fd = FdArg(a, a.Prop(p, "fd"), "params.fd");
  bool live = a.Bool(a.Prop(p, "live"), "params.live");
  Napi::Function onSuspend = a.Function(a.Prop(p, "onSuspend"), "params.onSuspend");
  if (!a.ok()) return a.Reject();
  return (new SaveWorker(info.Env(), domid, fd, live, onSuspend))->Start();
}

Napi::Value DomainRestore(const Napi::CallbackInfo& info) {
  Args a(info, "domainRestore");
  Napi::Object p = a.Object(0, "params");
  uint32_t domid = a.Domid(a.Prop(p, "domid"), "params.domid");
  int fd = FdArg(a, a.Prop(p, "fd"), "params.fd");
  auto storePort = static_cast<unsigned int>(a.Int(a.Prop(p, "storePort"), "params.storePort", 0, UINT32_MAX));
  uint32_t storeDomid = a.Domid(a.Prop(p, "storeDomid"), "params.storeDomid");
  auto consolePort = static_cast<unsigned int>(a.Int(a.Prop(p, "consolePort"), "params.consolePort", 0, UINT32_MAX));
  uint32_t consoleDomid = a.Domid(a.Prop(p, "consoleDomid"), "params.consoleDomid");
  if (!a.ok()) return a.Reject();
  auto* w = new RestoreWorker(info.Env(), domid);
  w->fd = fd;
  w->storePort = storePort;
  w->storeDomid = storeDomid;
  w->consolePort = consolePort;
  w->consoleDomid = consoleDomid;
  return w->Start();
}

Napi::Value DomainResume(const Napi::CallbackInfo& info) {
  Args a(info, "domainResume");
  uint32_t domid = a.Domid(a.At(0), "domid");
  bool fast = a.Bool(a.At(1), "fast");
  if (!a.ok()) return a.Reject();
  return (new ResumeWorker(info.Env(), domid, fast))->Start();
}

/** pipe2(O_CLOEXEC), synchronously (it never blocks): [readFd, writeFd]. Both ends are blocking. */
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    XenError e;
    e.Set("pipe2", errno);
    MakeNativeError(env, e).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

}  // namespace

void InitSave(Napi::Env env, Napi::Object exports) {
  exports.Set("domainSave", Napi::Function::New(env, DomainSave, "domainSave"));
  exports.Set("domainRestore", Napi::Function::New(env, DomainRestore, "domainRestore"));
  exports.Set("domainResume", Napi::Function::New(env, DomainResume, "domainResume"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
}

}  // namespace lightvm
