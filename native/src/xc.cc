// libxenctrl: one JS function per call (version, physinfo, domain create/limits/pause/destroy, domain list, event channels).
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "addon.h"
#include "args.h"
#include "handles.h"
#include "uuid.h"
#include "worker.h"
#include "xenlibs.h"

namespace lightvm {

namespace {

/** A libxenctrl call that returns -1 with errno on failure; resolves with undefined or the call's value. */
class XcCall : public XenWorker {
 public:
  using Fn = std::function<int(xc_interface*)>;
  XcCall(Napi::Env env, const char* call, int64_t domid, bool returnsValue, Fn fn)
      : XenWorker(env, call, domid), call_(call), returnsValue_(returnsValue), fn_(std::move(fn)) {}

 private:
  void Run() override {
    xc_interface* xch = XcHandle(&err_);
    if (xch == nullptr) return;
    errno = 0;
    value_ = fn_(xch);
    if (value_ < 0) Fail(call_);
  }
  Napi::Value Result(Napi::Env env) override {
    return returnsValue_ ? Napi::Value(Napi::Number::New(env, value_)) : env.Undefined();
  }

  const char* call_;
  bool returnsValue_;
  Fn fn_;
  int value_ = 0;
};

Napi::Value Queue(Napi::Env env, const char* call, int64_t domid, XcCall::Fn fn, bool returnsValue = false) {
  return (new XcCall(env, call, domid, returnsValue, std::move(fn)))->Start();
}

/** A call Xen answers at once (a domctl that only sets or reads a field): made here, its promise settled. */
Napi::Value Now(Napi::Env env, const char* call, int64_t domid, XcCall::Fn fn, bool returnsValue = false) {
  return (new XcCall(env, call, domid, returnsValue, std::move(fn)))->StartHere();
}

// ---- host ----

class VersionWorker : public XenWorker {
 public:
  explicit VersionWorker(Napi::Env env) : XenWorker(env, "xc_version") {}

 private:
  void Run() override {
    xc_interface* xch = XcHandle(&err_);
    if (xch == nullptr) return;
    errno = 0;
    int v = xc_version(xch, XENVER_version, nullptr);
    if (v < 0) return Fail("xc_version", "XENVER_version");
    major_ = v >> 16;
    minor_ = v & 0xffff;
    // Xen fills fixed-size arrays and may use every byte: strnlen bounds the string to the array.
    xen_extraversion_t extra;
    std::memset(extra, 0, sizeof extra);
    if (xc_version(xch, XENVER_extraversion, &extra) < 0) return Fail("xc_version", "XENVER_extraversion");
    extra_.assign(extra, strnlen(extra, sizeof extra));
    std::vector<char> caps(sizeof(xen_capabilities_info_t), 0);
    if (xc_version(xch, XENVER_capabilities, caps.data()) < 0) return Fail("xc_version", "XENVER_capabilities");
    caps_.assign(caps.data(), strnlen(caps.data(), caps.size()));
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("major", major_);
    o.Set("minor", minor_);
    o.Set("extra", extra_);
    o.Set("capabilities", caps_);
    return o;
  }

  int major_ = 0, minor_ = 0;
  std::string extra_, caps_;
};

Napi::Value Version(const Napi::CallbackInfo& info) {
  return (new VersionWorker(info.Env()))->StartHere();
}

class PhysinfoWorker : public XenWorker {
 public:
  explicit PhysinfoWorker(Napi::Env env) : XenWorker(env, "xc_physinfo") { std::memset(&pi_, 0, sizeof pi_); }

