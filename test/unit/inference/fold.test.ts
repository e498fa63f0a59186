import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countParameters, foldBatchNorm } from "../../../src/inference/exportGraph.js";
import { buildLayersModel, loadLayersModelFromDir, serializeLayersModel } from "../../../src/inference/exportTfjs.js";
import { maxAbsDiff, randomArray, randomInferenceUNet } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "voxring-fold-"));
beforeAll(async () => {
  await tf.setBackend("cpu");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("foldBatchNorm", () => {
  it.each([true, false])("conv + batch norm equals the folded conv (conv bias: %s)", (withBias) => {
    const [cin, cout] = [3, 5];
    const shape: [number, number, number, number, number] = [3, 3, 3, cin, cout];
    const kernel = randomArray(27 * cin * cout, 1);
    const bias = withBias ? randomArray(cout, 2) : undefined;
    const positive = randomArray(cout, 3).map((v) => 0.5 + v * v);
    const bn = {
      gamma: randomArray(cout, 4),
      beta: randomArray(cout, 5),
      mean: randomArray(cout, 6),
      variance: positive,
      epsilon: 1e-5,
    };
    const x = tf.tensor(randomArray(2 * 5 * 7 * 9 * cin, 7), [2, 5, 7, 9, cin]) as tf.Tensor5D;

    const reference = tf.tidy(() => {
      let y = tf.conv3d(x, tf.tensor5d(kernel, shape), 1, "same") as tf.Tensor;
      if (bias) y = y.add(tf.tensor1d(bias));
      const normalised = y.sub(tf.tensor1d(bn.mean)).div(tf.tensor1d(bn.variance).add(bn.epsilon).sqrt());
      return normalised.mul(tf.tensor1d(bn.gamma)).add(tf.tensor1d(bn.beta)).dataSync();
    });
    const folded = foldBatchNorm(kernel, shape, bias, bn);
    const result = tf.tidy(() =>
      tf.conv3d(x, tf.tensor5d(folded.kernel, shape), 1, "same").add(tf.tensor1d(folded.bias)).dataSync(),
    );
    expect(Math.max(...reference.map(Math.abs))).toBeGreaterThan(1);
    expect(maxAbsDiff(result, reference)).toBeLessThan(1e-4);
    x.dispose();
  });
});

describe("tfjs LayersModel files", () => {
  it("round-trips through model.json + weights.bin with the same predictions", async () => {
    const net = randomInferenceUNet({ inChannels: 2, numClasses: 3, channels: [4, 8, 16] }, 9);
    const model = buildLayersModel(net);
    expect(model.countParams()).toBe(countParameters(net));
    const files = await serializeLayersModel(model, { source: "test" });
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
    const loaded = await loadLayersModelFromDir(dir);
    const x = tf.tensor(randomArray(1 * 4 * 8 * 12 * 2, 10), [1, 4, 8, 12, 2]);
    const [a, b] = [model, loaded].map((m) => tf.tidy(() => (m.predict(x) as tf.Tensor).dataSync()));
    expect(a.length).toBe(4 * 8 * 12 * 3);
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([x]);
    model.dispose();
    loaded.dispose();
  });
});
