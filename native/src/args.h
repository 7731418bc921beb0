// Argument checks at the JS edge: every value from a caller is typed and range-checked before any Xen call.
#ifndef LIGHTVM_NATIVE_ARGS_H
#define LIGHTVM_NATIVE_ARGS_H

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lightvm {

/** Ordinary domain ids stop below DOMID_FIRST_RESERVED (0x7FF0); the rest are Xen's special ids. */
constexpr uint32_t kMaxDomid = 0x7FEF;
/** The largest integer a JS number carries exactly. */
constexpr uint64_t kMaxSafeInt = (1ULL << 53) - 1;

/**
 * Collects the first problem with a call's arguments. Each getter returns a harmless value once a
 * problem is recorded, so a function checks everything in a row and asks ok() once.
 */
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn) : info_(info), env_(info.Env()), fn_(fn) {}

  bool ok() const { return msg_.empty(); }
  Napi::Env Env() const { return env_; }
  const char* Fn() const { return fn_; }

  /** The i-th positional argument (undefined when absent). */
  Napi::Value At(size_t i) const { return info_[i]; }
  /** The i-th argument as an object; records a TypeError otherwise. */
  Napi::Object Object(size_t i, const char* name);
  /** A property of an object argument (undefined when absent). */
  Napi::Value Prop(const Napi::Object& o, const char* key) const;

  uint32_t Domid(const Napi::Value& v, const char* name) { return static_cast<uint32_t>(Int(v, name, 0, kMaxDomid)); }
  /** A whole number from min to max (both within the safe-integer range). */
  int64_t Int(const Napi::Value& v, const char* name, int64_t min, int64_t max);
  uint64_t Uint(const Napi::Value& v, const char* name, uint64_t max) {
    return static_cast<uint64_t>(Int(v, name, 0, static_cast<int64_t>(max)));
  }
  /** Like Int, with a default when the value is undefined. */
  int64_t OptInt(const Napi::Value& v, const char* name, int64_t min, int64_t max, int64_t dflt) {
    return v.IsUndefined() ? dflt : Int(v, name, min, max);
  }
  bool Bool(const Napi::Value& v, const char* name);
  /** A string without NUL bytes (C strings would cut it short), at most maxBytes of UTF-8. */
  std::string String(const Napi::Value& v, const char* name, size_t maxBytes, bool allowEmpty = true);
  /** A copy of a Buffer's bytes (the JS side may reuse or detach the buffer while a worker runs). */
  std::vector<uint8_t> Bytes(const Napi::Value& v, const char* name, size_t maxBytes);
  Napi::Function Function(const Napi::Value& v, const char* name);

  /** Wrong type (TypeError, ERR_INVALID_ARG_TYPE). */
  void TypeError(const std::string& what) { Fail(what, kType); }
  /** Right type, unusable value: a malformed UUID, a NUL byte (TypeError, ERR_INVALID_ARG_VALUE). */
  void ValueError(const std::string& what) { Fail(what, kValue); }
  /** A number or length out of bounds (RangeError, ERR_OUT_OF_RANGE). */
  void RangeError(const std::string& what) { Fail(what, kRange); }

  /** A promise rejected with the recorded TypeError or RangeError (callers always get a promise). */
  Napi::Value Reject() const;

 private:
  enum Kind { kType, kValue, kRange };
  void Fail(const std::string& what, Kind kind);

  const Napi::CallbackInfo& info_;
  Napi::Env env_;
  const char* fn_;
  std::string msg_;
  Kind kind_ = kType;
};

/** Describes a JS value for an error message: "-1", "a string", "undefined". */
std::string Describe(const Napi::Value& v);

}  // namespace lightvm

#endif