 private:
  void Run() override {
    xc_interface* xch = XcHandle(&err_);
    if (xch == nullptr) return;
    errno = 0;
    if (xc_physinfo(xch, &pi_) < 0) Fail("xc_physinfo");
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("nrCpus", pi_.nr_cpus);
    o.Set("cpuKHz", pi_.cpu_khz);
    o.Set("totalPages", static_cast<double>(pi_.total_pages));
    o.Set("freePages", static_cast<double>(pi_.free_pages));
    o.Set("scrubPages", static_cast<double>(pi_.scrub_pages));
    static const struct { uint32_t bit; const char* name; } kCaps[] = {
        {XEN_SYSCTL_PHYSCAP_hvm, "hvm"},
        {XEN_SYSCTL_PHYSCAP_pv, "pv"},
        {XEN_SYSCTL_PHYSCAP_directio, "directio"},
        {XEN_SYSCTL_PHYSCAP_hap, "hap"},
        {XEN_SYSCTL_PHYSCAP_shadow, "shadow"},
        {XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share, "iommu_hap_pt_share"},
        {XEN_SYSCTL_PHYSCAP_vmtrace, "vmtrace"},
        {XEN_SYSCTL_PHYSCAP_vpmu, "vpmu"},
        {XEN_SYSCTL_PHYSCAP_gnttab_v1, "gnttab_v1"},
        {XEN_SYSCTL_PHYSCAP_gnttab_v2, "gnttab_v2"},
    };
    Napi::Array caps = Napi::Array::New(env);
    uint32_t n = 0;
    for (const auto& c : kCaps) {
      if (pi_.capabilities & c.bit) caps.Set(n++, c.name);
    }
    o.Set("capabilities", caps);
    return o;
  }

  xc_physinfo_t pi_;
};

Napi::Value Physinfo(const Napi::CallbackInfo& info) {
  return (new PhysinfoWorker(info.Env()))->StartHere();
}

// ---- domain creation and limits ----

class DomainCreateWorker : public XenWorker {
 public:
  DomainCreateWorker(Napi::Env env, uint32_t domid, const struct xen_domctl_createdomain& cfg)
      : XenWorker(env, "xc_domain_create", domid != 0 ? domid : kNoDomid), domid_in_(domid), cfg_(cfg) {}

 private:
  void Run() override {
    xc_interface* xch = XcHandle(&err_);
    if (xch == nullptr) return;
    errno = 0;
    if (xc_domain_create(xch, &domid_in_, &cfg_) < 0) Fail("xc_domain_create");
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, domid_in_); }

