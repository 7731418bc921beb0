// libxenstore: batches of operations (optionally in one transaction), and introducing/releasing domains.
#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "addon.h"
#include "args.h"
#include "handles.h"
#include "worker.h"
#include "xenlibs.h"

namespace lightvm {

namespace {

enum class OpKind { kRead, kWrite, kMkdir, kRm, kDirectory, kSetPerms, kGetPerms };

struct Op {
  OpKind kind;
  std::string path, value;
  std::vector<struct xs_permissions> perms;
};

/** One op's result: undefined (writes), null (a read of nothing), a string, a list, or permissions. */
struct Out {
  enum { kUndefined, kNull, kString, kList, kPerms } type = kUndefined;
  std::string str;
  std::vector<std::string> list;
  std::vector<struct xs_permissions> perms;
};

/** Where one op failed, for the worker to report. */
struct OpFailure {
  const char* call;
  int err;
};

class XsBatchWorker : public XenWorker {
 public:
  XsBatchWorker(Napi::Env env, std::vector<Op> ops, bool transaction)
      : XenWorker(env, "xsBatch"), ops_(std::move(ops)), transaction_(transaction) {}

 private:
  void Run() override {
    struct xs_handle* h = XsHandle(&err_);
    if (h == nullptr) return;
    xs_transaction_t t = XBT_NULL;
    if (transaction_) {
      errno = 0;
      t = xs_transaction_start(h);
      if (t == XBT_NULL) return Fail("xs_transaction_start");
    }
    outs_.resize(ops_.size());
    for (size_t i = 0; i < ops_.size(); i++) {
      OpFailure f{nullptr, 0};
      if (RunOp(h, t, ops_[i], &outs_[i], &f)) continue;
      if (transaction_) {
        // Nothing of a failed batch may land: abandon the transaction, whatever its end reports.
        xs_transaction_end(h, t, true);
        // EAGAIN inside a transaction is a conflict, like one reported at the end: the caller re-runs.
        if (f.err == EAGAIN) return Conflict();
      }
      err_.Set(f.call, f.err, kNoDomid, ops_[i].path);
      return;
    }
    if (transaction_) {
      errno = 0;
      if (!xs_transaction_end(h, t, false)) {
        if (errno == EAGAIN) return Conflict();
        return Fail("xs_transaction_end");
      }
    }
  }

  void Conflict() {
    committed_ = false;
    outs_.clear();
  }

  static bool RunOp(struct xs_handle* h, xs_transaction_t t, const Op& op, Out* out, OpFailure* f) {
    errno = 0;
    const char* p = op.path.c_str();
    switch (op.kind) {
      case OpKind::kRead: {
        unsigned int len = 0;
        char* v = static_cast<char*>(xs_read(h, t, p, &len));
        if (v == nullptr) {
          if (errno != ENOENT) return Failed(f, "xs_read");
          out->type = Out::kNull;  // absent is an answer, not an error
          return true;
        }
        out->type = Out::kString;
        out->str.assign(v, len);
        free(v);
        return true;
      }
      case OpKind::kWrite:
        if (!xs_write(h, t, p, op.value.data(), static_cast<unsigned int>(op.value.size()))) return Failed(f, "xs_write");
        return true;
      case OpKind::kMkdir:
        if (!xs_mkdir(h, t, p)) return Failed(f, "xs_mkdir");
        return true;
      case OpKind::kRm:
        // xenstored already answers success for a missing node whose parent exists.
        if (!xs_rm(h, t, p)) return Failed(f, "xs_rm");
        return true;
      case OpKind::kDirectory: {
        unsigned int num = 0;
        char** names = xs_directory(h, t, p, &num);
        if (names == nullptr) {
          if (errno != ENOENT) return Failed(f, "xs_directory");
          out->type = Out::kNull;
          return true;
        }
        out->type = Out::kList;
        for (unsigned int i = 0; i < num; i++) out->list.emplace_back(names[i]);
        free(names);  // one allocation holds the array and its strings
        return true;
      }
      case OpKind::kSetPerms: {
        std::vector<struct xs_permissions> perms = op.perms;  // the library takes a non-const array
        if (!xs_set_permissions(h, t, p, perms.data(), static_cast<unsigned int>(perms.size()))) {
          return Failed(f, "xs_set_permissions");
        }
        return true;
      }
      case OpKind::kGetPerms: {
        unsigned int num = 0;
        struct xs_permissions* perms = xs_get_permissions(h, t, p, &num);
        if (perms == nullptr) return Failed(f, "xs_get_permissions");
        out->type = Out::kPerms;
        out->perms.assign(perms, perms + num);
        free(perms);
        return true;
      }
    }
    return true;
  }

