// Conv3D forward on oneDNN: y = conv(x, filter), x and y NDHWC, filter DHWIO as tfjs holds them. The filter is
// reordered into oneDNN's blocked layout on every call (weights change every step; the reorder is tiny next to
// the convolution), into a buffer the cache entry owns.
#include "conv_common.h"

namespace voxring {

namespace {

using Conv3DEntry = ConvEntry<dnnl::convolution_forward::primitive_desc, dnnl::convolution_forward>;

std::unique_ptr<Conv3DEntry> MakeEntry(const ConvGeometry& g) {
  auto e = std::make_unique<Conv3DEntry>();
  e->pd = ForwardPd(g);
  e->conv = dnnl::convolution_forward(e->pd);
  e->filter = MakeFilterLayout(g, e->pd.weights_desc(), FilterUse::kRead);
  return e;
}

LruCache<Conv3DEntry>& Cache() {
  static thread_local LruCache<Conv3DEntry> cache(kPrimitiveCacheCapacity);
  return cache;
}

// conv3d(x, filter, y, geometry): writes y in place.
Napi::Value Conv3D(const Napi::CallbackInfo& info) {
  ConvGeometry g;
  if (!ReadConvCall(info, "conv3d(x, filter, y, geometry)",
                    {{"x", &ConvGeometry::inputSize}, {"filter", &ConvGeometry::filterSize},
                     {"y", &ConvGeometry::outputSize}},
                    g))
    return info.Env().Undefined();
  return GuardNative(info.Env(), "conv3d", [&] {
    Conv3DEntry& e = Cache().Get(g.Key("conv3d"), [&] { return MakeEntry(g); });
    ExecuteConv(e.conv, e.filter, FilterUse::kRead, F32(info[1]), DNNL_ARG_WEIGHTS,
                {{DNNL_ARG_SRC, dnnl::memory(e.pd.src_desc(), Engine(), F32(info[0]))},
                 {DNNL_ARG_DST, dnnl::memory(e.pd.dst_desc(), Engine(), F32(info[2]))}});
  });
}

}  // namespace

void RegisterConv3D(Napi::Env env, Napi::Object exports) {
  exports.Set("conv3d", Napi::Function::New(env, Conv3D, "conv3d"));
}

}  // namespace voxring
