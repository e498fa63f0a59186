// Soft Dice loss over K classes on channels-last logits seen as voxels × K: softmax and the three Dice sums in
// one pass, and the gradient with respect to the logits in one pass. Labels outside [0, K) count as background
// of no class (an all-zero one-hot row), as tf.oneHot makes them.
// No FP exception is ever unmasked here, and under GCC's default -ftrapping-math the compares in the exp below
// count as possible traps, which keeps its loop scalar.
#pragma GCC optimize("no-trapping-math")
#include <cmath>
#include <cstring>
#include "act_common.h"

namespace voxring {

namespace {

constexpr int64_t kMaxClasses = 256;

bool ReadDiceShape(const Napi::Env& env, const Napi::Value& voxels, const Napi::Value& classes, int64_t& v,
                   int64_t& k) {
  if (!ReadCount(env, voxels, "voxels", v) || !ReadCount(env, classes, "classes", k)) return false;
  if (k < 1 || k > kMaxClasses) return Fail(env, "classes must be in [1, 256]");
  return true;
}

// exp on (−∞, 0] (softmax inputs after subtracting the row maximum) as Cephes' expf: 2^n · p(r), about 1 ulp.
// Inline arithmetic only, so that a loop over a buffer of it vectorises (libm's expf does not).
inline float ExpNonPositive(float x) {
  x = std::max(x, -87.0f);
  // Round to nearest by adding and removing 1.5·2^23 (nearbyint is a libm call that blocks vectorisation).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n built from the bits of n + 1.5·2^23 + 127, whose low mantissa bits hold n + 127 (a float to int
  // conversion would count as a possible trap too).
  const float biased = n + (12582912.0f + 127.0f);
  int32_t biasedBits;
  std::memcpy(&biasedBits, &biased, sizeof biasedBits);
  const int32_t bits = (biasedBits - 0x4B400000) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

constexpr int64_t kChunkVoxels = 64;

// Softmax and Dice sums over one block of voxels into its double partials. KT > 0 fixes K at compile time so the
// per-voxel loops over classes unroll (the U-Net has 3 classes); KT = 0 reads K at run time.
template <int KT>
void DiceForwardBlock(const float* logits, const int32_t* labels, float* probs, int64_t begin, int64_t end,
                      int64_t runtimeK, double* inter, double* pred, double* truth, std::vector<float>& scratch) {
  const int64_t K = KT > 0 ? KT : runtimeK;
  scratch.resize(static_cast<size_t>(kChunkVoxels * K * 3 + 3 * K));
  float* e = scratch.data();
  float* interF = e + kChunkVoxels * K;
  float* predF = interF + K;
  float* truthF = predF + K;
  for (int64_t v0 = begin; v0 < end; v0 += kChunkVoxels) {
    const int64_t count = std::min(kChunkVoxels, end - v0);
    const float* z = logits + v0 * K;
    for (int64_t v = 0; v < count; v++) {
      float zMax = z[v * K];
      for (int64_t k = 1; k < K; k++) zMax = std::max(zMax, z[v * K + k]);
      for (int64_t k = 0; k < K; k++) e[v * K + k] = z[v * K + k] - zMax;
    }
    for (int64_t i = 0; i < count * K; i++) e[i] = ExpNonPositive(e[i]);
    std::fill(interF, interF + 3 * K, 0.0f);
    float* p = probs + v0 * K;
    for (int64_t v = 0; v < count; v++) {
      float total = 0;
      for (int64_t k = 0; k < K; k++) total += e[v * K + k];
      const float inv = 1.0f / total;
      for (int64_t k = 0; k < K; k++) {
        const float pk = e[v * K + k] * inv;
        p[v * K + k] = pk;
        predF[k] += pk;
      }
      const int32_t label = labels[v0 + v];
      if (label >= 0 && label < K) {
        interF[label] += p[v * K + label];
        truthF[label] += 1.0f;
      }
    }
    for (int64_t k = 0; k < K; k++) {
      inter[k] += interF[k];
      pred[k] += predF[k];
      truth[k] += truthF[k];
    }
  }
}

// softDiceLoss(logits, labels, probs, sums, voxels, classes, smooth) → loss.
// sums receives [intersect(K), predSum(K), truthSum(K)].
Napi::Value Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 7) {
    Fail(env, "softDiceLoss(logits, labels, probs, sums, voxels, classes, smooth)");
    return env.Undefined();
  }
  int64_t V = 0, K = 0;
  double smooth = 0;
  if (!ReadDiceShape(env, info[4], info[5], V, K) || !ReadNumber(env, info[6], "smooth", smooth) ||
      !CheckFloat32(env, info[0], "logits", V * K) || !CheckInt32(env, info[1], "labels", V) ||
      !CheckFloat32(env, info[2], "probs", V * K) || !CheckFloat32(env, info[3], "sums", 3 * K))
    return env.Undefined();
  const float* logits = F32(info[0]);
  const int32_t* labels = info[1].As<Napi::Int32Array>().Data();
  float* probs = F32(info[2]);
  float* sums = F32(info[3]);

