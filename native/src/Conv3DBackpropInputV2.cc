// Conv3D backward data on oneDNN: dx = conv3dBackpropInput(dy, filter); also the forward pass of
// conv3dTranspose (the decoder's up-sampling). dy and dx NDHWC, filter DHWIO, reordered per call as in Conv3D.
#include "conv_common.h"

namespace voxring {

namespace {

struct BackpropInputEntry {
  dnnl::convolution_backward_data::primitive_desc pd;
  dnnl::convolution_backward_data conv;
  dnnl::memory::desc userWeights;
  bool reorderWeights;
  dnnl::reorder weightsReorder;
  dnnl::memory weights;
};

std::unique_ptr<BackpropInputEntry> MakeEntry(const ConvGeometry& g) {
  auto e = std::make_unique<BackpropInputEntry>();
  dnnl::convolution_backward_data::desc desc(
      dnnl::algorithm::convolution_direct, ActivationDesc(g.n, g.id, g.ih, g.iw, g.ic),
      FilterDesc(g, dnnl::memory::format_tag::any), ActivationDesc(g.n, g.od, g.oh, g.ow, g.oc), Strides(g),
      {0, 0, 0}, PaddingBefore(g), PaddingAfter(g));
  e->pd = dnnl::convolution_backward_data::primitive_desc(desc, Engine(), ForwardPd(g));
  e->conv = dnnl::convolution_backward_data(e->pd);
  e->userWeights = FilterDesc(g, dnnl::memory::format_tag::dhwio);
  e->reorderWeights = e->pd.weights_desc() != e->userWeights;
  if (e->reorderWeights) {
    e->weights = dnnl::memory(e->pd.weights_desc(), Engine());
    e->weightsReorder =
        dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), e->userWeights, Engine(), e->pd.weights_desc()));
  }
  return e;
}

LruCache<BackpropInputEntry>& Cache() {
  static LruCache<BackpropInputEntry> cache(kPrimitiveCacheCapacity);
  return cache;
}

// conv3dBackpropInput(dy, filter, dx, geometry): writes dx in place; geometry is the forward convolution's.
Napi::Value Conv3DBackpropInput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ConvGeometry g;
  if (info.Length() != 4) {
    Napi::TypeError::New(env, "conv3dBackpropInput(dy, filter, dx, geometry)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!ReadConvGeometry(env, info[3], g) || !CheckFloat32(env, info[0], "dy", g.outputSize()) ||
      !CheckFloat32(env, info[1], "filter", g.filterSize()) || !CheckFloat32(env, info[2], "dx", g.inputSize()))
    return env.Undefined();
  return GuardNative(env, "conv3dBackpropInput", [&] {
    BackpropInputEntry& e = Cache().Get(g.Key("conv3dBackpropInput"), [&] { return MakeEntry(g); });
    dnnl::memory dy(e.pd.diff_dst_desc(), Engine(), F32(info[0]));
    dnnl::memory userWeights(e.userWeights, Engine(), F32(info[1]));
    dnnl::memory dx(e.pd.diff_src_desc(), Engine(), F32(info[2]));
    if (e.reorderWeights) ReorderFilter(e.weightsReorder, userWeights, e.weights);
    e.conv.execute(Stream(), {{DNNL_ARG_DIFF_DST, dy},
                              {DNNL_ARG_WEIGHTS, e.reorderWeights ? e.weights : userWeights},
                              {DNNL_ARG_DIFF_SRC, dx}});
    Stream().wait();
  });
}

}  // namespace

void RegisterConv3DBackpropInputV2(Napi::Env env, Napi::Object exports) {
  exports.Set("conv3dBackpropInput", Napi::Function::New(env, Conv3DBackpropInput, "conv3dBackpropInput"));
}

}  // namespace voxring
