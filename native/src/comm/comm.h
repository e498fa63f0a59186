// The comm addon (voxring_comm.node): what src/comm needs from native code and nothing else. No oneDNN, no
// OpenMP, and no malloc policy until the process asks for one (retainFreedMemory): loading it changes nothing
// about the process, so the GPU image loads it too.
#pragma once
#include <napi.h>
#include <cstdint>
#include "../arrays.h"  // CheckFloat32, F32 (voxring::, found from voxring::comm)

namespace voxring::comm {

// The binary16 operations of Fp16.cc over [0, n), shared by the JS-facing kernels and the data plane.
enum class HalfOp { kEncode, kDecode, kAddInto, kAddEncode, kFinishHalf };
void HalfRun(HalfOp op, uint16_t* h, float* f, int64_t n, float divisor);
bool HasF16c();


// One registration per file (explicit list in CommAddon.cc).
void RegisterFp16(Napi::Env env, Napi::Object exports);
void RegisterSharedMemory(Napi::Env env, Napi::Object exports);
void RegisterDataPlane(Napi::Env env, Napi::Object exports);
void RegisterMallocPolicy(Napi::Env env, Napi::Object exports);

}  // namespace voxring::comm
