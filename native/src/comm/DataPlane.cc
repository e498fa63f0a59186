// The data plane of the streamed ring (src/comm/nativeStreamRing.ts): the ZeroMQ PUSH/PULL ring of
// src/comm/streamRing.ts, with the same frames, checks and reduction order, run on a thread of its own with
// Debian's libzmq. JavaScript hands over a Float32Array and gets a Promise; the thread receives each frame into
// a zmq_msg_t, reduces it into the target segment in the same pass that writes the forwarded values back into
// the frame (fp16 decode + add + re-encode fused), and sends that very frame on (no copy, no fresh buffer for
// the garbage collector). Only a rank's own first chunks are copied (or encoded) into new messages.
//
// Wire compatibility: header layout of src/comm/ringFrame.ts, one header frame + one payload frame per
// message, the same schedule (ringPlan.ts) and the same float operations, so a native rank and a JavaScript
// rank can sit in one ring and every rank ends bitwise equal either way.
#include <zmq.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include "comm.h"

namespace voxring::comm {

namespace {

constexpr uint32_t kMagic = 0x31525856;  // "VXR1" little-endian
constexpr size_t kHeaderBytes = 24;
// CURVE counts its own overhead against ZMQ_MAXMSGSIZE: a limit of exactly one chunk drops the connection
// the moment a full chunk arrives. Headroom far above the box overhead, far below anything dangerous.
constexpr int64_t kMaxMessageSlack = 1 << 16;
// A peer that floods the receiver with foreign frames gets this many log lines per collective, then a count.
constexpr size_t kMaxDropLines = 5;
enum Kind : uint8_t { kAllReduce = 1, kBroadcast = 2, kAck = 3 };
enum Wire : uint8_t { kF32 = 1, kF16 = 2 };

struct Header {
  uint32_t generation, op;
  uint8_t kind, wire;
  uint16_t step;
  uint32_t chunk, bytes;
};

void EncodeHeader(const Header& h, uint8_t* b) {
  std::memcpy(b, &kMagic, 4);
  std::memcpy(b + 4, &h.generation, 4);
  std::memcpy(b + 8, &h.op, 4);
  b[12] = h.kind;
  b[13] = h.wire;
  std::memcpy(b + 14, &h.step, 2);
  std::memcpy(b + 16, &h.chunk, 4);
  std::memcpy(b + 20, &h.bytes, 4);
}

// The header, or (returning false) why these bytes are not one: the same reasons as ringFrame.ts.
bool DecodeHeader(const uint8_t* b, size_t size, Header& h, std::string& why) {
  if (size != kHeaderBytes) {
    why = "header of " + std::to_string(size) + " bytes, expected 24";
    return false;
  }
  uint32_t magic;
  std::memcpy(&magic, b, 4);
  if (magic != kMagic) return why = "bad magic", false;
  std::memcpy(&h.generation, b + 4, 4);
  std::memcpy(&h.op, b + 8, 4);
  h.kind = b[12];
  h.wire = b[13];
  std::memcpy(&h.step, b + 14, 2);
  std::memcpy(&h.chunk, b + 16, 4);
  std::memcpy(&h.bytes, b + 20, 4);
  if (h.kind != kAllReduce && h.kind != kBroadcast && h.kind != kAck)
    return why = "unknown kind " + std::to_string(h.kind), false;
  if (h.wire != kF32 && h.wire != kF16) return why = "unknown wire type " + std::to_string(h.wire), false;
  return true;
}

int Mod(int a, int n) { return ((a % n) + n) % n; }

// frame[i] = target[i] = target[i] + frame[i] (then / divisor): the sum stays here and travels on in the frame.
// The frame is ZeroMQ's buffer and never the caller's array; saying so lets the compiler vectorize the loop.
void AddForward(float* __restrict frame, float* __restrict target, int64_t m, float divisor, bool divide) {
  if (divide) {
    for (int64_t i = 0; i < m; i++) frame[i] = target[i] = (target[i] + frame[i]) / divisor;
  } else {
    for (int64_t i = 0; i < m; i++) frame[i] = target[i] = target[i] + frame[i];
  }
}

// ringPlan.ts, in integers: N balanced segments, each cut into chunks of at most chunkElems (at least one).
struct Plan {
  std::vector<int64_t> start, count;
  int64_t chunkElems;
  Plan(int64_t length, int n, int64_t chunkElems) : chunkElems(chunkElems) {
    for (int i = 0; i <= n; i++) start.push_back((static_cast<int64_t>(i) * length) / n);
    for (int i = 0; i < n; i++) count.push_back(std::max<int64_t>(1, (start[i + 1] - start[i] + chunkElems - 1) / chunkElems));
  }
  void Range(int segment, int64_t chunk, int64_t& lo, int64_t& hi) const {
    lo = std::min(start[segment + 1], start[segment] + chunk * chunkElems);
    hi = std::min(start[segment + 1], lo + chunkElems);
  }
};

struct Plane;

// One collective handed from JavaScript to the thread; the thread fills the outputs, JavaScript settles.
struct Job {
  Kind kind;
  float* data;
  int64_t length;
  bool average, fp16;
  int root;
  int timeoutMs;
  std::string error;
  std::vector<std::string> log;  // the first kMaxDropLines frames dropped, a line each
  double bytesSent = 0, bytesReceived = 0, droppedFrames = 0;
  Napi::Promise::Deferred deferred;
  Napi::Reference<Napi::Value> keep;  // the caller's array stays alive while the thread writes into it
  std::shared_ptr<Plane> plane;
  explicit Job(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

void Settle(Napi::Env env, Napi::Function, Plane* plane, Job* job);
using Settler = Napi::TypedThreadSafeFunction<Plane, Job, Settle>;

// What the JavaScript object and the thread share. Sockets are made on the JavaScript thread (bind, connect,
// under the mutex, before any collective) and used by the ring thread only from then on.
struct Plane {
  void* ctx = nullptr;
  void* pull = nullptr;
  void* push = nullptr;
  int rank = 0, worldSize = 1;
  uint32_t generation = 0, op = 0;
  int64_t chunkElems = 0;
  std::string publicKey, secretKey;  // Z85; empty: no CURVE (loopback)
  std::mutex mu;
  std::condition_variable wake;
  std::deque<Job*> jobs;
  bool closing = false;
  std::atomic<bool> stop{false};
  Settler settler;
  int inFlight = 0;  // JavaScript thread only
  std::thread thread;
};

// The messages waiting for the next rank, in order: a header and a payload frame each.
struct Outgoing {
  uint8_t header[kHeaderBytes];
  zmq_msg_t payload;
};

std::string ZmqError(const char* what) { return std::string("ring: ") + what + ": " + zmq_strerror(zmq_errno()); }

class Collective {
 public:
  Collective(Plane& p, Job& job)
      : p_(p),
        job_(job),
        n_(p.worldSize),
        r_(p.rank),
        op_(p.op++),
        plan_(job.length, job.kind == kAllReduce ? p.worldSize : 1, p.chunkElems),
        wire_(job.fp16 ? kF16 : kF32),
        elemBytes_(job.fp16 ? 2 : 4),
        steps_(job.kind == kAllReduce ? 2 * (p.worldSize - 1) : 1),
        distance_(Mod(p.rank - job.root, p.worldSize)) {
    // seen_ holds one flag per (step, chunk) this rank may receive.
    for (int g = 0; g < steps_; g++) {
      firstSeen_.push_back(static_cast<int64_t>(seen_.size()));
      seen_.resize(seen_.size() + plan_.count[ReceiveSegment(g)], 0);
    }
  }

  ~Collective() {
    for (Outgoing& o : out_) zmq_msg_close(&o.payload);
  }

  // "" when every rank's frames arrived and this rank's frames left, else the error for every later collective.
  std::string Run() {
    int64_t expected;
    if (job_.kind == kAllReduce) {
      expected = 0;
      for (int g = 0; g < steps_; g++) expected += plan_.count[ReceiveSegment(g)];
      for (int64_t c = 0; c < plan_.count[r_]; c++) QueueOwn(c);
    } else {
      // The root waits for one ack from its previous neighbour, the last rank: the whole ring has the data.
      expected = distance_ == 0 ? 1 : plan_.count[0];
      if (distance_ == 0)
        for (int64_t c = 0; c < plan_.count[0]; c++) QueueOwn(c);
    }
    using Clock = std::chrono::steady_clock;
    const auto timeout = std::chrono::milliseconds(job_.timeoutMs);
    auto lastHeard = Clock::now(), lastSent = Clock::now();
    std::string error;
    for (;;) {
      if (p_.stop) return "ring: closed";
      const size_t before = out_.size();
      if (!Flush(error)) return error;
      if (out_.size() != before) lastSent = Clock::now();
      const bool wantIn = got_ < expected;
      if (!wantIn && out_.empty()) return "";
      const auto since = Clock::now() - (wantIn ? lastHeard : std::max(lastHeard, lastSent));
      if (since >= timeout) {
        return wantIn ? "ring: nothing from rank " + std::to_string(Prev()) + " within " +
                            std::to_string(job_.timeoutMs) + " ms"
                      : "ring: rank " + std::to_string((r_ + 1) % n_) + " took no frame within " +
                            std::to_string(job_.timeoutMs) + " ms";
      }
      zmq_pollitem_t items[2];
      int count = 0;
      if (wantIn) items[count++] = {p_.pull, 0, ZMQ_POLLIN, 0};
      if (!out_.empty()) items[count++] = {p_.push, 0, ZMQ_POLLOUT, 0};
      // Wake at least every 100 ms to notice close().
      const long wait = std::min<long>(
          100, std::chrono::duration_cast<std::chrono::milliseconds>(timeout - since).count() + 1);
      if (zmq_poll(items, count, wait) < 0) {
        if (zmq_errno() == EINTR) continue;
        return ZmqError("poll failed");
      }
      if (!wantIn || !(items[0].revents & ZMQ_POLLIN)) continue;
      // Take everything that has arrived; a forward queued meanwhile leaves at the next Flush.
      while (got_ < expected) {
        const int received = ReceiveAndReduce(error);
        if (received < 0) return error;
        if (received == 0) break;
        lastHeard = Clock::now();
      }
    }
  }

 private:
  int Prev() const { return Mod(r_ - 1, n_); }
  int ReceiveSegment(int step) const { return job_.kind == kAllReduce ? Mod(r_ - step - 1, n_) : 0; }

  void Queue(uint8_t kind, int step, int64_t chunk, zmq_msg_t* payload) {
    out_.emplace_back();
    Outgoing& o = out_.back();
    const uint32_t bytes = static_cast<uint32_t>(zmq_msg_size(payload));
    EncodeHeader({p_.generation, op_, kind, wire_, static_cast<uint16_t>(step), static_cast<uint32_t>(chunk), bytes},
                 o.header);
    zmq_msg_init(&o.payload);
    zmq_msg_move(&o.payload, payload);
    job_.bytesSent += bytes;
  }

  // This rank's chunk c of its first segment (all-reduce) or of the whole array (broadcast root), copied or
  // encoded into a message of its own: the caller's array may change while the message waits in ZeroMQ.
  void QueueOwn(int64_t c) {
    int64_t lo, hi;
    plan_.Range(job_.kind == kAllReduce ? r_ : 0, c, lo, hi);
    zmq_msg_t m;
    zmq_msg_init_size(&m, static_cast<size_t>(hi - lo) * elemBytes_);
    if (job_.fp16)
      HalfRun(HalfOp::kEncode, static_cast<uint16_t*>(zmq_msg_data(&m)), job_.data + lo, hi - lo, 1.0f);
    else if (hi > lo)
      std::memcpy(zmq_msg_data(&m), job_.data + lo, static_cast<size_t>(hi - lo) * 4);
    Queue(job_.kind, 0, c, &m);
  }

  // Hands queued messages to ZeroMQ until its queue for the next rank is full; false on a socket error.
  bool Flush(std::string& error) {
    while (!out_.empty()) {
      Outgoing& o = out_.front();
      if (zmq_send(p_.push, o.header, kHeaderBytes, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (zmq_errno() == EAGAIN) return true;
        error = ZmqError("send failed");
        return false;
      }
      // The second part of a message whose first part was taken is never refused for the high-water mark.
      if (zmq_msg_send(&o.payload, p_.push, 0) < 0) {
        error = ZmqError("send failed");
        return false;
      }
      zmq_msg_close(&o.payload);
      out_.pop_front();
    }
    return true;
  }

  // 1: a frame was received and reduced, 0: nothing waiting, -1: error (a malformed frame, a socket error).
  int ReceiveAndReduce(std::string& error) {
    zmq_msg_t header, payload;
    zmq_msg_init(&header);
    if (zmq_msg_recv(&header, p_.pull, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&header);
      if (zmq_errno() == EAGAIN) return 0;
      error = ZmqError("receive failed");
      return -1;
    }
    zmq_msg_init(&payload);
    // The rest of a multipart message is already here (ZeroMQ delivers messages whole); parts past the second
    // are counted and dropped, and the message is rejected.
    int parts = 1;
    bool more = zmq_msg_more(&header);
    for (; more; parts++) {
      zmq_msg_t extra;
      zmq_msg_init(&extra);
      zmq_msg_t& into = parts == 1 ? payload : extra;
      const bool ok = zmq_msg_recv(&into, p_.pull, 0) >= 0;
      more = ok && zmq_msg_more(&into);
      zmq_msg_close(&extra);
      if (!ok) {
        zmq_msg_close(&header);
        zmq_msg_close(&payload);
        error = ZmqError("receive failed");
        return -1;
      }
    }
    const int result = Accept(header, payload, parts, error);
    zmq_msg_close(&header);
    zmq_msg_close(&payload);
    return result;
  }

  // Not a ring frame at all, or one of another generation: foreign (a stale peer; with CURVE no outsider gets
  // a frame in), so dropped and counted, as streamRing.ts does. A ring frame of this generation that
  // disagrees is a real rank out of step: that stays fatal.
  int Accept(zmq_msg_t& headerMsg, zmq_msg_t& payload, int parts, std::string& error) {
    Header h{};
    std::string why;
    std::string foreign;
    if (parts != 2) foreign = "a message of " + std::to_string(parts) + " frames";
    else if (!DecodeHeader(static_cast<const uint8_t*>(zmq_msg_data(&headerMsg)), zmq_msg_size(&headerMsg), h, why))
      foreign = why;
    else if (h.generation != p_.generation) foreign = "generation " + std::to_string(h.generation);
    if (!foreign.empty()) {
      if (job_.droppedFrames++ < kMaxDropLines)
        job_.log.push_back("ring: dropped a foreign frame (" + foreign + "; this ring is generation " +
                           std::to_string(p_.generation) + ")");
      return 1;  // not counted: the loop goes on waiting for this generation's frames
    }
    why = Check(h, zmq_msg_size(&payload));
    if (!why.empty()) {
      error = "ring: rejected a frame from rank " + std::to_string(Prev()) + ": " + why;
      return -1;
    }
    job_.bytesReceived += static_cast<double>(zmq_msg_size(&payload));
    got_++;
    if (h.kind == kAck) return 1;
    Realign(payload);
    if (job_.kind == kAllReduce) ReduceAllReduce(h, payload);
    else ReduceBroadcast(h, payload);
    return 1;
  }

  // What streamRing.ts checks, in the same order and words.
  std::string Check(const Header& h, size_t payloadBytes) {
    if (h.op != op_) return "collective #" + std::to_string(h.op) + ", expected #" + std::to_string(op_);
    if (h.kind == kAck) return job_.kind == kBroadcast && distance_ == 0 && payloadBytes == 0 ? "" : "unexpected ack";
    if (h.kind != job_.kind) return "kind " + std::to_string(h.kind) + ", expected " + std::to_string(job_.kind);
    if (h.wire != wire_)
      return "wire type " + std::to_string(h.wire) + ", expected " + std::to_string(wire_) +
             " (do all ranks agree on fp16?)";
    if (h.step >= steps_) return "step " + std::to_string(h.step) + " of " + std::to_string(steps_);
    const int segment = ReceiveSegment(h.step);
    if (h.chunk >= plan_.count[segment])
      return "chunk " + std::to_string(h.chunk) + " of " + std::to_string(plan_.count[segment]);
    uint8_t& seen = seen_[firstSeen_[h.step] + h.chunk];
    if (seen) return "duplicate step " + std::to_string(h.step) + " chunk " + std::to_string(h.chunk);
    seen = 1;
    int64_t lo, hi;
    plan_.Range(segment, h.chunk, lo, hi);
    const size_t bytes = static_cast<size_t>(hi - lo) * elemBytes_;
    if (h.bytes != bytes || payloadBytes != bytes)
      return "step " + std::to_string(h.step) + " chunk " + std::to_string(h.chunk) + " has " +
             std::to_string(payloadBytes) + " bytes, expected " + std::to_string(bytes) +
             " (same length on every rank?)";
    return "";
  }

  // A received frame may sit at any offset of ZeroMQ's receive buffer; the arithmetic wants aligned elements.
  void Realign(zmq_msg_t& payload) {
    if (reinterpret_cast<uintptr_t>(zmq_msg_data(&payload)) % 4 == 0) return;
    zmq_msg_t copy;
    zmq_msg_init_size(&copy, zmq_msg_size(&payload));
    std::memcpy(zmq_msg_data(&copy), zmq_msg_data(&payload), zmq_msg_size(&payload));
    zmq_msg_close(&payload);
    zmq_msg_init(&payload);
    zmq_msg_move(&payload, &copy);
  }

  // streamRing.ts's allReduce handler: the received frame carries the values on to the next rank.
  void ReduceAllReduce(const Header& h, zmq_msg_t& payload) {
    int64_t lo, hi;
    plan_.Range(ReceiveSegment(h.step), h.chunk, lo, hi);
    const int64_t m = hi - lo;
    float* target = job_.data + lo;
    void* bytes = zmq_msg_data(&payload);
    const float divisor = job_.average ? static_cast<float>(n_) : 1.0f;
    if (h.step < n_ - 2) {
      // Reduce-scatter: add, and pass the partial sum on in the frame itself.
      if (job_.fp16) {
        HalfRun(HalfOp::kAddEncode, static_cast<uint16_t*>(bytes), target, m, 1.0f);
      } else {
        AddForward(static_cast<float*>(bytes), target, m, 1.0f, false);
      }
    } else if (h.step == n_ - 2) {
      // The last contribution: this rank owns the reduced chunk and starts it around the ring.
      if (job_.fp16) {
        HalfRun(HalfOp::kFinishHalf, static_cast<uint16_t*>(bytes), target, m, divisor);
      } else {
        AddForward(static_cast<float*>(bytes), target, m, divisor, true);
      }
    } else if (job_.fp16) {
      HalfRun(HalfOp::kDecode, static_cast<uint16_t*>(bytes), target, m, 1.0f);  // all-gather: the owner's values
    } else if (m > 0) {
      std::memcpy(target, bytes, static_cast<size_t>(m) * 4);
    }
    if (h.step < steps_ - 1) Queue(kAllReduce, h.step + 1, h.chunk, &payload);
  }

  void ReduceBroadcast(const Header& h, zmq_msg_t& payload) {
    int64_t lo, hi;
    plan_.Range(0, h.chunk, lo, hi);
    if (hi > lo) std::memcpy(job_.data + lo, zmq_msg_data(&payload), static_cast<size_t>(hi - lo) * 4);
    if (distance_ < n_ - 1) {
      Queue(kBroadcast, 0, h.chunk, &payload);
    } else if (++broadcastReceived_ == plan_.count[0]) {
      zmq_msg_t ack;
      zmq_msg_init(&ack);
      Queue(kAck, 0, 0, &ack);
    }
  }

  Plane& p_;
  Job& job_;
  const int n_, r_;
  const uint32_t op_;
  const Plan plan_;
  const uint8_t wire_;
  const size_t elemBytes_;
  const int steps_, distance_;
  std::vector<int64_t> firstSeen_;
  std::vector<uint8_t> seen_;
  std::deque<Outgoing> out_;
  int64_t got_ = 0, broadcastReceived_ = 0;
};

// The ring thread: collectives one at a time in the order JavaScript queued them; on close, whatever is
// queued fails, the sockets close (the sender lingers so frames still queued reach the next rank) and the
// thread ends.
void RingThread(std::shared_ptr<Plane> p) {
  for (;;) {
    Job* job = nullptr;
    {
      std::unique_lock<std::mutex> lock(p->mu);
      p->wake.wait(lock, [&] { return !p->jobs.empty() || p->closing; });
      if (!p->jobs.empty()) {
        job = p->jobs.front();
        p->jobs.pop_front();
      }
    }
    if (!job) break;
    if (p->closing) job->error = "ring: closed";
    else if (!p->push) job->error = "ring: join the ring before a collective";
    else job->error = Collective(*p, *job).Run();
    p->settler.BlockingCall(job);
  }
  if (p->push) zmq_close(p->push);
  if (p->pull) zmq_close(p->pull);
  zmq_ctx_term(p->ctx);
  p->settler.Release();
}

// On the JavaScript thread: settle the collective's promise.
void Settle(Napi::Env env, Napi::Function, Plane* plane, Job* job) {
  if (env != nullptr) {
    if (job->error.empty()) {
      Napi::Object result = Napi::Object::New(env);
      result.Set("bytesSent", job->bytesSent);
      result.Set("bytesReceived", job->bytesReceived);
      result.Set("droppedFrames", job->droppedFrames);
      Napi::Array log = Napi::Array::New(env, job->log.size());
      for (size_t i = 0; i < job->log.size(); i++) log.Set(static_cast<uint32_t>(i), job->log[i]);
      result.Set("log", log);
      job->deferred.Resolve(result);
    } else {
      job->deferred.Reject(Napi::Error::New(env, job->error).Value());
    }
    if (--plane->inFlight == 0) plane->settler.Unref(env);
  } else {
    job->keep.SuppressDestruct();  // the environment is gone; nothing to release it into
  }
  delete job;
}

// Fails what is under way or queued and lets the thread close the sockets and end.
void Shutdown(Plane& p) {
  std::lock_guard<std::mutex> lock(p.mu);
  if (p.closing) return;
  p.closing = true;
  p.stop = true;
  p.wake.notify_one();
}

void JoinAtExit(void* arg) {
  auto* plane = static_cast<std::shared_ptr<Plane>*>(arg);
  Shutdown(**plane);
  if ((*plane)->thread.joinable()) (*plane)->thread.join();
  delete plane;
}

bool SetInt(void* socket, int option, int value) { return zmq_setsockopt(socket, option, &value, sizeof value) == 0; }

class DataPlane : public Napi::ObjectWrap<DataPlane> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DataPlane",
                       {InstanceMethod<&DataPlane::Bind>("bind"), InstanceMethod<&DataPlane::Connect>("connect"),
                        InstanceMethod<&DataPlane::AllReduce>("allReduce"),
                        InstanceMethod<&DataPlane::Broadcast>("broadcast"), InstanceMethod<&DataPlane::Close>("close")});
  }

