import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import "../../../src/model/ops/conv3dTransposeGrad.js";
import { Rng } from "../../../src/random.js";
import { centralDifference, randomArray, relativeError } from "./gradcheck.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
  tf.enableProdMode();
});

describe("gradient of conv3dTranspose (Conv3DBackpropInputV2)", () => {
  // Odd sizes and channel counts: x [1, 3, 2, 5, 3] → y [1, 6, 4, 10, 2] with a 2×2×2 stride-2 filter.
  const xShape: [number, number, number, number, number] = [1, 3, 2, 5, 3];
  const fShape: [number, number, number, number, number] = [2, 2, 2, 2, 3];
  const yShape: [number, number, number, number, number] = [1, 6, 4, 10, 2];

  it("matches central differences for both the input and the filter", () => {
    const rng = new Rng(31);
    const inputs = [randomArray(rng, 90), randomArray(rng, 48, 0.5)];
    const weights = tf.tensor(randomArray(rng, 480), yShape);
    // A linear map: the central difference is exact up to float32 rounding, so the tolerance can be tight.
    const objective = (x: tf.Tensor, f: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv3dTranspose(x as tf.Tensor5D, f as tf.Tensor5D, yShape, 2, "valid"), weights)) as tf.Scalar;
    const [dx, df] = tf.grads(objective)([tf.tensor(inputs[0], xShape), tf.tensor(inputs[1], fShape)]);
    expect(dx.shape).toEqual(xShape);
    expect(df.shape).toEqual(fShape);
    const analytic = [dx.dataSync(), df.dataSync()];
    const f = ([x, w]: Float32Array[]) =>
      tf.tidy(() => objective(tf.tensor(x, xShape), tf.tensor(w, fShape)).dataSync()[0]);
    for (const [which, index] of [
      [0, 0],
      [0, 44],
      [0, 89],
      [1, 0],
      [1, 23],
      [1, 47],
    ]) {
      const numeric = centralDifference(f, inputs, which, index, 1e-2);
      expect(relativeError(analytic[which][index], numeric), `input ${which}[${index}]`).toBeLessThan(1e-2);
    }
  });
});
