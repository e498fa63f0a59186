import { describe, expect, it } from "vitest";
import { ringArithmetic } from "../../../src/comm/arithmetic.js";
import { roundToHalf } from "../../../src/comm/fp16.js";
import { addInto, addScaleBoth } from "../../../src/comm/reduce.js";
import { installNativeRingArithmetic } from "../../../src/native/ringArithmetic.js";
import { Rng } from "../../../src/random.js";

/** The ring's arithmetic, native (when the addon is built) or plain, against a plain float32 loop. */
describe("ring reductions", () => {
  it("add in place bitwise like a float32 loop, on sizes around the native slices", () => {
    installNativeRingArithmetic();
    const rng = new Rng(5);
    for (const n of [0, 1, 4095, 4096, 16_383, 16_385, 100_003]) {
      const a = Float32Array.from({ length: n }, () => rng.normal() * 1e3);
      const b = Float32Array.from({ length: n }, () => rng.normal());
      const expected = a.map((x, i) => Math.fround(x + b[i]));
      addInto(b, a);
      expect(Buffer.from(a.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    }
    expect(() => addInto(new Float32Array(3), new Float32Array(4))).toThrow(RangeError);
  });

  it("finish with a correctly rounded average written to both arrays", () => {
    const rng = new Rng(6);
    for (const divisor of [1, 3, 7]) {
      const dst = Float32Array.from({ length: 20_001 }, () => rng.normal());
      const other = Float32Array.from({ length: 20_001 }, () => rng.normal());
      const expected = dst.map((x, i) => Math.fround(Math.fround(x + other[i]) / divisor));
      addScaleBoth(other, dst, divisor);
      expect(Buffer.from(dst.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
      expect(Buffer.from(other.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    }
  });

  it("sum every segment in rank order, divide, optionally round through fp16, and write it into all of them", () => {
    installNativeRingArithmetic();
    const sumToAll = ringArithmetic()?.f32SumToAll;
    expect(sumToAll, "the native addon (built by npm ci) provides f32SumToAll").toBeDefined();
    if (!sumToAll) return;
    const rng = new Rng(12);
    for (const [count, length, divisor, toHalf] of [
      [1, 5, 1, false],
      [2, 2047, 2, false],
      [3, 2049, 3, true],
      [4, 100_003, 4, false],
      [5, 4099, 1, true],
    ] as const) {
      const segments = Array.from({ length: count }, () => Float32Array.from({ length }, () => rng.normal() * 100));
      const expected = new Float32Array(length);
      for (let i = 0; i < length; i++) {
        let v = segments[0][i];
        for (let k = 1; k < count; k++) v = Math.fround(v + segments[k][i]);
        v = Math.fround(v / divisor);
        expected[i] = toHalf ? roundToHalf(v) : v;
      }
      sumToAll(segments, divisor, toHalf);
      for (const segment of segments)
        expect(Buffer.from(segment.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    }
    expect(() => sumToAll([new Float32Array(3), new Float32Array(4)], 1, false)).toThrow();
  });
});
