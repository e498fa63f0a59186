import * as tf from "@tensorflow/tfjs";
import type { ConvWeights, InferenceUNet } from "../../../src/inference/exportGraph.js";
import type { UNet } from "../../../src/model/unet.js";
import { Rng } from "../../../src/random.js";
import { writeCheckpoint } from "../../../src/train/checkpoint.js";
import { defaultConfig, type TrainConfig } from "../../../src/train/config.js";

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

/** A checkpoint of `unet` in a fresh run directory, as the training run writes it. */
export function writeTestRun(
  runDir: string,
  unet: UNet,
  { valWindow = [32, 32, 16] as [number, number, number], globalStep = 7 } = {},
): string {
  const named = (list: UNet["params"]) =>
    list.map(({ name, variable }) => ({
      name,
      shape: [...variable.shape],
      data: Float32Array.from(variable.dataSync() as Float32Array),
    }));
  const params = named(unet.params);
  const size = params.reduce((n, p) => n + p.data.length, 0);
  const config: TrainConfig = {
    ...defaultConfig,
    out: runDir,
    channels: unet.config.channels,
    valWindow,
    valOverlap: 0.5,
  };
  return writeCheckpoint(runDir, {
    globalStep,
    epoch: 1,
    stepInEpoch: 0,
    stepsPerEpoch: 7,
    params,
    stats: named(unet.stats),
    optimizer: { step: globalStep, m: new Float32Array(size), v: new Float32Array(size) },
    lossScale: null,
    rng: { seed: 0 },
    dataOrder: [[0, 1]],
    model: { ...unet.config },
    dataset: {
      labels: { "0": "background", "1": "PZ", "2": "TZ" },
      modality: { "0": "T2", "1": "ADC" },
      trainCases: ["a", "b"],
      valCases: ["c"],
    },
    config,
    validation: { diceMean: 0.5, dice: { PZ: 0.4, TZ: 0.6 } },
    bestDiceMean: 0.5,
    restarts: 0,
    skippedSteps: 0,
    savedAt: new Date().toISOString(),
  });
}

/** Gives batch-norm statistics, gammas and biases random values: a fresh net's identity values hide bugs. */
export function randomiseStatistics(unet: UNet, seed: number): void {
  const rng = new Rng(seed);
  for (const { name, variable } of [...unet.params, ...unet.stats]) {
    if (!/(bias|\.[14]\.weight|running_mean|running_var)$/.test(name)) continue;
    const positive = name.endsWith("running_var") || /\.[14]\.weight$/.test(name);
    const values = Float32Array.from({ length: variable.size }, () =>
      positive ? rng.uniform(0.5, 1.5) : rng.uniform(-0.3, 0.3),
    );
    variable.assign(tf.tensor(values, variable.shape));
  }
}

/** An affine with a rotation about z (degrees), the given spacing and an origin: not axis-aligned. */
export function obliqueAffine(spacing: [number, number, number], degrees: number, origin: [number, number, number]) {
  const a = (degrees * Math.PI) / 180;
  const [sx, sy, sz] = spacing;
  return [
    [Math.cos(a) * sx, -Math.sin(a) * sy, 0, origin[0]],
    [Math.sin(a) * sx, Math.cos(a) * sy, 0, origin[1]],
    [0, 0, sz, origin[2]],
    [0, 0, 0, 1],
  ];
}

/**
 * A two-channel case with structure (a bright ellipsoid in a darker body, noise), planar NIfTI order:
 * channel 0 then channel 1.
 */
export function phantomCase(shape: [number, number, number], seed: number): Float32Array {
  const [X, Y, Z] = shape;
  const rng = new Rng(seed);
  const out = new Float32Array(X * Y * Z * 2);
  for (let z = 0; z < Z; z++)
    for (let y = 0; y < Y; y++)
      for (let x = 0; x < X; x++) {
        const r = ((x - X / 2) / (X / 4)) ** 2 + ((y - Y / 2) / (Y / 5)) ** 2 + ((z - Z / 2) / (Z / 3)) ** 2;
        const v = (z * Y + y) * X + x;
        out[v] = (r < 1 ? 300 : 120) + 20 * rng.normal();
        out[X * Y * Z + v] = (r < 1 ? 800 : 1400) + 60 * rng.normal();
      }
  return out;
}
