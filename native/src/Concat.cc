// Concat and its inverse, split, along any axis: as tfjs-backend-cpu's concat does, every tensor is seen as
// outer × inner_i (outer = product of the dimensions before the axis), and each output row is the input rows
// side by side. Works on raw bytes, so every dtype of the same element size is served alike.
#include "act_common.h"

namespace voxring {

namespace {

constexpr int64_t kChunkBytes = 1 << 18;

// One contiguous copy, split into chunks across threads when large (the outer == 1 case: concat on axis 0).
void ParallelCopy(uint8_t* dst, const uint8_t* src, int64_t bytes) {
  const int64_t chunks = (bytes + kChunkBytes - 1) / kChunkBytes;
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t i = 0; i < chunks; i++) {
    const int64_t begin = i * kChunkBytes;
    std::memcpy(dst + begin, src + begin, std::min(kChunkBytes, bytes - begin));
  }
}

// Reads the parts (inputs of concat, outputs of split) and checks them against the whole tensor and outer.
bool ReadParts(const Napi::Env& env, const Napi::Value& partsValue, const ByteView& whole, int64_t outer,
               std::vector<ByteView>& parts, std::vector<int64_t>& innerBytes) {
  if (!partsValue.IsArray()) return Fail(env, "parts must be an array of typed arrays");
  auto array = partsValue.As<Napi::Array>();
  int64_t total = 0;
  for (uint32_t i = 0; i < array.Length(); i++) {
    ByteView part;
    if (!ReadBytes(env, array.Get(i), "part", part)) return false;
    if (part.elementSize != whole.elementSize) return Fail(env, "every part must have the element size of the whole");
    if (outer == 0 || part.length % outer != 0) return Fail(env, "a part's length is not a multiple of outer");
    parts.push_back(part);
    innerBytes.push_back(part.length / outer * part.elementSize);
    total += part.length;
  }
  if (total != whole.length) return Fail(env, "the parts' lengths do not add up to the whole's length");
  return true;
}

// Copies between the whole (rows of rowBytes) and its parts; toWhole picks the direction.
void CopyRows(const ByteView& whole, std::vector<ByteView>& parts, const std::vector<int64_t>& innerBytes,
              int64_t outer, bool toWhole) {
  const int64_t rowBytes = whole.length / outer * whole.elementSize;
  if (outer == 1) {
    int64_t offset = 0;
    for (size_t i = 0; i < parts.size(); i++) {
      if (toWhole)
        ParallelCopy(whole.data + offset, parts[i].data, innerBytes[i]);
      else
        ParallelCopy(parts[i].data, whole.data + offset, innerBytes[i]);
      offset += innerBytes[i];
    }
    return;
  }
  std::vector<int64_t> offsets(parts.size(), 0);
  for (size_t i = 1; i < parts.size(); i++) offsets[i] = offsets[i - 1] + innerBytes[i - 1];
  const int64_t count = static_cast<int64_t>(parts.size());
#pragma omp parallel for schedule(static) if (whole.length >= kParallelMinElements)
  for (int64_t r = 0; r < outer; r++) {
    uint8_t* row = whole.data + r * rowBytes;
    for (int64_t i = 0; i < count; i++) {
      uint8_t* part = parts[i].data + r * innerBytes[i];
      if (toWhole)
        std::memcpy(row + offsets[i], part, innerBytes[i]);
      else
        std::memcpy(part, row + offsets[i], innerBytes[i]);
    }
  }
}

Napi::Value ConcatOrSplit(const Napi::CallbackInfo& info, bool concat) {
  Napi::Env env = info.Env();
  const char* usage = concat ? "concat(inputs, out, outer)" : "split(x, outputs, outer)";
  if (info.Length() != 3) {
    Fail(env, usage);
    return env.Undefined();
  }
  ByteView whole;
  int64_t outer = 0;
  std::vector<ByteView> parts;
  std::vector<int64_t> innerBytes;
  const Napi::Value& wholeValue = concat ? info[1] : info[0];
  const Napi::Value& partsValue = concat ? info[0] : info[1];
  if (!ReadBytes(env, wholeValue, "whole", whole) || !ReadCount(env, info[2], "outer", outer) ||
      !ReadParts(env, partsValue, whole, outer, parts, innerBytes))
    return env.Undefined();
  CopyRows(whole, parts, innerBytes, outer, concat);
  return env.Undefined();
}

Napi::Value Concat(const Napi::CallbackInfo& info) { return ConcatOrSplit(info, true); }
Napi::Value Split(const Napi::CallbackInfo& info) { return ConcatOrSplit(info, false); }

}  // namespace

void RegisterConcat(Napi::Env env, Napi::Object exports) {
  exports.Set("concat", Napi::Function::New(env, Concat, "concat"));
  exports.Set("split", Napi::Function::New(env, Split, "split"));
}

}  // namespace voxring
