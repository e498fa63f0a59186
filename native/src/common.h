// Shared helpers for every kernel file: one oneDNN engine and stream per process,
// argument checking that throws a JS TypeError instead of crashing the process.
#pragma once
#include <napi.h>
#include <dnnl.hpp>
#include <string>
#include <vector>
#include "arrays.h"  // CheckFloat32, F32

namespace voxring {

dnnl::engine& Engine();
dnnl::stream& Stream();

// Reads a JS array of non-negative integers (a shape) or throws.
bool ReadDims(const Napi::Env& env, const Napi::Value& v, const char* name, std::vector<int64_t>& out);

// Each kernel file contributes one registration function (explicit list in addon.cc).
void RegisterMatMul(Napi::Env env, Napi::Object exports);
void RegisterConv3D(Napi::Env env, Napi::Object exports);
void RegisterConv3DBackpropInputV2(Napi::Env env, Napi::Object exports);
void RegisterConv3DBackpropFilterV2(Napi::Env env, Napi::Object exports);
void RegisterMaxPool3D(Napi::Env env, Napi::Object exports);
void RegisterMaxPool3DGrad(Napi::Env env, Napi::Object exports);
void RegisterVoxBatchNormRelu(Napi::Env env, Napi::Object exports);
void RegisterVoxSoftDiceLoss(Napi::Env env, Napi::Object exports);
void RegisterConcat(Napi::Env env, Napi::Object exports);
void RegisterSlice(Napi::Env env, Napi::Object exports);
void RegisterAdd(Napi::Env env, Napi::Object exports);
void RegisterMul(Napi::Env env, Napi::Object exports);
void RegisterSum(Napi::Env env, Napi::Object exports);

}  // namespace voxring