  uint32_t domid_in_;  // in: wanted id or 0; out: the id Xen gave
  struct xen_domctl_createdomain cfg_;
};

Napi::Value DomainCreate(const Napi::CallbackInfo& info) {
  Args a(info, "domainCreate");
  Napi::Object p = a.Object(0, "params");
  struct xen_domctl_createdomain cfg;
  std::memset(&cfg, 0, sizeof cfg);
  std::string handle = a.String(a.Prop(p, "handle"), "params.handle", 64);
  if (a.ok() && !ParseUuid(handle, cfg.handle)) {
    a.ValueError("params.handle must be a UUID like 5f0c5e0e-8d1c-4a53-9d2a-3b7a1c7e2f10, got \"" + handle + "\"");
  }
  cfg.max_vcpus = static_cast<uint32_t>(a.Int(a.Prop(p, "maxVcpus"), "params.maxVcpus", 1, 0xffff));
  // Xen reads max_evtchn_port as unsigned and caps it: -1 means as many as Xen allows.
  cfg.max_evtchn_port =
      static_cast<uint32_t>(a.OptInt(a.Prop(p, "maxEvtchnPort"), "params.maxEvtchnPort", -1, UINT32_MAX, -1));
  // Negative grant limits mean Xen's default (domctl.h).
  cfg.max_grant_frames =
      static_cast<int32_t>(a.Int(a.Prop(p, "maxGrantFrames"), "params.maxGrantFrames", -1, INT32_MAX));
  cfg.max_maptrack_frames =
      static_cast<int32_t>(a.Int(a.Prop(p, "maxMaptrackFrames"), "params.maxMaptrackFrames", -1, INT32_MAX));
  cfg.flags = static_cast<uint32_t>(a.OptInt(a.Prop(p, "flags"), "params.flags", 0, UINT32_MAX, 0));
  cfg.ssidref = static_cast<uint32_t>(a.OptInt(a.Prop(p, "ssidref"), "params.ssidref", 0, UINT32_MAX, 0));
  uint32_t domid = static_cast<uint32_t>(a.OptInt(a.Prop(p, "domid"), "params.domid", 0, kMaxDomid, 0));
  if (!a.ok()) return a.Reject();
  // Grant table v1: the version every PV guest here speaks (XEN_DOMCTL_GRANT_version caps the
  // version a guest may switch to).
  cfg.grant_opts = XEN_DOMCTL_GRANT_version(1);
  cfg.arch.emulation_flags = 0;  // PV: Xen emulates no platform devices
  cfg.cpupool_id = 0;
  // domid 0 asks Xen to pick a free id (domctl.h: 0 or >= DOMID_FIRST_RESERVED auto-allocates).
  return (new DomainCreateWorker(info.Env(), domid, cfg))->Start();
}

Napi::Value DomainMaxVcpus(const Napi::CallbackInfo& info) {
  Args a(info, "domainMaxVcpus");
  uint32_t domid = a.Domid(a.At(0), "domid");
  unsigned int max = static_cast<unsigned int>(a.Int(a.At(1), "max", 1, 0xffff));
  if (!a.ok()) return a.Reject();
  return Now(info.Env(), "xc_domain_max_vcpus", domid,
               [=](xc_interface* xch) { return xc_domain_max_vcpus(xch, domid, max); });
}

Napi::Value DomainSetMaxMem(const Napi::CallbackInfo& info) {
  Args a(info, "domainSetMaxMem");
  uint32_t domid = a.Domid(a.At(0), "domid");
  uint64_t kib = a.Uint(a.At(1), "kib", kMaxSafeInt);
  if (!a.ok()) return a.Reject();
  return Now(info.Env(), "xc_domain_setmaxmem", domid,
               [=](xc_interface* xch) { return xc_domain_setmaxmem(xch, domid, kib); });
}

Napi::Value DomainSetMemmapLimit(const Napi::CallbackInfo& info) {
  Args a(info, "domainSetMemmapLimit");
  uint32_t domid = a.Domid(a.At(0), "domid");
  unsigned long kib = static_cast<unsigned long>(a.Uint(a.At(1), "kib", kMaxSafeInt));
  if (!a.ok()) return a.Reject();
  return Now(info.Env(), "xc_domain_set_memmap_limit", domid,
               [=](xc_interface* xch) { return xc_domain_set_memmap_limit(xch, domid, kib); });
}

// ---- vCPU affinity ----

class AffinityWorker : public XenWorker {
 public:
  AffinityWorker(Napi::Env env, uint32_t domid, int vcpu, std::vector<int> cpus)
      : XenWorker(env, "xc_vcpu_setaffinity", domid), dom_(domid), vcpu_(vcpu), cpus_(std::move(cpus)) {}

 private:
  void Run() override {
    xc_interface* xch = XcHandle(&err_);
    if (xch == nullptr) return;
    errno = 0;
    int max = xc_get_max_cpus(xch);
    if (max <= 0) return Fail("xc_get_max_cpus");
    for (int c : cpus_) {
      if (c >= max) {
        // Checked here rather than at the JS edge: only Xen knows how many CPUs it supports.
        err_.Set("xc_vcpu_setaffinity", EINVAL, dom_,
                 "cpu " + std::to_string(c) + " is not below the " + std::to_string(max) + " CPUs Xen supports");
        return;
      }
    }
    // Both maps are sized by libxc for `max` CPUs, so every index checked above lies inside them.
    xc_cpumap_t hard = xc_cpumap_alloc(xch);
    xc_cpumap_t soft = xc_cpumap_alloc(xch);  // unused with XEN_VCPUAFFINITY_HARD, but libxc bounces both
    if (hard == nullptr || soft == nullptr) {
      Fail("xc_cpumap_alloc");
    } else {
      for (int c : cpus_) xc_cpumap_setcpu(c, hard);
      errno = 0;
      if (xc_vcpu_setaffinity(xch, dom_, vcpu_, hard, soft, XEN_VCPUAFFINITY_HARD) < 0) Fail("xc_vcpu_setaffinity");
    }
    free(hard);
    free(soft);
  }

