// Argument checks shared by both addons (voxring_native and voxring_comm): header-only, with nothing but
// node-addon-api, so the comm addon stays free of oneDNN.
#pragma once
#include <napi.h>
#include <cstdint>
#include <string>

namespace voxring {

// Checks that v is a Float32Array with exactly `expected` elements (when expected >= 0), else throws a JS
// TypeError naming the argument and returns false.
inline bool CheckFloat32(const Napi::Env& env, const Napi::Value& v, const char* name, int64_t expected) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    Napi::TypeError::New(env, std::string(name) + " must be a Float32Array").ThrowAsJavaScriptException();
    return false;
  }
  const int64_t length = static_cast<int64_t>(v.As<Napi::Float32Array>().ElementLength());
  if (expected >= 0 && length != expected) {
    Napi::TypeError::New(env, std::string(name) + " has " + std::to_string(length) + " elements, expected " +
                                  std::to_string(expected))
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

inline float* F32(const Napi::Value& v) { return v.As<Napi::Float32Array>().Data(); }

}  // namespace voxring
