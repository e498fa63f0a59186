import { loadNative, type NativeAddon } from "../native/addon.js";

/**
 * The arithmetic of the ring on Float32Arrays. Plain JavaScript adds a float in several nanoseconds on a
 * busy machine, which on 64 MB is a large share of an all-reduce; the project's native addon (when built)
 * adds with SIMD at memory speed. Loading it also makes malloc keep freed memory (MallocPolicy.cc), so
 * ZeroMQ's megabyte receive buffers stop paying a page fault per page. Both paths give identical results.
 */
const NATIVE_MIN_ELEMENTS = 4096;
// Slices under the addon's OpenMP threshold (kParallelMinElements, 32768) run on the calling thread: several
// ranks on few cores must not start thread teams that spin while ZeroMQ's I/O threads wait for a core.
const NATIVE_SLICE = 16384;
let native: NativeAddon | null | undefined;

/** The addon for the ring's arithmetic, or null (not built, or VOXRING_COMM_NATIVE=0). */
export function ringAddon(): NativeAddon | null {
  if (native === undefined) native = process.env.VOXRING_COMM_NATIVE === "0" ? null : loadNative();
  return native;
}

/** dst[i] += src[i] */
export function addInto(src: Float32Array, dst: Float32Array): void {
  if (src.length !== dst.length) throw new RangeError(`addInto: ${src.length} into ${dst.length}`);
  const n = ringAddon();
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
  const n = ringAddon();
  if (n?.f32Finish && dst.length >= NATIVE_MIN_ELEMENTS) {
    n.f32Finish(other, dst, divisor);
    return;
  }
  addInto(other, dst);
  if (divisor !== 1) for (let i = 0; i < dst.length; i++) dst[i] /= divisor;
  other.set(dst);
}

/** Loads the accelerator now (startup), so the first collective is not the one that pays for it. */
export function warmReduce(): boolean {
  return ringAddon() !== null;
}
