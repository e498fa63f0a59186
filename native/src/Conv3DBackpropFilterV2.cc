// Conv3D backward weights on oneDNN: dw = conv3dBackpropFilter(x, dy), x and dy NDHWC, dw DHWIO. oneDNN
// accumulates into its blocked layout (owned by the cache entry), then one reorder writes tfjs's layout.
#include "conv_common.h"

namespace voxring {

namespace {

struct BackpropFilterEntry {
  dnnl::convolution_backward_weights::primitive_desc pd;
  dnnl::convolution_backward_weights conv;
  dnnl::memory::desc userWeights;
  bool reorderWeights;
  dnnl::reorder weightsReorder;
  dnnl::memory weights;
};

std::unique_ptr<BackpropFilterEntry> MakeEntry(const ConvGeometry& g) {
  auto e = std::make_unique<BackpropFilterEntry>();
  dnnl::convolution_backward_weights::desc desc(
      dnnl::algorithm::convolution_direct, ActivationDesc(g.n, g.id, g.ih, g.iw, g.ic),
      FilterDesc(g, dnnl::memory::format_tag::any), ActivationDesc(g.n, g.od, g.oh, g.ow, g.oc), Strides(g),
      {0, 0, 0}, PaddingBefore(g), PaddingAfter(g));
  e->pd = dnnl::convolution_backward_weights::primitive_desc(desc, Engine(), ForwardPd(g));
  e->conv = dnnl::convolution_backward_weights(e->pd);
  e->userWeights = FilterDesc(g, dnnl::memory::format_tag::dhwio);
  e->reorderWeights = e->pd.diff_weights_desc() != e->userWeights;
  if (e->reorderWeights) {
    e->weights = dnnl::memory(e->pd.diff_weights_desc(), Engine());
    e->weightsReorder =
        dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), e->pd.diff_weights_desc(), Engine(), e->userWeights));
  }
  return e;
}

LruCache<BackpropFilterEntry>& Cache() {
  static LruCache<BackpropFilterEntry> cache(kPrimitiveCacheCapacity);
  return cache;
}

// conv3dBackpropFilter(x, dy, dw, geometry): writes dw in place; geometry is the forward convolution's.
Napi::Value Conv3DBackpropFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ConvGeometry g;
  if (info.Length() != 4) {
    Napi::TypeError::New(env, "conv3dBackpropFilter(x, dy, dw, geometry)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!ReadConvGeometry(env, info[3], g) || !CheckFloat32(env, info[0], "x", g.inputSize()) ||
      !CheckFloat32(env, info[1], "dy", g.outputSize()) || !CheckFloat32(env, info[2], "dw", g.filterSize()))
    return env.Undefined();
  return GuardNative(env, "conv3dBackpropFilter", [&] {
    BackpropFilterEntry& e = Cache().Get(g.Key("conv3dBackpropFilter"), [&] { return MakeEntry(g); });
    dnnl::memory x(e.pd.src_desc(), Engine(), F32(info[0]));
    dnnl::memory dy(e.pd.diff_dst_desc(), Engine(), F32(info[1]));
    dnnl::memory userWeights(e.userWeights, Engine(), F32(info[2]));
    e.conv.execute(Stream(), {{DNNL_ARG_SRC, x},
                              {DNNL_ARG_DIFF_DST, dy},
                              {DNNL_ARG_DIFF_WEIGHTS, e.reorderWeights ? e.weights : userWeights}});
    if (e.reorderWeights) ReorderFilter(e.weightsReorder, e.weights, userWeights);
    Stream().wait();
  });
}

}  // namespace

void RegisterConv3DBackpropFilterV2(Napi::Env env, Napi::Object exports) {
  exports.Set("conv3dBackpropFilter", Napi::Function::New(env, Conv3DBackpropFilter, "conv3dBackpropFilter"));
}

}  // namespace voxring
