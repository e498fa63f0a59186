// The ring all-reduce's wire arithmetic (src/comm): IEEE binary16 conversion with F16C (vcvtps2ph rounds to
// nearest even and handles subnormals, infinities and NaNs in hardware), float32 accumulation, and the fused
// last reduce step (add, average, copy into the frame that goes on around the ring) in one pass over memory,
// and the shared-memory all-reduce's sum-and-write-back.
// In JavaScript these loops cost several ns an element on a busy machine; a 64 MB all-reduce runs them over
// tens of millions of elements per rank. All single-threaded: ranks already share the cores.
// Without F16C (or AVX) the same results come from scalar code written like src/comm/fp16.ts.
#include <immintrin.h>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>
#include "comm.h"

namespace voxring::comm {

namespace {

uint16_t HalfFromFloat(float value) {
  uint32_t f;
  std::memcpy(&f, &value, 4);
  const uint32_t sign = (f >> 16) & 0x8000u, a = f & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // quiet NaN
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // ±Inf, or rounds up to it
  if (a >= 0x38800000u) {
    uint32_t h = (a - 0x38000000u) >> 13;
    const uint32_t rest = a & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return static_cast<uint16_t>(sign | h);
  }
  if (a <= 0x33000000u) return static_cast<uint16_t>(sign);
  const uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u, shift = 126 - e;
  uint32_t h = m >> shift;
  const uint32_t rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rest > half || (rest == half && (h & 1u))) h++;
  return static_cast<uint16_t>(sign | h);
}

float FloatFromHalf(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  uint32_t f;
  if (e == 31) {
    f = sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0u);
  } else if (e == 0) {
    const float v = static_cast<float>(m) * (1.0f / 16777216.0f);  // m · 2^-24, exact
    std::memcpy(&f, &v, 4);
    f |= sign;
  } else {
    f = sign | ((e + 112) << 23) | (m << 13);
  }
  float out;
  std::memcpy(&out, &f, 4);
  return out;
}

using Op = HalfOp;

__attribute__((target("avx,f16c"))) int64_t HalfSimd(Op op, uint16_t* h, float* f, int64_t n, float divisor) {
  const __m256 d = _mm256_set1_ps(divisor);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i* hp = reinterpret_cast<__m128i*>(h + i);
    switch (op) {
      case Op::kEncode:
        _mm_storeu_si128(hp, _mm256_cvtps_ph(_mm256_loadu_ps(f + i), _MM_FROUND_TO_NEAREST_INT));
        break;
      case Op::kDecode:
        _mm256_storeu_ps(f + i, _mm256_cvtph_ps(_mm_loadu_si128(hp)));
        break;
      case Op::kAddInto:
        _mm256_storeu_ps(f + i, _mm256_add_ps(_mm256_loadu_ps(f + i), _mm256_cvtph_ps(_mm_loadu_si128(hp))));
        break;
      case Op::kAddEncode: {
        const __m256 sum = _mm256_add_ps(_mm256_loadu_ps(f + i), _mm256_cvtph_ps(_mm_loadu_si128(hp)));
        _mm256_storeu_ps(f + i, sum);
        _mm_storeu_si128(hp, _mm256_cvtps_ph(sum, _MM_FROUND_TO_NEAREST_INT));
        break;
      }
      case Op::kFinishHalf: {
        const __m256 sum = _mm256_add_ps(_mm256_loadu_ps(f + i), _mm256_cvtph_ps(_mm_loadu_si128(hp)));
        const __m128i half = _mm256_cvtps_ph(_mm256_div_ps(sum, d), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128(hp, half);
        _mm256_storeu_ps(f + i, _mm256_cvtph_ps(half));
        break;
      }
    }
  }
  return i;
}

void HalfScalar(Op op, uint16_t* h, float* f, int64_t from, int64_t n, float divisor) {
  for (int64_t i = from; i < n; i++) {
    switch (op) {
      case Op::kEncode:
        h[i] = HalfFromFloat(f[i]);
        break;
      case Op::kDecode:
        f[i] = FloatFromHalf(h[i]);
        break;
      case Op::kAddInto:
        f[i] += FloatFromHalf(h[i]);
        break;
      case Op::kAddEncode:
        f[i] += FloatFromHalf(h[i]);
        h[i] = HalfFromFloat(f[i]);
        break;
      case Op::kFinishHalf:
        h[i] = HalfFromFloat((f[i] + FloatFromHalf(h[i])) / divisor);
        f[i] = FloatFromHalf(h[i]);
        break;
    }
  }
}

