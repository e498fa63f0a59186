/**
 * Micro-benchmark of the native convolution and pooling kernels, called through tfjs (runKernel on the cpu
 * backend) exactly as a training step calls them, on the bench U-Net's shapes (BENCHMARK.md).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/kernels.js                # 2 threads, batch 2, 96×96×32
 *   node dist/bench/kernels.js --threads 1 --patch 64 64 16 --json        # JSON object on the last line
 *   DNNL_VERBOSE=1 node dist/bench/kernels.js --only reference            # which oneDNN implementation runs
 *
 * Every figure includes what tfjs adds around the kernel (attribute checks, output allocation, tensor
 * bookkeeping). The machine is shared: figures are noisy, the median of the repetitions is reported.
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { medianSeconds, nativeCpuBackend } from "./timing.js";

type Shape5 = [number, number, number, number, number];

/** One kernel call of a training step: tfjs kernel name, inputs by shape, attrs, and its multiply-adds. */
interface KernelCase {
  label: string;
  kernel: string;
  inputs: Record<string, number[]>;
  attrs: Record<string, unknown>;
  flops: number;
  /** How many times one training step of the bench U-Net runs this exact call. */
  perStep: number;
}

/** The three kernels of one 3×3×3 'same' conv layer (forward, backward data unless it is the first, weights). */
function convLayer(name: string, n: number, [d, h, w]: number[], ci: number, co: number, first: boolean) {
  const x = [n, d, h, w, ci];
  const y = [n, d, h, w, co];
  const filterShape: Shape5 = [3, 3, 3, ci, co];
  const flops = 2 * n * d * h * w * co * 27 * ci;
  const attrs = { strides: 1, pad: "same" };
  const cases: KernelCase[] = [
    { label: `${name} fwd`, kernel: tf.Conv3D, inputs: { x, filter: filterShape }, attrs, flops, perStep: 1 },
    {
      label: `${name} bwd-w`,
      kernel: tf.Conv3DBackpropFilterV2,
      inputs: { x, dy: y },
      attrs: { ...attrs, filterShape },
      flops,
      perStep: 1,
    },
  ];
  if (!first) {
    cases.splice(1, 0, {
      label: `${name} bwd-d`,
      kernel: tf.Conv3DBackpropInputV2,
      inputs: { dy: y, filter: filterShape },
      attrs: { ...attrs, inputShape: x },
      flops,
      perStep: 1,
    });
  }
  return cases;
}

/** The 1×1×1 head from `ci` channels to the classes: tiny filters, few output channels (a possible slow path). */
function headLayer(name: string, n: number, [d, h, w]: number[], ci: number, classes: number): KernelCase[] {
  const x = [n, d, h, w, ci];
  const y = [n, d, h, w, classes];
  const filterShape: Shape5 = [1, 1, 1, ci, classes];
  const flops = 2 * n * d * h * w * ci * classes;
  const attrs = { strides: 1, pad: "valid" };
  return [
    { label: `${name} fwd`, kernel: tf.Conv3D, inputs: { x, filter: filterShape }, attrs, flops, perStep: 1 },
    {
      label: `${name} bwd-d`,
      kernel: tf.Conv3DBackpropInputV2,
      inputs: { dy: y, filter: filterShape },
      attrs: { ...attrs, inputShape: x },
      flops,
      perStep: 1,
    },
    {
      label: `${name} bwd-w`,
      kernel: tf.Conv3DBackpropFilterV2,
      inputs: { x, dy: y },
      attrs: { ...attrs, filterShape },
      flops,
      perStep: 1,
    },
  ];
}

/** The decoder's 2×2×2 stride-2 transposed conv from `ci` channels at [d,h,w] to `co` at twice the size. */
function upLayer(name: string, n: number, [d, h, w]: number[], ci: number, co: number): KernelCase[] {
  const small = [n, d, h, w, ci];
  const big: Shape5 = [n, 2 * d, 2 * h, 2 * w, co];
  const filterShape: Shape5 = [2, 2, 2, co, ci];
  const flops = 2 * n * d * h * w * ci * 8 * co;
  const attrs = { strides: 2, pad: "valid" };
  return [
    {
      label: `${name} fwd`,
      kernel: tf.Conv3DBackpropInputV2,
      inputs: { dy: small, filter: filterShape },
      attrs: { ...attrs, inputShape: big },
      flops,
      perStep: 1,
    },
    { label: `${name} bwd-d`, kernel: tf.Conv3D, inputs: { x: big, filter: filterShape }, attrs, flops, perStep: 1 },
    {
      label: `${name} bwd-w`,
      kernel: tf.Conv3DBackpropFilterV2,
      inputs: { x: big, dy: small },
      attrs: { ...attrs, filterShape },
      flops,
      perStep: 1,
    },
  ];
}

