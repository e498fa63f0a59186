/**
 * Micro-benchmark of the native activation-path kernels (batch norm + ReLU, softmax + Dice, concat, split,
 * slice, add, addN, mul, sum) against the plain tfjs cpu kernels, in ns per element, on the bench U-Net's
 * largest activation [2, 32, 96, 96, 16] (9.4 M elements; BENCHMARK.md's table is the reference).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/activation.js              # 2 threads, both paths
 *   node dist/bench/activation.js --threads 1 --no-plain --json            # native only, JSON on the last line
 *   node dist/bench/activation.js --shape 2 16 48 48 16 --only Dice        # a smaller tensor, one kernel
 *
 * Both paths go through tfjs exactly as a training step does (ops or runKernel on the cpu backend), so every
 * figure includes tfjs's bookkeeping and the output allocation. The plain path is slow (up to ~0.5 µs an
 * element): it runs once by default. The machine is shared: figures are noisy; the median is reported.
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { batchNormReluGradPlain, batchNormReluInfer, batchNormReluTrain } from "../src/model/ops/batchNormRelu.js";
import { softDiceLossGradPlain, softDiceLossPlain } from "../src/model/ops/softDice.js";
import { VoxKernel } from "../src/native/kernelNames.js";
import { registerNativeKernels, unregisterNativeKernels } from "../src/native/register.js";
import { Rng } from "../src/random.js";
import { medianSeconds, nativeCpuBackend } from "./timing.js";

/** One benchmarked kernel: how to run it on each path, and how many elements one call moves. */
interface ActivationCase {
  label: string;
  elements: number;
  native: () => tf.TensorContainer;
  plain: () => tf.TensorContainer;
}

function uniformTensor(shape: number[], seed: number, low = -1, high = 1): tf.Tensor {
  const rng = new Rng(seed);
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.uniform(low, high);
  return tf.tensor(values, shape, "float32");
}

function labelTensor(shape: number[], classes: number, seed: number): tf.Tensor {
  const rng = new Rng(seed);
  const labels = Int32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.int(classes));
  return tf.tensor(labels, shape, "int32");
}

/** The activation-path calls of a training step on an activation of `shape` (channels last) and 3 classes. */
function activationCases(shape: number[]): ActivationCase[] {
  const [n, d, h, w, c] = shape;
  const size = n * d * h * w * c;
  const x = uniformTensor(shape, 1, -2, 3);
  const other = uniformTensor(shape, 2);
  const third = uniformTensor(shape, 3);
  const gamma = uniformTensor([c], 4, 0.5, 1.5) as tf.Tensor1D;
  const beta = uniformTensor([c], 5) as tf.Tensor1D;
  const attrs = { epsilon: 1e-5, relu: true };
  const { y, mean, variance } = batchNormReluTrain(x, gamma, beta, attrs);
  const gradInputs = { dy: other, x, gamma, mean, variance, y };
  const logits = uniformTensor([n, d, h, w, 3], 6, -3, 3);
  const labels = labelTensor([n, d, h, w], 3, 7);
  const dice = softDiceLossPlain(logits, labels, 1e-5);
  const dloss = tf.scalar(1);
  const wide = tf.concat([x, other], -1);
  const same = (f: () => tf.TensorContainer) => ({ native: f, plain: f });
  return [
    { label: "VoxBatchNormReluTrain", elements: size, ...same(() => batchNormReluTrain(x, gamma, beta, attrs)) },
    {
      label: "VoxBatchNormReluGrad",
      elements: size,
      native: () => tf.engine().runKernel(VoxKernel.BatchNormReluGrad, gradInputs, { ...attrs }) as tf.Tensor[],
      plain: () => batchNormReluGradPlain(other, x, gamma, mean, variance, y, attrs.epsilon, attrs.relu),
    },
    {
      label: "VoxBatchNormReluInfer",
      elements: size,
      ...same(() => batchNormReluInfer(x, gamma, beta, mean, variance, attrs)),
    },
    {
      label: "VoxSoftDiceLoss (K=3)",
      elements: logits.size,
      native: () => tf.engine().runKernel(VoxKernel.SoftDiceLoss, { logits, labels }, { smooth: 1e-5 }) as tf.Tensor[],
      plain: () => Object.values(softDiceLossPlain(logits, labels, 1e-5)),
    },
    {
      label: "VoxSoftDiceLossGrad (K=3)",
      elements: logits.size,
      native: () =>
        tf
          .engine()
          .runKernel(VoxKernel.SoftDiceLossGrad, { dloss, probs: dice.probs, labels, ...sums(dice) }, { smooth: 1e-5 }),
      plain: () => softDiceLossGradPlain(dloss, dice.probs, labels, dice.intersect, dice.predSum, dice.truthSum, 1e-5),
    },
    { label: "Concat (last axis, 2 inputs)", elements: 2 * size, ...same(() => tf.concat([x, other], -1)) },
    { label: "SplitV (last axis, 2 outputs)", elements: 2 * size, ...same(() => tf.split(wide, 2, -1)) },
    {
      label: "Slice (spatial crop)",
      elements: n * (d - 2) * (h - 2) * (w - 2) * c,
      ...same(() => tf.slice(x, [0, 1, 1, 1, 0], [n, d - 2, h - 2, w - 2, c])),
    },
    { label: "Add (same shape)", elements: size, ...same(() => tf.add(x, other)) },
    { label: "AddN (3 inputs)", elements: 3 * size, ...same(() => tf.addN([x, other, third])) },
    { label: "Mul (same shape)", elements: size, ...same(() => tf.mul(x, other)) },
    { label: "Sum over N,D,H,W", elements: size, ...same(() => tf.sum(x, [0, 1, 2, 3])) },
  ];
}

