/**
 * From the training U-Net's named weights (src/model/unet.ts names, as a checkpoint stores them) to the folded
 * InferenceUNet the exporters take. Names follow the PyTorch reference's state_dict: `enc.i.0` conv,
 * `enc.i.1` its batch norm, `enc.i.3` / `enc.i.4` the second pair, `up.j`, `dec.j.*`, `head`.
 *
 * The U-Net keeps the conv bias out of the activation and normalises with (running_mean − bias) in eval mode
 * (see unet.ts); folding with the bias included is the same affine map, so the result matches eval mode.
 */

import { DEFAULT_BN_EPSILON } from "../model/ops/batchNormRelu.js";
import type { UNet, UNetConfig } from "../model/unet.js";
import type { ConvWeights, InferenceUNet } from "./exportGraph.js";
import { foldBatchNorm } from "./exportGraph.js";

export interface NamedWeights {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Folds named parameters and batch-norm statistics into the exporters' description. */
export function inferenceUNetFromWeights(
  config: UNetConfig,
  weights: NamedWeights[],
  epsilon = DEFAULT_BN_EPSILON,
): InferenceUNet {
  const byName = new Map(weights.map((w) => [w.name, w]));
  const get = (name: string, shape: number[]): Float32Array => {
    const w = byName.get(name);
    if (!w) throw new Error(`U-Net weights: ${name} is missing`);
    if (w.shape.join() !== shape.join()) throw new Error(`U-Net weights: ${name} is ${w.shape}, expected ${shape}`);
    return w.data;
  };
  const convBn = (conv: string, bn: string, inC: number, outC: number): ConvWeights =>
    foldBatchNorm(get(`${conv}.weight`, [3, 3, 3, inC, outC]), [3, 3, 3, inC, outC], get(`${conv}.bias`, [outC]), {
      gamma: get(`${bn}.weight`, [outC]),
      beta: get(`${bn}.bias`, [outC]),
      mean: get(`${bn}.running_mean`, [outC]),
      variance: get(`${bn}.running_var`, [outC]),
      epsilon,
    });
  const block = (prefix: string, inC: number, outC: number): [ConvWeights, ConvWeights] => [
    convBn(`${prefix}.0`, `${prefix}.1`, inC, outC),
    convBn(`${prefix}.3`, `${prefix}.4`, outC, outC),
  ];

  const { inChannels, numClasses, channels } = config;
  const encoder: InferenceUNet["encoder"] = [];
  let prev = inChannels;
  channels.forEach((c, i) => {
    encoder.push(block(`enc.${i}`, prev, c));
    prev = c;
  });
  const upsample: ConvWeights[] = [];
  const decoder: InferenceUNet["decoder"] = [];
  channels
    .slice(0, -1)
    .reverse()
    .forEach((c, j) => {
      const shape: ConvWeights["kernelShape"] = [2, 2, 2, c, prev];
      upsample.push({ kernel: get(`up.${j}.weight`, shape), kernelShape: shape, bias: get(`up.${j}.bias`, [c]) });
      decoder.push(block(`dec.${j}`, 2 * c, c));
      prev = c;
    });
  const headShape: ConvWeights["kernelShape"] = [1, 1, 1, prev, numClasses];
  const head = { kernel: get("head.weight", headShape), kernelShape: headShape, bias: get("head.bias", [numClasses]) };
  return {
    inChannels,
    numClasses,
    channels: [...channels],
    encoder,
    upsample,
    decoder,
    head,
    concatOrder: "upsampledFirst",
  };
}

/** The weights of a live U-Net (parameters and running statistics), read out of its variables. */
export function unetWeights(unet: UNet): NamedWeights[] {
  return [...unet.params, ...unet.stats].map(({ name, variable }) => ({
    name,
    shape: [...variable.shape],
    data: Float32Array.from(variable.dataSync() as Float32Array),
  }));
}

/** Convenience for tests and validation: a live U-Net's folded description. */
export function inferenceUNetOf(unet: UNet): InferenceUNet {
  return inferenceUNetFromWeights(unet.config, unetWeights(unet));
}
