// Keeps freed heap memory for reuse instead of returning it to the kernel. Every tfjs tensor's values live in a
// fresh typed array; glibc serves an activation-sized one (tens of MB) with its own mmap and unmaps it on free,
// so each kernel output pays a page fault per 4 KiB page on first touch. Measured here on [2,32,96,96,16], that
// costs more than the kernels themselves (add: about 5 ns an element with mmap, under 2 with reuse). With mmap
// off and trimming off, freed blocks go back to malloc's free lists and the next tensor reuses them; the price is
// a resident size that stays at the step's peak. VOXRING_MALLOC_MMAP=1 keeps glibc's default behaviour.
#include <malloc.h>
#include <cstdlib>
#include <cstring>
#include "common.h"

namespace voxring {

void RegisterMallocPolicy(Napi::Env env, Napi::Object exports) {
  const char* keepDefault = std::getenv("VOXRING_MALLOC_MMAP");
  bool retained = false;
  if (!(keepDefault && std::strcmp(keepDefault, "1") == 0)) {
    retained = mallopt(M_MMAP_MAX, 0) == 1;
    retained = mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 && retained;
  }
  exports.Set("retainsFreedMemory", Napi::Boolean::New(env, retained));
}

}  // namespace voxring
