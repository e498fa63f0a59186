/**
 * The U-Net as an exporter sees it: plain weight arrays with batch norm folded into the convolution before it.
 * Both exporters (tfjs LayersModel, ONNX) are built from this one description, so they cannot disagree about
 * the architecture. Framework-free: plain Float32Arrays in tfjs kernel layout.
 *
 * Folding is exact for inference, where batch norm uses its running statistics:
 *   BN(conv(x) + b) = γ·(conv(x) + b − μ)/√(σ² + ε) + β = conv_{W·s}(x) + (b − μ)·s + β,  s = γ/√(σ² + ε)
 */

/** A convolution in tfjs layout: kernel [kd, kh, kw, in, out] (transposed: [kd, kh, kw, out, in]). */
export interface ConvWeights {
  kernel: Float32Array;
  kernelShape: [number, number, number, number, number];
  bias: Float32Array;
}

/**
 * Forward pass (matching src/model/unet.ts in eval mode): each encoder level is two 3×3×3 'same' convolutions
 * with ReLU, then a 2×2×2 max-pool except after the last level; each decoder level upsamples with a 2×2×2
 * stride-2 transposed convolution (no activation), concatenates the skip of the same level on the channel
 * axis in `concatOrder`, and applies two convolutions with ReLU; a 1×1×1 head gives logits and softmax
 * over the classes gives probabilities.
 */
export interface InferenceUNet {
  inChannels: number;
  numClasses: number;
  /** Channels per encoder level, e.g. [16, 32, 64, 128, 256]. */
  channels: number[];
  encoder: [ConvWeights, ConvWeights][];
  /** One per decoder level, deepest first. */
  upsample: ConvWeights[];
  decoder: [ConvWeights, ConvWeights][];
  head: ConvWeights;
  concatOrder: "upsampledFirst" | "skipFirst";
}

/** Batch-norm parameters and running statistics of one layer, each of length C. */
export interface BatchNormWeights {
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
}

/**
 * Folds a batch norm into the convolution it follows (kernel [..., out], last axis = output channel).
 * `bias` may be absent (a conv without bias before batch norm).
 */
export function foldBatchNorm(
  kernel: Float32Array,
  kernelShape: ConvWeights["kernelShape"],
  bias: Float32Array | undefined,
  bn: BatchNormWeights,
): ConvWeights {
  const out = kernelShape[4];
  if (kernel.length !== kernelShape.reduce((a, b) => a * b, 1)) {
    throw new Error(`foldBatchNorm: kernel of ${kernel.length} values does not match ${kernelShape.join("×")}`);
  }
  for (const [name, values] of Object.entries({ ...bn, bias: bias ?? new Float32Array(out) })) {
    if (values instanceof Float32Array && values.length !== out) {
      throw new Error(`foldBatchNorm: ${name} has ${values.length} values for ${out} output channels`);
    }
  }
  const scale = new Float64Array(out);
  const folded = new Float32Array(out);
  for (let c = 0; c < out; c++) {
    scale[c] = bn.gamma[c] / Math.sqrt(bn.variance[c] + bn.epsilon);
    folded[c] = ((bias?.[c] ?? 0) - bn.mean[c]) * scale[c] + bn.beta[c];
  }
  const foldedKernel = new Float32Array(kernel.length);
  for (let i = 0; i < kernel.length; i++) foldedKernel[i] = kernel[i] * scale[i % out];
  return { kernel: foldedKernel, kernelShape, bias: folded };
}

/** Parameter count of the folded network (weights and biases), for logs and bundle.json. */
export function countParameters(net: InferenceUNet): number {
  const convs = [...net.encoder.flat(), ...net.upsample, ...net.decoder.flat(), net.head];
  return convs.reduce((n, c) => n + c.kernel.length + c.bias.length, 0);
}

/** Side lengths of an input window must be multiples of this (one 2× pooling per level below the top). */
export function windowMultiple(net: Pick<InferenceUNet, "channels">): number {
  return 2 ** (net.channels.length - 1);
}

/** Checks that every layer's shapes chain into the next, so exporters can trust the description. */
export function checkInferenceUNet(net: InferenceUNet): void {
  const fail = (what: string) => {
    throw new Error(`InferenceUNet: ${what}`);
  };
  const levels = net.channels.length;
  if (net.encoder.length !== levels) fail(`${net.encoder.length} encoder levels for ${levels} channel counts`);
  if (net.upsample.length !== levels - 1 || net.decoder.length !== levels - 1) fail("decoder depth mismatch");
  const expect = (conv: ConvWeights, shape: number[], where: string) => {
    if (conv.kernelShape.join() !== shape.join()) fail(`${where} kernel ${conv.kernelShape} is not ${shape}`);
    if (conv.kernel.length !== shape.reduce((a, b) => a * b, 1)) fail(`${where} kernel size`);
    if (conv.bias.length !== (where.startsWith("up") ? shape[3] : shape[4])) fail(`${where} bias size`);
  };
  let inC = net.inChannels;
  net.channels.forEach((c, l) => {
    expect(net.encoder[l][0], [3, 3, 3, inC, c], `encoder ${l} conv 0`);
    expect(net.encoder[l][1], [3, 3, 3, c, c], `encoder ${l} conv 1`);
    inC = c;
  });
  for (let i = 0; i < levels - 1; i++) {
    const c = net.channels[levels - 2 - i];
    expect(net.upsample[i], [2, 2, 2, c, inC], `up ${i}`);
    expect(net.decoder[i][0], [3, 3, 3, 2 * c, c], `decoder ${i} conv 0`);
    expect(net.decoder[i][1], [3, 3, 3, c, c], `decoder ${i} conv 1`);
    inC = c;
  }
  expect(net.head, [1, 1, 1, inC, net.numClasses], "head");
}
