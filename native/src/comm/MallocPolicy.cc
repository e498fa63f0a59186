// Keeps freed heap memory for reuse instead of returning it to the kernel, when the process asks (an explicit
// call, never a side effect of loading the addon). Two users pay for glibc's default:
// - tfjs: every tensor's values live in a fresh typed array; glibc serves an activation-sized one (tens of MB)
//   with its own mmap and unmaps it on free, so each kernel output pays a page fault per 4 KiB page on first
//   touch. Measured on [2,32,96,96,16]: add costs about 5 ns an element with mmap, under 2 with reuse.
// - the data plane: libzmq receives every 1 MiB frame into a fresh malloc'd message that the sender's I/O
//   thread frees; with trimming on, those pages go back to the kernel and come back as page faults (measured:
//   3× the page faults and 15–20 % less busbw for a 4-rank TCP all-reduce).
// With mmap off and trimming off, freed blocks go back to malloc's free lists and the next allocation reuses
// them; the price is a resident size that stays at its peak. VOXRING_MALLOC_MMAP=1 keeps glibc's default.
#include <malloc.h>
#include <cstdlib>
#include <cstring>
#include "comm.h"

namespace voxring::comm {

namespace {

Napi::Value RetainFreedMemory(const Napi::CallbackInfo& info) {
  static const bool retained = [] {
    const char* keepDefault = std::getenv("VOXRING_MALLOC_MMAP");
    if (keepDefault && std::strcmp(keepDefault, "1") == 0) return false;
    const bool noMmap = mallopt(M_MMAP_MAX, 0) == 1;
    return mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 && noMmap;
  }();
  return Napi::Boolean::New(info.Env(), retained);
}

}  // namespace

void RegisterMallocPolicy(Napi::Env env, Napi::Object exports) {
  exports.Set("retainFreedMemory", Napi::Function::New(env, RetainFreedMemory, "retainFreedMemory"));
}

}  // namespace voxring::comm
