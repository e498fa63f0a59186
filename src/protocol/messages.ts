/**
 * The training run's conversation between the coordinator and its workers, in the order it happens:
 *
 *   worker → hello {host, pid, localIndex}
 *   coord  → assign {rank, worldSize, generation, run}          ranks in order of hello (local index first)
 *   worker → ready {rank, ringEndpoint}                          backend up, data loaded, ring receiver bound
 *   coord  → start {next, state?}  + tensor frames               join the ring; weights from a checkpoint or seed
 *   coord  → plan {epoch, fromStep, toStep, snapshot, bound}     a run of steps in one epoch, in lock-step
 *   worker → step {...}                                          every rank, every step (metrics, checksum)
 *   worker → state {...} + tensor frames                         rank 0, when the plan asked for a snapshot
 *   coord  → stop {}                                             finish the step in flight, snapshot, wait
 *   coord  → exit {}                                             leave
 *   worker → failed {kind, message, stall?}                      an input error, a crash or a stall (whom it waited for, where)
 *   both   → heartbeat                                           liveness while a step computes
 *
 * A stop requested on any rank travels inside the gradient all-reduce (see train/trainStep.ts), so every rank
 * stops after the same step without another collective.
 */
import { z } from "zod";
import { trainSettingsSchema } from "../train/config.js";

const int = z.number().int();
const count = int.min(0);
/** Byte length of each raw frame sent after the message (the control codec checks them); links fill it in. */
const byteLengths = z.array(count).max(8).optional();

/** The settings a worker trains by: only these travel (the coordinator's own stay with it). */
export const workerSettingsSchema = trainSettingsSchema.pick({
  backend: true,
  channels: true,
  lr: true,
  lrSchedule: true,
  amp: true,
  bucketMb: true,
  deterministic: true,
  seed: true,
  epochs: true,
  patch: true,
  batch: true,
  cacheRate: true,
  checksumEvery: true,
});
export type WorkerSettings = z.infer<typeof workerSettingsSchema>;

/** The worker's share of a run's settings. */
export function workerSettings(config: WorkerSettings): WorkerSettings {
  const keys = Object.keys(workerSettingsSchema.shape) as (keyof WorkerSettings)[];
  return Object.fromEntries(keys.map((k) => [k, config[k]])) as WorkerSettings;
}

/** What a worker needs to know about the run (sent with assign). */
export const runSpecSchema = z.object({
  config: workerSettingsSchema,
  dataDir: z.string(),
  trainCases: z.array(count).max(100_000),
  inChannels: int.min(1).max(64),
  numClasses: int.min(2).max(256),
  stepsPerEpoch: int.min(1),
});
export type RunSpec = z.infer<typeof runSpecSchema>;

/** A snapshot's tensors travel as raw frames in this order; the message says how long each is. */
export const stateHeaderSchema = z.object({
  globalStep: count,
  epoch: count,
  stepInEpoch: count,
  optimizerStep: count,
  lossScale: z.object({ scale: z.number(), goodSteps: count }).nullable(),
  skippedSteps: count,
  paramsLength: count,
  statsLength: count,
});
export type StateHeader = z.infer<typeof stateHeaderSchema>;

export const workerMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("hello"), host: z.string().max(256), pid: int, localIndex: int.min(-1) }),
  z.object({ type: z.literal("ready"), rank: count, ringEndpoint: z.string().max(512) }),
  /**
   * From the worker's loop (with its step) or from its heartbeat thread (with its pid, on a socket of its
   * own, so the coordinator matches it to the rank by rank and pid).
   */
  z.object({ type: z.literal("heartbeat"), rank: int.min(-1), step: count.optional(), pid: int.optional() }),
  z.object({
    type: z.literal("step"),
    rank: count,
    globalStep: count,
    epoch: count,
    stepInEpoch: count,
    loss: z.number(),
    meanLoss: z.number(),
    seconds: z.number(),
    allreduceSeconds: z.number(),
    allreduceBytes: z.number(),
    voxels: count,
    lossScale: z.number(),
    skipped: z.boolean(),
    checksum: int.nullable(),
    rss: z.number(),
    cpuSeconds: z.number(),
  }),
  z.object({ type: z.literal("state"), rank: count, header: stateHeaderSchema, byteLengths }),
  z.object({ type: z.literal("stopped"), rank: count, globalStep: count }),
  /**
   * kind "input": a bad case or file found while training (an InputError; a restart would only meet it
   * again); "crash": anything else. rank is null before one was assigned.
   */
  z.object({
    type: z.literal("failed"),
    rank: count.nullable(),
    kind: z.enum(["input", "crash"]),
    message: z.string().max(4000),
    /** the failure was a collective that made no progress (coordinator/stallWatch.ts) */
    stall: z
      .object({ waitingFor: count, seconds: z.number().min(0), where: z.string().max(500), step: count })
      .optional(),
  }),
]);
export type WorkerMessage = z.infer<typeof workerMessageSchema>;

export const coordinatorMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("assign"), rank: count, worldSize: int.min(1), generation: count, run: runSpecSchema }),
  z.object({ type: z.literal("start"), next: z.string().max(512), state: stateHeaderSchema.nullable(), byteLengths }),
  z.object({
    type: z.literal("plan"),
    epoch: count,
    fromStep: count,
    toStep: count,
    globalStep: count,
    snapshot: z.boolean(),
    /** a collective that receives nothing for this long fails (the ring's progress timer) */
    collectiveTimeoutSeconds: z.number().positive().max(86_400),
  }),
  /** the stall bound from now on: sent when the measured step time moves it, so a plan's first bound
   * (600 s before any step was timed) does not last a whole epoch */
  z.object({ type: z.literal("bound"), collectiveTimeoutSeconds: z.number().positive().max(86_400) }),
  z.object({ type: z.literal("stop") }),
  /** rejoin: the run goes on (a restart); an agent (`orchestrate worker`) should start a fresh worker. */
  z.object({ type: z.literal("exit"), rejoin: z.boolean() }),
  z.object({ type: z.literal("heartbeat") }),
]);
export type CoordinatorMessage = z.infer<typeof coordinatorMessageSchema>;
