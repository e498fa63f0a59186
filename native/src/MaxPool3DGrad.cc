// MaxPool3DGrad, NDHWC: each output's dy goes to the input position that won its window. Ties go where tfjs
// sends them (the last maximum in depth, row, column order, as its `>=` scan does), so a window of equal
// values (ReLU zeros) routes its gradient exactly as the plain kernel does.
#include <algorithm>
#include <limits>
#include <vector>
#include "conv_common.h"

namespace voxring {

namespace {

// The clipped input box of output window (od, oh, ow).
struct Box {
  Span d, h, w;
};
Box WindowBox(const ConvGeometry& g, int64_t od, int64_t oh, int64_t ow) {
  return {WindowSpan(od * g.sd - g.padFront, g.kd, g.id), WindowSpan(oh * g.sh - g.padTop, g.kh, g.ih),
          WindowSpan(ow * g.sw - g.padLeft, g.kw, g.iw)};
}

// For each channel, the slot (position in the box's d, h, w scan order) that wins, or -1 when none does
// (all NaN). `best` and `slot` are scratch of g.ic entries.
void Winners(const float* x, const ConvGeometry& g, int64_t n, const Box& box, float* best, int32_t* slot) {
  const int64_t c = g.ic;
  for (int64_t k = 0; k < c; k++) {
    best[k] = -std::numeric_limits<float>::infinity();
    slot[k] = -1;
  }
  int32_t s = 0;
  for (int64_t d = box.d.begin; d < box.d.end; d++)
    for (int64_t h = box.h.begin; h < box.h.end; h++)
      for (int64_t w = box.w.begin; w < box.w.end; w++, s++) {
        const float* in = x + (((n * g.id + d) * g.ih + h) * g.iw + w) * c;
#pragma omp simd
        for (int64_t k = 0; k < c; k++) {
          // Written as masks: GCC keeps a float-compare select over int32 as a branch, which blocks SIMD.
          const float v = in[k], b = best[k];
          const int32_t wins = -static_cast<int32_t>(v >= b);
          best[k] = std::max(b, v);  // equal values leave the same maximum; NaN never replaces b
          slot[k] = (s & wins) | (slot[k] & ~wins);
        }
      }
}

// Windows that tile the input (stride == window): every covered dx element belongs to exactly one window, so
// each window writes its box outright (dy at the winner, 0 elsewhere) and no separate zeroing pass is needed.
void TilePlane(const float* x, const float* dy, float* dx, const ConvGeometry& g, int64_t n, int64_t od,
               float* best, int32_t* slot) {
  const int64_t c = g.ic;
  for (int64_t oh = 0; oh < g.oh; oh++)
    for (int64_t ow = 0; ow < g.ow; ow++) {
      const Box box = WindowBox(g, od, oh, ow);
      Winners(x, g, n, box, best, slot);
      const float* grad = dy + (((n * g.od + od) * g.oh + oh) * g.ow + ow) * c;
      int32_t s = 0;
      for (int64_t d = box.d.begin; d < box.d.end; d++)
        for (int64_t h = box.h.begin; h < box.h.end; h++)
          for (int64_t w = box.w.begin; w < box.w.end; w++, s++) {
            float* out = dx + (((n * g.id + d) * g.ih + h) * g.iw + w) * c;
#pragma omp simd
            for (int64_t k = 0; k < c; k++) {
              const float gk = grad[k];
              out[k] = slot[k] == s ? gk : 0.0f;
            }
          }
    }
}

// Any other windows: dx is zeroed first, then each window adds its dy at its winner.
void ScatterPlane(const float* x, const float* dy, float* dx, const ConvGeometry& g, int64_t n, int64_t od,
                  float* best, int32_t* slot) {
  const int64_t c = g.ic;
  for (int64_t oh = 0; oh < g.oh; oh++)
    for (int64_t ow = 0; ow < g.ow; ow++) {
      const Box box = WindowBox(g, od, oh, ow);
      Winners(x, g, n, box, best, slot);
      const float* grad = dy + (((n * g.od + od) * g.oh + oh) * g.ow + ow) * c;
      const int64_t rows = box.h.end - box.h.begin, cols = box.w.end - box.w.begin;
      for (int64_t k = 0; k < c; k++) {
        if (slot[k] < 0) continue;
        const int64_t d = box.d.begin + slot[k] / (rows * cols);
        const int64_t h = box.h.begin + slot[k] / cols % rows;
        const int64_t w = box.w.begin + slot[k] % cols;
        dx[(((n * g.id + d) * g.ih + h) * g.iw + w) * c + k] += grad[k];
      }
    }
}

// Zeroes the dx elements no tiling window covers: the tails past the last window along each axis.
void ZeroUncovered(float* dx, const ConvGeometry& g) {
  const int64_t c = g.ic;
  const int64_t dEnd = std::min(g.id, g.od * g.kd - g.padFront);
  const int64_t hEnd = std::min(g.ih, g.oh * g.kh - g.padTop);
  const int64_t wEnd = std::min(g.iw, g.ow * g.kw - g.padLeft);
#pragma omp for schedule(static) collapse(2)
  for (int64_t n = 0; n < g.n; n++)
    for (int64_t d = 0; d < g.id; d++) {
      float* slab = dx + (n * g.id + d) * g.ih * g.iw * c;
      if (d >= dEnd) {
        std::fill(slab, slab + g.ih * g.iw * c, 0.0f);
        continue;
      }
      std::fill(slab + hEnd * g.iw * c, slab + g.ih * g.iw * c, 0.0f);
      for (int64_t h = 0; h < hEnd; h++) std::fill(slab + (h * g.iw + wEnd) * c, slab + (h + 1) * g.iw * c, 0.0f);
    }
}

void MaxPoolBackward(const float* x, const float* dy, float* dx, const ConvGeometry& g) {
  const bool tiles = g.sd == g.kd && g.sh == g.kh && g.sw == g.kw;
  // Windows that overlap along depth would let two threads add into one dx element; then only batch
  // entries run in parallel.
  const bool disjoint = g.sd >= g.kd;
  const int64_t planes = g.n * g.od;
  const int64_t size = g.inputSize();
#pragma omp parallel if (size > 32768)
  {
    std::vector<float> best(g.ic);
    std::vector<int32_t> slot(g.ic);
    if (tiles) {
      ZeroUncovered(dx, g);
#pragma omp for schedule(static)
      for (int64_t plane = 0; plane < planes; plane++)
        TilePlane(x, dy, dx, g, plane / g.od, plane % g.od, best.data(), slot.data());
    } else {
      // dx arrives uninitialised; the loop's barrier orders the zeroing before the scatter.
      constexpr int64_t kChunk = 1 << 16;
#pragma omp for schedule(static)
      for (int64_t begin = 0; begin < size; begin += kChunk)
        std::fill(dx + begin, dx + std::min(begin + kChunk, size), 0.0f);
      if (disjoint) {
#pragma omp for schedule(static)
        for (int64_t plane = 0; plane < planes; plane++)
          ScatterPlane(x, dy, dx, g, plane / g.od, plane % g.od, best.data(), slot.data());
      } else {
#pragma omp for schedule(static)
        for (int64_t n = 0; n < g.n; n++)
          for (int64_t od = 0; od < g.od; od++) ScatterPlane(x, dy, dx, g, n, od, best.data(), slot.data());
      }
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
