import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { buildLayersModel } from "../../../src/inference/exportTfjs.js";
import { fastForward, softmaxLastAxis } from "../../../src/inference/predictForward.js";
import { maxAbsDiff, randomArray, randomInferenceUNet } from "./helpers.js";

beforeAll(async () => {
  tf.enableProdMode();
  await tf.setBackend("cpu");
});

describe("fastForward", () => {
  it.each(["upsampledFirst", "skipFirst"] as const)(
    "gives model.predict's probabilities (concat %s, odd batch and sizes)",
    async (concatOrder) => {
      const net = randomInferenceUNet({ inChannels: 2, numClasses: 3, channels: [3, 5, 7] }, 51, concatOrder);
      const model = buildLayersModel(net);
      const fast = fastForward(model, concatOrder);
      expect(fast).not.toBeNull();
      const shape: [number, number, number, number, number] = [3, 4, 12, 20, 2];
      const x = tf.tensor5d(
        randomArray(
          shape.reduce((a, b) => a * b, 1),
          52,
        ),
        shape,
      );
      const expected = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
      const got = await (fast as NonNullable<typeof fast>).probabilities(x);
      expect(Math.max(...expected) - Math.min(...expected)).toBeGreaterThan(0.1);
      expect(maxAbsDiff(got, expected)).toBeLessThan(1e-5);
      const before = tf.memory().numTensors;
      await (fast as NonNullable<typeof fast>).probabilities(x);
      expect(tf.memory().numTensors).toBe(before);
      fast?.dispose();
      model.dispose();
      x.dispose();
    },
  );

  it("declines a model of another topology", () => {
    const input = tf.input({ shape: [4, 4, 4, 1] });
    const output = tf.layers.conv3d({ name: "head", filters: 2, kernelSize: 1 }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: output });
    expect(fastForward(model, "upsampledFirst")).toBeNull();
    model.dispose();
  });
});

describe("softmaxLastAxis", () => {
  it("matches tf.softmax, also for large logits", () => {
    const values = randomArray(7 * 4, 53).map((v, i) => (i % 5 === 0 ? v * 80 : v));
    const expected = tf.tidy(() => tf.softmax(tf.tensor2d(values, [7, 4])).dataSync());
    softmaxLastAxis(values, 4);
    expect(maxAbsDiff(values, expected)).toBeLessThan(1e-6);
  });
});
