import { describe, expect, it } from "vitest";
import { ringArithmetic } from "../../../src/comm/arithmetic.js";
import {
  addHalfInto,
  decodeHalf,
  encodeHalf,
  floatFromHalfBits,
  halfBitsFromFloatBits,
  halfJs,
} from "../../../src/comm/fp16.js";
import { installNativeRingArithmetic } from "../../../src/native/ringArithmetic.js";
import { Rng } from "../../../src/random.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0];
}
function toHalf(x: number): number {
  return halfBitsFromFloatBits(bitsOf(x));
}

/**
 * Oracle independent of the bit tricks: among all finite halves of the right sign, the nearest by value
 * (in float64), ties to the even mantissa; beyond the largest half by half an ulp, infinity.
 */
function nearestHalf(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = 0x7bff;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (floatFromHalfBits(mid) <= a) lo = mid;
    else hi = mid - 1;
  }
  const below = lo;
  const above = Math.min(lo + 1, 0x7c00);
  const dBelow = a - floatFromHalfBits(below);
  const dAbove = above === 0x7c00 ? Number.POSITIVE_INFINITY : floatFromHalfBits(above) - a;
  if (dBelow < dAbove) return sign | below;
  if (dAbove < dBelow) return sign | above;
  return sign | (below % 2 === 0 ? below : above);
}

