import * as tf from "@tensorflow/tfjs";
import { Rng } from "../random.js";
import { batchNormReluInfer, batchNormReluTrain, DEFAULT_BN_EPSILON } from "./ops/batchNormRelu.js";
import "./ops/conv3dTransposeGrad.js";

/**
 * The 3D U-Net of shared/BENCHMARK.md (Çiçek et al. 2016), identical in structure and parameter count to
 * the PyTorch reference anchors/torch_unet_step.py (5,648,323 parameters for 2 → 3 classes, 16..256):
 *
 *   encoder level i:  (3×3×3 conv 'same' + BatchNorm + ReLU) × 2, then 2×2×2 max-pool (not after the last)
 *   decoder level j:  2×2×2 stride-2 transposed conv to the skip's channels, concat [up, skip],
 *                     the same double conv block
 *   head:             1×1×1 conv to the classes (softmax lives in the loss)
 *
 * Tensors are NDHWC. Parameter names are the PyTorch reference's state_dict keys, in its order, so a
 * checkpoint maps one to one (layouts differ: tfjs conv filters are [kd, kh, kw, in, out], transposed-conv
 * filters [kd, kh, kw, out, in]).
 *
 * Conv biases before a batch norm: the reference has them (they are in its 5,648,323), so they are kept as
 * parameters. But a training-mode batch norm subtracts the per-channel batch mean, so such a bias cancels
 * exactly and its gradient is exactly zero. Instead of adding it to an activation-sized tensor (and summing
 * that tensor in the backward pass), it is folded into the statistics: the running mean tracks
 * mean(conv + bias) as PyTorch's does, and eval mode normalises the bias-free conv with running_mean − bias.
 * Outputs equal the reference's in both modes; the bias simply never moves in training, as it cannot matter.
 */

export interface UNetConfig {
  inChannels: number;
  numClasses: number;
  /** Channels per encoder level; the depth of the net is channels.length. */
  channels: number[];
}

export const BENCH_CHANNELS = [16, 32, 64, 128, 256];

export interface NamedVariable {
  name: string;
  variable: tf.Variable;
}

/**
 * How a forward takes its parameters when someone wants to see their gradients arrive (gradientHooks.ts):
 * every use of a parameter on the way to the output goes through `use`, and a parameter the forward leaves
 * out of the gradient on purpose is declared by `withoutGradient`.
 */
export interface GradientTap {
  /** The tensor to compute with in place of `variable`: the same values; backward reports its gradient. */
  use<T extends tf.Tensor>(variable: tf.Variable): T;
  /** `variable` has no gradient in this forward (a conv bias in front of a training-mode batch norm). */
  withoutGradient(variable: tf.Variable): void;
}

export interface UNet {
  readonly config: UNetConfig;
  /** Trainable parameters in a fixed order (the reference's state_dict order). */
  readonly params: NamedVariable[];
  /** Batch-norm running means and variances, updated by training-mode forwards outside the gradient. */
  readonly stats: NamedVariable[];
  /**
   * Logits [N, D, H, W, classes] for x [N, D, H, W, inChannels]; eval mode uses the running statistics.
   * With a tap, every parameter is taken through it (training steps with per-parameter gradient hooks).
   */
  apply(x: tf.Tensor5D, training: boolean, tap?: GradientTap): tf.Tensor5D;
  dispose(): void;
}

/** PyTorch's BatchNorm3d default: running ← (1 − m)·running + m·batch. */
export const BN_MOMENTUM = 0.1;

/** Spatial sizes must be divisible by this (one halving per max-pool). */
export function spatialDivisor(config: UNetConfig): number {
  return 2 ** (config.channels.length - 1);
}

export function countParams(unet: UNet): number {
  return unet.params.reduce((total, p) => total + p.variable.size, 0);
}

// ---- building the variables ----

interface ConvBnRelu<V> {
  weight: V;
  bias: V;
  gamma: V;
  beta: V;
  runningMean: V;
  runningVar: V;
}

interface Upsample<V> {
  weight: V;
  bias: V;
}

/** The net's variables in the reference's state_dict order; `V` is a tfjs variable or just its shape. */
interface Layers<V> {
  encoder: ConvBnRelu<V>[][];
  ups: Upsample<V>[];
  decoder: ConvBnRelu<V>[][];
  headWeight: V;
  headBias: V;
}

/** Where declared variables go: real tfjs variables (createUNet) or only their names and shapes (unetShapes). */
interface VariableSink<V> {
  heNormal(name: string, shape: number[], fanIn: number): V;
  constant(name: string, size: number, value: number, kind: "param" | "stat"): V;
}

/** tfjs variable names are global to the process: each U-Net instance gets its own prefix. */
let instances = 0;

class VariableFactory implements VariableSink<tf.Variable> {
  readonly params: NamedVariable[] = [];
  readonly stats: NamedVariable[] = [];
  private readonly prefix = `voxring.unet${instances++}`;

