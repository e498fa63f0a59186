import type { ArgumentsCamelCase, InferredOptionTypes } from "yargs";
import { resolveTrainConfig, type TrainSettings, validateLayer } from "../train/config.js";
import { defineCommand } from "./command.js";

/**
 * The option table. No option has a yargs default: an absent flag must not override --config or --preset
 * (config.ts applies the defaults, shown here only as help text).
 */
const options = {
  gpus: { type: "number", describe: "Local workers (one per GPU; CPU slots on a host without GPU)" },
  data: { type: "string", describe: "Decathlon task directory (dataset.json); default: built-in synthetic dataset" },
  out: {
    type: "string",
    describe: "Run directory (checkpoints, events, plots)",
    defaultDescription: "runs/<timestamp>",
  },
  epochs: { type: "number", describe: "Epochs to train" },
  patch: { type: "number", array: true, describe: "Training patch size X Y Z", defaultDescription: "96 96 32" },
  channels: {
    type: "number",
    array: true,
    describe: "U-Net channels per level",
    defaultDescription: "16 32 64 128 256",
  },
  batch: { type: "number", describe: "Patches per worker per step" },
  lr: { type: "number", describe: "Adam learning rate" },
  "lr-schedule": {
    choices: ["constant", "cosine"] as const,
    describe: "constant (the reference model) or cosine decay over the run after a short warm-up",
  },
  "val-every": { type: "number", describe: "Validate (and checkpoint) every N epochs" },
  "val-window": {
    type: "number",
    array: true,
    describe: "Sliding-window size X Y Z",
    defaultDescription: "192 192 64",
  },
  "val-overlap": { type: "number", describe: "Sliding-window overlap fraction" },
  "val-fraction": { type: "number", describe: "Fraction of the cases held out for validation" },
  config: { type: "string", describe: "JSON or YAML file of settings (keys as the flags); flags override it" },
  preset: { choices: ["smoke", "demo", "full"] as const, describe: "smoke: seconds; demo: ~15 min on 2 cores" },
  resume: { type: "string", describe: "Continue the run in this directory from its last checkpoint" },
  seed: { type: "number", describe: "Seed of the split, the weights and every random draw" },
  deterministic: {
    type: "boolean",
    describe:
      "Reproducible to the bit: fp32 gradients on the wire even with --amp, VOXRING_DETERMINISTIC=1 for kernels",
  },
  amp: { type: "boolean", describe: "Mixed precision: dynamic loss scaling, fp16 gradients on the wire" },
  "bucket-mb": {
    type: "number",
    describe: "MiB of gradients per all-reduce bucket, reduced while backward goes on (0: one bucket, after it)",
    defaultDescription: "25",
  },
  backend: { choices: ["auto", "gpu", "cpu"] as const, describe: "Tensor backend of the workers" },
  threads: { type: "number", describe: "Threads per worker", defaultDescription: "cores / workers" },
  "cache-rate": { type: "number", describe: "Fraction of the training cases each worker keeps in memory" },
  "keep-last": { type: "number", describe: "Checkpoints kept (besides the best)" },
  "max-restarts": { type: "number", describe: "Restarts from the last checkpoint after a worker failure" },
  "metrics-port": { type: "number", describe: "Prometheus /metrics port (0: any free port)" },
  "metrics-host": { type: "string", describe: "Prometheus /metrics address" },
  bind: { type: "string", describe: "Coordinator address; beyond loopback every socket uses CURVE" },
  port: { type: "number", describe: "Coordinator control port (0: any free port)" },
  "remote-workers": { type: "number", describe: "Workers to wait for from other hosts (orchestrate worker)" },
  "steps-per-epoch": { type: "number", describe: "Steps per epoch", defaultDescription: "enough to cover the shard" },
  "synth-cases": { type: "number", describe: "Cases of the built-in synthetic dataset (no --data)" },
  "checksum-every": { type: "number", describe: "Compare the weights' checksum across ranks every K steps" },
  "heartbeat-seconds": { type: "number", describe: "A worker silent this long (beyond its step time) is dead" },
  "collective-timeout": {
    type: "number",
    describe: "Seconds a collective may make no progress before the run restarts from its checkpoint",
    defaultDescription: "max(60, 10 × median step time); 600 until a step is measured",
  },
  export: { type: "boolean", describe: "Export the best model and segment one validation case at the end" },
} as const;

type TrainArgs = ArgumentsCamelCase<InferredOptionTypes<typeof options>>;

/** The flags that were given, as config settings (validated, each error naming its flag). */
export function flagSettings(args: TrainArgs): TrainSettings {
  const flags: Record<string, unknown> = {
    gpus: args.gpus,
    data: args.data,
    out: args.out,
    epochs: args.epochs,
    patch: args.patch,
    channels: args.channels,
    batch: args.batch,
    lr: args.lr,
    lrSchedule: args.lrSchedule,
    valEvery: args.valEvery,
    valWindow: args.valWindow,
    valOverlap: args.valOverlap,
    valFraction: args.valFraction,
    preset: args.preset,
    seed: args.seed,
    deterministic: args.deterministic,
    amp: args.amp,
    bucketMb: args.bucketMb,
    backend: args.backend,
    threads: args.threads,
    cacheRate: args.cacheRate,
    keepLast: args.keepLast,
    maxRestarts: args.maxRestarts,
    metricsPort: args.metricsPort,
    metricsHost: args.metricsHost,
    bind: args.bind,
    port: args.port,
    remoteWorkers: args.remoteWorkers,
    stepsPerEpoch: args.stepsPerEpoch,
    synthCases: args.synthCases,
    checksumEvery: args.checksumEvery,
    heartbeatSeconds: args.heartbeatSeconds,
    collectiveTimeout: args.collectiveTimeout,
    exportAtEnd: args.export,
  };
  const flagName: Record<string, string> = { exportAtEnd: "export" };
  return validateLayer(flags, (key) => `--${flagName[key] ?? key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
}

export const trainCommand = defineCommand({
  command: "train",
  aliases: ["$0"],
  describe: "Train a 3D U-Net with one worker per GPU (or CPU slot); the default command",
  options,
  examples: [
    ["orchestrate --preset demo", "the demo: synthetic data, 2 workers, export and predict at the end"],
    ["orchestrate train --gpus 4 --data Task05_Prostate --out runs/p1", "the reference model on 4 GPUs"],
    ["orchestrate train --resume runs/p1", "continue from the last checkpoint"],
    ["orchestrate train --bind 0.0.0.0 --port 5555 --gpus 1 --remote-workers 1", "wait for a second host"],
  ],
  check: (args) => {
    flagSettings(args);
  },
  run: async (args) => {
    const config = resolveTrainConfig({ flags: flagSettings(args), configFile: args.config, resume: args.resume });
    const { runTraining } = await import("../coordinator/trainRun.js");
    return runTraining(config, { resume: args.resume ?? null });
  },
});
