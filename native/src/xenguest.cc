// libxenguest: the PV domain builder chain (image, memory, page tables, start info, grants) as one call.
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "args.h"
#include "handles.h"
#include "worker.h"
#include "xenlibs.h"

namespace lightvm {

namespace {

/** A kernel or ramdisk: a path libxenguest opens, or bytes the caller already has. */
struct Image {
  bool present = false;
  std::string path;
  std::vector<uint8_t> bytes;  // owned here: libxenguest keeps a pointer to it until xc_dom_release
  bool inMemory() const { return path.empty(); }
};

/** libxc prefixes builder failures with "panic: <file>:<line>: "; the rest is the sentence worth keeping. */
std::string TrimPanic(const char* msg) {
  std::string m(msg);
  const std::string panic = "panic: ";
  if (m.compare(0, panic.size(), panic) != 0) return m;
  m.erase(0, panic.size());
  size_t colon = m.find(": ");
  // Only drop what looks like "file.c:123": a source location, not part of the message.
  if (colon != std::string::npos && m.find(".c:") < colon) m.erase(0, colon + 2);
  return m;
}

class BuildPvWorker : public XenWorker {
 public:
  BuildPvWorker(Napi::Env env, uint32_t domid) : XenWorker(env, "buildPv", domid), dom_id_(domid) {}

  Image kernel, ramdisk;
  std::string cmdline, features;
  unsigned int memMiB = 0, maxVcpus = 0;
  unsigned int consolePort = 0, storePort = 0;
  uint32_t consoleDomid = 0, storeDomid = 0;

 private:
  void Run() override {
    last_ = Clock::now();
    xch_ = XcHandle(&err_);
    if (xch_ == nullptr) return;
    // libxc keeps one last error per handle, not per thread: a build failing at the same time on
    // another worker could overwrite the message (never the errno) this worker reports.
    xc_clear_last_error(xch_);
    errno = 0;
    struct xc_dom_image* dom = xc_dom_allocate(xch_, cmdline.c_str(), features.empty() ? nullptr : features.c_str());
    if (dom == nullptr) return StepFailed("xc_dom_allocate");
    Build(dom);
    xc_dom_release(dom);
  }

  void Build(struct xc_dom_image* dom) {
    dom->container_type = xc_dom_image::XC_DOM_PV_CONTAINER;
    if (kernel.inMemory()) {
      if (!Step("xc_dom_kernel_mem", xc_dom_kernel_mem(dom, kernel.bytes.data(), kernel.bytes.size()))) return;
    } else {
      if (!Step("xc_dom_kernel_file", xc_dom_kernel_file(dom, kernel.path.c_str()))) return;
    }
    if (ramdisk.present) {
      if (ramdisk.inMemory()) {
        if (!Step("xc_dom_module_mem", xc_dom_module_mem(dom, ramdisk.bytes.data(), ramdisk.bytes.size(), nullptr))) return;
      } else {
        if (!Step("xc_dom_module_file", xc_dom_module_file(dom, ramdisk.path.c_str(), nullptr))) return;
      }
    }
    dom->console_evtchn = consolePort;
    dom->console_domid = consoleDomid;
    dom->xenstore_evtchn = storePort;
    dom->xenstore_domid = storeDomid;
    dom->max_vcpus = maxVcpus;
    // Each step runs only if the previous one succeeded; the error names the one that failed.
    // Each is timed (stepsMs), so that callers can see where a build's time goes.
    if (!Step("xc_dom_boot_xen_init", xc_dom_boot_xen_init(dom, xch_, dom_id_))) return;
    if (!Step("xc_dom_parse_image", xc_dom_parse_image(dom))) return;
    if (!Step("xc_dom_mem_init", xc_dom_mem_init(dom, memMiB))) return;
    if (!Step("xc_dom_boot_mem_init", xc_dom_boot_mem_init(dom))) return;
    if (!Step("xc_dom_build_image", xc_dom_build_image(dom))) return;
    if (!Step("xc_dom_boot_image", xc_dom_boot_image(dom))) return;
    if (!Step("xc_dom_gnttab_init", xc_dom_gnttab_init(dom))) return;
    // The p2m lives in `dom`: translate the ring frames before xc_dom_release frees it.
    consoleMfn_ = xc_dom_p2m(dom, dom->console_pfn);
    storeMfn_ = xc_dom_p2m(dom, dom->xenstore_pfn);
    const char* os = xc_dom_guest_os(dom);
    guestOs_ = os != nullptr ? os : "";
  }

  /** True if rc says the step worked; otherwise records the failure. errno is cleared before the next step. */
  bool Step(const char* call, int rc) {
    Clock::time_point now = Clock::now();
    steps_.push_back({call, std::chrono::duration<double, std::milli>(now - last_).count()});
    last_ = now;
    if (rc == 0) {
      errno = 0;
      return true;
    }
    StepFailed(call);
    return false;
  }