  uint32_t dom_;
  int vcpu_;
  std::vector<int> cpus_;
};

Napi::Value VcpuSetAffinity(const Napi::CallbackInfo& info) {
  Args a(info, "vcpuSetAffinity");
  uint32_t domid = a.Domid(a.At(0), "domid");
  int vcpu = static_cast<int>(a.Int(a.At(1), "vcpu", 0, 0xffff));
  std::vector<int> cpus;
  if (a.ok() && !a.At(2).IsArray()) a.TypeError("cpus must be an array of CPU numbers, got " + Describe(a.At(2)));
  if (a.ok()) {
    Napi::Array arr = a.At(2).As<Napi::Array>();
    if (arr.Length() == 0) a.ValueError("cpus must name at least one CPU");
    for (uint32_t i = 0; a.ok() && i < arr.Length(); i++) {
      std::string name = "cpus[" + std::to_string(i) + "]";
      cpus.push_back(static_cast<int>(a.Int(arr.Get(i), name.c_str(), 0, 0xffff)));
    }
  }
  if (!a.ok()) return a.Reject();
  return (new AffinityWorker(info.Env(), domid, vcpu, std::move(cpus)))->Start();
}

// ---- domain state ----

Napi::Value DomainPause(const Napi::CallbackInfo& info) {
  Args a(info, "domainPause");
  uint32_t domid = a.Domid(a.At(0), "domid");
  if (!a.ok()) return a.Reject();
  return Now(info.Env(), "xc_domain_pause", domid, [=](xc_interface* xch) { return xc_domain_pause(xch, domid); });
}

Napi::Value DomainUnpause(const Napi::CallbackInfo& info) {
  Args a(info, "domainUnpause");
  uint32_t domid = a.Domid(a.At(0), "domid");
  if (!a.ok()) return a.Reject();
  return Now(info.Env(), "xc_domain_unpause", domid,
               [=](xc_interface* xch) { return xc_domain_unpause(xch, domid); });
}

Napi::Value DomainShutdown(const Napi::CallbackInfo& info) {
  Args a(info, "domainShutdown");
  uint32_t domid = a.Domid(a.At(0), "domid");
  int reason = static_cast<int>(a.Int(a.At(1), "reason", 0, SHUTDOWN_MAX));
  if (!a.ok()) return a.Reject();
  return Now(info.Env(), "xc_domain_shutdown", domid,
               [=](xc_interface* xch) { return xc_domain_shutdown(xch, domid, reason); });
}

Napi::Value DomainDestroy(const Napi::CallbackInfo& info) {
  Args a(info, "domainDestroy");
  uint32_t domid = a.Domid(a.At(0), "domid");
  if (!a.ok()) return a.Reject();
  return Queue(info.Env(), "xc_domain_destroy", domid,
               [=](xc_interface* xch) { return xc_domain_destroy(xch, domid); });
}

// ---- domain list ----

// libxc's xc_domain_getinfolist bounces the list through a hypercall buffer it allocates at each
// call, and libxencall keeps only one-page buffers between calls: a list of more than 36 domains
// (112 bytes each) maps and unmaps fresh hypercall pages every time. In the lab's dom0 that cost
// 1.1 ms at 500 domains against 0.3 ms for the same sysctl made from a buffer kept between calls,
// which is what this does: one buffer per thread (the JS thread and libuv's pool each call it),
// grown to the largest list asked for up to kInfoChunk entries; longer lists are read in chunks.
constexpr unsigned int kInfoChunk = 4096;

struct InfoListArena {
  void* mem = nullptr;
  size_t pages = 0;
};
thread_local InfoListArena tlInfoArena;

// Up to `max` domains from `first` on, into `out` (room for `max`); the count, or -1 with `err` set.
int GetInfoList(uint32_t first, unsigned int max, xc_domaininfo_t* out, XenError* err) {
  xencall_handle* xcall = XencallHandle(err);
  if (xcall == nullptr) return -1;
  unsigned int done = 0;
  while (done < max) {
    unsigned int want = std::min(max - done, kInfoChunk);
    // The sysctl argument in the first page, the list after it.
    size_t pages = 1 + (static_cast<size_t>(want) * sizeof(xc_domaininfo_t) + XC_PAGE_SIZE - 1) / XC_PAGE_SIZE;
    InfoListArena& a = tlInfoArena;
    if (a.pages < pages) {
      if (a.mem != nullptr) xencall_free_buffer_pages(xcall, a.mem, a.pages);
      a.mem = xencall_alloc_buffer_pages(xcall, pages);
      a.pages = a.mem != nullptr ? pages : 0;
      if (a.mem == nullptr) { err->Set("xencall_alloc_buffer_pages", errno); return -1; }
    }
    auto* sc = static_cast<struct xen_sysctl*>(a.mem);
    auto* list = reinterpret_cast<xc_domaininfo_t*>(static_cast<uint8_t*>(a.mem) + XC_PAGE_SIZE);
    memset(sc, 0, sizeof(*sc));
    sc->cmd = XEN_SYSCTL_getdomaininfolist;
    sc->interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    sc->u.getdomaininfolist.first_domain = static_cast<domid_t>(first);
    sc->u.getdomaininfolist.max_domains = want;
    sc->u.getdomaininfolist.buffer.p = list;
    errno = 0;
    if (xencall1(xcall, __HYPERVISOR_sysctl, reinterpret_cast<uintptr_t>(sc)) < 0) { err->Set("xc_domain_getinfolist", errno); return -1; }
    // Xen never reports more than it was asked for; checked all the same, as the count sizes a copy.
    unsigned int n = std::min(sc->u.getdomaininfolist.num_domains, want);
    memcpy(out + done, list, static_cast<size_t>(n) * sizeof(xc_domaininfo_t));
    done += n;
    if (n < want || n == 0) break;
    first = list[n - 1].domain + 1;
    if (first > kMaxDomid) break;
  }
  return static_cast<int>(done);
}

// The list is packed into one buffer, kInfoRecordBytes per domain, and decoded in TypeScript
// (toolstack/xen/info-list.ts): building one JS object per domain here cost about 0.2 ms a domain
// under the lab's emulated CPU (16 property sets through N-API each), 200 ms a list at 1000 domains.
// Record layout (the host's byte order: little-endian on x86): u32 domid; u32 state (bit 0 dying, 1 crashed,
// 2 shutdown, 3 paused, 4 blocked, 5 running, 6 hvm; bits 8-15 the shutdown reason); f64 pages held;
// f64 max KiB; f64 CPU time ns; u32 online vCPUs; u32 highest vCPU id; u32 cpupool; u32 ssidref;
// 16 bytes handle.
constexpr size_t kInfoRecordBytes = 64;

class InfoListWorker : public XenWorker {
 public:
  InfoListWorker(Napi::Env env, uint32_t first, unsigned int max)
      : XenWorker(env, "xc_domain_getinfolist"), first_(first), infos_(max) {}

