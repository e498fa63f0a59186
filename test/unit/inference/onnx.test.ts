import * as tf from "@tensorflow/tfjs";
import * as ort from "onnxruntime-node";
import { beforeAll, describe, expect, it } from "vitest";
import { buildLayersModel } from "../../../src/inference/exportTfjs.js";
import { buildOnnxModel, permute } from "../../../src/inference/onnxExport.js";
import { maxAbsDiff, randomArray, randomInferenceUNet } from "./helpers.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** NDHWC → NCDHW */
function toChannelsFirst(x: Float32Array, [n, d, h, w, c]: number[]): Float32Array {
  return permute(x, [n, d, h, w, c], [0, 4, 1, 2, 3]);
}

describe("permute", () => {
  it("moves axes like a transpose", () => {
    const x = Float32Array.from({ length: 24 }, (_, i) => i);
    // [2,3,4] → [4,2,3]: out[k][i][j] = x[i][j][k]
    const y = permute(x, [2, 3, 4], [2, 0, 1]);
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++)
        for (let k = 0; k < 4; k++) expect(y[(k * 2 + i) * 3 + j]).toBe(x[(i * 3 + j) * 4 + k]);
  });
});

describe("ONNX export", () => {
  it.each(["upsampledFirst", "skipFirst"] as const)(
    "onnxruntime gives the tfjs LayersModel's probabilities (concat %s)",
    async (concatOrder) => {
      const net = randomInferenceUNet({ inChannels: 2, numClasses: 3, channels: [4, 8, 16] }, 3, concatOrder);
      const shape = [2, 8, 12, 16, 2]; // N D H W C, multiples of 4
      const input = randomArray(
        shape.reduce((a, b) => a * b, 1),
        5,
      );

      const model = buildLayersModel(net);
      const expected = tf.tidy(() => {
        const y = model.predict(tf.tensor(input, shape)) as tf.Tensor;
        return toChannelsFirst(y.dataSync() as Float32Array, y.shape);
      });
      model.dispose();

      const session = await ort.InferenceSession.create(buildOnnxModel(net, { producerVersion: "test" }));
      const [n, d, h, w, c] = shape;
      const result = await session.run({
        image: new ort.Tensor("float32", toChannelsFirst(input, shape), [n, c, d, h, w]),
      });
      const probs = result.probabilities;
      expect(probs.dims).toEqual([n, 3, d, h, w]);
      // the network is not trivial: probabilities vary over voxels
      const values = probs.data as Float32Array;
      expect(Math.max(...values) - Math.min(...values)).toBeGreaterThan(0.1);
      expect(maxAbsDiff(values, expected)).toBeLessThanOrEqual(1e-4);
      await session.release();
    },
  );
});
