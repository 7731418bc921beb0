// The base of every call that touches Xen: runs on libuv's thread pool (or, if short, on the JS thread) and settles a promise on the JS thread.
#ifndef LIGHTVM_NATIVE_WORKER_H
#define LIGHTVM_NATIVE_WORKER_H

#include <napi.h>

#include <cerrno>
#include <string>

#include "errors.h"

namespace lightvm {

/**
 * Run() executes off the JS thread (no Napi calls there) and records a failure in err_; the promise
 * then resolves with Result() or rejects with a NativeError built from err_. Napi::AsyncWorker's own
 * string error is not used: it cannot carry errno, call and domid.
 */
class XenWorker : public Napi::AsyncWorker {
 public:
  /** `domid` (or kNoDomid) is stamped on any error, also when opening a handle is what failed. */
  XenWorker(Napi::Env env, const char* name, int64_t domid = kNoDomid)
      : Napi::AsyncWorker(env, name), domid_(domid), deferred_(Napi::Promise::Deferred::New(env)) {}

  /** Queues the worker (which deletes itself when done) and returns its promise. */
  Napi::Value Start() {
    Napi::Promise p = deferred_.Promise();
    Queue();
    return p;
  }

  /**
   * Runs the call here, on the JS thread, and returns its promise already settled (the worker deletes
   * itself). For calls that take Xen microseconds and cannot block: in the lab's emulated dom0 the hop
   * to the thread pool and back costs milliseconds, more than such a call (docs/chaosd.md).
   */
  Napi::Value StartHere() {
    Napi::Promise p = deferred_.Promise();
    Run();
    OnOK();
    delete this;
    return p;
  }

 protected:
  virtual void Run() = 0;
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }
  /** Runs on the JS thread after Run(), success or not, before the promise settles. */
  virtual void Done(Napi::Env) {}

  /** Records a failure of `call` with the current errno, for this worker's domain. */
  void Fail(const char* call, std::string detail = {}) { err_.Set(call, errno, domid_, std::move(detail)); }

  const int64_t domid_;
  XenError err_;

 private:
  void Execute() override { Run(); }
  void OnOK() override {
    Napi::Env env = Env();
    Done(env);
    if (err_.failed()) {
      if (err_.domid == kNoDomid) err_.domid = domid_;
      deferred_.Reject(MakeNativeError(env, err_).Value());
    } else {
      deferred_.Resolve(Result(env));
    }
  }

  Napi::Promise::Deferred deferred_;
};

}  // namespace lightvm

#endif
