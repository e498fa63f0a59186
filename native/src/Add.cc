// Add (same shape or a trailing broadcast) and AddN (same shapes): the gradient accumulation of every tensor
// used twice in the U-Net (skip connections) adds activation-sized tensors.
#include "act_common.h"

namespace voxring {

namespace {

// add(a, b, out)
Napi::Value Add(const Napi::CallbackInfo& info) {
  return ElementwiseBinary(info, "add(a, b, out)", [](float x, float y) { return x + y; });
}

// addN(inputs, out): out = Σ inputs, summed left to right as tfjs does.
Napi::Value AddN(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsArray()) {
    Fail(env, "addN(inputs, out)");
    return env.Undefined();
  }
  if (!CheckFloat32(env, info[1], "out", -1)) return env.Undefined();
  const int64_t n = static_cast<int64_t>(info[1].As<Napi::Float32Array>().ElementLength());
  auto array = info[0].As<Napi::Array>();
  std::vector<const float*> inputs;
  for (uint32_t i = 0; i < array.Length(); i++) {
    if (!CheckFloat32(env, array.Get(i), "input", n)) return env.Undefined();
    inputs.push_back(F32(array.Get(i)));
  }
  float* out = F32(info[1]);
  const int64_t count = static_cast<int64_t>(inputs.size());
  constexpr int64_t kTile = 4096;  // a tile of out stays in L1 while every input is added into it
  const int64_t tiles = (n + kTile - 1) / kTile;
#pragma omp parallel for schedule(static) if (n >= kParallelMinElements)
  for (int64_t t = 0; t < tiles; t++) {
    const int64_t begin = t * kTile, end = std::min(n, begin + kTile);
    if (count == 0) {
      std::fill(out + begin, out + end, 0.0f);
      continue;
    }
    std::copy(inputs[0] + begin, inputs[0] + end, out + begin);
    for (int64_t i = 1; i < count; i++) {
      const float* x = inputs[i];
      for (int64_t j = begin; j < end; j++) out[j] += x[j];
    }
  }
  return env.Undefined();
}

}  // namespace

void RegisterAdd(Napi::Env env, Napi::Object exports) {
  exports.Set("add", Napi::Function::New(env, Add, "add"));
  exports.Set("addN", Napi::Function::New(env, AddN, "addN"));
}

}  // namespace voxring
