#include "common.h"

namespace voxring {

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& Stream() {
  static dnnl::stream stream(Engine());
  return stream;
}

bool ReadDims(const Napi::Env& env, const Napi::Value& v, const char* name, std::vector<int64_t>& out) {
  if (!v.IsArray()) {
    Napi::TypeError::New(env, std::string(name) + " must be an array of integers").ThrowAsJavaScriptException();
    return false;
  }
  auto arr = v.As<Napi::Array>();
  out.clear();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value e = arr.Get(i);
    if (!e.IsNumber() || e.As<Napi::Number>().Int64Value() < 0) {
      Napi::TypeError::New(env, std::string(name) + " must hold non-negative integers").ThrowAsJavaScriptException();
      return false;
    }
    out.push_back(e.As<Napi::Number>().Int64Value());
  }
  return true;
}

bool CheckFloat32(const Napi::Env& env, const Napi::Value& v, const char* name, int64_t expected) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    Napi::TypeError::New(env, std::string(name) + " must be a Float32Array").ThrowAsJavaScriptException();
    return false;
  }
  if (expected >= 0 && static_cast<int64_t>(v.As<Napi::Float32Array>().ElementLength()) != expected) {
    Napi::TypeError::New(env, std::string(name) + " has " + std::to_string(v.As<Napi::Float32Array>().ElementLength()) +
                                  " elements, expected " + std::to_string(expected))
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

}  // namespace voxring
