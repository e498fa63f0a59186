import { ringArithmetic } from "./arithmetic.js";

/**
 * IEEE 754 binary16 on the wire (`--amp`): gradients travel as half floats and are reduced in float32.
 * Rounding is round-to-nearest-even like a hardware conversion, so every rank that rounds the same float32
 * gets the same half; NaN stays NaN (quiet), ±Inf stays ±Inf, overflow rounds to ±Inf, and values below the
 * smallest normal half become correctly rounded subnormals.
 *
 * The array operations run in the native addon (F16C instructions, native/src/Fp16.cc) when it is built, and
 * otherwise in the plain JavaScript of `halfJs`; both give the same bits, NaN payloads included (the plain
 * code keeps the top payload bits the way vcvtps2ph/vcvtph2ps do).
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The half-float bits nearest to the float32 whose bits are `f` (ties to even). */
export function halfBitsFromFloatBits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const a = f & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00 | ((a >>> 13) & 0x3ff);
  if (a === 0x7f800000) return sign | 0x7c00;
  // 65520 is halfway between 65504 (the largest half, odd mantissa) and 65536: ties go to even, i.e. Inf.
  if (a >= 0x477ff000) return sign | 0x7c00;
  if (a >= 0x38800000) {
    // Normal half: rebias the exponent (127 → 15) and drop 13 mantissa bits; a carry rolls into the exponent.
    let h = (a - 0x38000000) >>> 13;
    const rest = a & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
    return sign | h;
  }
  // Below 2^-25 everything rounds to zero (2^-25 itself is a tie with zero, the even choice).
  if (a <= 0x33000000) return sign;
  // Subnormal half: value = m · 2^-24 with the float32 mantissa (implicit bit included) shifted into place.
  const e = a >>> 23;
  const m = (a & 0x7fffff) | 0x800000;
  const shift = 126 - e;
  let h = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (h & 1) === 1)) h++;
  return sign | h;
}

/** The float32 value of half-float bits `h` (exact: every half is a float32). */
export function floatFromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** Rounds a number to the nearest half float and back (what a value becomes after a trip over the wire). */
export function roundToHalf(x: number): number {
  f32[0] = x;
  return floatFromHalfBits(halfBitsFromFloatBits(u32[0]));
}

/** Float32 bits of half bits `h`, NaN payload kept as vcvtph2ps keeps it (quiet bit set). */
function floatBitsFromHalfBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 31) return (sign | 0x7f800000 | (m << 13) | (m ? 0x400000 : 0)) >>> 0;
  f32[0] = floatFromHalfBits(h & 0x7fff);
  return (sign | u32[0]) >>> 0;
}

// Decoding is a table lookup: 65536 float32s (256 KB), built on first use.
let decodeTable: Float32Array | undefined;
function table(): Float32Array {
  if (!decodeTable) {
    const bits = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) bits[h] = floatBitsFromHalfBits(h);
    decodeTable = new Float32Array(bits.buffer);
  }
  return decodeTable;
}

function sameLength(what: string, halves: Uint16Array, floats: Float32Array): void {
  if (halves.length !== floats.length)
    throw new RangeError(`${what}: ${halves.length} halves and ${floats.length} floats`);
}

/** The plain JavaScript versions (the fallback, and the reference the native ones are tested against). */
export const halfJs = {
  encode(h: Uint16Array, f: Float32Array): void {
    const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
    for (let i = 0; i < bits.length; i++) h[i] = halfBitsFromFloatBits(bits[i]);
  },
  decode(h: Uint16Array, f: Float32Array): void {
    const t = table();
    for (let i = 0; i < h.length; i++) f[i] = t[h[i]];
  },
  addInto(h: Uint16Array, f: Float32Array): void {
    const t = table();
    for (let i = 0; i < h.length; i++) f[i] += t[h[i]];
  },
  addEncode(h: Uint16Array, f: Float32Array): void {
    halfJs.addInto(h, f);
    halfJs.encode(h, f);
  },
  finish(h: Uint16Array, f: Float32Array, divisor: number): void {
    const t = table();
    for (let i = 0; i < h.length; i++) {
      f32[0] = (f[i] + t[h[i]]) / divisor;
      h[i] = halfBitsFromFloatBits(u32[0]);
    }
    halfJs.decode(h, f);
  },
};

// Below this a call into the addon costs more than the loop.
const NATIVE_MIN_ELEMENTS = 256;

/** Encodes float32 `src` into half-float bits in `dst` (same length). */
export function encodeHalf(src: Float32Array, dst: Uint16Array): void {
  sameLength("encodeHalf", dst, src);
  const n = ringArithmetic();
  if (n?.f16Encode && src.length >= NATIVE_MIN_ELEMENTS) n.f16Encode(dst, src);
  else halfJs.encode(dst, src);
}

/** Decodes half-float bits into `dst` (same length). */
export function decodeHalf(src: Uint16Array, dst: Float32Array): void {
  sameLength("decodeHalf", src, dst);
  const n = ringArithmetic();
  if (n?.f16Decode && src.length >= NATIVE_MIN_ELEMENTS) n.f16Decode(src, dst);
  else halfJs.decode(src, dst);
}

/** dst[i] += half(src[i]): the reduction step of an fp16 all-reduce, accumulated in float32. */
export function addHalfInto(src: Uint16Array, dst: Float32Array): void {
  sameLength("addHalfInto", src, dst);
  const n = ringArithmetic();
  if (n?.f16AddInto && src.length >= NATIVE_MIN_ELEMENTS) n.f16AddInto(src, dst);
  else halfJs.addInto(src, dst);
}

/** dst += half(halves), then halves = half(dst): a reduce-scatter hop that forwards the frame it received. */
export function addEncodeHalf(halves: Uint16Array, dst: Float32Array): void {
  sameLength("addEncodeHalf", halves, dst);
  const n = ringArithmetic();
  if (n?.f16AddEncode && dst.length >= NATIVE_MIN_ELEMENTS) n.f16AddEncode(halves, dst);
  else halfJs.addEncode(halves, dst);
}

/**
 * halves = half((dst + half(halves)) / divisor), dst = float(halves): the owner's last step, rounded to fp16
 * like everyone else's copy, so all ranks end with the same values.
 */
export function finishHalf(halves: Uint16Array, dst: Float32Array, divisor: number): void {
  sameLength("finishHalf", halves, dst);
  const n = ringArithmetic();
  if (n?.f16Finish && dst.length >= NATIVE_MIN_ELEMENTS) n.f16Finish(halves, dst, divisor);
  else halfJs.finish(halves, dst, divisor);
}