describe("fp16 wire format", () => {
  it("round-trips every one of the 65536 half values (NaNs stay NaN)", () => {
    for (let h = 0; h < 65536; h++) {
      const x = floatFromHalfBits(h);
      if (Number.isNaN(x)) expect(Number.isNaN(floatFromHalfBits(toHalf(x)))).toBe(true);
      else expect(toHalf(x)).toBe(h);
    }
  });

  it("rounds to nearest, ties to even, on random floats across the whole half range", () => {
    const rng = new Rng(42);
    for (let i = 0; i < 20_000; i++) {
      // log-uniform magnitudes from far below the subnormals to beyond the largest half
      const x = Math.fround((rng.next() < 0.5 ? -1 : 1) * 2 ** rng.uniform(-28, 17));
      expect(toHalf(x)).toBe(nearestHalf(x));
    }
  });

  it("rounds exact ties to even, overflows to infinity and keeps special values", () => {
    // Halfway between two neighbouring halves: 1 + 2^-11 lies between 1 (even) and 1 + 2^-10 (odd).
    expect(toHalf(1 + 2 ** -11)).toBe(0x3c00);
    expect(toHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(toHalf(65504)).toBe(0x7bff);
    expect(toHalf(65519.99)).toBe(0x7bff);
    expect(toHalf(65520)).toBe(0x7c00);
    expect(toHalf(-1e9)).toBe(0xfc00);
    expect(toHalf(Number.POSITIVE_INFINITY)).toBe(0x7c00);
    expect(toHalf(Number.NEGATIVE_INFINITY)).toBe(0xfc00);
    expect(Number.isNaN(floatFromHalfBits(toHalf(Number.NaN)))).toBe(true);
    // subnormals: the smallest is 2^-24; 2^-25 is a tie with zero (even), a hair above rounds up
    expect(toHalf(2 ** -24)).toBe(0x0001);
    expect(toHalf(2 ** -25)).toBe(0x0000);
    expect(toHalf(Math.fround(2 ** -25 * 1.0001))).toBe(0x0001);
    expect(toHalf(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 subnormal units: even is 2
    expect(toHalf(-0)).toBe(0x8000);
    expect(toHalf(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up into the smallest normal
  });

  it("encodes, decodes and accumulates arrays consistently with the scalar conversion", () => {
    const rng = new Rng(9);
    const x = Float32Array.from({ length: 1001 }, () => rng.normal() * 100);
    const h = new Uint16Array(x.length);
    encodeHalf(x, h);
    const back = new Float32Array(x.length);
    decodeHalf(h, back);
    const acc = Float32Array.from(x);
    addHalfInto(h, acc);
    for (let i = 0; i < x.length; i++) {
      expect(h[i]).toBe(toHalf(x[i]));
      expect(back[i]).toBe(floatFromHalfBits(h[i]));
      expect(acc[i]).toBe(Math.fround(x[i] + back[i]));
    }
    expect(() => encodeHalf(x, new Uint16Array(3))).toThrow(RangeError);
  });

  it("native F16C conversions give the plain code's bits, NaN payloads, subnormals and ties included", () => {
    installNativeRingArithmetic();
    const addon = ringArithmetic();
    expect(addon?.f16Encode, "native addon with Fp16.cc (node native/build.mjs)").toBeTypeOf("function");
    const native = addon as Required<NonNullable<typeof addon>>;
    const rng = new Rng(77);
    const specials = [
      0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001, 0x7fbfe000, 0x7f802000, 0x477ff000, 0x477fefff,
      0x33000000, 0x33000001, 0x38800000, 0x387fffff, 0x3f801000, 0x3f803000, 0x00000001, 0x80000000, 0x00000000,
    ];
    // odd length so the 8-lane loop leaves a scalar tail
    const n = 100_003;
    const bits = Uint32Array.from({ length: n }, (_, i) => {
      if (i < specials.length * 4) return specials[i % specials.length];
      // half of the elements: any 32-bit pattern; the other half: magnitudes around the half range
      return i % 2 ? rng.int(0x100000000) : bitsOf((rng.next() < 0.5 ? -1 : 1) * 2 ** rng.uniform(-26, 17));
    });
    const x = new Float32Array(bits.buffer);
    const halvesOf = (f: (h: Uint16Array, v: Float32Array) => void, v: Float32Array) => {
      const h = new Uint16Array(v.length);
      f(h, Float32Array.from(v));
      return h;
    };
    const sameBits = (a: ArrayBufferView, b: ArrayBufferView) =>
      Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    const hNative = halvesOf(native.f16Encode, x);
    expect(sameBits(hNative, halvesOf(halfJs.encode, x))).toBe(true);
    // every half pattern, decoded both ways
    const all = Uint16Array.from({ length: 65536 + 5 }, (_, i) => i & 0xffff);
    const [dNative, dJs] = [new Float32Array(all.length), new Float32Array(all.length)];
    native.f16Decode(all, dNative);
    halfJs.decode(all, dJs);
    expect(sameBits(dNative, dJs)).toBe(true);
    // the ring's fused steps, on finite inputs (a NaN sum's payload depends on operand order, not on us)
    const finite = x.map((v) => (Number.isFinite(v) ? v : rng.normal()));
    const wire = halvesOf(
      halfJs.encode,
      finite.map((v) => v * 0.5),
    );
    for (const op of ["addInto", "addEncode"] as const) {
      const [hn, hj, fn, fj] = [
        Uint16Array.from(wire),
        Uint16Array.from(wire),
        Float32Array.from(finite),
        Float32Array.from(finite),
      ];
      (op === "addInto" ? native.f16AddInto : native.f16AddEncode)(hn, fn);
      halfJs[op](hj, fj);
      expect(sameBits(fn, fj) && sameBits(hn, hj), op).toBe(true);
    }
    for (const divisor of [1, 3, 4]) {
      const [hn, hj, fn, fj] = [
        Uint16Array.from(wire),
        Uint16Array.from(wire),
        Float32Array.from(finite),
        Float32Array.from(finite),
      ];
      native.f16Finish(hn, fn, divisor);
      halfJs.finish(hj, fj, divisor);
      expect(sameBits(fn, fj) && sameBits(hn, hj), `finish / ${divisor}`).toBe(true);
    }
    expect(() => native.f16Encode(new Uint16Array(3), new Float32Array(4))).toThrow(RangeError);
    expect(() => native.f16Encode(new Float32Array(3) as unknown as Uint16Array, new Float32Array(3))).toThrow(
      TypeError,
    );
  });
});
