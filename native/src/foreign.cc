// libxenforeignmemory: copy bytes out of, or into, one page of a guest through a temporary mapping (on the JS thread: a map, a copy of at most a page and an unmap never wait).
#include <cerrno>
#include <cstring>
#include <vector>

#include "addon.h"
#include "args.h"
#include "handles.h"
#include "worker.h"
#include "xenlibs.h"

namespace lightvm {

namespace {

/** Maps one frame of a guest, copies `len` bytes at `off` in or out, and unmaps it. */
class ForeignWorker : public XenWorker {
 public:
  ForeignWorker(Napi::Env env, bool write, uint32_t domid, xen_pfn_t mfn, size_t off, std::vector<uint8_t> data, size_t len)
      : XenWorker(env, write ? "foreignWrite" : "foreignRead", domid),
        write_(write), dom_(domid), mfn_(mfn), off_(off), len_(len), data_(std::move(data)) {}

 private:
  void Run() override {
    xenforeignmemory_handle* fmem = ForeignHandle(&err_);
    if (fmem == nullptr) return;
    int page_err = 0;
    errno = 0;
    void* page = xenforeignmemory_map(fmem, dom_, write_ ? PROT_READ | PROT_WRITE : PROT_READ, 1, &mfn_, &page_err);
    if (page == nullptr) return Fail("xenforeignmemory_map");
    if (page_err != 0) {
      // With an error array the call may "succeed" while the one page failed: that page's errno counts.
      err_.Set("xenforeignmemory_map", page_err, dom_);
    } else {
      // Safe: `page` is a mapping of exactly one XC_PAGE_SIZE frame, and the JS edge checked
      // off_ + len_ <= XC_PAGE_SIZE (both non-negative), so every byte touched lies inside it. The
      // guest may change the page while we copy; we copy bytes, never follow pointers stored in it.
      uint8_t* p = static_cast<uint8_t*>(page) + off_;
      if (write_) {
        std::memcpy(p, data_.data(), len_);
      } else {
        data_.resize(len_);
        std::memcpy(data_.data(), p, len_);
      }
    }
    errno = 0;
    if (xenforeignmemory_unmap(fmem, page, 1) < 0 && !err_.failed()) Fail("xenforeignmemory_unmap");
  }
  Napi::Value Result(Napi::Env env) override {
    if (write_) return env.Undefined();
    return Napi::Buffer<uint8_t>::Copy(env, data_.data(), data_.size());
  }

  bool write_;
  uint32_t dom_;
  xen_pfn_t mfn_;
  size_t off_, len_;
  std::vector<uint8_t> data_;  // the bytes to write, or the bytes read
};

constexpr int64_t kPage = static_cast<int64_t>(XC_PAGE_SIZE);

/** Records a RangeError unless [off, off + len) lies inside one page. */
void CheckSpan(Args& a, int64_t off, int64_t len) {
  if (a.ok() && off + len > kPage) {
    a.RangeError("offset + length must be at most " + std::to_string(kPage) + " (one page), got " +
                 std::to_string(off) + " + " + std::to_string(len) + " = " + std::to_string(off + len));
  }
}

Napi::Value ForeignRead(const Napi::CallbackInfo& info) {
  Args a(info, "foreignRead");
  uint32_t domid = a.Domid(a.At(0), "domid");
  xen_pfn_t mfn = static_cast<xen_pfn_t>(a.Uint(a.At(1), "mfn", kMaxSafeInt));
  int64_t off = a.Int(a.At(2), "offset", 0, kPage);
  int64_t len = a.Int(a.At(3), "length", 0, kPage);
  CheckSpan(a, off, len);
  if (!a.ok()) return a.Reject();
  return (new ForeignWorker(info.Env(), false, domid, mfn, static_cast<size_t>(off), {}, static_cast<size_t>(len)))->StartHere();
}

Napi::Value ForeignWrite(const Napi::CallbackInfo& info) {
  Args a(info, "foreignWrite");
  uint32_t domid = a.Domid(a.At(0), "domid");
  xen_pfn_t mfn = static_cast<xen_pfn_t>(a.Uint(a.At(1), "mfn", kMaxSafeInt));
  int64_t off = a.Int(a.At(2), "offset", 0, kPage);
  std::vector<uint8_t> data = a.Bytes(a.At(3), "data", XC_PAGE_SIZE);
  CheckSpan(a, off, static_cast<int64_t>(data.size()));
  if (!a.ok()) return a.Reject();
  size_t len = data.size();
  return (new ForeignWorker(info.Env(), true, domid, mfn, static_cast<size_t>(off), std::move(data), len))->StartHere();
}

}  // namespace

void InitForeign(Napi::Env env, Napi::Object exports) {
  exports.Set("foreignRead", Napi::Function::New(env, ForeignRead, "foreignRead"));
  exports.Set("foreignWrite", Napi::Function::New(env, ForeignWrite, "foreignWrite"));
}

}  // namespace lightvm
