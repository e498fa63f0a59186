import type { ConvWeights, InferenceUNet } from "../../../src/model/exportGraph.js";
import { Rng } from "../../../src/random.js";

/** A folded U-Net with random non-zero weights (He-like scale so activations stay in a sane range). */
export function randomInferenceUNet(
  { inChannels, numClasses, channels }: { inChannels: number; numClasses: number; channels: number[] },
  seed: number,
  concatOrder: InferenceUNet["concatOrder"] = "upsampledFirst",
): InferenceUNet {
  const rng = new Rng(seed);
  const conv = (shape: ConvWeights["kernelShape"], fanIn: number, biasLength: number): ConvWeights => ({
    kernelShape: shape,
    kernel: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * Math.sqrt(2 / fanIn)),
    bias: Float32Array.from({ length: biasLength }, () => rng.uniform(-0.2, 0.2)),
  });
  const encoder: [ConvWeights, ConvWeights][] = [];
  let inC = inChannels;
  for (const c of channels) {
    encoder.push([conv([3, 3, 3, inC, c], 27 * inC, c), conv([3, 3, 3, c, c], 27 * c, c)]);
    inC = c;
  }
  const upsample: ConvWeights[] = [];
  const decoder: [ConvWeights, ConvWeights][] = [];
  for (let l = channels.length - 2; l >= 0; l--) {
    const c = channels[l];
    upsample.push(conv([2, 2, 2, c, inC], 8 * inC, c));
    decoder.push([conv([3, 3, 3, 2 * c, c], 54 * c, c), conv([3, 3, 3, c, c], 27 * c, c)]);
    inC = c;
  }
  const head = conv([1, 1, 1, inC, numClasses], inC, numClasses);
  return { inChannels, numClasses, channels, encoder, upsample, decoder, head, concatOrder };
}

export function randomArray(length: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length }, () => rng.normal());
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
