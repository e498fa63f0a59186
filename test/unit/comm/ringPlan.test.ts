import { describe, expect, it } from "vitest";
import { decodeHeader, encodeHeader, FrameKind, HEADER_BYTES, WireType } from "../../../src/comm/ringFrame.js";
import { chunkRange, framesToReceive, receiveSegment, ringPlan, sendSegment } from "../../../src/comm/ringPlan.js";

describe("ringPlan", () => {
  for (const [length, worldSize, chunkElems] of [
    [0, 1, 4],
    [0, 3, 4],
    [1, 4, 4],
    [7, 3, 2],
    [1001, 8, 16],
    [1_000_003, 7, 65_536],
  ]) {
    it(`covers [0, ${length}) exactly once for N=${worldSize}, chunks of ${chunkElems}`, () => {
      const plan = ringPlan(length, worldSize, chunkElems);
      const covered = new Uint8Array(length);
      for (let s = 0; s < worldSize; s++) {
        const size = plan.segmentStart[s + 1] - plan.segmentStart[s];
        expect(size).toBeGreaterThanOrEqual(Math.floor(length / worldSize));
        expect(size).toBeLessThanOrEqual(Math.ceil(length / worldSize));
        for (let c = 0; c < plan.chunkCount[s]; c++) {
          const [lo, hi] = chunkRange(plan, s, c);
          expect(hi - lo).toBeLessThanOrEqual(chunkElems);
          for (let i = lo; i < hi; i++) covered[i]++;
        }
      }
      expect(covered.every((v) => v === 1)).toBe(true);
    });
  }

  it("forwards at step g + 1 what it received at step g, and each rank receives every other segment", () => {
    for (const n of [2, 3, 5, 8]) {
      for (let r = 0; r < n; r++) {
        for (let g = 0; g + 1 < 2 * (n - 1); g++) expect(sendSegment(r, g + 1, n)).toBe(receiveSegment(r, g, n));
        // what rank r sends at step g is what rank r + 1 receives at step g
        for (let g = 0; g < 2 * (n - 1); g++) expect(receiveSegment((r + 1) % n, g, n)).toBe(sendSegment(r, g, n));
        const plan = ringPlan(100, n, 3);
        let expected = 0;
        for (let g = 0; g < 2 * (n - 1); g++) expected += plan.chunkCount[receiveSegment(r, g, n)];
        expect(framesToReceive(plan, r)).toBe(expected);
      }
    }
  });

  it("rejects nonsense sizes", () => {
    expect(() => ringPlan(-1, 2, 4)).toThrow(RangeError);
    expect(() => ringPlan(10, 0, 4)).toThrow(RangeError);
    expect(() => ringPlan(10, 2, 0)).toThrow(RangeError);
  });
});

describe("ring frame header", () => {
  it("round-trips and refuses bytes that are not a header", () => {
    const h = {
      generation: 7,
      op: 123_456,
      kind: FrameKind.allReduce,
      wire: WireType.f16,
      step: 13,
      chunk: 99,
      bytes: 1 << 20,
    };
    const b = encodeHeader(h);
    expect(b.byteLength).toBe(HEADER_BYTES);
    expect(decodeHeader(b)).toEqual(h);
    expect(decodeHeader(b.subarray(0, 10))).toMatch(/bytes/);
    const bad = Buffer.from(b);
    bad[0] ^= 0xff;
    expect(decodeHeader(bad)).toMatch(/magic/);
    const badKind = Buffer.from(b);
    badKind[12] = 77;
    expect(decodeHeader(badKind)).toMatch(/kind/);
  });
});
