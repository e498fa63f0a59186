// Sum over one contiguous run of axes: x seen as [outer, reduced, inner] and out as [outer, inner]. This covers
// a bias gradient over N·D·H·W (outer = 1) and sums over trailing axes (inner = 1). Double accumulation in
// blocks whose size depends only on the shape, added in block order: reproducible for any thread count.
#include "act_common.h"

namespace voxring {

namespace {

// sum(x, out, [outer, reduced, inner])
Napi::Value Sum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 3) {
    Fail(env, "sum(x, out, [outer, reduced, inner])");
    return env.Undefined();
  }
  std::vector<int64_t> dims;
  if (!ReadDims(env, info[2], "dims", dims)) return env.Undefined();
  if (dims.size() != 3) {
    Fail(env, "sum: dims must be [outer, reduced, inner]");
    return env.Undefined();
  }
  const int64_t A = dims[0], R = dims[1], B = dims[2];
  if (!CheckFloat32(env, info[0], "x", A * R * B) || !CheckFloat32(env, info[1], "out", A * B))
    return env.Undefined();
  const float* x = F32(info[0]);
  float* out = F32(info[1]);
  if (A * B == 0) return env.Undefined();

  const int64_t blockRows = ReduceBlockRows(B);
  const int64_t blocksPerOuter = std::max<int64_t>(1, (R + blockRows - 1) / blockRows);
  const int64_t tasks = A * blocksPerOuter;
  std::vector<double> partial(static_cast<size_t>(tasks * B), 0.0);
#pragma omp parallel for schedule(static) if (A * R * B >= kParallelMinElements)
  for (int64_t t = 0; t < tasks; t++) {
    const int64_t a = t / blocksPerOuter, blk = t % blocksPerOuter;
    const int64_t begin = blk * blockRows, end = std::min(R, begin + blockRows);
    double* acc = partial.data() + t * B;
    const float* base = x + a * R * B;
    if (B == 1) {
      // Four accumulators break the dependency chain of a single running sum.
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t r = begin;
      for (; r + 4 <= end; r += 4) {
        s0 += base[r];
        s1 += base[r + 1];
        s2 += base[r + 2];
        s3 += base[r + 3];
      }
      for (; r < end; r++) s0 += base[r];
      acc[0] = (s0 + s1) + (s2 + s3);
    } else {
      for (int64_t r = begin; r < end; r++) {
        const float* row = base + r * B;
        for (int64_t j = 0; j < B; j++) acc[j] += row[j];
      }
    }
  }
#pragma omp parallel for schedule(static) if (A * B >= kParallelMinElements)
  for (int64_t a = 0; a < A; a++) {
    for (int64_t j = 0; j < B; j++) {
      double s = 0;
      for (int64_t blk = 0; blk < blocksPerOuter; blk++) s += partial[(a * blocksPerOuter + blk) * B + j];
      out[a * B + j] = static_cast<float>(s);
    }
  }
  return env.Undefined();
}

}  // namespace

void RegisterSum(Napi::Env env, Napi::Object exports) { exports.Set("sum", Napi::Function::New(env, Sum, "sum")); }

}  // namespace voxring
