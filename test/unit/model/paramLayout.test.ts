import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  areViewsOf,
  FIRST_BUCKET_BYTES,
  flatSize,
  gradientBuckets,
  joinFlat,
  paramLayout,
  readFlat,
  splitFlat,
  viewFlat,
  writeFlat,
} from "../../../src/model/paramLayout.js";
import { createUNet } from "../../../src/model/unet.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
  tf.enableProdMode();
});

const unet = createUNet({ inChannels: 2, numClasses: 3, channels: [2, 4] }, 1);
afterAll(() => unet.dispose());

describe("flat parameters", () => {
  it("lays the variables end to end in params order, computed from the config alone", () => {
    const layout = paramLayout(unet.config);
    expect(layout.params[0]).toEqual({ name: "enc.0.0.weight", shape: [3, 3, 3, 2, 2], offset: 0, size: 108 });
    expect(layout.params[1].offset).toBe(108);
    expect(layout.paramsLength).toBe(flatSize(unet.params));
    expect(layout.statsLength).toBe(flatSize(unet.stats));
    // the same names, shapes and order as the built net's variables
    const described = (vars: typeof unet.params) => vars.map((v) => [v.name, v.variable.shape]);
    expect(layout.params.map((s) => [s.name, s.shape])).toEqual(described(unet.params));
    expect(layout.stats.map((s) => [s.name, s.shape])).toEqual(described(unet.stats));
  });

  it("matches the bench U-Net's 5,648,323 parameters without building it", () => {
    expect(paramLayout({ inChannels: 2, numClasses: 3, channels: [16, 32, 64, 128, 256] }).paramsLength).toBe(
      5_648_323,
    );
  });

  it("splits a flat array into named copies and joins them back", () => {
    const layout = paramLayout(unet.config);
    const flat = Float32Array.from({ length: layout.paramsLength }, (_, i) => i * 0.25 - 3);
    const named = splitFlat(layout.params, flat);
    expect(named.map((n) => n.name)).toEqual(layout.params.map((s) => s.name));
    expect(named[1].data[0]).toBe(flat[108]);
    flat[108] = 99; // copies: the split arrays do not alias the flat one
    expect(named[1].data[0]).not.toBe(99);
    flat[108] = 108 * 0.25 - 3;
    expect(Array.from(joinFlat(named))).toEqual(Array.from(flat));
    expect(() => splitFlat(layout.params, flat.subarray(1))).toThrow(/flat array has/);
  });

  it("round-trips values, and written variables do not alias the caller's array", () => {
    const flat = readFlat(unet.params);
    expect(flat.subarray(0, 108)).toEqual(unet.params[0].variable.dataSync());
    const changed = flat.map((v, i) => v + 0.5 + i * 1e-3);
    writeFlat(unet.params, changed);
    const back = readFlat(unet.params);
    expect(Array.from(back)).toEqual(Array.from(changed));
    changed[0] = 1234;
    expect(unet.params[0].variable.dataSync()[0]).not.toBe(1234);
    expect(() => writeFlat(unet.params, new Float32Array(5))).toThrow(/5 values/);
  });

  it("viewFlat makes the variables views of the array on the cpu backend, until a writeFlat copies again", () => {
    const flat = readFlat(unet.params).map((v, i) => v - 0.25 + i * 1e-4);
    expect(areViewsOf(unet.params, flat)).toBe(false);
    viewFlat(unet.params, flat);
    expect(areViewsOf(unet.params, flat)).toBe(true);
    expect(Array.from(readFlat(unet.params))).toEqual(Array.from(flat));
    flat[109] = 77; // the second variable's second value: writing the array writes the variable
    expect(unet.params[1].variable.dataSync()[1]).toBe(77);
    expect(areViewsOf(unet.params, flat.slice())).toBe(false); // equal values are not the same storage
    writeFlat(
      unet.params,
      flat.map((v) => v + 1),
    ); // a restore: copies, the views are gone
    expect(areViewsOf(unet.params, flat)).toBe(false);
    flat[109] = -5;
    expect(unet.params[1].variable.dataSync()[1]).toBe(78);
  });
});

describe("gradient buckets", () => {
  const MIB = 1 << 20;

  it("cuts from the last parameter back, the first bucket at 1 MiB, then at the cap", () => {
    // floats; cap 2 MiB = 524,288 floats, first bucket 1 MiB = 262,144 floats
    const sizes = [300_000, 10, 700_000, 500_000, 100_000, 200_000];
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(gradientBuckets(sizes, 2 * MIB)).toEqual([
      { lo: total - 300_000, hi: total, params: [5, 4] },
      { lo: 300_010, hi: total - 300_000, params: [3, 2] },
      { lo: 0, hi: 300_010, params: [1, 0] }, // the rest, short of the cap
    ]);
    expect(FIRST_BUCKET_BYTES).toBe(MIB);
  });

  it("gives a parameter larger than the cap a bucket of its own, and cap 0 one bucket for all", () => {
    expect(gradientBuckets([10, 2_000_000, 10], 4 * MIB).map((b) => b.params)).toEqual([[2, 1], [0]]);
    expect(gradientBuckets([10, 2_000_000, 10], 0)).toEqual([{ lo: 0, hi: 2_000_020, params: [2, 1, 0] }]);
    expect(gradientBuckets([], 4 * MIB)).toEqual([]);
    expect(() => gradientBuckets([1], -1)).toThrow(/bad cap/);
    expect(() => gradientBuckets([1], Number.NaN)).toThrow(/bad cap/);
  });

  it.each([0.05, 1, 4, 25, 1000])("tiles the bench U-Net's layout end to end, closing each bucket at %s MiB", (mb) => {
    const layout = paramLayout({ inChannels: 2, numClasses: 3, channels: [16, 32, 64, 128, 256] });
    const sizes = layout.params.map((p) => p.size);
    const buckets = gradientBuckets(sizes, mb * MIB);
    let hi = layout.paramsLength;
    const seen: number[] = [];
    for (const [k, bucket] of buckets.entries()) {
      expect(bucket.hi).toBe(hi);
      expect(bucket.lo).toBe(layout.params[bucket.params[bucket.params.length - 1]].offset);
      expect(bucket.hi - bucket.lo).toBe(bucket.params.reduce((sum, i) => sum + sizes[i], 0));
      const limit = k === 0 ? Math.min(FIRST_BUCKET_BYTES, mb * MIB) : mb * MIB;
      const lastAdded = sizes[bucket.params[bucket.params.length - 1]];
      if (k < buckets.length - 1) expect((bucket.hi - bucket.lo) * 4).toBeGreaterThanOrEqual(limit);
      expect((bucket.hi - bucket.lo - lastAdded) * 4).toBeLessThan(limit); // closed as soon as it was full
      seen.push(...bucket.params);
      hi = bucket.lo;
    }
    expect(hi).toBe(0);
    expect(seen).toEqual(sizes.map((_, i) => sizes.length - 1 - i)); // every parameter once, last first
    if (mb === 25) expect(buckets.length).toBe(2); // 22.6 MB of gradients: DDP's small first bucket, then the rest
  });
});
