// Conv3D forward on oneDNN: y = conv(x, filter), x and y NDHWC, filter DHWIO as tfjs holds them. The filter is
// reordered into oneDNN's blocked layout on every call (weights change every step; the reorder is tiny next to
// the convolution), into a buffer the cache entry owns.
#include "conv_common.h"

namespace voxring {

namespace {

struct Conv3DEntry {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward conv;
  dnnl::memory::desc userWeights;
  bool reorderWeights;
  dnnl::reorder weightsReorder;
  dnnl::memory weights;
};

std::unique_ptr<Conv3DEntry> MakeEntry(const ConvGeometry& g) {
  auto e = std::make_unique<Conv3DEntry>();
  e->pd = ForwardPd(g);
  e->conv = dnnl::convolution_forward(e->pd);
  e->userWeights = FilterDesc(g, dnnl::memory::format_tag::dhwio);
  e->reorderWeights = e->pd.weights_desc() != e->userWeights;
  if (e->reorderWeights) {
    e->weights = dnnl::memory(e->pd.weights_desc(), Engine());
    e->weightsReorder =
        dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), e->userWeights, Engine(), e->pd.weights_desc()));
  }
  return e;
}

LruCache<Conv3DEntry>& Cache() {
  static LruCache<Conv3DEntry> cache(kPrimitiveCacheCapacity);
  return cache;
}

// conv3d(x, filter, y, geometry): writes y in place.
Napi::Value Conv3D(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ConvGeometry g;
  if (info.Length() != 4) {
    Napi::TypeError::New(env, "conv3d(x, filter, y, geometry)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!ReadConvGeometry(env, info[3], g) || !CheckFloat32(env, info[0], "x", g.inputSize()) ||
      !CheckFloat32(env, info[1], "filter", g.filterSize()) || !CheckFloat32(env, info[2], "y", g.outputSize()))
    return env.Undefined();
  return GuardNative(env, "conv3d", [&] {
    Conv3DEntry& e = Cache().Get(g.Key("conv3d"), [&] { return MakeEntry(g); });
    dnnl::memory x(e.pd.src_desc(), Engine(), F32(info[0]));
    dnnl::memory userWeights(e.userWeights, Engine(), F32(info[1]));
    dnnl::memory y(e.pd.dst_desc(), Engine(), F32(info[2]));
    if (e.reorderWeights) ReorderFilter(e.weightsReorder, userWeights, e.weights);
    e.conv.execute(Stream(), {{DNNL_ARG_SRC, x},
                              {DNNL_ARG_WEIGHTS, e.reorderWeights ? e.weights : userWeights},
                              {DNNL_ARG_DST, y}});
    Stream().wait();
  });
}

}  // namespace

void RegisterConv3D(Napi::Env env, Napi::Object exports) {
  exports.Set("conv3d", Napi::Function::New(env, Conv3D, "conv3d"));
}

}  // namespace voxring
