#include "conv_common.h"
#include <omp.h>

namespace voxring {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

std::string ConvGeometry::Key(const char* kind) const {
  std::string key(kind);
  for (int64_t v : {n, id, ih, iw, ic, od, oh, ow, oc, kd, kh, kw, sd, sh, sw, padFront, padTop, padLeft, padBack,
                    padBottom, padRight})
    key += ":" + std::to_string(v);
  // oneDNN fixes a primitive's thread partitioning when it is created: after setNumThreads the cache must
  // build new ones rather than run old ones with the old team size.
  return key + ":threads" + std::to_string(omp_get_max_threads());
}

bool ReadConvGeometry(const Napi::Env& env, const Napi::Value& v, ConvGeometry& g) {
  std::vector<int64_t> f;
  if (!ReadDims(env, v, "geometry", f)) return false;
  if (f.size() != kConvGeometryFields) {
    Napi::TypeError::New(env, "geometry must hold " + std::to_string(kConvGeometryFields) + " integers")
        .ThrowAsJavaScriptException();
    return false;
  }
  g = ConvGeometry{f[0],  f[1],  f[2],  f[3],  f[4],  f[5],  f[6],  f[7],  f[8],  f[9],  f[10],
                   f[11], f[12], f[13], f[14], f[15], f[16], f[17], f[18], f[19], f[20]};
  for (int64_t d : {g.n, g.id, g.ih, g.iw, g.ic, g.od, g.oh, g.ow, g.oc, g.kd, g.kh, g.kw, g.sd, g.sh, g.sw}) {
    if (d < 1) {
      Napi::TypeError::New(env, "geometry: sizes, window and strides must be positive").ThrowAsJavaScriptException();
      return false;
    }
  }
  return true;
}

dnnl::memory::desc ActivationDesc(int64_t n, int64_t d, int64_t h, int64_t w, int64_t c) {
  return dnnl::memory::desc({n, c, d, h, w}, dt::f32, tag::ndhwc);
}

dnnl::memory::desc FilterDesc(const ConvGeometry& g, tag t) {
  return dnnl::memory::desc({g.oc, g.ic, g.kd, g.kh, g.kw}, dt::f32, t);
}

dnnl::memory::dims Strides(const ConvGeometry& g) { return {g.sd, g.sh, g.sw}; }
dnnl::memory::dims PaddingBefore(const ConvGeometry& g) { return {g.padFront, g.padTop, g.padLeft}; }
dnnl::memory::dims PaddingAfter(const ConvGeometry& g) { return {g.padBack, g.padBottom, g.padRight}; }

dnnl::convolution_forward::primitive_desc ForwardPd(const ConvGeometry& g) {
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                       ActivationDesc(g.n, g.id, g.ih, g.iw, g.ic), FilterDesc(g, tag::any),
                                       ActivationDesc(g.n, g.od, g.oh, g.ow, g.oc), Strides(g), {0, 0, 0},
                                       PaddingBefore(g), PaddingAfter(g));
  return dnnl::convolution_forward::primitive_desc(desc, Engine());
}

bool ReadConvCall(const Napi::CallbackInfo& info, const char* usage, const ConvArray (&arrays)[3], ConvGeometry& g) {
  Napi::Env env = info.Env();
  if (info.Length() != 4) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return false;
  }
  if (!ReadConvGeometry(env, info[3], g)) return false;
  for (size_t i = 0; i < 3; ++i) {
    if (!CheckFloat32(env, info[i], arrays[i].name, (g.*arrays[i].size)())) return false;
  }
  return true;
}

FilterLayout MakeFilterLayout(const ConvGeometry& g, const dnnl::memory::desc& primitiveWeights, FilterUse use) {
  FilterLayout f;
  f.user = FilterDesc(g, tag::dhwio);
  f.reorder = primitiveWeights != f.user;
  if (f.reorder) {
    f.blocked = dnnl::memory(primitiveWeights, Engine());
    f.convert = use == FilterUse::kRead
                    ? dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), f.user, Engine(), primitiveWeights))
                    : dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), primitiveWeights, Engine(), f.user));
  }
  return f;
}

void ExecuteConv(dnnl::primitive& conv, FilterLayout& filter, FilterUse use, float* filterData, int filterArg,
                 std::unordered_map<int, dnnl::memory> args) {
  dnnl::memory user(filter.user, Engine(), filterData);
  if (filter.reorder && use == FilterUse::kRead) ReorderFilter(filter.convert, user, filter.blocked);
  args[filterArg] = filter.reorder ? filter.blocked : user;
  conv.execute(Stream(), args);
  if (filter.reorder && use == FilterUse::kWritten) ReorderFilter(filter.convert, filter.blocked, user);
  Stream().wait();
}

void ReorderFilter(dnnl::reorder& reorder, dnnl::memory& from, dnnl::memory& to) {
  constexpr size_t kSerialBytes = 1 << 20;
  const bool serial = from.get_desc().get_size() < kSerialBytes;
  struct ThreadCount {  // restores the team size even when execute throws
    int saved = omp_get_max_threads();
    explicit ThreadCount(bool one) {
      if (one) omp_set_num_threads(1);
    }
    ~ThreadCount() { omp_set_num_threads(saved); }
  } threads(serial);
  reorder.execute(Stream(), from, to);
}

Napi::Value GuardNative(const Napi::Env& env, const char* where, const std::function<void()>& body) {
  try {
    body();
  } catch (const dnnl::error& e) {
    Napi::Error::New(env, std::string(where) + ": oneDNN: " + e.what()).ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    Napi::Error::New(env, std::string(where) + ": " + e.what()).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

}  // namespace voxring
