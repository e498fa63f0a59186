// What the convolution and pooling kernels share: the geometry record the TS side passes in, oneDNN memory
// descriptors for tfjs's layouts, a bounded cache of primitives by shape, and error translation.
#pragma once
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include "common.h"

namespace voxring {

// One 3D convolution as tfjs's computeConv3DInfo describes it, in the order of kConvGeometryFields
// (src/native/kernels/convGeometry.ts writes the same order). Pooling reuses it with oc == ic.
struct ConvGeometry {
  int64_t n, id, ih, iw, ic;          // input [n, id, ih, iw, ic]
  int64_t od, oh, ow, oc;             // output [n, od, oh, ow, oc]
  int64_t kd, kh, kw;                 // filter (or pooling window) extent
  int64_t sd, sh, sw;                 // strides
  int64_t padFront, padTop, padLeft;  // padding before
  int64_t padBack, padBottom, padRight;
  int64_t inputSize() const { return n * id * ih * iw * ic; }
  int64_t outputSize() const { return n * od * oh * ow * oc; }
  int64_t filterSize() const { return kd * kh * kw * ic * oc; }
  std::string Key(const char* kind) const;
};
constexpr size_t kConvGeometryFields = 21;

// Reads the geometry array or throws a JS TypeError (returns false).
bool ReadConvGeometry(const Napi::Env& env, const Napi::Value& v, ConvGeometry& g);

// tfjs layouts: activations NDHWC, filters DHWIO ([kd, kh, kw, ic, oc]).
dnnl::memory::desc ActivationDesc(int64_t n, int64_t d, int64_t h, int64_t w, int64_t c);
dnnl::memory::desc FilterDesc(const ConvGeometry& g, dnnl::memory::format_tag tag);
dnnl::memory::dims Strides(const ConvGeometry& g);
dnnl::memory::dims PaddingBefore(const ConvGeometry& g);
dnnl::memory::dims PaddingAfter(const ConvGeometry& g);
// The forward descriptor every convolution kernel starts from (backward ones need it as a hint): activations
// in NDHWC as tfjs holds them, weights in whatever blocked layout oneDNN runs fastest.
dnnl::convolution_forward::primitive_desc ForwardPd(const ConvGeometry& g);

// The input range [begin, end) a pooling window starting at `corner` covers along one axis of extent `size`.
struct Span {
  int64_t begin, end;
};
inline Span WindowSpan(int64_t corner, int64_t window, int64_t size) {
  return {corner < 0 ? 0 : corner, corner + window < size ? corner + window : size};
}

// Least-recently-used cache of prepared primitives: creating a primitive descriptor costs milliseconds
// (implementation search, JIT), far more than small convolutions themselves. One cache per thread
// (thread_local where it is declared): the JavaScript threads of a process (the coordinator's validation
// thread beside a test's or a tool's main thread) each run convolutions, and neither this map nor a cached
// entry (its blocked filter buffer, the primitive's scratchpad) may be shared by two threads at once.
template <typename Entry>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(capacity) {}
  Entry& Get(const std::string& key, const std::function<std::unique_ptr<Entry>()>& make) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      order_.splice(order_.begin(), order_, it->second);
      return *it->second->second;
    }
    order_.emplace_front(key, make());
    index_[key] = order_.begin();
    if (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    return *order_.front().second;
  }
  size_t Size() const { return order_.size(); }

 private:
  using Item = std::pair<std::string, std::unique_ptr<Entry>>;
  size_t capacity_;
  std::list<Item> order_;
  std::unordered_map<std::string, typename std::list<Item>::iterator> index_;
};
constexpr size_t kPrimitiveCacheCapacity = 64;

// The three convolution kernels' calling convention: (a, b, c, geometry) with three Float32Arrays whose sizes the
// geometry implies. Checks them in order (argument count, geometry, a, b, c) or throws a JS TypeError and
// returns false; `usage` is the TypeError's text when the argument count is wrong.
struct ConvArray {
  const char* name;
  int64_t (ConvGeometry::*size)() const;
};
bool ReadConvCall(const Napi::CallbackInfo& info, const char* usage, const ConvArray (&arrays)[3], ConvGeometry& g);

// tfjs's DHWIO filter beside the blocked layout a convolution primitive chose for its (diff_)weights. When they
// differ, the cache entry owns a buffer in the primitive's layout and a reorder between the two: user -> primitive
// when the filter is read (forward, backward data), primitive -> user when it is written (backward weights).
struct FilterLayout {
  dnnl::memory::desc user;
  bool reorder = false;
  dnnl::reorder convert;
  dnnl::memory blocked;
};
enum class FilterUse { kRead, kWritten };
FilterLayout MakeFilterLayout(const ConvGeometry& g, const dnnl::memory::desc& primitiveWeights, FilterUse use);

// A cached convolution primitive with its descriptor and filter layout.
template <typename Pd, typename Primitive>
struct ConvEntry {
  Pd pd;
  Primitive conv;
  FilterLayout filter;
};

// Executes a reorder of a filter-sized tensor. Small ones run on the calling thread alone: waking the OpenMP
// team for a few thousand floats costs more than the copy, and on a busy machine a team barrier waits for a
// descheduled thread for milliseconds.
void ReorderFilter(dnnl::reorder& reorder, dnnl::memory& from, dnnl::memory& to);

// Runs a convolution primitive whose filter tfjs holds at `filterData`: a read filter is reordered into the
// entry's blocked buffer before the primitive runs, a written one out of it afterwards. `args` holds every other
// argument; `filterArg` is DNNL_ARG_WEIGHTS or DNNL_ARG_DIFF_WEIGHTS.
void ExecuteConv(dnnl::primitive& conv, FilterLayout& filter, FilterUse use, float* filterData, int filterArg,
                 std::unordered_map<int, dnnl::memory> args);

// Runs body, turning a oneDNN or C++ exception into a JS Error (the addon is built without N-API C++
// exceptions, and an exception escaping into node would abort the process).
Napi::Value GuardNative(const Napi::Env& env, const char* where, const std::function<void()>& body);

}  // namespace voxring
