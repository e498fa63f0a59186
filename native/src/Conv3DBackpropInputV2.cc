// Conv3D backward data on oneDNN: dx = conv3dBackpropInput(dy, filter); also the forward pass of
// conv3dTranspose (the decoder's up-sampling). dy and dx NDHWC, filter DHWIO, reordered per call as in Conv3D.
#include "conv_common.h"

namespace voxring {

namespace {

using BackpropInputEntry =
    ConvEntry<dnnl::convolution_backward_data::primitive_desc, dnnl::convolution_backward_data>;

std::unique_ptr<BackpropInputEntry> MakeEntry(const ConvGeometry& g) {
  auto e = std::make_unique<BackpropInputEntry>();
  dnnl::convolution_backward_data::desc desc(
      dnnl::algorithm::convolution_direct, ActivationDesc(g.n, g.id, g.ih, g.iw, g.ic),
      FilterDesc(g, dnnl::memory::format_tag::any), ActivationDesc(g.n, g.od, g.oh, g.ow, g.oc), Strides(g),
      {0, 0, 0}, PaddingBefore(g), PaddingAfter(g));
  e->pd = dnnl::convolution_backward_data::primitive_desc(desc, Engine(), ForwardPd(g));
  e->conv = dnnl::convolution_backward_data(e->pd);
  e->filter = MakeFilterLayout(g, e->pd.weights_desc(), FilterUse::kRead);
  return e;
}

LruCache<BackpropInputEntry>& Cache() {
  static thread_local LruCache<BackpropInputEntry> cache(kPrimitiveCacheCapacity);
  return cache;
}

// conv3dBackpropInput(dy, filter, dx, geometry): writes dx in place; geometry is the forward convolution's.
Napi::Value Conv3DBackpropInput(const Napi::CallbackInfo& info) {
  ConvGeometry g;
  if (!ReadConvCall(info, "conv3dBackpropInput(dy, filter, dx, geometry)",
                    {{"dy", &ConvGeometry::outputSize}, {"filter", &ConvGeometry::filterSize},
                     {"dx", &ConvGeometry::inputSize}},
                    g))
    return info.Env().Undefined();
  return GuardNative(info.Env(), "conv3dBackpropInput", [&] {
    BackpropInputEntry& e = Cache().Get(g.Key("conv3dBackpropInput"), [&] { return MakeEntry(g); });
    ExecuteConv(e.conv, e.filter, FilterUse::kRead, F32(info[1]), DNNL_ARG_WEIGHTS,
                {{DNNL_ARG_DIFF_DST, dnnl::memory(e.pd.diff_dst_desc(), Engine(), F32(info[0]))},
                 {DNNL_ARG_DIFF_SRC, dnnl::memory(e.pd.diff_src_desc(), Engine(), F32(info[2]))}});
  });
}

}  // namespace

void RegisterConv3DBackpropInputV2(Napi::Env env, Napi::Object exports) {
  exports.Set("conv3dBackpropInput", Napi::Function::New(env, Conv3DBackpropInput, "conv3dBackpropInput"));
}

}  // namespace voxring
