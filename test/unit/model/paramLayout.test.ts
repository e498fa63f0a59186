import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  flatSize,
  flattenGrads,
  joinFlat,
  paramLayout,
  readFlat,
  splitFlat,
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

  it("flattens gradients by variable name, zeros for variables without one", () => {
    const grads: tf.NamedTensorMap = {
      [unet.params[0].variable.name]: tf.fill([3, 3, 3, 2, 2], 0.25),
      [unet.params[2].variable.name]: tf.tensor1d([7, -8]),
    };
    const flat = flattenGrads(unet.params, grads, new Float32Array(flatSize(unet.params)).fill(9));
    expect(flat[0]).toBe(0.25);
    expect(flat[107]).toBe(0.25);
    expect(Array.from(flat.subarray(108, 110))).toEqual([0, 0]); // enc.0.0.bias: no gradient
    expect(Array.from(flat.subarray(110, 112))).toEqual([7, -8]);
    expect(flat[flat.length - 1]).toBe(0);
  });
});
