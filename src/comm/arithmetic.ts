/**
 * The ring's arithmetic kernels, injected: src/comm knows no addon. A process that wants SIMD adds, F16C
 * conversions and shared memory installs them once at start-up (src/native/ringArithmetic.ts does it for the
 * worker and the benchmarks); without them every operation runs in plain JavaScript with identical results
 * (tested bit for bit), and shared memory is off.
 *
 *   installRingArithmetic(kernels);   // before the first collective
 */
export interface RingArithmetic {
  /** out = a + b */
  add(a: Float32Array, b: Float32Array, out: Float32Array): void;
  /** Halves and floats of equal length; the names say the operation (Fp16.cc documents each). */
  f16Encode?(h: Uint16Array, f: Float32Array): void;
  f16Decode?(h: Uint16Array, f: Float32Array): void;
  f16AddInto?(h: Uint16Array, f: Float32Array): void;
  f16AddEncode?(h: Uint16Array, f: Float32Array): void;
  f16Finish?(h: Uint16Array, f: Float32Array, divisor: number): void;
  /** dst = src = (dst + src) / divisor */
  f32Finish?(src: Float32Array, dst: Float32Array, divisor: number): void;
  /** every segment becomes (Σ segments) / divisor, summed in order; rounded to fp16 with toHalf */
  f32SumToAll?(segments: Float32Array[], divisor: number, toHalf: boolean): void;
  /** maps a /dev/shm file MAP_SHARED: created (0600, exclusive) with `create`, else it must exist with that size */
  shmMap?(path: string, bytes: number, create: boolean): ArrayBuffer;
  /** the streamed ring's native data plane (nativeStreamRing.ts): its socket I/O and reduction on a thread */
  DataPlane?: new (
    options: DataPlaneOptions,
  ) => DataPlane;
}

export interface DataPlaneOptions {
  /** largest payload frame; all ranks must agree */
  chunkBytes: number;
  /** ring generation written into every frame; frames of other generations are dropped */
  generation: number;
  /** the run's CURVE keys (Z85): the receiver is a CURVE server holding the secret, the sender its client */
  publicKey?: string;
  secretKey?: string;
}

/** What a collective of the data plane reports once it is done. */
export interface DataPlaneResult {
  bytesSent: number;
  bytesReceived: number;
  /** foreign frames dropped (not ring frames, or of another generation) */
  droppedFrames: number;
  /** lines for the ring's log: the first few of those frames */
  log: string[];
}

/**
 * The streamed ring of one rank in native code (native/src/comm/DataPlane.cc): same frames, checks and
 * reduction order as streamRing.ts. Collectives run one at a time on the data plane's own thread, in call
 * order; the caller must leave `data` alone until the promise settles.
 */
export interface DataPlane {
  /** binds the receiver; returns the endpoint ZeroMQ bound */
  bind(endpoint: string): string;
  /** connects the sender to the next rank */
  connect(next: string, rank: number, worldSize: number): void;
  allReduce(data: Float32Array, average: boolean, fp16: boolean, timeoutMs: number): Promise<DataPlaneResult>;
  broadcast(data: Float32Array, root: number, timeoutMs: number): Promise<DataPlaneResult>;
  /** fails what is under way or queued, closes the sockets (frames already sent still reach the next rank) */
  close(): void;
}

let installed: RingArithmetic | null = null;

/** Installs (or, with null, removes) the kernels every later collective of this process uses. */
export function installRingArithmetic(kernels: RingArithmetic | null): void {
  installed = kernels;
}

/** The installed kernels, or null: plain JavaScript. */
export function ringArithmetic(): RingArithmetic | null {
  return installed;
}
