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
