/**
 * IEEE 754 binary16 on the wire (`--amp`): gradients travel as half floats and are reduced in float32.
 * Rounding is round-to-nearest-even like a hardware conversion, so every rank that rounds the same float32
 * gets the same half; NaN stays NaN (quiet), ±Inf stays ±Inf, overflow rounds to ±Inf, and values below the
 * smallest normal half become correctly rounded subnormals.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The half-float bits nearest to the float32 whose bits are `f` (ties to even). */
export function halfBitsFromFloatBits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const a = f & 0x7fffffff;
  if (a >= 0x7f800000) return sign | (a > 0x7f800000 ? 0x7e00 : 0x7c00);
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

// Decoding is a table lookup: 65536 float32s (256 KB), built on first use.
let decodeTable: Float32Array | undefined;
function table(): Float32Array {
  if (!decodeTable) {
    decodeTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) decodeTable[h] = floatFromHalfBits(h);
  }
  return decodeTable;
}

/** Encodes `src` into half-float bits in `dst` (same length). */
export function encodeHalf(src: Float32Array, dst: Uint16Array): void {
  if (dst.length !== src.length) throw new RangeError(`encodeHalf: ${src.length} floats into ${dst.length} halves`);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) dst[i] = halfBitsFromFloatBits(bits[i]);
}

/** Decodes half-float bits into `dst` (same length). */
export function decodeHalf(src: Uint16Array, dst: Float32Array): void {
  if (dst.length !== src.length) throw new RangeError(`decodeHalf: ${src.length} halves into ${dst.length} floats`);
  const t = table();
  for (let i = 0; i < src.length; i++) dst[i] = t[src[i]];
}

/** dst[i] += half(src[i]): the reduction step of an fp16 all-reduce, accumulated in float32. */
export function addHalfInto(src: Uint16Array, dst: Float32Array): void {
  if (dst.length !== src.length) throw new RangeError(`addHalfInto: ${src.length} halves into ${dst.length} floats`);
  const t = table();
  for (let i = 0; i < src.length; i++) dst[i] += t[src[i]];
}
