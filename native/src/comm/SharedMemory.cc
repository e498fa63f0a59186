// Shared memory between the ring all-reduce's ranks on one host (src/comm/sharedRegions.ts): a file in /dev/shm
// mapped MAP_SHARED and handed to JavaScript as an ArrayBuffer. Ranks then read each other's gradients in place,
// instead of pushing every byte through a socket (two kernel copies, a fresh receive buffer and the GC pressure
// of that buffer per frame). Node has no other way to share memory between processes.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <string>
#include "comm.h"

namespace voxring::comm {

namespace {

// shmMap(path, bytes, create): create makes the file (0600, must not exist) of `bytes` bytes; otherwise the
// file must exist with exactly that size. Returns an ArrayBuffer over the mapping, unmapped when collected.
Napi::Value ShmMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsBoolean()) {
    Napi::TypeError::New(env, "shmMap(path: string, bytes: number, create: boolean)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const double requested = info[1].As<Napi::Number>().DoubleValue();
  const bool create = info[2].As<Napi::Boolean>().Value();
  if (!(requested >= 1 && requested <= 1099511627776.0) || requested != static_cast<double>(static_cast<int64_t>(requested))) {
    Napi::RangeError::New(env, "shmMap: bytes must be a positive integer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const size_t bytes = static_cast<size_t>(requested);
  const auto fail = [&](const char* what) {
    Napi::Error::New(env, std::string("shmMap: ") + what + " " + path + ": " + std::strerror(errno))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  };
  const int fd = create ? open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)
                        : open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return fail("cannot open");
  struct stat st;
  if (create ? ftruncate(fd, static_cast<off_t>(bytes)) != 0 : fstat(fd, &st) != 0) {
    close(fd);
    return fail(create ? "cannot size" : "cannot stat");
  }
  if (!create && static_cast<size_t>(st.st_size) != bytes) {
    close(fd);
    errno = EINVAL;
    return fail("size differs for");
  }
  void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (data == MAP_FAILED) return fail("cannot map");
  return Napi::ArrayBuffer::New(
      env, data, bytes, [](Napi::Env, void* p, size_t* size) {
        munmap(p, *size);
        delete size;
      },
      new size_t(bytes));
}

}  // namespace

void RegisterSharedMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("shmMap", Napi::Function::New(env, ShmMap, "shmMap"));
}

}  // namespace voxring::comm
