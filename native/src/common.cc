#include "common.h"

namespace voxring {

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// One stream per thread: the addon runs in the coordinator's validation thread too, and a oneDNN stream (like
// a cached primitive, see LruCache) must not be used by two threads at once.
dnnl::stream& Stream() {
  static thread_local dnnl::stream stream(Engine());
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

}  // namespace voxring
