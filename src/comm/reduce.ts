import { ringArithmetic } from "./arithmetic.js";

/**
 * The arithmetic of the ring on Float32Arrays. Plain JavaScript adds a float in several nanoseconds on a
 * busy machine, which on 64 MB is a large share of an all-reduce; installed kernels (arithmetic.ts) add with
 * SIMD at memory speed. Both paths give identical results.
 */
const NATIVE_MIN_ELEMENTS = 4096;
// Slices under the addon's OpenMP threshold (kParallelMinElements, 32768) run on the calling thread: several
// ranks on few cores must not start thread teams that spin while ZeroMQ's I/O threads wait for a core.
const NATIVE_SLICE = 16384;

/** dst[i] += src[i] */
export function addInto(src: Float32Array, dst: Float32Array): void {
  if (src.length !== dst.length) throw new RangeError(`addInto: ${src.length} into ${dst.length}`);
  const n = ringArithmetic();
  if (n && dst.length >= NATIVE_MIN_ELEMENTS) {
    for (let lo = 0; lo < dst.length; lo += NATIVE_SLICE) {
      const hi = Math.min(dst.length, lo + NATIVE_SLICE);
      const d = dst.subarray(lo, hi);
      n.add(d, src.subarray(lo, hi), d);
    }
    return;
  }
  for (let i = 0; i < dst.length; i++) dst[i] += src[i];
}

/** dst = other = (dst + other) / divisor: the last reduction step, kept in both arrays. */
export function addScaleBoth(other: Float32Array, dst: Float32Array, divisor: number): void {
  if (other.length !== dst.length) throw new RangeError(`addScaleBoth: ${other.length} into ${dst.length}`);
  const n = ringArithmetic();
  if (n?.f32Finish && dst.length >= NATIVE_MIN_ELEMENTS) {
    n.f32Finish(other, dst, divisor);
    return;
  }
  addInto(other, dst);
  if (divisor !== 1) for (let i = 0; i < dst.length; i++) dst[i] /= divisor;
  other.set(dst);
}