function sums(f: { intersect: tf.Tensor; predSum: tf.Tensor; truthSum: tf.Tensor }) {
  return { intersect: f.intersect, predSum: f.predSum, truthSum: f.truthSum };
}

/** Median seconds of `reps` timed calls (after one untimed call when `warm`), outputs disposed. */
function time(run: () => tf.TensorContainer, reps: number, warm: boolean): number {
  return medianSeconds(() => tf.dispose(run()), reps, warm);
}

async function main(): Promise<void> {
  const { values: opts } = parseArgs({
    options: {
      threads: { type: "string", default: "2" },
      shape: { type: "string", multiple: true },
      reps: { type: "string", default: "5" },
      "plain-reps": { type: "string", default: "1" },
      "no-plain": { type: "boolean", default: false },
      only: { type: "string" },
      json: { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  const { addon, threads } = await nativeCpuBackend(Number(opts.threads));
  const shape = (opts.shape?.length ? opts.shape : ["2", "32", "96", "96", "16"]).flatMap((s) => s.split(/\s+/));
  const cases = activationCases(shape.map(Number)).filter((c) => !opts.only || c.label.includes(opts.only));

  const rows: { kernel: string; elements: number; nativeNs: number; plainNs: number | null }[] = [];
  console.log(`activation kernels on [${shape.join(", ")}], ${threads} threads (ns per element, median)`);
  console.log(`${"kernel".padEnd(30)} ${"native".padStart(9)} ${"plain".padStart(9)} ${"speed-up".padStart(9)}`);
  for (const c of cases) {
    registerNativeKernels(addon);
    const nativeNs = (time(c.native, Number(opts.reps), true) / c.elements) * 1e9;
    let plainNs: number | null = null;
    if (!opts["no-plain"]) {
      unregisterNativeKernels();
      plainNs = (time(c.plain, Number(opts["plain-reps"]), false) / c.elements) * 1e9;
      registerNativeKernels(addon);
    }
    rows.push({ kernel: c.label, elements: c.elements, nativeNs, plainNs });
    const plain = plainNs === null ? "-" : plainNs.toFixed(2);
    const speedup = plainNs === null ? "-" : `${(plainNs / nativeNs).toFixed(0)}×`;
    console.log(`${c.label.padEnd(30)} ${nativeNs.toFixed(3).padStart(9)} ${plain.padStart(9)} ${speedup.padStart(9)}`);
  }
  if (opts.json) console.log(JSON.stringify({ shape: shape.map(Number), threads, rows }));
}

await main();
