// devctl: the noxs hypercall of lightvm's patched Xen (xen-patches/), issued through libxencall; one JS function, no policy.
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "addon.h"
#include "args.h"
#include "handles.h"
#include "worker.h"
#include "xenlibs.h"

// The ABI's one copy (xen-patches/include/noxs.h); it wants the fixed-width types, which xenlibs.h brings.
#include "noxs.h"

namespace lightvm {

namespace {

static_assert(sizeof(struct noxs_dev) == 16, "noxs.h: struct noxs_dev is 16 bytes");
static_assert(sizeof(struct noxs_devctl) == 32, "noxs.h: struct noxs_devctl is 32 bytes");

/**
 * One devctl hypercall. The argument (and DEV_ENUM's buffer) live in libxencall's hypercall buffers:
 * Xen reads and writes them by the caller's virtual address, which must stay mapped and resident
 * during the call, which ordinary heap memory does not promise.
 */
class DevctlWorker : public XenWorker {
 public:
  DevctlWorker(Napi::Env env, const struct noxs_devctl& req, int64_t domid, uint32_t max)
      : XenWorker(env, "devctl", domid), req_(req), max_(max) {}

 private:
  void Run() override {
    xencall_handle* xcall = XencallHandle(&err_);
    if (xcall == nullptr) return;
    auto* arg = static_cast<struct noxs_devctl*>(xencall_alloc_buffer(xcall, sizeof(struct noxs_devctl)));
    if (arg == nullptr) {
      Fail("xencall_alloc_buffer");
      return;
    }
    struct noxs_dev* buf = nullptr;
    size_t bufBytes = static_cast<size_t>(max_) * sizeof(struct noxs_dev);
    if (req_.op == NOXS_DEVCTL_DEV_ENUM && bufBytes > 0) {
      buf = static_cast<struct noxs_dev*>(xencall_alloc_buffer(xcall, bufBytes));
      if (buf == nullptr) {
        Fail("xencall_alloc_buffer");
        xencall_free_buffer(xcall, arg);
        return;
      }
      std::memset(buf, 0, bufBytes);
      req_.u.enumerate.buf = reinterpret_cast<uintptr_t>(buf);
    }
    *arg = req_;
    errno = 0;
    // Xen returns 0 or -errno; libxencall turns a negative return into -1 with errno set.
    if (xencall1(xcall, __HYPERVISOR_devctl, reinterpret_cast<uintptr_t>(arg)) < 0) {
      Fail("devctl");
    } else {
      res_ = *arg;
      // Xen wrote at most min(count, max) entries: never read past what it reports, nor past max.
      if (buf != nullptr) devs_.assign(buf, buf + std::min<uint32_t>(res_.u.enumerate.count, max_));
    }
    if (buf != nullptr) xencall_free_buffer(xcall, buf);
    xencall_free_buffer(xcall, arg);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    if (req_.op == NOXS_DEVCTL_GET) {
      o.Set("frame", Napi::Number::New(env, static_cast<double>(res_.u.get.frame)));
    } else if (req_.op == NOXS_DEVCTL_DEV_ENUM) {
      o.Set("count", Napi::Number::New(env, res_.u.enumerate.count));
      Napi::Array devs = Napi::Array::New(env, devs_.size());
      for (size_t i = 0; i < devs_.size(); i++) {
        Napi::Object d = Napi::Object::New(env);
        d.Set("type", Napi::Number::New(env, devs_[i].type));
        d.Set("id", Napi::Number::New(env, devs_[i].id));
        d.Set("beDomid", Napi::Number::New(env, devs_[i].be_domid));
        d.Set("grant", Napi::Number::New(env, devs_[i].grant));
        d.Set("evtchn", Napi::Number::New(env, devs_[i].evtchn));
        devs.Set(i, d);
      }
      o.Set("devs", devs);
    }
    return o;
  }

