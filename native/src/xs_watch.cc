// libxenstore watches: one reader thread takes events off the shared handle and hands them to JS callbacks.
//
// Each xsWatch gets an id and registers with XenStore under the token "<id>:<caller's token>", so the
// reader can route an event to its callback and xsUnwatch can remove exactly that watch; callbacks
// still receive the caller's own token. Events cross to the JS thread through a ThreadSafeFunction
// that is unref'd: a watch never keeps the process alive on its own (a daemon stays up through its
// server; a CLI exits when its work is done, whatever it still watches).

#include <cerrno>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "addon.h"
#include "args.h"
#include "handles.h"
#include "worker.h"
#include "xenlibs.h"

namespace lightvm {

namespace {

struct Watch {
  uint32_t id;
  std::string path, token, wire;  // wire: the token XenStore sees
  Napi::ThreadSafeFunction tsfn;
  napi_env env;
};

struct Event {
  uint32_t id;
  std::string path, token;
};

// Guards the registry and the reader's running flag; held only for map lookups and queueing.
std::mutex mu;
// Allocated once and never freed: the detached reader may still look into it while the process
// exits, after static destructors would have run.
std::map<uint32_t, Watch*>& Registry() {
  static auto* m = new std::map<uint32_t, Watch*>();
  return *m;
}
uint32_t next_id = 1;
bool reader_running = false;

/** Runs on the JS thread. The registry check drops events that were queued before an xsUnwatch. */
void Deliver(Napi::Env env, Napi::Function cb, Event* e) {
  bool live;
  {
    std::lock_guard<std::mutex> lock(mu);
    live = Registry().count(e->id) != 0;
  }
  if (live && env != nullptr && !cb.IsEmpty()) {
    cb.Call({Napi::String::New(env, e->path), Napi::String::New(env, e->token)});
  }
  delete e;
}

/** The reader thread: blocks in xs_read_watch, which wakes for every event on any of our watches. */
void ReaderLoop(struct xs_handle* h) {
  for (;;) {
    unsigned int num = 0;
    char** ev = xs_read_watch(h, &num);
    if (ev == nullptr) {
      if (errno == EINTR || errno == EAGAIN) continue;
      // The connection is gone; the next xsWatch (which needs a working connection) starts a new reader.
      std::lock_guard<std::mutex> lock(mu);
      reader_running = false;
      return;
    }
    if (num > XS_WATCH_TOKEN) {
      char* end = nullptr;
      unsigned long id = strtoul(ev[XS_WATCH_TOKEN], &end, 10);
      if (end != ev[XS_WATCH_TOKEN] && *end == ':') {
        std::lock_guard<std::mutex> lock(mu);
        auto it = Registry().find(static_cast<uint32_t>(id));
        if (it != Registry().end()) {
          auto* e = new Event{it->first, ev[XS_WATCH_PATH], it->second->token};
          // The queue is unbounded, so this never blocks while holding the lock.
          if (it->second->tsfn.NonBlockingCall(e, Deliver) != napi_ok) delete e;
        }
      }
    }
    free(ev);  // one allocation holds the array and its strings
  }
}

/** Takes a watch out of the registry (JS thread); the caller owns it afterwards. */
Watch* Take(uint32_t id) {
  std::lock_guard<std::mutex> lock(mu);
  auto it = Registry().find(id);
  if (it == Registry().end()) return nullptr;
  Watch* w = it->second;
  Registry().erase(it);
  return w;
}

/** At environment teardown: forget the watch so the reader never touches its dying ThreadSafeFunction. */
void OnEnvCleanup(void* arg) {
  auto* w = static_cast<Watch*>(arg);
  Take(w->id);
  delete w;  // Node finalizes the ThreadSafeFunction itself during teardown
}

void Drop(Watch* w) {
  napi_remove_env_cleanup_hook(w->env, OnEnvCleanup, w);
  w->tsfn.Release();
  delete w;
}

class XsWatchWorker : public XenWorker {
 public:
  XsWatchWorker(Napi::Env env, uint32_t id, std::string path, std::string wire)
      : XenWorker(env, "xsWatch"), id_(id), path_(std::move(path)), wire_(std::move(wire)) {}