  static bool Failed(OpFailure* f, const char* call) {
    f->call = call;
    f->err = errno;
    return false;
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("committed", committed_);
    Napi::Array results = Napi::Array::New(env, outs_.size());
    for (size_t i = 0; i < outs_.size(); i++) results.Set(static_cast<uint32_t>(i), ToJs(env, outs_[i]));
    o.Set("results", results);
    return o;
  }

  static Napi::Value ToJs(Napi::Env env, const Out& out) {
    switch (out.type) {
      case Out::kNull: return env.Null();
      case Out::kString: return Napi::String::New(env, out.str);
      case Out::kList: {
        Napi::Array a = Napi::Array::New(env, out.list.size());
        for (size_t i = 0; i < out.list.size(); i++) a.Set(static_cast<uint32_t>(i), out.list[i]);
        return a;
      }
      case Out::kPerms: {
        Napi::Array a = Napi::Array::New(env, out.perms.size());
        for (size_t i = 0; i < out.perms.size(); i++) {
          Napi::Object p = Napi::Object::New(env);
          p.Set("domid", out.perms[i].id);
          p.Set("read", (out.perms[i].perms & XS_PERM_READ) != 0);
          p.Set("write", (out.perms[i].perms & XS_PERM_WRITE) != 0);
          a.Set(static_cast<uint32_t>(i), p);
        }
        return a;
      }
      case Out::kUndefined: break;
    }
    return env.Undefined();
  }

