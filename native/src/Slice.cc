// Slice of a row-major tensor of any rank: the trailing dimensions taken whole merge with the innermost sliced
// one into a single contiguous run, so each output run is one memcpy. Raw bytes: any dtype alike.
#include "act_common.h"

namespace voxring {

namespace {

// slice(x, out, shape, begin, size)
Napi::Value Slice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 5) {
    Fail(env, "slice(x, out, shape, begin, size)");
    return env.Undefined();
  }
  ByteView x, out;
  std::vector<int64_t> shape, begin, size;
  if (!ReadBytes(env, info[0], "x", x) || !ReadBytes(env, info[1], "out", out) ||
      !ReadDims(env, info[2], "shape", shape) || !ReadDims(env, info[3], "begin", begin) ||
      !ReadDims(env, info[4], "size", size))
    return env.Undefined();
  const size_t rank = shape.size();
  if (begin.size() != rank || size.size() != rank || rank == 0) {
    Fail(env, "slice: shape, begin and size must have the same non-zero rank");
    return env.Undefined();
  }
  int64_t xLength = 1, outLength = 1;
  for (size_t d = 0; d < rank; d++) {
    if (begin[d] + size[d] > shape[d]) {
      Fail(env, "slice: begin + size exceeds the shape on axis " + std::to_string(d));
      return env.Undefined();
    }
    xLength *= shape[d];
    outLength *= size[d];
  }
  if (x.length != xLength || out.length != outLength || x.elementSize != out.elementSize) {
    Fail(env, "slice: x or out does not match the shapes");
    return env.Undefined();
  }
  if (outLength == 0) return env.Undefined();

  // Innermost contiguous run: trailing axes taken whole, times the first axis (from the end) that is not.
  int64_t run = 1;
  int64_t split = static_cast<int64_t>(rank) - 1;
  while (split > 0 && size[split] == shape[split]) run *= shape[split--];
  run *= size[split];
  // The outer axes [0, split) are walked by index; strides in elements of x.
  std::vector<int64_t> strides(rank, 1);
  for (int64_t d = static_cast<int64_t>(rank) - 2; d >= 0; d--) strides[d] = strides[d + 1] * shape[d + 1];
  int64_t baseOffset = 0;
  for (size_t d = 0; d < rank; d++) baseOffset += begin[d] * strides[d];
  const int64_t runs = outLength / run;
  const int64_t es = x.elementSize;
#pragma omp parallel for schedule(static) if (outLength >= kParallelMinElements)
  for (int64_t i = 0; i < runs; i++) {
    int64_t rest = i, offset = baseOffset;
    for (int64_t d = split - 1; d >= 0; d--) {
      offset += (rest % size[d]) * strides[d];
      rest /= size[d];
    }
    std::memcpy(out.data + i * run * es, x.data + offset * es, run * es);
  }
  return env.Undefined();
}

}  // namespace

void RegisterSlice(Napi::Env env, Napi::Object exports) {
  exports.Set("slice", Napi::Function::New(env, Slice, "slice"));
}

}  // namespace voxring