 private:
  void Run() override {
    struct xs_handle* h = XsHandle(&err_);
    if (h == nullptr) return;
    errno = 0;
    if (!xs_watch(h, path_.c_str(), wire_.c_str())) return Fail("xs_watch", path_);
    std::lock_guard<std::mutex> lock(mu);
    if (!reader_running) {
      // Detached: it lives as long as the connection, and blocks in a library call nothing can interrupt.
      std::thread(ReaderLoop, h).detach();
      reader_running = true;
    }
  }
  void Done(Napi::Env) override {
    if (!err_.failed()) return;
    if (Watch* w = Take(id_)) Drop(w);
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, id_); }

  uint32_t id_;
  std::string path_, wire_;
};

Napi::Value XsWatch(const Napi::CallbackInfo& info) {
  Args a(info, "xsWatch");
  std::string path = a.String(a.At(0), "path", XENSTORE_ABS_PATH_MAX, false);
  std::string token = a.String(a.At(1), "token", 1024);
  Napi::Function cb = a.Function(a.At(2), "onEvent");
  if (!a.ok()) return a.Reject();
  Napi::Env env = info.Env();

  auto* w = new Watch();
  w->path = path;
  w->token = token;
  w->env = env;
  w->tsfn = Napi::ThreadSafeFunction::New(env, cb, "xsWatch", 0, 1);
  w->tsfn.Unref(env);
  {
    std::lock_guard<std::mutex> lock(mu);
    w->id = next_id++;
    if (next_id == 0) next_id = 1;  // 0 is never an id
    w->wire = std::to_string(w->id) + ":" + token;
    // Registered before xs_watch: XenStore fires every new watch once at once, and that event must find it.
    Registry()[w->id] = w;
  }
  // Registered after the ThreadSafeFunction's own hook, so it runs before it (hooks run newest first).
  napi_add_env_cleanup_hook(env, OnEnvCleanup, w);
  return (new XsWatchWorker(env, w->id, w->path, w->wire))->Start();
}

class XsUnwatchWorker : public XenWorker {
 public:
  XsUnwatchWorker(Napi::Env env, std::string path, std::string wire)
      : XenWorker(env, "xsUnwatch"), path_(std::move(path)), wire_(std::move(wire)) {}

 private:
  void Run() override {
    struct xs_handle* h = XsHandle(&err_);
    if (h == nullptr) return;
    errno = 0;
    if (!xs_unwatch(h, path_.c_str(), wire_.c_str())) Fail("xs_unwatch", path_);
  }

  std::string path_, wire_;
};

Napi::Value XsUnwatch(const Napi::CallbackInfo& info) {
  Args a(info, "xsUnwatch");
  uint32_t id = static_cast<uint32_t>(a.Int(a.At(0), "id", 1, UINT32_MAX));
  if (!a.ok()) return a.Reject();
  Napi::Env env = info.Env();
  // Taken out now, on the JS thread: from this call on, no event reaches the callback.
  Watch* w = Take(id);
  if (w == nullptr) {
    XenError e;
    e.Set("xs_unwatch", ENOENT, kNoDomid, "no watch has id " + std::to_string(id));
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(MakeNativeError(env, e).Value());
    return d.Promise();
  }
  std::string path = w->path, wire = w->wire;
  Drop(w);
  return (new XsUnwatchWorker(env, std::move(path), std::move(wire)))->Start();
}

}  // namespace

void InitXsWatch(Napi::Env env, Napi::Object exports) {
  exports.Set("xsWatch", Napi::Function::New(env, XsWatch, "xsWatch"));
  exports.Set("xsUnwatch", Napi::Function::New(env, XsUnwatch, "xsUnwatch"));
}

}  // namespace lightvm