  // new DataPlane({ chunkBytes, generation, publicKey?, secretKey? })
  explicit DataPlane(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DataPlane>(info), p_(std::make_shared<Plane>()) {
    Napi::Env env = info.Env();
    if (info.Length() != 1 || !info[0].IsObject()) {
      Napi::TypeError::New(env, "DataPlane({ chunkBytes, generation, publicKey?, secretKey? })").ThrowAsJavaScriptException();
      return;
    }
    const Napi::Object o = info[0].As<Napi::Object>();
    const double chunkBytes = o.Get("chunkBytes").ToNumber().DoubleValue();
    if (!(chunkBytes >= 4 && chunkBytes <= (1 << 30)) || static_cast<int64_t>(chunkBytes) % 4 != 0) {
      Napi::RangeError::New(env, "DataPlane: chunkBytes must be a positive multiple of 4").ThrowAsJavaScriptException();
      return;
    }
    p_->chunkElems = static_cast<int64_t>(chunkBytes) / 4;
    p_->generation = o.Get("generation").ToNumber().Uint32Value();
    if (o.Get("secretKey").IsString() && o.Get("publicKey").IsString()) {
      p_->publicKey = o.Get("publicKey").As<Napi::String>().Utf8Value();
      p_->secretKey = o.Get("secretKey").As<Napi::String>().Utf8Value();
      if (!zmq_has("curve")) {
        Napi::Error::New(env, "ring: this libzmq has no CURVE support").ThrowAsJavaScriptException();
        return;
      }
    }
    p_->ctx = zmq_ctx_new();
    // Two I/O threads: the receiver's and the sender's connections (and their CURVE boxes) on separate threads.
    zmq_ctx_set(p_->ctx, ZMQ_IO_THREADS, 2);
    p_->pull = zmq_socket(p_->ctx, ZMQ_PULL);
    const int64_t maxBytes = static_cast<int64_t>(chunkBytes) + kMaxMessageSlack;
    const bool ok = SetInt(p_->pull, ZMQ_RCVHWM, 64) && SetInt(p_->pull, ZMQ_LINGER, 0) &&
                    zmq_setsockopt(p_->pull, ZMQ_MAXMSGSIZE, &maxBytes, sizeof maxBytes) == 0 &&
                    (p_->secretKey.empty() ||
                     (SetInt(p_->pull, ZMQ_CURVE_SERVER, 1) &&
                      zmq_setsockopt(p_->pull, ZMQ_CURVE_SECRETKEY, p_->secretKey.c_str(), p_->secretKey.size()) == 0 &&
                      zmq_setsockopt(p_->pull, ZMQ_CURVE_PUBLICKEY, p_->publicKey.c_str(), p_->publicKey.size()) == 0));
    if (!ok) {
      Napi::Error::New(env, ZmqError("cannot set up the receiver")).ThrowAsJavaScriptException();
      return;
    }
    p_->settler = Settler::New(env, "voxring ring", 0, 1, p_.get());
    p_->settler.Unref(env);
    p_->thread = std::thread(RingThread, p_);
    // When the environment goes away (the process exits), the thread must be gone before exit() tears down
    // what libzmq still uses: the hook closes the ring and joins the thread (bounded by the sender's linger).
    // It owns a reference, so the plane outlives both the JavaScript object and the thread until then.
    napi_add_env_cleanup_hook(env, JoinAtExit, new std::shared_ptr<Plane>(p_));
  }

  ~DataPlane() override { Shutdown(*p_); }

 private:
  // bind(endpoint) → the endpoint ZeroMQ bound (port chosen for tcp://…:*)
  Napi::Value Bind(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 1 || !info[0].IsString()) return Throw(env, "bind(endpoint)");
    std::lock_guard<std::mutex> lock(p_->mu);
    const std::string endpoint = info[0].As<Napi::String>().Utf8Value();
    if (p_->closing) return Throw(env, "ring: closed");
    if (zmq_bind(p_->pull, endpoint.c_str()) != 0) return Throw(env, ZmqError(("cannot bind " + endpoint).c_str()));
    char bound[1024];
    size_t size = sizeof bound;
    if (zmq_getsockopt(p_->pull, ZMQ_LAST_ENDPOINT, bound, &size) != 0) return Throw(env, ZmqError("no endpoint"));
    return Napi::String::New(env, bound);
  }

