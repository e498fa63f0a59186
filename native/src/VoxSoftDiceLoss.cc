// Soft Dice loss over K classes on channels-last logits seen as voxels × K: softmax and the three Dice sums in
// one pass, and the gradient with respect to the logits in one pass. Labels outside [0, K) count as background
// of no class (an all-zero one-hot row), as tf.oneHot makes them.
#include <cmath>
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
#pragma omp parallel for schedule(static) if (V * K >= kParallelMinElements)
  for (int64_t b = 0; b < blocks; b++) {
    double* inter = partial.data() + b * 3 * K;
    double* pred = inter + K;
    double* truth = pred + K;
    const int64_t end = std::min(V, (b + 1) * blockRows);
    for (int64_t v = b * blockRows; v < end; v++) {
      const float* z = logits + v * K;
      float* p = probs + v * K;
      float zMax = z[0];
      for (int64_t k = 1; k < K; k++) zMax = std::max(zMax, z[k]);
      float total = 0;
      for (int64_t k = 0; k < K; k++) {
        p[k] = std::exp(z[k] - zMax);
        total += p[k];
      }
      const float inv = 1.0f / total;
      for (int64_t k = 0; k < K; k++) {
        p[k] *= inv;
        pred[k] += p[k];
      }
      const int32_t label = labels[v];
      if (label >= 0 && label < K) {
        inter[label] += p[label];
        truth[label] += 1.0;
      }
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
#pragma omp parallel for schedule(static) if (V * K >= kParallelMinElements)
  for (int64_t v = 0; v < V; v++) {
    const float* p = probs + v * K;
    float* d = dlogits + v * K;
    const int32_t label = labels[v];
    float dot = 0;
    for (int64_t k = 0; k < K; k++) dot += p[k] * c[k];
    if (label >= 0 && label < K) dot -= p[label] * b[label];
    for (int64_t k = 0; k < K; k++) d[k] = scale * p[k] * (c[k] - dot);
    if (label >= 0 && label < K) d[label] -= scale * p[label] * b[label];
  }
  return env.Undefined();
}

}  // namespace

void RegisterVoxSoftDiceLoss(Napi::Env env, Napi::Object exports) {
  exports.Set("softDiceLoss", Napi::Function::New(env, Forward, "softDiceLoss"));
  exports.Set("softDiceLossGrad", Napi::Function::New(env, Backward, "softDiceLossGrad"));
}

}  // namespace voxring
