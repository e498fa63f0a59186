// Mul (same shape or a trailing broadcast, e.g. a loss scale times a gradient).
#include "act_common.h"

namespace voxring {

namespace {

// mul(a, b, out)
Napi::Value Mul(const Napi::CallbackInfo& info) {
  const float *a = nullptr, *b = nullptr;
  float* out = nullptr;
  int64_t na = 0, nb = 0;
  if (!ReadBinary(info, "mul(a, b, out)", a, na, b, nb, out)) return info.Env().Undefined();
  BroadcastBinary(a, na, b, nb, out, [](float x, float y) { return x * y; });
  return info.Env().Undefined();
}

}  // namespace

void RegisterMul(Napi::Env env, Napi::Object exports) { exports.Set("mul", Napi::Function::New(env, Mul, "mul")); }

}  // namespace voxring
