// MaxPool3D forward, NDHWC, hand-written: a max over a window is memory-bound and the channel run is
// contiguous, so a plain vectorisable loop beats oneDNN's pooling plus the workspace tfjs has no place for.
// Semantics are tfjs's: padding never wins (windows are clipped), NaN inputs are skipped.
#include <limits>
#include "conv_common.h"

namespace voxring {

namespace {

void MaxPoolForward(const float* x, float* y, const ConvGeometry& g) {
  const int64_t c = g.ic;
  const int64_t planes = g.n * g.od;
#pragma omp parallel for schedule(static) if (g.outputSize() > 32768)
  for (int64_t plane = 0; plane < planes; plane++) {
    const int64_t n = plane / g.od, od = plane % g.od;
    const Span sd = WindowSpan(od * g.sd - g.padFront, g.kd, g.id);
    for (int64_t oh = 0; oh < g.oh; oh++) {
      const Span sh = WindowSpan(oh * g.sh - g.padTop, g.kh, g.ih);
      for (int64_t ow = 0; ow < g.ow; ow++) {
        const Span sw = WindowSpan(ow * g.sw - g.padLeft, g.kw, g.iw);
        float* out = y + (((n * g.od + od) * g.oh + oh) * g.ow + ow) * c;
        for (int64_t k = 0; k < c; k++) out[k] = -std::numeric_limits<float>::infinity();
        for (int64_t d = sd.begin; d < sd.end; d++)
          for (int64_t h = sh.begin; h < sh.end; h++)
            for (int64_t w = sw.begin; w < sw.end; w++) {
              const float* in = x + (((n * g.id + d) * g.ih + h) * g.iw + w) * c;
#pragma omp simd
              for (int64_t k = 0; k < c; k++) out[k] = in[k] > out[k] ? in[k] : out[k];
            }
      }
    }
  }
}

// maxPool3d(x, y, geometry): writes y in place; geometry has oc == ic and the window as the filter extent.
Napi::Value MaxPool3D(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ConvGeometry g;
  if (info.Length() != 3) {
    Napi::TypeError::New(env, "maxPool3d(x, y, geometry)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!ReadConvGeometry(env, info[2], g)) return env.Undefined();
  if (g.oc != g.ic) {
    Napi::TypeError::New(env, "maxPool3d: geometry must keep the channel count").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!CheckFloat32(env, info[0], "x", g.inputSize()) || !CheckFloat32(env, info[1], "y", g.outputSize()))
    return env.Undefined();
  MaxPoolForward(F32(info[0]), F32(info[1]), g);
  return env.Undefined();
}

}  // namespace

void RegisterMaxPool3D(Napi::Env env, Napi::Object exports) {
  exports.Set("maxPool3d", Napi::Function::New(env, MaxPool3D, "maxPool3d"));
}

}  // namespace voxring
