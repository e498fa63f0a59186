// Helpers shared by the activation-path kernels (batch norm, Dice, concat/split/slice, elementwise, sums):
// typed-array access beyond float32, and the threading rules every one of these kernels follows.
#pragma once
#include <omp.h>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>
#include "common.h"

namespace voxring {

// Below this many elements an OpenMP parallel region costs more than the work it splits.
constexpr int64_t kParallelMinElements = 32768;

// Reductions are split into blocks whose size depends only on the problem (never on the thread count), and
// the per-block partial sums are added in block order: results are identical for any thread count.
constexpr int64_t kReduceBlockElements = 16384;

inline int64_t ReduceBlockRows(int64_t rowElements) {
  return std::max<int64_t>(1, kReduceBlockElements / std::max<int64_t>(1, rowElements));
}

inline bool CheckInt32(const Napi::Env& env, const Napi::Value& v, const char* name, int64_t expected) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    Napi::TypeError::New(env, std::string(name) + " must be an Int32Array").ThrowAsJavaScriptException();
    return false;
  }
  if (expected >= 0 && static_cast<int64_t>(v.As<Napi::Int32Array>().ElementLength()) != expected) {
    Napi::TypeError::New(env, std::string(name) + " has " + std::to_string(v.As<Napi::Int32Array>().ElementLength()) +
                                  " elements, expected " + std::to_string(expected))
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// A typed array seen as raw bytes: copy kernels (concat, split, slice) serve every 4-byte dtype alike.
struct ByteView {
  uint8_t* data = nullptr;
  int64_t length = 0;       // in elements
  int64_t elementSize = 0;  // in bytes
};

inline bool ReadBytes(const Napi::Env& env, const Napi::Value& v, const char* name, ByteView& out) {
  if (!v.IsTypedArray()) {
    Napi::TypeError::New(env, std::string(name) + " must be a typed array").ThrowAsJavaScriptException();
    return false;
  }
  auto t = v.As<Napi::TypedArray>();
  out.data = static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
  out.length = static_cast<int64_t>(t.ElementLength());
  out.elementSize = static_cast<int64_t>(t.ElementSize());
  return true;
}

inline bool ReadNumber(const Napi::Env& env, const Napi::Value& v, const char* name, double& out) {
  if (!v.IsNumber()) {
    Napi::TypeError::New(env, std::string(name) + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  out = v.As<Napi::Number>().DoubleValue();
  return true;
}

inline bool ReadCount(const Napi::Env& env, const Napi::Value& v, const char* name, int64_t& out) {
  if (!v.IsNumber() || v.As<Napi::Number>().Int64Value() < 0) {
    Napi::TypeError::New(env, std::string(name) + " must be a non-negative integer").ThrowAsJavaScriptException();
    return false;
  }
  out = v.As<Napi::Number>().Int64Value();
  return true;
}

inline bool Fail(const Napi::Env& env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return false;
}

// out[i] = op(a[i mod na], b[i mod nb]) over max(na, nb) elements, where the shorter length divides the longer:
// same-shape and trailing broadcasts (a bias over channels, a scalar) in one loop each.
template <typename Op>
void BroadcastBinary(const float* a, int64_t na, const float* b, int64_t nb, float* out, Op op) {
  const int64_t n = std::max(na, nb);
  if (na == nb) {
#pragma omp parallel for schedule(static) if (n >= kParallelMinElements)
    for (int64_t i = 0; i < n; i++) out[i] = op(a[i], b[i]);
    return;
  }
  const bool aShort = na < nb;
  const int64_t period = aShort ? na : nb;
  const float* shortArr = aShort ? a : b;
  const float* longArr = aShort ? b : a;
  const int64_t rows = n / period;
#pragma omp parallel for schedule(static) if (n >= kParallelMinElements)
  for (int64_t r = 0; r < rows; r++) {
    const float* l = longArr + r * period;
    float* o = out + r * period;
    if (aShort)
      for (int64_t j = 0; j < period; j++) o[j] = op(shortArr[j], l[j]);
    else
      for (int64_t j = 0; j < period; j++) o[j] = op(l[j], shortArr[j]);
  }
}

// Reads (a, b, out) Float32Arrays for BroadcastBinary and checks their lengths.
inline bool ReadBinary(const Napi::CallbackInfo& info, const char* usage, const float*& a, int64_t& na,
                       const float*& b, int64_t& nb, float*& out) {
  Napi::Env env = info.Env();
  if (info.Length() != 3) return Fail(env, usage);
  if (!CheckFloat32(env, info[0], "a", -1) || !CheckFloat32(env, info[1], "b", -1)) return false;
  na = static_cast<int64_t>(info[0].As<Napi::Float32Array>().ElementLength());
  nb = static_cast<int64_t>(info[1].As<Napi::Float32Array>().ElementLength());
  const int64_t n = std::max(na, nb);
  if (std::min(na, nb) == 0 || n % std::min(na, nb) != 0)
    return Fail(env, std::string(usage) + ": the shorter length must divide the longer");
  if (!CheckFloat32(env, info[2], "out", n)) return false;
  a = F32(info[0]);
  b = F32(info[1]);
  out = F32(info[2]);
  return true;
}

// A whole elementwise kernel called as (a, b, out): reads and checks the arrays, then out = op(a, b) with
// BroadcastBinary's broadcasting.
template <typename Op>
Napi::Value ElementwiseBinary(const Napi::CallbackInfo& info, const char* usage, Op op) {
  const float *a = nullptr, *b = nullptr;
  float* out = nullptr;
  int64_t na = 0, nb = 0;
  if (ReadBinary(info, usage, a, na, b, nb, out)) BroadcastBinary(a, na, b, nb, out, op);
  return info.Env().Undefined();
}

}  // namespace voxring
