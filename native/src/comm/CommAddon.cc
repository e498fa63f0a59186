// Entry point of the comm addon: the ring's arithmetic, shared memory and (when built against libzmq) the data
// plane of the streamed ring. An explicit list of registrations, one per file.
#include "comm.h"

namespace voxring::comm {

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  RegisterFp16(env, exports);
  RegisterSharedMemory(env, exports);
  RegisterMallocPolicy(env, exports);
#ifdef VOXRING_HAVE_ZMQ
  RegisterDataPlane(env, exports);
#endif
  return exports;
}

}  // namespace voxring::comm

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return voxring::comm::Init(env, exports); }
NODE_API_MODULE(voxring_comm, InitAddon)
