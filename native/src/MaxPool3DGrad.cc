// MaxPool3DGrad, NDHWC: each output's dy goes to the input position that won its window. Ties go where tfjs
// sends them (the last maximum in depth, row, column order, as its `>=` scan does), so a window of equal
// values (ReLU zeros) routes its gradient exactly as the plain kernel does.
#include <algorithm>
#include <limits>
#include <vector>
#include "conv_common.h"

namespace voxring {

namespace {

// Scatters the dy of every window in output plane (n, od) into dx; `best`/`where` are scratch of c entries.
void ScatterPlane(const float* x, const float* dy, float* dx, const ConvGeometry& g, int64_t n, int64_t od,
                  float* best, int64_t* where) {
  const int64_t c = g.ic;
  const Span sd = WindowSpan(od * g.sd - g.padFront, g.kd, g.id);
  for (int64_t oh = 0; oh < g.oh; oh++) {
    const Span sh = WindowSpan(oh * g.sh - g.padTop, g.kh, g.ih);
    for (int64_t ow = 0; ow < g.ow; ow++) {
      const Span sw = WindowSpan(ow * g.sw - g.padLeft, g.kw, g.iw);
      for (int64_t k = 0; k < c; k++) {
        best[k] = -std::numeric_limits<float>::infinity();
        where[k] = -1;
      }
      for (int64_t d = sd.begin; d < sd.end; d++)
        for (int64_t h = sh.begin; h < sh.end; h++)
          for (int64_t w = sw.begin; w < sw.end; w++) {
            const int64_t at = (((n * g.id + d) * g.ih + h) * g.iw + w) * c;
            const float* in = x + at;
            for (int64_t k = 0; k < c; k++) {
              const bool wins = in[k] >= best[k];
              best[k] = wins ? in[k] : best[k];
              where[k] = wins ? at + k : where[k];
            }
          }
      const float* grad = dy + (((n * g.od + od) * g.oh + oh) * g.ow + ow) * c;
      for (int64_t k = 0; k < c; k++)
        if (where[k] >= 0) dx[where[k]] += grad[k];
    }
  }
}

void MaxPoolBackward(const float* x, const float* dy, float* dx, const ConvGeometry& g) {
  // Windows that overlap along depth would let two threads add into one dx element; then only batch
  // entries run in parallel. The U-Net's 2×2×2 stride-2 pooling never overlaps.
  const bool disjoint = g.sd >= g.kd;
  const int64_t planes = g.n * g.od;
  const bool parallel = g.inputSize() > 32768;
#pragma omp parallel if (parallel)
  {
    std::vector<float> best(g.ic);
    std::vector<int64_t> where(g.ic);
    // dx arrives uninitialised; zeroed by all threads (the loop's barrier orders it before the scatter).
    const int64_t size = g.inputSize();
    constexpr int64_t kChunk = 1 << 16;
#pragma omp for schedule(static)
    for (int64_t begin = 0; begin < size; begin += kChunk)
      std::fill(dx + begin, dx + std::min(begin + kChunk, size), 0.0f);
    if (disjoint) {
#pragma omp for schedule(static)
      for (int64_t plane = 0; plane < planes; plane++)
        ScatterPlane(x, dy, dx, g, plane / g.od, plane % g.od, best.data(), where.data());
    } else {
#pragma omp for schedule(static)
      for (int64_t n = 0; n < g.n; n++)
        for (int64_t od = 0; od < g.od; od++) ScatterPlane(x, dy, dx, g, n, od, best.data(), where.data());
    }
  }
}

// maxPool3dGrad(dy, x, dx, geometry): writes dx in place; x is the forward input.
Napi::Value MaxPool3DGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ConvGeometry g;
  if (info.Length() != 4) {
    Napi::TypeError::New(env, "maxPool3dGrad(dy, x, dx, geometry)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!ReadConvGeometry(env, info[3], g)) return env.Undefined();
  if (g.oc != g.ic) {
    Napi::TypeError::New(env, "maxPool3dGrad: geometry must keep the channel count").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!CheckFloat32(env, info[0], "dy", g.outputSize()) || !CheckFloat32(env, info[1], "x", g.inputSize()) ||
      !CheckFloat32(env, info[2], "dx", g.inputSize()))
    return env.Undefined();
  MaxPoolBackward(F32(info[1]), F32(info[0]), F32(info[2]), g);
  return env.Undefined();
}

}  // namespace

void RegisterMaxPool3DGrad(Napi::Env env, Napi::Object exports) {
  exports.Set("maxPool3dGrad", Napi::Function::New(env, MaxPool3DGrad, "maxPool3dGrad"));
}

}  // namespace voxring