// (halves: Uint16Array, floats: Float32Array[, divisor]) of equal lengths.
Napi::Value HalfKernel(const Napi::CallbackInfo& info, Op op, const char* usage) {
  Napi::Env env = info.Env();
  const bool wantsDivisor = op == Op::kFinishHalf;
  if (info.Length() != (wantsDivisor ? 3u : 2u) || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
      (wantsDivisor && !info[2].IsNumber())) {
    Napi::TypeError::New(env, std::string(usage) + ": expected (Uint16Array, Float32Array" +
                                  (wantsDivisor ? ", number)" : ")"))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto halves = info[0].As<Napi::Uint16Array>();
  auto floats = info[1].As<Napi::Float32Array>();
  if (halves.ElementLength() != floats.ElementLength()) {
    Napi::RangeError::New(env, std::string(usage) + ": lengths differ").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int64_t n = static_cast<int64_t>(floats.ElementLength());
  const float divisor = wantsDivisor ? static_cast<float>(info[2].As<Napi::Number>().DoubleValue()) : 1.0f;
  HalfRun(op, halves.Data(), floats.Data(), n, divisor);
  return env.Undefined();
}

// f32Finish(src, dst, divisor): dst = src = (dst + src) / divisor, the fp32 ring's last reduce step.
Napi::Value F32Finish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 3 || !CheckFloat32(env, info[0], "src", -1) || !info[2].IsNumber()) {
    if (!env.IsExceptionPending())
      Napi::TypeError::New(env, "f32Finish(src, dst, divisor)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int64_t n = static_cast<int64_t>(info[0].As<Napi::Float32Array>().ElementLength());
  if (!CheckFloat32(env, info[1], "dst", n)) return env.Undefined();
  float* src = F32(info[0]);
  float* dst = F32(info[1]);
  const float divisor = static_cast<float>(info[2].As<Napi::Number>().DoubleValue());
  for (int64_t i = 0; i < n; i++) {  // GCC vectorises this at -O3
    const float v = (dst[i] + src[i]) / divisor;
    dst[i] = v;
    src[i] = v;
  }
  return env.Undefined();
}

// f32SumToAll(segments, divisor, toHalf): v = (segments[0] + … + segments[k-1]) / divisor, summed in that order,
// rounded to fp16 and back when toHalf, written into every segment. The shared-memory all-reduce's whole
// reduction in one pass: each rank reads its segment of every rank's region once and writes the result
// straight back into all of them, so no rank copies results out afterwards. Blocked so that the partial sum
// stays in L1 between the reads and the writes.
Napi::Value F32SumToAll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 3 || !info[0].IsArray() || !info[1].IsNumber() || !info[2].IsBoolean()) {
    Napi::TypeError::New(env, "f32SumToAll(segments: Float32Array[], divisor: number, toHalf: boolean)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const Napi::Array list = info[0].As<Napi::Array>();
  const uint32_t count = list.Length();
  if (count == 0) {
    Napi::RangeError::New(env, "f32SumToAll: no segments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<float*> segments(count);
  int64_t n = -1;
  for (uint32_t k = 0; k < count; k++) {
    const Napi::Value v = list.Get(k);
    if (!CheckFloat32(env, v, "segment", n)) return env.Undefined();
    if (n < 0) n = static_cast<int64_t>(v.As<Napi::Float32Array>().ElementLength());
    segments[k] = F32(v);
  }
  const float divisor = static_cast<float>(info[1].As<Napi::Number>().DoubleValue());
  const bool toHalf = info[2].As<Napi::Boolean>().Value();
  constexpr int64_t kBlock = 2048;
  alignas(32) float sum[kBlock];
  alignas(32) uint16_t halves[kBlock];
  for (int64_t lo = 0; lo < n; lo += kBlock) {
    const int64_t m = std::min(kBlock, n - lo);
    std::memcpy(sum, segments[0] + lo, m * sizeof(float));
    for (uint32_t k = 1; k < count; k++) {
      const float* src = segments[k] + lo;
      for (int64_t i = 0; i < m; i++) sum[i] += src[i];  // GCC vectorises these at -O3
    }
    if (divisor != 1.0f)
      for (int64_t i = 0; i < m; i++) sum[i] /= divisor;
    if (toHalf) {
      HalfRun(Op::kEncode, halves, sum, m, 1.0f);
      HalfRun(Op::kDecode, halves, sum, m, 1.0f);
    }
    for (uint32_t k = 0; k < count; k++) std::memcpy(segments[k] + lo, sum, m * sizeof(float));
  }
  return env.Undefined();
}

// add(a, b, out): out = a + b, equal lengths: the fp32 ring's reduce step (src/comm/reduce.ts).
Napi::Value Add(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 3 || !CheckFloat32(env, info[0], "a", -1)) {
    if (!env.IsExceptionPending()) Napi::TypeError::New(env, "add(a, b, out)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int64_t n = static_cast<int64_t>(info[0].As<Napi::Float32Array>().ElementLength());
  if (!CheckFloat32(env, info[1], "b", n) || !CheckFloat32(env, info[2], "out", n)) return env.Undefined();
  const float* a = F32(info[0]);
  const float* b = F32(info[1]);
  float* out = F32(info[2]);
  for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];  // GCC vectorises this at -O3
  return env.Undefined();
}

}  // namespace

bool HasF16c() {
  static const bool has = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
  return has;
}

// One operation over [0, n): SIMD where the CPU has F16C, scalar code for the rest.
void HalfRun(HalfOp op, uint16_t* h, float* f, int64_t n, float divisor) {
  const int64_t done = HasF16c() ? HalfSimd(op, h, f, n, divisor) : 0;
  HalfScalar(op, h, f, done, n, divisor);
}

void RegisterFp16(Napi::Env env, Napi::Object exports) {
  const auto bind = [&](const char* name, Op op) {
    exports.Set(name, Napi::Function::New(
                          env, [op, name](const Napi::CallbackInfo& info) { return HalfKernel(info, op, name); }, name));
  };
  bind("f16Encode", Op::kEncode);
  bind("f16Decode", Op::kDecode);
  bind("f16AddInto", Op::kAddInto);
  bind("f16AddEncode", Op::kAddEncode);
  bind("f16Finish", Op::kFinishHalf);
  exports.Set("f32Finish", Napi::Function::New(env, F32Finish, "f32Finish"));
  exports.Set("f32SumToAll", Napi::Function::New(env, F32SumToAll, "f32SumToAll"));
  exports.Set("add", Napi::Function::New(env, Add, "add"));
  exports.Set("hasF16c", Napi::Boolean::New(env, HasF16c()));
}

}  // namespace voxring::comm
