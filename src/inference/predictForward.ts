/**
 * A faster forward pass for the bundle's tfjs LayersModel on the cpu backend. `model.predict` runs each
 * layer's bias add, ReLU and the final softmax as plain-JavaScript tfjs kernels (≈ 0.4 µs an element for
 * softmax), which costs more than the oneDNN convolutions themselves. This walks the same layers with the same
 * weights but as conv3d (native) → fused bias + ReLU (the VoxBatchNormReluInfer kernel with unit scale), and
 * does the softmax over classes in one typed-array loop. Same maths; the unit tests hold it to model.predict.
 */
import * as tf from "@tensorflow/tfjs";
import { batchNormReluInfer } from "../model/ops/batchNormRelu.js";

interface LayerWeights {
  kernel: tf.Tensor5D;
  bias: tf.Tensor1D;
  /** Batch-norm-shaped constants that turn the fused kernel into bias + ReLU: γ = 1, μ = 0, σ² = 1. */
  ones: tf.Tensor1D;
  zeros: tf.Tensor1D;
}

export interface FastForward {
  /** Probabilities [N, D, H, W, K] channels-last for x [N, D, H, W, C]. */
  probabilities(x: tf.Tensor5D): Promise<Float32Array>;
  dispose(): void;
}

/**
 * The fast path for a model exported by buildLayersModel (layer names encoder{l}_conv{i}, decoder{j}_up,
 * decoder{j}_conv{i}, head); null for any other topology, which then runs through model.predict.
 */
export function fastForward(model: tf.LayersModel, concatOrder: "upsampledFirst" | "skipFirst"): FastForward | null {
  const names = new Set(model.layers.map((layer) => layer.name));
  let levels = 0;
  while (names.has(`encoder${levels}_conv0`)) levels++;
  const expected = ["head"];
  for (let l = 0; l < levels; l++) expected.push(`encoder${l}_conv0`, `encoder${l}_conv1`);
  for (let j = 0; j < levels - 1; j++) expected.push(`decoder${j}_up`, `decoder${j}_conv0`, `decoder${j}_conv1`);
  if (levels === 0 || expected.length !== names.size - countUnweighted(model) || !expected.every((n) => names.has(n))) {
    return null;
  }

  const owned: tf.Tensor[] = [];
  const weightsOf = (name: string): LayerWeights => {
    const [kernel, bias] = model.getLayer(name).getWeights() as [tf.Tensor5D, tf.Tensor1D];
    const channels = bias.shape[0];
    const ones = tf.ones([channels]) as tf.Tensor1D;
    const zeros = tf.zeros([channels]) as tf.Tensor1D;
    owned.push(ones, zeros);
    return { kernel, bias, ones, zeros };
  };
  const encoder = Array.from({ length: levels }, (_, l) => [
    weightsOf(`encoder${l}_conv0`),
    weightsOf(`encoder${l}_conv1`),
  ]);
  const up = Array.from({ length: levels - 1 }, (_, j) => weightsOf(`decoder${j}_up`));
  const decoder = Array.from({ length: levels - 1 }, (_, j) => [
    weightsOf(`decoder${j}_conv0`),
    weightsOf(`decoder${j}_conv1`),
  ]);
  const head = weightsOf("head");

  const convRelu = (x: tf.Tensor5D, w: LayerWeights): tf.Tensor5D =>
    batchNormReluInfer(tf.conv3d(x, w.kernel, 1, "same"), w.ones, w.bias, w.zeros, w.ones, { epsilon: 0, relu: true });

  const logits = (x: tf.Tensor5D): tf.Tensor5D =>
    tf.tidy(() => {
      const skips: tf.Tensor5D[] = [];
      let h = x;
      encoder.forEach(([a, b], l) => {
        h = convRelu(convRelu(h, a), b);
        if (l < levels - 1) {
          skips.push(h);
          h = tf.maxPool3d(h, 2, 2, "valid");
        }
      });
      decoder.forEach(([a, b], j) => {
        const [n, d, hh, w] = h.shape;
        const outC = up[j].kernel.shape[3];
        const upsampled = tf.add(
          tf.conv3dTranspose(h, up[j].kernel, [n, 2 * d, 2 * hh, 2 * w, outC], 2, "valid"),
          up[j].bias,
        ) as tf.Tensor5D;
        const skip = skips.pop() as tf.Tensor5D;
        h = tf.concat(concatOrder === "upsampledFirst" ? [upsampled, skip] : [skip, upsampled], 4);
        h = convRelu(convRelu(h, a), b);
      });
      return tf.add(tf.conv3d(h, head.kernel, 1, "valid"), head.bias) as tf.Tensor5D;
    });

  return {
    probabilities: async (x) => {
      const out = logits(x);
      const values = Float32Array.from((await out.data()) as Float32Array);
      const classes = out.shape[4];
      out.dispose();
      softmaxLastAxis(values, classes);
      return values;
    },
    dispose: () => tf.dispose(owned),
  };
}

/** Layers without weights (input, pooling, concatenation, softmax) that the name check must not count. */
function countUnweighted(model: tf.LayersModel): number {
  return model.layers.filter((layer) => layer.getWeights().length === 0).length;
}

/** In place, numerically stable (max subtracted), over groups of `classes` consecutive values. */
export function softmaxLastAxis(values: Float32Array, classes: number): void {
  for (let base = 0; base < values.length; base += classes) {
    let max = values[base];
    for (let k = 1; k < classes; k++) max = Math.max(max, values[base + k]);
    let sum = 0;
    for (let k = 0; k < classes; k++) {
      const e = Math.exp(values[base + k] - max);
      values[base + k] = e;
      sum += e;
    }
    const inverse = 1 / sum;
    for (let k = 0; k < classes; k++) values[base + k] *= inverse;
  }
}
