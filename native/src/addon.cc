// Entry point of the addon: an explicit list of kernel registrations, one per kernel file.
#include <omp.h>
#include "common.h"

namespace voxring {

static Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  if (info.Length() == 1 && info[0].IsNumber() && info[0].As<Napi::Number>().Int32Value() > 0)
    omp_set_num_threads(info[0].As<Napi::Number>().Int32Value());
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("dnnlVersion", Napi::String::New(env, std::to_string(dnnl_version()->major) + "." +
                                                       std::to_string(dnnl_version()->minor) + "." +
                                                       std::to_string(dnnl_version()->patch)));
  RegisterMatMul(env, exports);
  RegisterConv3D(env, exports);
  RegisterConv3DBackpropInputV2(env, exports);
  RegisterConv3DBackpropFilterV2(env, exports);
  RegisterMaxPool3D(env, exports);
  RegisterMaxPool3DGrad(env, exports);
  RegisterVoxBatchNormRelu(env, exports);
  RegisterVoxSoftDiceLoss(env, exports);
  RegisterConcat(env, exports);
  RegisterSlice(env, exports);
  RegisterAdd(env, exports);
  RegisterMul(env, exports);
  RegisterSum(env, exports);
  return exports;
}

}  // namespace voxring

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return voxring::Init(env, exports); }
NODE_API_MODULE(voxring_native, InitAddon)