  struct noxs_devctl req_;
  struct noxs_devctl res_ {};
  uint32_t max_;
  std::vector<struct noxs_dev> devs_;
};

/**
 * devctl({version, op, domid, dev?, max?}): the fields of struct noxs_devctl, passed through as
 * given (an unknown version or op is Xen's to refuse, so that it can be tested); only their C
 * ranges are checked here. `dev` ({type, id, beDomid, grant, evtchn}) fills the DEV_ADD / DEV_REM
 * entry; `max` (0 .. NOXS_PAGE_MAX_DEVS) sizes DEV_ENUM's buffer.
 */
Napi::Value Devctl(const Napi::CallbackInfo& info) {
  Args a(info, "devctl");
  Napi::Object o = a.Object(0, "request");
  struct noxs_devctl req;
  std::memset(&req, 0, sizeof req);
  req.version = static_cast<uint16_t>(a.Int(a.Prop(o, "version"), "request.version", 0, UINT16_MAX));
  req.op = static_cast<uint16_t>(a.Int(a.Prop(o, "op"), "request.op", 0, UINT16_MAX));
  req.domid = static_cast<uint16_t>(a.Int(a.Prop(o, "domid"), "request.domid", 0, UINT16_MAX));
  uint32_t max = 0;
  Napi::Value dev = a.Prop(o, "dev");
  if (!dev.IsUndefined()) {
    if (!dev.IsObject() || dev.IsArray()) {
      a.TypeError("request.dev must be an object, got " + Describe(dev));
    } else {
      Napi::Object d = dev.As<Napi::Object>();
      req.u.dev.dev.type = static_cast<uint16_t>(a.Int(a.Prop(d, "type"), "request.dev.type", 0, UINT16_MAX));
      req.u.dev.dev.id = static_cast<uint16_t>(a.Int(a.Prop(d, "id"), "request.dev.id", 0, UINT16_MAX));
      req.u.dev.dev.be_domid = static_cast<uint16_t>(a.OptInt(a.Prop(d, "beDomid"), "request.dev.beDomid", 0, UINT16_MAX, 0));
      req.u.dev.dev.grant = static_cast<uint32_t>(a.OptInt(a.Prop(d, "grant"), "request.dev.grant", 0, UINT32_MAX, 0));
      req.u.dev.dev.evtchn = static_cast<uint32_t>(a.OptInt(a.Prop(d, "evtchn"), "request.dev.evtchn", 0, UINT32_MAX, 0));
    }
  }
  Napi::Value maxv = a.Prop(o, "max");
  if (!maxv.IsUndefined()) {
    max = static_cast<uint32_t>(a.Int(maxv, "request.max", 0, NOXS_PAGE_MAX_DEVS));
    if (a.ok() && req.op != NOXS_DEVCTL_DEV_ENUM) a.ValueError("request.max is for DEV_ENUM only");
    if (a.ok() && !dev.IsUndefined()) a.ValueError("request.dev and request.max exclude each other");
    req.u.enumerate.max = max;
  }
  if (!a.ok()) return a.Reject();
  int64_t domid = req.domid < NOXS_DOMID_FIRST_RESERVED ? req.domid : kNoDomid;
  return (new DevctlWorker(info.Env(), req, domid, max))->Start();
}

/** The ABI's numbers, straight from noxs.h, so that JS never keeps a second copy of them. */
Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  c.Set("HYPERCALL", Napi::Number::New(env, __HYPERVISOR_devctl));
  c.Set("VERSION", Napi::Number::New(env, NOXS_DEVCTL_VERSION));
  c.Set("OP_GET", Napi::Number::New(env, NOXS_DEVCTL_GET));
  c.Set("OP_DEV_ADD", Napi::Number::New(env, NOXS_DEVCTL_DEV_ADD));
  c.Set("OP_DEV_REM", Napi::Number::New(env, NOXS_DEVCTL_DEV_REM));
  c.Set("OP_DEV_ENUM", Napi::Number::New(env, NOXS_DEVCTL_DEV_ENUM));
  c.Set("DEV_POWER", Napi::Number::New(env, NOXS_DEV_POWER));
  c.Set("DEV_VIF", Napi::Number::New(env, NOXS_DEV_VIF));
  c.Set("DEV_VBD", Napi::Number::New(env, NOXS_DEV_VBD));
  c.Set("DOMID_SELF", Napi::Number::New(env, NOXS_DOMID_SELF));
  c.Set("PAGE_MAX_DEVS", Napi::Number::New(env, NOXS_PAGE_MAX_DEVS));
  c.Set("PAGE_MAGIC", Napi::Number::New(env, NOXS_PAGE_MAGIC));
  c.Set("PAGE_VERSION", Napi::Number::New(env, NOXS_PAGE_VERSION));
  return c;
}

}  // namespace

void InitDevctl(Napi::Env env, Napi::Object exports) {
  exports.Set("devctl", Napi::Function::New(env, Devctl, "devctl"));
  exports.Set("noxs", Constants(env));
}

}  // namespace lightvm