  const int64_t blockRows = ReduceBlockRows(K);
  const int64_t blocks = (V + blockRows - 1) / blockRows;
  // Per block: intersect, predSum, truthSum (K each). Block-indexed so that threads never share a partial.
  std::vector<double> partial(static_cast<size_t>(blocks * 3 * K), 0.0);
#pragma omp parallel if (V * K >= kParallelMinElements)
  {
    std::vector<float> scratch;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
      double* inter = partial.data() + b * 3 * K;
      const int64_t begin = b * blockRows, end = std::min(V, (b + 1) * blockRows);
      if (K == 3)
        DiceForwardBlock<3>(logits, labels, probs, begin, end, K, inter, inter + K, inter + 2 * K, scratch);
      else if (K == 2)
        DiceForwardBlock<2>(logits, labels, probs, begin, end, K, inter, inter + K, inter + 2 * K, scratch);
      else
        DiceForwardBlock<0>(logits, labels, probs, begin, end, K, inter, inter + K, inter + 2 * K, scratch);
    }
  }
  std::vector<double> total(static_cast<size_t>(3 * K), 0.0);
  for (int64_t b = 0; b < blocks; b++)
    for (int64_t i = 0; i < 3 * K; i++) total[i] += partial[b * 3 * K + i];
  double meanDice = 0;
  for (int64_t k = 0; k < K; k++) {
    meanDice += (2 * total[k] + smooth) / (total[K + k] + total[2 * K + k] + smooth);
  }
  for (int64_t i = 0; i < 3 * K; i++) sums[i] = static_cast<float>(total[i]);
  return Napi::Number::New(env, 1.0 - meanDice / K);
}

template <int KT>
void DiceBackward(const float* probs, const int32_t* labels, float* dlogits, int64_t V, int64_t runtimeK,
                  const float* c, const float* b, float scale) {
  const int64_t K = KT > 0 ? KT : runtimeK;
#pragma omp parallel for schedule(static) if (V * K >= kParallelMinElements)
  for (int64_t v = 0; v < V; v++) {
    const float* p = probs + v * K;
    float* d = dlogits + v * K;
    const int32_t label = labels[v];
    const bool valid = label >= 0 && label < K;
    float dot = 0;
    for (int64_t k = 0; k < K; k++) dot += p[k] * c[k];
    if (valid) dot -= p[label] * b[label];
    for (int64_t k = 0; k < K; k++) d[k] = scale * p[k] * (c[k] - dot);
    if (valid) d[label] -= scale * p[label] * b[label];
  }
}

// softDiceLossGrad(dloss, probs, labels, sums, dlogits, voxels, classes, smooth).
// ∂loss/∂p_vk = c_k − [label_v = k]·b_k with c_k = (2I_k + s)/(K·(P_k + T_k + s)²), b_k = 2/(K·(P_k + T_k + s));
// through the softmax: dlogit_vk = dloss · p_vk · (a_vk − Σ_j p_vj a_vj).
Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 8) {
    Fail(env, "softDiceLossGrad(dloss, probs, labels, sums, dlogits, voxels, classes, smooth)");
    return env.Undefined();
  }
  int64_t V = 0, K = 0;
  double smooth = 0, dloss = 0;
  if (!ReadNumber(env, info[0], "dloss", dloss) || !ReadDiceShape(env, info[5], info[6], V, K) ||
      !ReadNumber(env, info[7], "smooth", smooth) || !CheckFloat32(env, info[1], "probs", V * K) ||
      !CheckInt32(env, info[2], "labels", V) || !CheckFloat32(env, info[3], "sums", 3 * K) ||
      !CheckFloat32(env, info[4], "dlogits", V * K))
    return env.Undefined();
  const float* probs = F32(info[1]);
  const int32_t* labels = info[2].As<Napi::Int32Array>().Data();
  const float* sums = F32(info[3]);
  float* dlogits = F32(info[4]);
  std::vector<float> c(K), b(K);
  for (int64_t k = 0; k < K; k++) {
    const double den = static_cast<double>(sums[K + k]) + sums[2 * K + k] + smooth;
    c[k] = static_cast<float>((2.0 * sums[k] + smooth) / (K * den * den));
    b[k] = static_cast<float>(2.0 / (K * den));
  }
  const float scale = static_cast<float>(dloss);
  if (K == 3)
    DiceBackward<3>(probs, labels, dlogits, V, K, c.data(), b.data(), scale);
  else if (K == 2)
    DiceBackward<2>(probs, labels, dlogits, V, K, c.data(), b.data(), scale);
  else
    DiceBackward<0>(probs, labels, dlogits, V, K, c.data(), b.data(), scale);
  return env.Undefined();
}

}  // namespace

void RegisterVoxSoftDiceLoss(Napi::Env env, Napi::Object exports) {
  exports.Set("softDiceLoss", Napi::Function::New(env, Forward, "softDiceLoss"));
  exports.Set("softDiceLossGrad", Napi::Function::New(env, Backward, "softDiceLossGrad"));
}

}  // namespace voxring