 private:
  void Run() override {
    int n = GetInfoList(first_, static_cast<unsigned int>(infos_.size()), infos_.data(), &err_);
    if (n < 0) return;
    packed_.assign(static_cast<size_t>(n) * kInfoRecordBytes, 0);
    for (size_t i = 0; i < static_cast<size_t>(n); i++) Pack(infos_[i], packed_.data() + i * kInfoRecordBytes);
  }
  static void Pack(const xc_domaininfo_t& d, uint8_t* r) {
    unsigned int reason = (d.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
    bool shutdown = (d.flags & XEN_DOMINF_shutdown) != 0;
    uint32_t state = ((d.flags & XEN_DOMINF_dying) ? 1u : 0u) | ((shutdown && reason == SHUTDOWN_crash) ? 2u : 0u) |
                     (shutdown ? 4u : 0u) | ((d.flags & XEN_DOMINF_paused) ? 8u : 0u) |
                     ((d.flags & XEN_DOMINF_blocked) ? 16u : 0u) | ((d.flags & XEN_DOMINF_running) ? 32u : 0u) |
                     ((d.flags & XEN_DOMINF_hvm_guest) ? 64u : 0u) | ((reason & 0xffu) << 8);
    uint32_t domid = d.domain;
    // In doubles: dom0's max_pages may be "unlimited" (near 2^64), and KiB = pages * 4 would wrap.
    double pages = static_cast<double>(d.tot_pages);
    double maxKiB = static_cast<double>(d.max_pages) * (XC_PAGE_SIZE / 1024);
    double cpuNs = static_cast<double>(d.cpu_time);
    uint32_t online = d.nr_online_vcpus, maxVcpu = d.max_vcpu_id, pool = d.cpupool, ssid = d.ssidref;
    memcpy(r + 0, &domid, 4);
    memcpy(r + 4, &state, 4);
    memcpy(r + 8, &pages, 8);
    memcpy(r + 16, &maxKiB, 8);
    memcpy(r + 24, &cpuNs, 8);
    memcpy(r + 32, &online, 4);
    memcpy(r + 36, &maxVcpu, 4);
    memcpy(r + 40, &pool, 4);
    memcpy(r + 44, &ssid, 4);
    memcpy(r + 48, d.handle, 16);
  }
  Napi::Value Result(Napi::Env env) override {
    return Napi::Buffer<uint8_t>::Copy(env, packed_.data(), packed_.size());
  }

  uint32_t first_;
  std::vector<xc_domaininfo_t> infos_;
  std::vector<uint8_t> packed_;
};

Napi::Value DomainGetInfoListPacked(const Napi::CallbackInfo& info) {
  // Named as the typed call that wraps it (toolstack/xen/native.ts), which is what callers see.
  Args a(info, "domainGetInfoList");
  uint32_t first = a.Domid(a.At(0), "first");
  // At most one entry per ordinary domain id: a larger buffer could never fill.
  unsigned int max = static_cast<unsigned int>(a.Int(a.At(1), "max", 1, kMaxDomid + 1));
  if (!a.ok()) return a.Reject();
  return (new InfoListWorker(info.Env(), first, max))->Start();
}

// The list of domains as (domid, handle) pairs, and what changed since an earlier such list: a
// long-running caller (chaosd's name index) then handles only the domains that came and went, not
// all of them at every create (a pass over a thousand domains in JavaScript, under the lab's emulated
// CPU, took tens of milliseconds). Entry layout: u32 domid (host byte order), 16 bytes handle;
// entries sorted by domid, as Xen lists them.
constexpr size_t kIdEntryBytes = 20;
constexpr unsigned int kIdPageMin = 256;

class ListChangesWorker : public XenWorker {
 public:
  ListChangesWorker(Napi::Env env, std::vector<uint8_t> prev)
      : XenWorker(env, "xc_domain_getinfolist"), prev_(std::move(prev)) {}

