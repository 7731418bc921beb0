// Kernel uevents: a NETLINK_KOBJECT_UEVENT socket polled on libuv's loop; each datagram goes to JS as bytes, unparsed.
//
// Parsing and every decision (which sender to trust, which events matter) is xendevd's, in
// TypeScript: this file only moves datagrams. The socket is non-blocking and read on the JS thread
// when libuv says it is readable, so no thread-pool thread is tied up waiting for events.

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdint>
#include <map>

#include "addon.h"
#include "args.h"
#include "errors.h"

namespace lightvm {

namespace {

/** Larger than any uevent the kernel sends (UEVENT_BUFFER_SIZE is 2048 bytes of environment). */
constexpr size_t kMaxMessage = 8192;
/** Datagrams read per wake-up at most, so a storm of events cannot starve the rest of the loop. */
constexpr int kBurst = 64;
/** The kernel's uevent multicast group. */
constexpr uint32_t kKernelGroup = 1;

struct Monitor {
  uint32_t id;
  int fd;
  uv_poll_t poll;
  Napi::FunctionReference cb;
  Napi::AsyncContext* ctx;
  napi_env env;
  bool closing = false;
};

std::map<uint32_t, Monitor*>& Monitors() {
  static auto* m = new std::map<uint32_t, Monitor*>();
  return *m;
}
uint32_t next_id = 1;

/** Calls the JS callback as (kind, data, senderPid): kind "message" with data, or "overflow"/"error" with an errno name. */
void Emit(Monitor* m, const char* kind, Napi::Value data, int64_t sender) {
  Napi::Env env(m->env);
  Napi::HandleScope scope(env);
  m->cb.MakeCallback(env.Global(), {Napi::String::New(env, kind), data, Napi::Number::New(env, static_cast<double>(sender))},
                     *m->ctx);
  // A throw in the handler is the process's uncaught exception, as for any other event source.
  if (env.IsExceptionPending()) {
    Napi::Error err = env.GetAndClearPendingException();
    napi_fatal_exception(env, err.Value());
  }
}

void OnClosed(uv_handle_t* h) {
  auto* m = static_cast<Monitor*>(h->data);
  close(m->fd);
  delete m->ctx;
  m->cb.Reset();
  delete m;
}

void Stop(Monitor* m) {
  if (m->closing) return;
  m->closing = true;
  Monitors().erase(m->id);
  uv_poll_stop(&m->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&m->poll), OnClosed);
}

void OnReadable(uv_poll_t* p, int status, int) {
  auto* m = static_cast<Monitor*>(p->data);
  if (m->closing) return;
  Napi::Env env(m->env);
  if (status < 0) {
    Napi::HandleScope scope(env);
    Emit(m, "error", Napi::String::New(env, uv_err_name(status)), -1);
    return;
  }
  static uint8_t buf[kMaxMessage];
  for (int i = 0; i < kBurst && !m->closing; i++) {
    struct sockaddr_nl from = {};
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr msg = {};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t n = recvmsg(m->fd, &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      Napi::HandleScope scope(env);
      // ENOBUFS: the kernel dropped events because we were slow; the reader must rescan what it tracks.
      Emit(m, errno == ENOBUFS ? "overflow" : "error", Napi::String::New(env, ErrnoName(errno)), -1);
      if (errno == ENOBUFS) continue;
      return;
    }
    // A datagram longer than the buffer is cut short; it is dropped whole rather than half-parsed.
    if ((msg.msg_flags & MSG_TRUNC) != 0) continue;
    // Only a netlink sender can be told apart; anything else is reported as pid -1 (untrusted).
    int64_t sender = msg.msg_namelen >= sizeof(from) && from.nl_family == AF_NETLINK ? static_cast<int64_t>(from.nl_pid) : -1;
    Napi::HandleScope scope(env);
    Emit(m, "message", Napi::Buffer<uint8_t>::Copy(env, buf, static_cast<size_t>(n)), sender);
  }
}

void OnEnvCleanup(void* arg) {
  auto* m = static_cast<Monitor*>(arg);
  if (!m->closing) {
    m->closing = true;
    Monitors().erase(m->id);
    uv_poll_stop(&m->poll);
    close(m->fd);
    m->fd = -1;
  }
}

/** ueventOpen(onEvent): opens, binds and starts polling a uevent socket; returns its id. Throws a NativeError. */
Napi::Value UeventOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(env, "ueventOpen: onEvent must be a function").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  XenError e;
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
  if (fd < 0) {
    e.Set("socket", errno, kNoDomid, "NETLINK_KOBJECT_UEVENT");
    MakeNativeError(env, e).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // A large receive buffer rides out bursts (many guests made at once); FORCE needs CAP_NET_ADMIN.
  int size = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
  struct sockaddr_nl addr = {};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = kKernelGroup;
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0) {
    e.Set("bind", errno, kNoDomid, "NETLINK_KOBJECT_UEVENT group 1");
    close(fd);
    MakeNativeError(env, e).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    close(fd);
    Napi::Error::New(env, "ueventOpen: no libuv loop").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* m = new Monitor();
  m->fd = fd;
  m->env = env;
  m->cb = Napi::Persistent(info[0].As<Napi::Function>());
  m->ctx = new Napi::AsyncContext(env, "ueventMonitor");
  int r = uv_poll_init(loop, &m->poll, fd);
  if (r == 0) {
    m->poll.data = m;
    r = uv_poll_start(&m->poll, UV_READABLE, OnReadable);
    if (r != 0) {
      m->closing = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&m->poll), OnClosed);
    }
  } else {
    close(fd);
    delete m->ctx;
    delete m;
  }
  if (r != 0) {
    e.Set("uv_poll_start", -r);
    MakeNativeError(env, e).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  m->id = next_id++;
  Monitors()[m->id] = m;
  napi_add_env_cleanup_hook(env, OnEnvCleanup, m);
  return Napi::Number::New(env, m->id);
}

/** ueventClose(id): stops polling and closes the socket; no event is delivered afterwards. */
Napi::Value UeventClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "ueventClose: id must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto it = Monitors().find(info[0].As<Napi::Number>().Uint32Value());
  if (it == Monitors().end()) {
    XenError e;
    e.Set("ueventClose", ENOENT, kNoDomid, "no uevent socket has that id");
    MakeNativeError(env, e).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Monitor* m = it->second;
  napi_remove_env_cleanup_hook(env, OnEnvCleanup, m);
  Stop(m);
  return env.Undefined();
}

}  // namespace

void InitUevent(Napi::Env env, Napi::Object exports) {
  exports.Set("ueventOpen", Napi::Function::New(env, UeventOpen, "ueventOpen"));
  exports.Set("ueventClose", Napi::Function::New(env, UeventClose, "ueventClose"));
}

}  // namespace lightvm
