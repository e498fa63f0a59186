// Conv3D backward weights on oneDNN: dw = conv3dBackpropFilter(x, dy), x and dy NDHWC, dw DHWIO. oneDNN
// accumulates into its blocked layout (owned by the cache entry), then one reorder writes tfjs's layout.
#include "conv_common.h"

namespace voxring {

namespace {

using BackpropFilterEntry =
    ConvEntry<dnnl::convolution_backward_weights::primitive_desc, dnnl::convolution_backward_weights>;

std::unique_ptr<BackpropFilterEntry> MakeEntry(const ConvGeometry& g) {
  auto e = std::make_unique<BackpropFilterEntry>();
  dnnl::convolution_backward_weights::desc desc(
      dnnl::algorithm::convolution_direct, ActivationDesc(g.n, g.id, g.ih, g.iw, g.ic),
      FilterDesc(g, dnnl::memory::format_tag::any), ActivationDesc(g.n, g.od, g.oh, g.ow, g.oc), Strides(g),
      {0, 0, 0}, PaddingBefore(g), PaddingAfter(g));
  e->pd = dnnl::convolution_backward_weights::primitive_desc(desc, Engine(), ForwardPd(g));
  e->conv = dnnl::convolution_backward_weights(e->pd);
  e->filter = MakeFilterLayout(g, e->pd.diff_weights_desc(), FilterUse::kWritten);
  return e;
}

LruCache<BackpropFilterEntry>& Cache() {
  static thread_local LruCache<BackpropFilterEntry> cache(kPrimitiveCacheCapacity);
  return cache;
}

// conv3dBackpropFilter(x, dy, dw, geometry): writes dw in place; geometry is the forward convolution's.
Napi::Value Conv3DBackpropFilter(const Napi::CallbackInfo& info) {
  ConvGeometry g;
  if (!ReadConvCall(info, "conv3dBackpropFilter(x, dy, dw, geometry)",
                    {{"x", &ConvGeometry::inputSize}, {"dy", &ConvGeometry::outputSize},
                     {"dw", &ConvGeometry::filterSize}},
                    g))
    return info.Env().Undefined();
  return GuardNative(info.Env(), "conv3dBackpropFilter", [&] {
    BackpropFilterEntry& e = Cache().Get(g.Key("conv3dBackpropFilter"), [&] { return MakeEntry(g); });
    ExecuteConv(e.conv, e.filter, FilterUse::kWritten, F32(info[2]), DNNL_ARG_DIFF_WEIGHTS,
                {{DNNL_ARG_SRC, dnnl::memory(e.pd.src_desc(), Engine(), F32(info[0]))},
                 {DNNL_ARG_DIFF_DST, dnnl::memory(e.pd.diff_dst_desc(), Engine(), F32(info[1]))}});
  });
}

}  // namespace

void RegisterConv3DBackpropFilterV2(Napi::Env env, Napi::Object exports) {
  exports.Set("conv3dBackpropFilter", Napi::Function::New(env, Conv3DBackpropFilter, "conv3dBackpropFilter"));
}

}  // namespace voxring