 private:
  void Run() override {
    // A page of the last count and some room usually takes the whole list in one call.
    size_t want = prev_.size() / kIdEntryBytes + kIdPageMin;
    std::vector<xc_domaininfo_t> page(std::min<size_t>(want, kMaxDomid + 1));
    for (uint32_t first = 0; first <= kMaxDomid;) {
      int n = GetInfoList(first, static_cast<unsigned int>(page.size()), page.data(), &err_);
      if (n < 0) return;
      for (int i = 0; i < n; i++) {
        uint8_t e[kIdEntryBytes];
        uint32_t domid = page[i].domain;
        memcpy(e, &domid, 4);
        memcpy(e + 4, page[i].handle, 16);
        cur_.insert(cur_.end(), e, e + kIdEntryBytes);
      }
      if (static_cast<size_t>(n) < page.size()) break;
      first = page[n - 1].domain + 1;
    }
    // Both lists are sorted by domid: one merge. A domid whose handle changed is a domain gone and
    // a new one (the id was reused).
    size_t i = 0, j = 0;
    const size_t np = prev_.size() / kIdEntryBytes, nc = cur_.size() / kIdEntryBytes;
    auto idAt = [](const std::vector<uint8_t>& v, size_t k) { uint32_t d; memcpy(&d, v.data() + k * kIdEntryBytes, 4); return d; };
    auto gone = [&](size_t k) { removed_.insert(removed_.end(), prev_.begin() + k * kIdEntryBytes, prev_.begin() + k * kIdEntryBytes + 4); };
    auto came = [&](size_t k) { added_.insert(added_.end(), cur_.begin() + k * kIdEntryBytes, cur_.begin() + (k + 1) * kIdEntryBytes); };
    while (i < np || j < nc) {
      if (j == nc || (i < np && idAt(prev_, i) < idAt(cur_, j))) { gone(i++); continue; }
      if (i == np || idAt(cur_, j) < idAt(prev_, i)) { came(j++); continue; }
      if (memcmp(prev_.data() + i * kIdEntryBytes + 4, cur_.data() + j * kIdEntryBytes + 4, 16) != 0) { gone(i); came(j); }
      i++, j++;
    }
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("list", Napi::Buffer<uint8_t>::Copy(env, cur_.data(), cur_.size()));
    o.Set("added", Napi::Buffer<uint8_t>::Copy(env, added_.data(), added_.size()));
    o.Set("removed", Napi::Buffer<uint8_t>::Copy(env, removed_.data(), removed_.size()));
    return o;
  }

