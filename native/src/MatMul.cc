// Batched matrix multiply on oneDNN: out[b] = a[b] (m×k) · b[b] (k×n), row-major.
// The smallest real kernel; it proves the addon pipeline (build, link, call) end to end.
#include "common.h"

namespace voxring {

static Napi::Value MatMul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 5) {
    Napi::TypeError::New(env, "matMul(a, b, out, batch, [m, k, n])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<int64_t> mkn;
  if (!ReadDims(env, info[4], "mkn", mkn)) return env.Undefined();
  if (mkn.size() != 3 || !info[3].IsNumber()) {
    Napi::TypeError::New(env, "matMul: batch must be a number and mkn hold 3 integers").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int64_t batch = info[3].As<Napi::Number>().Int64Value();
  const int64_t m = mkn[0], k = mkn[1], n = mkn[2];
  if (!CheckFloat32(env, info[0], "a", batch * m * k) || !CheckFloat32(env, info[1], "b", batch * k * n) ||
      !CheckFloat32(env, info[2], "out", batch * m * n))
    return env.Undefined();

  using tag = dnnl::memory::format_tag;
  using dt = dnnl::memory::data_type;
  dnnl::memory::desc aDesc({batch, m, k}, dt::f32, tag::abc);
  dnnl::memory::desc bDesc({batch, k, n}, dt::f32, tag::abc);
  dnnl::memory::desc cDesc({batch, m, n}, dt::f32, tag::abc);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(aDesc, bDesc, cDesc), Engine());
  dnnl::memory aMem(aDesc, Engine(), F32(info[0]));
  dnnl::memory bMem(bDesc, Engine(), F32(info[1]));
  dnnl::memory cMem(cDesc, Engine(), F32(info[2]));
  dnnl::matmul(pd).execute(Stream(), {{DNNL_ARG_SRC, aMem}, {DNNL_ARG_WEIGHTS, bMem}, {DNNL_ARG_DST, cMem}});
  Stream().wait();
  return env.Undefined();
}

void RegisterMatMul(Napi::Env env, Napi::Object exports) {
  exports.Set("matMul", Napi::Function::New(env, MatMul, "matMul"));
}

}  // namespace voxring