  constructor(private readonly rng: Rng) {}

  /** He-normal (Kaiming, fan-in, ReLU gain): std = sqrt(2 / fan_in). */
  heNormal(name: string, shape: number[], fanIn: number): tf.Variable {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const std = Math.sqrt(2 / fanIn);
    for (let i = 0; i < values.length; i++) values[i] = std * this.rng.normal();
    return this.add(this.params, name, tf.tensor(values, shape), true);
  }

  constant(name: string, size: number, value: number, kind: "param" | "stat"): tf.Variable {
    const list = kind === "param" ? this.params : this.stats;
    return this.add(list, name, tf.fill([size], value), kind === "param");
  }

  private add(list: NamedVariable[], name: string, initial: tf.Tensor, trainable: boolean): tf.Variable {
    const variable = tf.variable(initial, trainable, `${this.prefix}/${name}`);
    initial.dispose();
    list.push({ name, variable });
    return variable;
  }
}

/** A variable's name and shape, without a tensor. */
export interface VariableShape {
  name: string;
  shape: number[];
}

class ShapeRecorder implements VariableSink<null> {
  readonly params: VariableShape[] = [];
  readonly stats: VariableShape[] = [];

  heNormal(name: string, shape: number[]): null {
    this.params.push({ name, shape: [...shape] });
    return null;
  }

  constant(name: string, size: number, _value: number, kind: "param" | "stat"): null {
    (kind === "param" ? this.params : this.stats).push({ name, shape: [size] });
    return null;
  }
}

/** The names and shapes of a U-Net's parameters and statistics, in createUNet's order, from the config alone. */
export function unetShapes(config: UNetConfig): { params: VariableShape[]; stats: VariableShape[] } {
  validateConfig(config);
  const recorder = new ShapeRecorder();
  declareLayers(config, recorder);
  return { params: recorder.params, stats: recorder.stats };
}

function convBnRelu<V>(vars: VariableSink<V>, prefix: string, convIndex: number, inC: number, outC: number) {
  const conv = `${prefix}.${convIndex}`;
  const bn = `${prefix}.${convIndex + 1}`;
  return {
    weight: vars.heNormal(`${conv}.weight`, [3, 3, 3, inC, outC], 27 * inC),
    bias: vars.constant(`${conv}.bias`, outC, 0, "param"),
    gamma: vars.constant(`${bn}.weight`, outC, 1, "param"),
    beta: vars.constant(`${bn}.bias`, outC, 0, "param"),
    runningMean: vars.constant(`${bn}.running_mean`, outC, 0, "stat"),
    runningVar: vars.constant(`${bn}.running_var`, outC, 1, "stat"),
  };
}

/** The double conv block; indices 0 and 3 for the convs, 1 and 4 for the norms, as in nn.Sequential. */
function doubleConv<V>(vars: VariableSink<V>, prefix: string, inC: number, outC: number): ConvBnRelu<V>[] {
  return [convBnRelu(vars, prefix, 0, inC, outC), convBnRelu(vars, prefix, 3, outC, outC)];
}

function declareLayers<V>(config: UNetConfig, vars: VariableSink<V>): Layers<V> {
  const encoder: ConvBnRelu<V>[][] = [];
  let prev = config.inChannels;
  for (const [i, c] of config.channels.entries()) {
    encoder.push(doubleConv(vars, `enc.${i}`, prev, c));
    prev = c;
  }
  // The reference registers all up-convolutions before all decoder blocks; the parameter order follows.
  const ups: Upsample<V>[] = [];
  const decoderChannels = config.channels.slice(0, -1).reverse();
  for (const [j, c] of decoderChannels.entries()) {
    // Transposed conv 2×2×2 stride 2: each output voxel sees exactly one input voxel, so fan-in = channels in.
    ups.push({
      weight: vars.heNormal(`up.${j}.weight`, [2, 2, 2, c, prev], prev),
      bias: vars.constant(`up.${j}.bias`, c, 0, "param"),
    });
    prev = c;
  }
  const decoder = decoderChannels.map((c, j) => doubleConv(vars, `dec.${j}`, 2 * c, c));
  const headWeight = vars.heNormal("head.weight", [1, 1, 1, prev, config.numClasses], prev);
  const headBias = vars.constant("head.bias", config.numClasses, 0, "param");
  return { encoder, ups, decoder, headWeight, headBias };
}

function validateConfig(config: UNetConfig): void {
  const positiveInt = (n: number) => Number.isInteger(n) && n > 0;
  if (!positiveInt(config.inChannels)) throw new Error(`UNet: inChannels must be a positive integer`);
  if (!positiveInt(config.numClasses) || config.numClasses < 2) throw new Error(`UNet: numClasses must be ≥ 2`);
  if (config.channels.length < 1 || !config.channels.every(positiveInt)) {
    throw new Error(`UNet: channels must be a non-empty list of positive integers, got ${config.channels}`);
  }
}