  // connect(next, rank, worldSize): the sender, a CURVE client of the next rank with a throwaway key pair.
  Napi::Value Connect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber())
      return Throw(env, "connect(next, rank, worldSize)");
    std::lock_guard<std::mutex> lock(p_->mu);
    if (p_->closing) return Throw(env, "ring: closed");
    if (p_->push) return Throw(env, "ring: already joined");
    p_->rank = info[1].As<Napi::Number>().Int32Value();
    p_->worldSize = info[2].As<Napi::Number>().Int32Value();
    if (p_->worldSize < 2 || p_->worldSize > 65536 || p_->rank < 0 || p_->rank >= p_->worldSize)
      return Throw(env, "connect: bad rank or world size");
    void* push = zmq_socket(p_->ctx, ZMQ_PUSH);
    bool ok = SetInt(push, ZMQ_SNDHWM, 64) && SetInt(push, ZMQ_LINGER, 10'000);
    if (ok && !p_->publicKey.empty()) {
      char mine[41], secret[41];
      ok = zmq_curve_keypair(mine, secret) == 0 &&
           zmq_setsockopt(push, ZMQ_CURVE_SERVERKEY, p_->publicKey.c_str(), p_->publicKey.size()) == 0 &&
           zmq_setsockopt(push, ZMQ_CURVE_PUBLICKEY, mine, 40) == 0 &&
           zmq_setsockopt(push, ZMQ_CURVE_SECRETKEY, secret, 40) == 0;
    }
    const std::string next = info[0].As<Napi::String>().Utf8Value();
    if (!ok || zmq_connect(push, next.c_str()) != 0) {
      const std::string error = ZmqError(("cannot connect to " + next).c_str());
      zmq_close(push);
      return Throw(env, error);
    }
    p_->push = push;
    return env.Undefined();
  }

