/**
 * Prometheus metrics of a training run, kept on the coordinator (workers send their step figures over the
 * control channel; only the coordinator listens on a port).
 *
 *   const metrics = createMetrics(["background", "PZ", "TZ"]);   // class names from dataset.json "labels"
 *   const server = await startMetricsServer({ registry: metrics.registry, port: 9464, host: "127.0.0.1" });
 *   metrics.setWorkersUp(4);
 *   metrics.recordStep({ rank: 0, loss: 0.61, stepSeconds: 4.2, ... });   // once per rank per step
 *   metrics.recordValidation({ dice: { background: 0.99, PZ: 0.7, TZ: 0.8 }, mean: 0.75, best: 0.75 });
 *   await server.close();
 *
 * The registry is private to the run (not prom-client's global one), so tests and several runs in one
 * process never collide. The names are a project contract (DESIGN.md, dashboards/README.md); the
 * dashboards and their tests read exactly these.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export { type MetricsServer, type MetricsServerOptions, startMetricsServer } from "./metricsServer.js";

/** What one rank reports for one optimiser step. Call `recordStep` once per rank per step. */
export interface StepRecord {
  rank: number;
  /** This rank's training loss on its own batch. */
  loss: number;
  /** Wall time of the whole step on this rank (data, forward, backward, all-reduce, update). */
  stepSeconds: number;
  /** Wall time of the gradient all-reduce alone on this rank. */
  allreduceSeconds: number;
  /** Bytes this rank sent during the all-reduce of this step. */
  allreduceBytes: number;
  /** Training voxels (batch × patch volume) this rank processed per second of step time. */
  voxelsPerSecond: number;
  /** Current dynamic loss scale (1 when mixed precision is off). Identical on every rank. */
  lossScale: number;
  /** True when the step was skipped (non-finite gradients). Identical on every rank. */
  skipped: boolean;
  epoch: number;
  /** Optimiser steps taken so far, counting this one. */
  globalStep: number;
  /** Optional: the worker process's resident memory (process.memoryUsage().rss). */
  residentMemoryBytes?: number;
  /** Optional: the worker process's total CPU time so far, user + system (process.cpuUsage()), in seconds. */
  cpuSeconds?: number;
}

export interface ValidationRecord {
  /** Dice per class name; the names must be among those given to createMetrics. */
  dice: Record<string, number>;
  /** Mean Dice over the classes that count (the caller decides, e.g. foreground only). */
  mean: number;
  /** Best mean Dice of the run so far, this validation included. */
  best: number;
}

export interface VoxringMetrics {
  readonly registry: Registry;
  recordStep(step: StepRecord): void;
  recordValidation(validation: ValidationRecord): void;
  setWorkersUp(count: number): void;
  incRestarts(count?: number): void;
  /** The text exposition, as GET /metrics serves it. */
  expose(): Promise<string>;
}

export interface MetricsOptions {
  /** Add prom-client's process and Node.js metrics (process_resident_memory_bytes, ...). Default true. */
  defaultMetrics?: boolean;
}

// Step times on the CPU path run from under a second (tiny nets) to minutes (the bench U-Net on 2 cores).
const stepBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300];
// All-reduce of a few MB on loopback takes milliseconds; 22 MB (the bench U-Net) across hosts, seconds.
const allreduceBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const misnamedDefaults = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