function poolLayer(name: string, n: number, [d, h, w]: number[], c: number): KernelCase[] {
  const x = [n, d, h, w, c];
  const y = [n, d / 2, h / 2, w / 2, c];
  const attrs = { filterSize: 2, strides: 2, pad: "valid" };
  return [
    { label: `${name} fwd`, kernel: tf.MaxPool3D, inputs: { x }, attrs, flops: 0, perStep: 1 },
    {
      label: `${name} bwd`,
      kernel: tf.MaxPool3DGrad,
      inputs: { dy: y, input: x, output: y },
      attrs,
      flops: 0,
      perStep: 1,
    },
  ];
}

/** Every convolution and pooling kernel call of one training step of the bench U-Net, in step order. */
function unetCases(
  batch: number,
  [px, py, pz]: number[],
  channels: number[],
  inChannels: number,
  classes: number,
): KernelCase[] {
  const cases: KernelCase[] = [];
  const sizes = channels.map((_, level) => [pz, py, px].map((s) => s / 2 ** level));
  let prev = inChannels;
  for (const [level, c] of channels.entries()) {
    cases.push(...convLayer(`enc${level}.0 ${prev}→${c}`, batch, sizes[level], prev, c, level === 0));
    cases.push(...convLayer(`enc${level}.1 ${c}→${c}`, batch, sizes[level], c, c, false));
    if (level < channels.length - 1) cases.push(...poolLayer(`pool${level} ${c}ch`, batch, sizes[level], c));
    prev = c;
  }
  for (let level = channels.length - 2; level >= 0; level--) {
    const c = channels[level];
    cases.push(...upLayer(`up${level} ${prev}→${c}`, batch, sizes[level + 1], prev, c));
    cases.push(...convLayer(`dec${level}.0 ${2 * c}→${c}`, batch, sizes[level], 2 * c, c, false));
    cases.push(...convLayer(`dec${level}.1 ${c}→${c}`, batch, sizes[level], c, c, false));
    prev = c;
  }
  cases.push(...headLayer(`head ${prev}→${classes}`, batch, sizes[0], prev, classes));
  return cases;
}

/** Non-zero, deterministic, cheap to make (Math.random over 10 M elements would dominate the run). */
function filledTensor(shape: number[]): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = ((Math.imul(i, 2654435761) >>> 20) / 4096 - 0.5) * 0.1;
  return tf.tensor(values, shape, "float32");
}

function timeCase(c: KernelCase, reps: number): number {
  const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, shape]) => [k, filledTensor(shape)]));
  const run = () => (tf.engine().runKernel(c.kernel, inputs, c.attrs as tf.NamedAttrMap) as tf.Tensor).dispose();
  const seconds = medianSeconds(run, reps, true);
  for (const t of Object.values(inputs)) t.dispose();
  return seconds;
}

async function main(): Promise<void> {
  const { values: opts } = parseArgs({
    options: {
      threads: { type: "string", default: "2" },
      batch: { type: "string", default: "2" },
      patch: { type: "string", multiple: true },
      reps: { type: "string", default: "3" },
      only: { type: "string" },
      json: { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  const { threads } = await nativeCpuBackend(Number(opts.threads));
  const batch = Number(opts.batch);
  const patch = (opts.patch?.length ? opts.patch : ["96", "96", "32"]).flatMap((p) => p.split(/\s+/)).map(Number);
  const reps = Number(opts.reps);

  // BENCHMARK.md's reference: oneDNN conv3d 16→16 at 32³, batch 2, in a 40-line C++ program.
  const reference = convLayer("reference 32³ 16→16", 2, [32, 32, 32], 16, 16, false).map((c) => ({ ...c, perStep: 0 }));
  const all = [...reference, ...unetCases(batch, patch, [16, 32, 64, 128, 256], 2, 3)];
  const cases = opts.only ? all.filter((c) => c.label.includes(opts.only as string)) : all;

  const rows: { label: string; kernel: string; ms: number; gflops: number | null }[] = [];
  let stepSeconds = 0;
  let stepFlops = 0;
  const byKernel: Record<string, number> = {};
  for (const c of cases) {
    const seconds = timeCase(c, reps);
    const gflops = c.flops ? c.flops / seconds / 1e9 : null;
    rows.push({ label: c.label, kernel: c.kernel, ms: seconds * 1e3, gflops });
    stepSeconds += seconds * c.perStep;
    stepFlops += c.flops * c.perStep;
    byKernel[c.kernel] = (byKernel[c.kernel] ?? 0) + seconds * c.perStep;
    const rate = gflops === null ? "" : `${gflops.toFixed(1).padStart(7)} GFLOP/s`;
    console.log(`${c.label.padEnd(28)} ${c.kernel.padEnd(24)} ${(seconds * 1e3).toFixed(2).padStart(9)} ms ${rate}`);
  }
  console.log(
    `one training step (batch ${batch}, ${patch.join("×")}, ${threads} threads): convolutions and pooling ` +
      `${stepSeconds.toFixed(3)} s, ${(stepFlops / 1e9).toFixed(1)} GFLOP, ` +
      `${(stepFlops / Math.max(stepSeconds, 1e-9) / 1e9).toFixed(1)} GFLOP/s`,
  );
  if (opts.json) console.log(JSON.stringify({ threads, batch, patch, stepSeconds, stepFlops, byKernel, rows }));
}

await main();