// ---- the forward pass ----

/** The tap of a plain forward: parameters as they are. */
const untapped: GradientTap = {
  use: <T extends tf.Tensor>(variable: tf.Variable) => variable as tf.Tensor as T,
  withoutGradient: () => {},
};

function applyConvBnRelu(
  layer: ConvBnRelu<tf.Variable>,
  x: tf.Tensor5D,
  training: boolean,
  tap: GradientTap,
): tf.Tensor5D {
  const z = tf.conv3d(x, tap.use<tf.Tensor5D>(layer.weight), 1, "same", "NDHWC");
  const attrs = { epsilon: DEFAULT_BN_EPSILON, relu: true };
  const gamma = tap.use<tf.Tensor1D>(layer.gamma);
  const beta = tap.use<tf.Tensor1D>(layer.beta);
  if (!training) {
    const mean = tf.sub(layer.runningMean, tap.use(layer.bias)) as tf.Tensor1D; // the folded conv bias (see top)
    return batchNormReluInfer(z, gamma, beta, mean, layer.runningVar as tf.Tensor1D, attrs);
  }
  // Only the running mean sees the bias in training, outside the gradient (see top).
  tap.withoutGradient(layer.bias);
  const { y, mean, variance } = batchNormReluTrain(z, gamma, beta, attrs);
  const count = z.size / z.shape[4];
  // PyTorch keeps the unbiased variance in its running estimate while normalising with the biased one.
  const unbiased = count > 1 ? count / (count - 1) : 1;
  layer.runningMean.assign(
    tf.add(tf.mul(layer.runningMean, 1 - BN_MOMENTUM), tf.mul(tf.add(mean, layer.bias), BN_MOMENTUM)),
  );
  layer.runningVar.assign(tf.add(tf.mul(layer.runningVar, 1 - BN_MOMENTUM), tf.mul(variance, BN_MOMENTUM * unbiased)));
  return y;
}

function applyBlock(
  block: ConvBnRelu<tf.Variable>[],
  x: tf.Tensor5D,
  training: boolean,
  tap: GradientTap,
): tf.Tensor5D {
  return block.reduce((h, layer) => applyConvBnRelu(layer, h, training, tap), x);
}

function applyUpsample(up: Upsample<tf.Variable>, x: tf.Tensor5D, tap: GradientTap): tf.Tensor5D {
  const [n, d, h, w] = x.shape;
  const outC = up.weight.shape[3] as number;
  const y = tf.conv3dTranspose(x, tap.use<tf.Tensor5D>(up.weight), [n, 2 * d, 2 * h, 2 * w, outC], 2, "valid");
  return tf.add(y, tap.use(up.bias));
}

/** The 1×1×1 head: a conv rather than a reshape + matMul, so it runs on the native Conv3D kernels too. */
function applyHead(weight: tf.Variable, bias: tf.Variable, x: tf.Tensor5D, tap: GradientTap): tf.Tensor5D {
  return tf.add(tf.conv3d(x, tap.use<tf.Tensor5D>(weight), 1, "valid", "NDHWC"), tap.use(bias));
}

/** Builds a U-Net with seeded He-normal weights: the same seed gives the same weights on every rank. */
export function createUNet(config: UNetConfig, seed: number): UNet {
  validateConfig(config);
  const vars = new VariableFactory(new Rng(seed));
  const levels = config.channels.length;
  const { encoder, ups, decoder, headWeight, headBias } = declareLayers(config, vars);

  const divisor = spatialDivisor(config);
  const apply = (x: tf.Tensor5D, training: boolean, tap = untapped): tf.Tensor5D =>
    tf.tidy(() => {
      const [, d, h, w, c] = x.shape;
      if (c !== config.inChannels) throw new Error(`UNet: input has ${c} channels, the net takes ${config.inChannels}`);
      if (d % divisor || h % divisor || w % divisor) {
        throw new Error(
          `UNet: spatial size ${w}×${h}×${d} (X×Y×Z) must be divisible by ${divisor} for ${levels} levels`,
        );
      }
      const skips: tf.Tensor5D[] = [];
      let hidden = x;
      for (const [i, block] of encoder.entries()) {
        hidden = applyBlock(block, hidden, training, tap);
        if (i < levels - 1) {
          skips.push(hidden);
          hidden = tf.maxPool3d(hidden, 2, 2, "valid");
        }
      }
      for (const [j, block] of decoder.entries()) {
        const up = applyUpsample(ups[j], hidden, tap);
        hidden = applyBlock(block, tf.concat([up, skips.pop() as tf.Tensor5D], 4), training, tap);
      }
      return applyHead(headWeight, headBias, hidden, tap);
    });

  return {
    config: { ...config, channels: [...config.channels] },
    params: vars.params,
    stats: vars.stats,
    apply,
    dispose: () => {
      for (const { variable } of [...vars.params, ...vars.stats]) variable.dispose();
    },
  };
}