  void StepFailed(const char* call) {
    int e = errno;
    std::string detail;
    int code = XC_ERROR_NONE;
    const xc_error* last = xc_get_last_error(xch_);
    if (last != nullptr && last->code != XC_ERROR_NONE) {
      code = last->code;
      detail = TrimPanic(last->message);
    }
    // The builder reports a bad image through libxc's error code, often leaving errno untouched or
    // stale: ENOEXEC ("Exec format error") is the errno that says "not a kernel Xen can boot".
    if (code == XC_INVALID_KERNEL) {
      e = ENOEXEC;
    } else if (e == 0) {
      e = code == XC_OUT_OF_MEMORY ? ENOMEM : code == XC_INVALID_PARAM ? EINVAL : EIO;
    }
    err_.Set(call, e, dom_id_, detail);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("consoleMfn", static_cast<double>(consoleMfn_));
    o.Set("storeMfn", static_cast<double>(storeMfn_));
    o.Set("guestOs", guestOs_);
    // Milliseconds each libxenguest call took, by call name, in the order they ran (the kernel's
    // load step also holds the handle's opening and xc_dom_allocate).
    Napi::Object steps = Napi::Object::New(env);
    for (const auto& s : steps_) steps.Set(s.first, s.second);
    o.Set("stepsMs", steps);
    return o;
  }

  using Clock = std::chrono::steady_clock;
  uint32_t dom_id_;
  Clock::time_point last_;
  std::vector<std::pair<const char*, double>> steps_;
  xc_interface* xch_ = nullptr;
  xen_pfn_t consoleMfn_ = 0, storeMfn_ = 0;
  std::string guestOs_;
};

/** A kernel or ramdisk argument: a non-empty path, or a Buffer no larger than libxenguest accepts. */
Image ImageArg(Args& a, const Napi::Value& v, const char* name) {
  Image img;
  img.present = true;
  if (v.IsString()) {
    img.path = a.String(v, name, PATH_MAX - 1, false);
  } else if (v.IsBuffer()) {
    img.bytes = a.Bytes(v, name, XC_DOM_DECOMPRESS_MAX);
    if (a.ok() && img.bytes.empty()) a.ValueError(std::string(name) + " must not be an empty Buffer");
  } else {
    a.TypeError(std::string(name) + " must be a file path or a Buffer, got " + Describe(v));
  }
  return img;
}

Napi::Value BuildPv(const Napi::CallbackInfo& info) {
  Args a(info, "buildPv");
  Napi::Object p = a.Object(0, "params");
  uint32_t domid = a.Domid(a.Prop(p, "domid"), "params.domid");
  Image kernel = ImageArg(a, a.Prop(p, "kernel"), "params.kernel");
  Image ramdisk;
  Napi::Value rd = a.Prop(p, "ramdisk");
  if (!rd.IsUndefined()) ramdisk = ImageArg(a, rd, "params.ramdisk");
  // The start info page holds MAX_GUEST_CMDLINE bytes with the NUL; libxc would silently cut a longer one.
  std::string cmdline = a.String(a.Prop(p, "cmdline"), "params.cmdline", MAX_GUEST_CMDLINE - 1);
  unsigned int memMiB = static_cast<unsigned int>(a.Int(a.Prop(p, "memMiB"), "params.memMiB", 1, 1 << 24));
  unsigned int maxVcpus = static_cast<unsigned int>(a.Int(a.Prop(p, "maxVcpus"), "params.maxVcpus", 1, 0xffff));
  unsigned int consolePort = static_cast<unsigned int>(a.Int(a.Prop(p, "consolePort"), "params.consolePort", 0, UINT32_MAX));
  uint32_t consoleDomid = a.Domid(a.Prop(p, "consoleDomid"), "params.consoleDomid");
  unsigned int storePort = static_cast<unsigned int>(a.Int(a.Prop(p, "storePort"), "params.storePort", 0, UINT32_MAX));
  uint32_t storeDomid = a.Domid(a.Prop(p, "storeDomid"), "params.storeDomid");
  std::string features;
  Napi::Value f = a.Prop(p, "features");
  if (!f.IsUndefined()) features = a.String(f, "params.features", 1024);
  // Where the build runs is the caller's choice: libuv's thread pool (the default), or this thread
  // when the caller has nothing else to do meanwhile and the hop to the pool would cost more.
  Napi::Value h = a.Prop(p, "onCallingThread");
  bool here = !h.IsUndefined() && a.Bool(h, "params.onCallingThread");
  if (!a.ok()) return a.Reject();

  auto* w = new BuildPvWorker(info.Env(), domid);
  w->kernel = std::move(kernel);
  w->ramdisk = std::move(ramdisk);
  w->cmdline = std::move(cmdline);
  w->features = std::move(features);
  w->memMiB = memMiB;
  w->maxVcpus = maxVcpus;
  w->consolePort = consolePort;
  w->consoleDomid = consoleDomid;
  w->storePort = storePort;
  w->storeDomid = storeDomid;
  return here ? w->StartHere() : w->Start();
}

}  // namespace

void InitXenguest(Napi::Env env, Napi::Object exports) {
  exports.Set("buildPv", Napi::Function::New(env, BuildPv, "buildPv"));
}

}  // namespace lightvm
