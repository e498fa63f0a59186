import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flatLayout, flatSize, flattenGrads, readFlat, writeFlat } from "../../../src/model/paramLayout.js";
import { createUNet } from "../../../src/model/unet.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
  tf.enableProdMode();
});

const unet = createUNet({ inChannels: 2, numClasses: 3, channels: [2, 4] }, 1);
afterAll(() => unet.dispose());

describe("flat parameters", () => {
  it("lays the variables end to end in params order", () => {
    const layout = flatLayout(unet.params);
    expect(layout[0]).toEqual({ name: "enc.0.0.weight", shape: [3, 3, 3, 2, 2], offset: 0, size: 108 });
    expect(layout[1].offset).toBe(108);
    const last = layout[layout.length - 1];
    expect(last.offset + last.size).toBe(flatSize(unet.params));
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