  std::vector<Op> ops_;
  bool transaction_;
  bool committed_ = true;
  std::vector<Out> outs_;
};

/** Bounds that keep a batch to what one XenStore message and a sane caller can hold. */
constexpr uint32_t kMaxOps = 65536;
constexpr uint32_t kMaxPerms = 512;

bool ParseOp(Args& a, const Napi::Value& v, uint32_t i, Op* op) {
  std::string at = "ops[" + std::to_string(i) + "]";
  if (!v.IsObject() || v.IsArray()) {
    a.TypeError(at + " must be an object, got " + Describe(v));
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value kind = a.Prop(o, "op");
  std::string k = kind.IsString() ? kind.As<Napi::String>().Utf8Value() : "";
  if (k == "read") op->kind = OpKind::kRead;
  else if (k == "write") op->kind = OpKind::kWrite;
  else if (k == "mkdir") op->kind = OpKind::kMkdir;
  else if (k == "rm") op->kind = OpKind::kRm;
  else if (k == "directory") op->kind = OpKind::kDirectory;
  else if (k == "setPermissions") op->kind = OpKind::kSetPerms;
  else if (k == "getPermissions") op->kind = OpKind::kGetPerms;
  else {
    a.ValueError(at + ".op must be one of read, write, mkdir, rm, directory, setPermissions, getPermissions, got " +
                 (kind.IsString() ? "\"" + k + "\"" : Describe(kind)));
    return false;
  }
  op->path = a.String(a.Prop(o, "path"), (at + ".path").c_str(), XENSTORE_ABS_PATH_MAX, false);
  if (op->kind == OpKind::kWrite) {
    op->value = a.String(a.Prop(o, "value"), (at + ".value").c_str(), XENSTORE_PAYLOAD_MAX);
  }
  if (op->kind == OpKind::kSetPerms) {
    Napi::Value pv = a.Prop(o, "perms");
    if (a.ok() && !pv.IsArray()) a.TypeError(at + ".perms must be an array, got " + Describe(pv));
    if (!a.ok()) return false;
    Napi::Array arr = pv.As<Napi::Array>();
    if (arr.Length() == 0 || arr.Length() > kMaxPerms) {
      a.RangeError(at + ".perms must hold 1 to " + std::to_string(kMaxPerms) + " entries (the first is the owner and the default for others), got " +
                   std::to_string(arr.Length()));
      return false;
    }
    for (uint32_t j = 0; a.ok() && j < arr.Length(); j++) {
      std::string pat = at + ".perms[" + std::to_string(j) + "]";
      Napi::Value e = arr.Get(j);
      if (!e.IsObject() || e.IsArray()) {
        a.TypeError(pat + " must be an object {domid, read, write}, got " + Describe(e));
        break;
      }
      Napi::Object eo = e.As<Napi::Object>();
      struct xs_permissions perm;
      perm.id = a.Domid(a.Prop(eo, "domid"), (pat + ".domid").c_str());
      bool r = a.Bool(a.Prop(eo, "read"), (pat + ".read").c_str());
      bool w = a.Bool(a.Prop(eo, "write"), (pat + ".write").c_str());
      perm.perms = (r ? XS_PERM_READ : 0) | (w ? XS_PERM_WRITE : 0);  // neither: XS_PERM_NONE
      op->perms.push_back(perm);
    }
  }
  return a.ok();
}

Napi::Value XsBatch(const Napi::CallbackInfo& info) {
  Args a(info, "xsBatch");
  Napi::Value ov = a.At(0);
  if (!ov.IsArray()) a.TypeError("ops must be an array, got " + Describe(ov));
  bool transaction = a.Bool(a.At(1), "transaction");
  std::vector<Op> ops;
  if (a.ok()) {
    Napi::Array arr = ov.As<Napi::Array>();
    if (arr.Length() > kMaxOps) a.RangeError("ops must hold at most " + std::to_string(kMaxOps) + " operations");
    for (uint32_t i = 0; a.ok() && i < arr.Length(); i++) {
      Op op;
      if (ParseOp(a, arr.Get(i), i, &op)) ops.push_back(std::move(op));
    }
  }
  if (!a.ok()) return a.Reject();
  return (new XsBatchWorker(info.Env(), std::move(ops), transaction))->Start();
}

/** xs_introduce_domain (mfn and port given) or xs_release_domain: both return false with errno. */
class XsDomainWorker : public XenWorker {
 public:
  XsDomainWorker(Napi::Env env, bool introduce, uint32_t domid, unsigned long mfn, unsigned int port)
      : XenWorker(env, introduce ? "xs_introduce_domain" : "xs_release_domain", domid),
        introduce_(introduce), dom_(domid), mfn_(mfn), port_(port) {}

 private:
  void Run() override {
    struct xs_handle* h = XsHandle(&err_);
    if (h == nullptr) return;
    errno = 0;
    if (introduce_) {
      if (!xs_introduce_domain(h, dom_, mfn_, port_)) Fail("xs_introduce_domain");
    } else {
      if (!xs_release_domain(h, dom_)) Fail("xs_release_domain");
    }
  }

  bool introduce_;
  uint32_t dom_;
  unsigned long mfn_;
  unsigned int port_;
};

Napi::Value XsIntroduceDomain(const Napi::CallbackInfo& info) {
  Args a(info, "xsIntroduceDomain");
  uint32_t domid = a.Domid(a.At(0), "domid");
  unsigned long mfn = static_cast<unsigned long>(a.Uint(a.At(1), "mfn", kMaxSafeInt));
  unsigned int port = static_cast<unsigned int>(a.Uint(a.At(2), "port", UINT32_MAX));
  if (!a.ok()) return a.Reject();
  return (new XsDomainWorker(info.Env(), true, domid, mfn, port))->Start();
}

Napi::Value XsReleaseDomain(const Napi::CallbackInfo& info) {
  Args a(info, "xsReleaseDomain");
  uint32_t domid = a.Domid(a.At(0), "domid");
  if (!a.ok()) return a.Reject();
  return (new XsDomainWorker(info.Env(), false, domid, 0, 0))->Start();
}

}  // namespace

void InitXs(Napi::Env env, Napi::Object exports) {
  exports.Set("xsBatch", Napi::Function::New(env, XsBatch, "xsBatch"));
  exports.Set("xsIntroduceDomain", Napi::Function::New(env, XsIntroduceDomain, "xsIntroduceDomain"));
  exports.Set("xsReleaseDomain", Napi::Function::New(env, XsReleaseDomain, "xsReleaseDomain"));
}

}  // namespace lightvm
