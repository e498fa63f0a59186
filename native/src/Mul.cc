// Mul (same shape or a trailing broadcast, e.g. a loss scale times a gradient).
#include "act_common.h"

namespace voxring {

namespace {

// mul(a, b, out)
Napi::Value Mul(const Napi::CallbackInfo& info) {
  return ElementwiseBinary(info, "mul(a, b, out)", [](float x, float y) { return x * y; });
}

}  // namespace

void RegisterMul(Napi::Env env, Napi::Object exports) { exports.Set("mul", Napi::Function::New(env, Mul, "mul")); }

}  // namespace voxring