export function createMetrics(classNames: readonly string[], options: MetricsOptions = {}): VoxringMetrics {
  const registry = new Registry();
  const registers = [registry];
  const knownClasses = new Set(classNames);
  if (knownClasses.size !== classNames.length) throw new Error(`createMetrics: duplicate class names ${classNames}`);

  const trainLoss = new Gauge({
    name: "voxring_train_loss",
    help: "Training loss (soft Dice) of the last step, per rank on its own batch",
    labelNames: ["rank"],
    registers,
  });
  const valDice = new Gauge({
    name: "voxring_val_dice",
    help: "Validation Dice per class at the last validation (sliding window over whole volumes)",
    labelNames: ["class"],
    registers,
  });
  const valDiceMean = new Gauge({
    name: "voxring_val_dice_mean",
    help: "Mean validation Dice at the last validation (0 before the first)",
    registers,
  });
  const bestDiceMean = new Gauge({
    name: "voxring_best_dice_mean",
    help: "Best mean validation Dice of the run so far (the best checkpoint's)",
    registers,
  });
  const epoch = new Gauge({ name: "voxring_epoch", help: "Current epoch (0-based)", registers });
  const globalStep = new Gauge({ name: "voxring_global_step", help: "Optimiser steps taken so far", registers });
  const stepSeconds = new Histogram({
    name: "voxring_step_seconds",
    help: "Wall time of one training step per rank, all-reduce and update included",
    labelNames: ["rank"],
    buckets: stepBuckets,
    registers,
  });
  const allreduceSeconds = new Histogram({
    name: "voxring_allreduce_seconds",
    help: "Wall time of the gradient ring all-reduce per rank",
    labelNames: ["rank"],
    buckets: allreduceBuckets,
    registers,
  });
  const allreduceBytes = new Counter({
    name: "voxring_allreduce_bytes_total",
    help: "Bytes sent by each rank during gradient all-reduces",
    labelNames: ["rank"],
    registers,
  });
  const voxelsPerSecond = new Gauge({
    name: "voxring_voxels_per_second",
    help: "Training voxels per second of the last step, per rank (sum over ranks for the run)",
    labelNames: ["rank"],
    registers,
  });
  const lossScale = new Gauge({
    name: "voxring_loss_scale",
    help: "Dynamic loss scale (1 without mixed precision)",
    registers,
  });
  const skippedSteps = new Counter({
    name: "voxring_skipped_steps_total",
    help: "Steps skipped because the gradients were not finite",
    registers,
  });
  const workersUp = new Gauge({ name: "voxring_workers_up", help: "Worker processes alive in the ring", registers });
  const restarts = new Counter({
    name: "voxring_worker_restarts_total",
    help: "Restarts of the workers from the last checkpoint after a worker failed",
    registers,
  });
  const workerMemory = new Gauge({
    name: "voxring_worker_resident_memory_bytes",
    help: "Resident memory of each worker process",
    labelNames: ["rank"],
    registers,
  });
  const workerCpu = new Counter({
    name: "voxring_worker_cpu_seconds_total",
    help: "CPU time (user + system) spent by each worker process",
    labelNames: ["rank"],
    registers,
  });
  if (options.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    // prom-client names these gauges *_total, which Prometheus reserves for counters (promtool rejects
    // them); the process_* and other nodejs_* defaults stay.
    for (const misnamed of misnamedDefaults) registry.removeSingleMetric(misnamed);
  }

  // Every rank reports the shared figures of a step; count a skipped step once, not once per rank.
  let lastSkippedStep = Number.NaN;
  // A worker's CPU clock restarts at zero with the process: feed the counter the increase only.
  const lastCpuSeconds = new Map<number, number>();

  return {
    registry,
    recordStep(step) {
      const rank = String(step.rank);
      trainLoss.set({ rank }, step.loss);
      stepSeconds.observe({ rank }, step.stepSeconds);
      allreduceSeconds.observe({ rank }, step.allreduceSeconds);
      allreduceBytes.inc({ rank }, step.allreduceBytes);
      voxelsPerSecond.set({ rank }, step.voxelsPerSecond);
      lossScale.set(step.lossScale);
      epoch.set(step.epoch);
      globalStep.set(step.globalStep);
      if (step.skipped && step.globalStep !== lastSkippedStep) {
        lastSkippedStep = step.globalStep;
        skippedSteps.inc();
      }
      if (step.residentMemoryBytes !== undefined) workerMemory.set({ rank }, step.residentMemoryBytes);
      if (step.cpuSeconds !== undefined) {
        const last = lastCpuSeconds.get(step.rank) ?? 0;
        workerCpu.inc({ rank }, step.cpuSeconds >= last ? step.cpuSeconds - last : step.cpuSeconds);
        lastCpuSeconds.set(step.rank, step.cpuSeconds);
      }
    },
    recordValidation(validation) {
      for (const [name, dice] of Object.entries(validation.dice)) {
        if (!knownClasses.has(name)) throw new Error(`recordValidation: unknown class "${name}" (have ${classNames})`);
        valDice.set({ class: name }, dice);
      }
      valDiceMean.set(validation.mean);
      bestDiceMean.set(validation.best);
    },
    setWorkersUp(count) {
      workersUp.set(count);
    },
    incRestarts(count = 1) {
      restarts.inc(count);
    },
    expose() {
      return registry.metrics();
    },
  };
}
