// Argument checks at the JS edge: typed, range-checked values and the TypeError/RangeError a bad call rejects with.
#include "args.h"

#include <cmath>
#include <cstring>

namespace lightvm {

std::string Describe(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return v.As<Napi::Boolean>().Value() ? "true" : "false";
    case napi_number: {
      double d = v.As<Napi::Number>().DoubleValue();
      if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) <= static_cast<double>(kMaxSafeInt)) {
        return std::to_string(static_cast<int64_t>(d));
      }
      return std::to_string(d);
    }
    case napi_string: return "a string";
    case napi_function: return "a function";
    case napi_object: return v.IsArray() ? "an array" : v.IsBuffer() ? "a Buffer" : "an object";
    default: return "a value of another type";
  }
}

void Args::Fail(const std::string& what, Kind kind) {
  if (!msg_.empty()) return;  // the first problem is the one worth reporting
  msg_ = std::string(fn_) + ": " + what;
  kind_ = kind;
}

Napi::Object Args::Object(size_t i, const char* name) {
  Napi::Value v = info_[i];
  if (!v.IsObject() || v.IsArray()) {
    TypeError(std::string(name) + " must be an object, got " + Describe(v));
    return Napi::Object::New(env_);
  }
  return v.As<Napi::Object>();
}

Napi::Value Args::Prop(const Napi::Object& o, const char* key) const {
  Napi::Value v = o.Get(key);
  // A getter that throws leaves an exception pending; treat the property as missing and let the
  // check that follows report it, rather than returning into JS with two errors.
  if (env_.IsExceptionPending()) {
    env_.GetAndClearPendingException();
    return env_.Undefined();
  }
  return v;
}

int64_t Args::Int(const Napi::Value& v, const char* name, int64_t min, int64_t max) {
  if (!ok()) return min;
  if (!v.IsNumber()) {
    TypeError(std::string(name) + " must be a number, got " + Describe(v));
    return min;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::trunc(d) || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    RangeError(std::string(name) + " must be a whole number from " + std::to_string(min) + " to " +
               std::to_string(max) + ", got " + Describe(v));
    return min;
  }
  return static_cast<int64_t>(d);
}

bool Args::Bool(const Napi::Value& v, const char* name) {
  if (!ok()) return false;
  if (!v.IsBoolean()) {
    TypeError(std::string(name) + " must be a boolean, got " + Describe(v));
    return false;
  }
  return v.As<Napi::Boolean>().Value();
}

std::string Args::String(const Napi::Value& v, const char* name, size_t maxBytes, bool allowEmpty) {
  if (!ok()) return {};
  if (!v.IsString()) {
    TypeError(std::string(name) + " must be a string, got " + Describe(v));
    return {};
  }
  std::string s = v.As<Napi::String>().Utf8Value();
  if (std::memchr(s.data(), '\0', s.size()) != nullptr) {
    ValueError(std::string(name) + " must not contain NUL characters");
    return {};
  }
  if (s.size() > maxBytes) {
    RangeError(std::string(name) + " must be at most " + std::to_string(maxBytes) + " bytes, got " +
               std::to_string(s.size()));
    return {};
  }
  if (!allowEmpty && s.empty()) {
    ValueError(std::string(name) + " must not be empty");
    return {};
  }
  return s;
}

std::vector<uint8_t> Args::Bytes(const Napi::Value& v, const char* name, size_t maxBytes) {
  if (!ok()) return {};
  if (!v.IsBuffer()) {
    TypeError(std::string(name) + " must be a Buffer, got " + Describe(v));
    return {};
  }
  Napi::Buffer<uint8_t> b = v.As<Napi::Buffer<uint8_t>>();
  if (b.Length() > maxBytes) {
    RangeError(std::string(name) + " must be at most " + std::to_string(maxBytes) + " bytes, got " +
               std::to_string(b.Length()));
    return {};
  }
  return std::vector<uint8_t>(b.Data(), b.Data() + b.Length());
}

Napi::Function Args::Function(const Napi::Value& v, const char* name) {
  if (!ok()) return Napi::Function();
  if (!v.IsFunction()) {
    TypeError(std::string(name) + " must be a function, got " + Describe(v));
    return Napi::Function();
  }
  return v.As<Napi::Function>();
}

Napi::Value Args::Reject() const {
  Napi::Error e = kind_ == kRange ? static_cast<Napi::Error>(Napi::RangeError::New(env_, msg_))
                                  : static_cast<Napi::Error>(Napi::TypeError::New(env_, msg_));
  // Node's own codes for the same mistakes, so callers can tell them from Xen's errors.
  const char* code = kind_ == kRange ? "ERR_OUT_OF_RANGE" : kind_ == kValue ? "ERR_INVALID_ARG_VALUE" : "ERR_INVALID_ARG_TYPE";
  e.Set("code", Napi::String::New(env_, code));
  auto d = Napi::Promise::Deferred::New(env_);
  d.Reject(e.Value());
  return d.Promise();
}

}  // namespace lightvm
