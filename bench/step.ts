import * as tf from "@tensorflow/tfjs";
import { inputError } from "../src/errors.js";
import { BENCH_CHANNELS, countParams, createUNet, spatialDivisor } from "../src/model/unet.js";
import { type BackendChoice, initBackend } from "../src/native/backend.js";
import { Rng } from "../src/random.js";
import { type BatchShape, createTrainer, type Trainer } from "../src/train/trainer.js";

/**
 * `orchestrate bench step`: full training steps (forward, Dice loss, backward, Adam) of the bench U-Net of
 * shared/BENCHMARK.md, comparable with anchors/torch_unet_step.py at the same batch, patch and threads.
 *
 *   orchestrate bench step --json --batch 2 --patch 96 96 32 --threads 2
 *   VOXRING_PROFILE=1 orchestrate bench step --patch 32 32 16 --steps 1   # per-kernel times on stderr
 */

export type BenchArgs = Record<string, unknown>;

interface StepArgs {
  batch: number;
  patch: [number, number, number];
  threads?: number;
  steps: number;
  backend: BackendChoice;
  /** Not a CLI option: lets tests time a smaller net through the same code. */
  channels: number[];
}

function parseArgs(args: BenchArgs): StepArgs {
  const int = (name: string, fallback: number): number => {
    const value = args[name] ?? fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
      throw inputError(`--${name}`, `must be a positive integer, got ${String(value)}`);
    }
    return value;
  };
  const patch = (args.patch as number[] | undefined) ?? [96, 96, 32];
  if (!Array.isArray(patch) || patch.length !== 3 || !patch.every((v) => Number.isInteger(v) && v > 0)) {
    throw inputError("--patch", `takes three positive integers X Y Z, got ${String(patch)}`);
  }
  const channels = (args.channels as number[] | undefined) ?? BENCH_CHANNELS;
  const divisor = spatialDivisor({ inChannels: 2, numClasses: 3, channels });
  if (patch.some((v) => v % divisor !== 0)) {
    throw inputError("--patch", `${patch.join(" ")} must be divisible by ${divisor} (${channels.length} U-Net levels)`);
  }
  return {
    batch: int("batch", 2),
    patch: patch as [number, number, number],
    threads: args.threads === undefined ? undefined : int("threads", 1),
    steps: int("steps", 3),
    backend: (args.backend as BackendChoice | undefined) ?? "cpu",
    channels,
  };
}

/** Random, non-zero inputs: normal intensities and uniformly drawn labels of the three classes. */
function randomBatch(shape: BatchShape, seed: number) {
  const rng = new Rng(seed);
  const [n, z, y, x, c] = shape;
  const image = Float32Array.from({ length: n * z * y * x * c }, () => rng.normal());
  const labels = Int32Array.from({ length: n * z * y * x }, () => rng.int(3));
  return { image, labels };
}

function trainStep(trainer: Trainer, batch: ReturnType<typeof randomBatch>, shape: BatchShape): number {
  const { loss, grads } = trainer.computeGradients(batch.image, batch.labels, shape);
  trainer.applyGradients(grads);
  return loss;
}

/**
 * Time per kernel over one step, sorted, on stderr: what the native engineers still have to move out of
 * JavaScript. Entries that are not registered kernels (customGrad scopes) are left out: the kernels they
 * run are listed themselves, so counting both would count twice.
 */
async function printProfile(run: () => void, nativeKernels: string[]): Promise<void> {
  const profile = await tf.profile(run);
  const byName = new Map<string, { ms: number; calls: number }>();
  for (const kernel of profile.kernels) {
    if (!tf.getKernel(kernel.name, tf.getBackend())) continue;
    const ms = await kernel.kernelTimeMs;
    const entry = byName.get(kernel.name) ?? { ms: 0, calls: 0 };
    entry.ms += typeof ms === "number" ? ms : 0;
    entry.calls++;
    byName.set(kernel.name, entry);
  }
  const total = [...byName.values()].reduce((sum, e) => sum + e.ms, 0);
  const rows = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const lines = rows.map(([name, e]) => {
    const where = nativeKernels.includes(name) ? "native" : "js";
    const share = total > 0 ? ((100 * e.ms) / total).toFixed(1) : "0";
    return `${name.padEnd(28)} ${where.padEnd(6)} ${e.ms.toFixed(1).padStart(10)} ms ${String(e.calls).padStart(5)} calls ${share.padStart(5)}%`;
  });
  process.stderr.write(
    `per-kernel time of one training step (total ${total.toFixed(0)} ms in kernels):\n${lines.join("\n")}\n`,
  );
}

export async function run(rawArgs: BenchArgs): Promise<Record<string, unknown>> {
  const args = parseArgs(rawArgs);
  const backend = await initBackend({ backend: args.backend, threads: args.threads });
  const unet = createUNet({ inChannels: 2, numClasses: 3, channels: args.channels }, 0);
  const trainer = createTrainer(unet, { lr: 5e-4 });
  const [x, y, z] = args.patch;
  const shape: BatchShape = [args.batch, z, y, x, 2];
  const batch = randomBatch(shape, 1);

  trainStep(trainer, batch, shape); // warm-up: first-call allocations and kernel setup
  if (process.env.VOXRING_PROFILE === "1") {
    await printProfile(() => {
      trainStep(trainer, batch, shape);
    }, backend.nativeKernels);
  }
  const start = performance.now();
  let loss = 0;
  for (let i = 0; i < args.steps; i++) loss = trainStep(trainer, batch, shape);
  const msPerStep = (performance.now() - start) / args.steps;
  const voxels = args.batch * x * y * z;

  const result = {
    engine: `tfjs ${tf.version.tfjs} (${backend.name}${backend.native ? " + oneDNN" : ""})`,
    backend: backend.name,
    threads: backend.threads,
    batch: args.batch,
    patch: args.patch,
    steps: args.steps,
    params: countParams(unet),
    ms_per_step: Math.round(msPerStep * 10) / 10,
    voxels_per_s: Math.round((voxels / msPerStep) * 1000),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    native_kernels: backend.nativeKernels,
    final_loss: loss,
  };
  unet.dispose();
  return result;
}