  // allReduce(data, average, fp16, timeoutMs) → Promise<{ bytesSent, bytesReceived, log }>
  Napi::Value AllReduce(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 4 || !CheckFloat32(env, info[0], "data", -1) || !info[1].IsBoolean() || !info[2].IsBoolean() ||
        !info[3].IsNumber()) {
      if (env.IsExceptionPending()) return env.Undefined();
      return Throw(env, "allReduce(data: Float32Array, average: boolean, fp16: boolean, timeoutMs: number)");
    }
    Job* job = NewJob(env, info[0], kAllReduce, info[3]);
    job->average = info[1].As<Napi::Boolean>().Value();
    job->fp16 = info[2].As<Napi::Boolean>().Value();
    return Post(env, job);
  }

  // broadcast(data, root, timeoutMs) → Promise<{ bytesSent, bytesReceived, log }>
  Napi::Value Broadcast(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 3 || !CheckFloat32(env, info[0], "data", -1) || !info[1].IsNumber() || !info[2].IsNumber()) {
      if (env.IsExceptionPending()) return env.Undefined();
      return Throw(env, "broadcast(data: Float32Array, root: number, timeoutMs: number)");
    }
    Job* job = NewJob(env, info[0], kBroadcast, info[2]);
    job->root = info[1].As<Napi::Number>().Int32Value();
    return Post(env, job);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown(*p_);
    return info.Env().Undefined();
  }

  Job* NewJob(Napi::Env env, const Napi::Value& data, Kind kind, const Napi::Value& timeout) {
    Job* job = new Job(env);
    job->kind = kind;
    job->data = F32(data);
    job->length = static_cast<int64_t>(data.As<Napi::Float32Array>().ElementLength());
    job->average = job->fp16 = false;
    job->root = 0;
    job->timeoutMs = std::max(1, static_cast<int>(std::min(2e9, timeout.As<Napi::Number>().DoubleValue())));
    job->keep = Napi::Persistent(data);
    job->plane = p_;
    return job;
  }

  Napi::Value Post(Napi::Env env, Job* job) {
    const Napi::Promise promise = job->deferred.Promise();
    if (p_->inFlight++ == 0) p_->settler.Ref(env);  // a collective under way keeps the process alive
    {
      std::lock_guard<std::mutex> lock(p_->mu);
      p_->jobs.push_back(job);  // after close the thread is gone: the job fails below
      if (!p_->closing) {
        p_->wake.notify_one();
        return promise;
      }
      p_->jobs.pop_back();
    }
    job->error = "ring: closed";
    Settle(env, Napi::Function(), p_.get(), job);
    return promise;
  }


  Napi::Value Throw(Napi::Env env, const std::string& message) {
    Napi::Error::New(env, message).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  std::shared_ptr<Plane> p_;
};

}  // namespace

void RegisterDataPlane(Napi::Env env, Napi::Object exports) {
  exports.Set("DataPlane", DataPlane::Define(env));
  exports.Set("dataPlaneCurve", Napi::Boolean::New(env, zmq_has("curve") != 0));
}

}  // namespace voxring::comm