  std::vector<uint8_t> prev_, cur_, added_, removed_;
};

Napi::Value DomainListChanges(const Napi::CallbackInfo& info) {
  // Named as the typed call that wraps it (toolstack/xen/native.ts).
  Args a(info, "domainListChanges");
  std::vector<uint8_t> prev = a.Bytes(a.At(0), "previous", (kMaxDomid + 1) * kIdEntryBytes);
  if (a.ok() && prev.size() % kIdEntryBytes != 0) a.ValueError("previous must be a whole number of 20-byte entries (a list this call returned)");
  for (size_t k = kIdEntryBytes; a.ok() && k < prev.size(); k += kIdEntryBytes) {
    uint32_t x, y;
    memcpy(&x, prev.data() + k - kIdEntryBytes, 4);
    memcpy(&y, prev.data() + k, 4);
    if (x >= y) a.ValueError("previous must be sorted by domid (a list this call returned)");
  }
  if (!a.ok()) return a.Reject();
  return (new ListChangesWorker(info.Env(), std::move(prev)))->StartHere();
}

// ---- event channels (hypercall side; the device side is in evtchn.cc) ----

Napi::Value EvtchnAllocUnbound(const Napi::CallbackInfo& info) {
  Args a(info, "evtchnAllocUnbound");
  uint32_t domid = a.Domid(a.At(0), "domid");
  uint32_t remote = a.Domid(a.At(1), "remoteDomid");
  if (!a.ok()) return a.Reject();
  return Queue(
      info.Env(), "xc_evtchn_alloc_unbound", domid,
      [=](xc_interface* xch) { return xc_evtchn_alloc_unbound(xch, domid, remote); }, true);
}

}  // namespace

void InitXc(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Function::New(env, Version, "version"));
  exports.Set("physinfo", Napi::Function::New(env, Physinfo, "physinfo"));
  exports.Set("domainCreate", Napi::Function::New(env, DomainCreate, "domainCreate"));
  exports.Set("domainMaxVcpus", Napi::Function::New(env, DomainMaxVcpus, "domainMaxVcpus"));
  exports.Set("domainSetMaxMem", Napi::Function::New(env, DomainSetMaxMem, "domainSetMaxMem"));
  exports.Set("domainSetMemmapLimit", Napi::Function::New(env, DomainSetMemmapLimit, "domainSetMemmapLimit"));
  exports.Set("vcpuSetAffinity", Napi::Function::New(env, VcpuSetAffinity, "vcpuSetAffinity"));
  exports.Set("domainPause", Napi::Function::New(env, DomainPause, "domainPause"));
  exports.Set("domainUnpause", Napi::Function::New(env, DomainUnpause, "domainUnpause"));
  exports.Set("domainShutdown", Napi::Function::New(env, DomainShutdown, "domainShutdown"));
  exports.Set("domainDestroy", Napi::Function::New(env, DomainDestroy, "domainDestroy"));
  exports.Set("domainGetInfoListPacked", Napi::Function::New(env, DomainGetInfoListPacked, "domainGetInfoListPacked"));
  exports.Set("domainListChangesPacked", Napi::Function::New(env, DomainListChanges, "domainListChangesPacked"));
  exports.Set("evtchnAllocUnbound", Napi::Function::New(env, EvtchnAllocUnbound, "evtchnAllocUnbound"));
}

}  // namespace lightvm
