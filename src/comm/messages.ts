import { z } from "zod";

/**
 * The control channel's vocabulary (coordinator ROUTER ↔ worker DEALER). Every message is a msgpack map with
 * a `type` field, validated here for shape and size before anyone acts on it. Raw binary frames (weights,
 * optimizer state) travel after the map, never inside it: a message that carries them declares their byte
 * lengths in `byteLengths`, and the codec checks the frames against that list.
 *
 * To add a message type, extend the union where you need it:
 *   const myMessage = z.discriminatedUnion("type", [...controlMessageVariants, z.object({ type: z.literal("x"), ... })]);
 * and pass it as `schema` to ControlServer / ControlClient.
 */

const rank = z.number().int().min(0).max(65_535);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const text = (max: number) => z.string().max(max);
/** loss and friends may legitimately be NaN or ±Inf (an overflowed fp16 step), so any number passes */
const anyNumber = z.custom<number>((v) => typeof v === "number", "expected a number");
const endpoint = text(512).regex(/^(tcp|ipc|inproc):\/\/\S+$/, "expected a ZeroMQ endpoint");

/** A worker introduces itself; `rank` when it rejoins (or was launched) with a known rank. */
export const hello = z.object({
  type: z.literal("hello"),
  rank: rank.optional(),
  host: text(255),
  pid: z.number().int().min(0),
  gpus: z.number().int().min(0).max(1024),
  /** where this worker's ring receiver is bound (RingAllReduce.endpoint) */
  ringEndpoint: endpoint.optional(),
});

/** The coordinator places a worker in the ring and hands it the run configuration. */
export const assign = z.object({
  type: z.literal("assign"),
  rank,
  worldSize: z.number().int().min(1).max(65_536),
  ringEndpoints: z.array(endpoint).max(65_536),
  /** bumped whenever the ring is rebuilt (RingOpenOptions.generation) */
  generation: z.number().int().min(0).max(0xffffffff).optional(),
  config: z.record(z.string().max(256), z.unknown()),
});

/** A worker has joined its ring and is ready to step. */
export const ready = z.object({ type: z.literal("ready"), rank });

export const heartbeat = z.object({ type: z.literal("heartbeat"), rank, step: count });

export const stepMetrics = z.object({
  type: z.literal("stepMetrics"),
  rank,
  step: count,
  epoch: count,
  loss: anyNumber,
  seconds: z.number().min(0),
  allreduceSeconds: z.number().min(0),
  allreduceBytes: count,
  voxels: count,
  lossScale: anyNumber,
  skipped: z.boolean(),
});

/** The weight checksum every K steps (checksum.ts); ranks that differ have diverged. */
export const checksum = z.object({
  type: z.literal("checksum"),
  rank,
  step: count,
  crc32: z.number().int().min(0).max(0xffffffff),
});

export const commandKinds = ["stop", "checkpoint", "validate", "sendState", "pause", "resume"] as const;
export const command = z.object({
  type: z.literal("command"),
  kind: z.enum(commandKinds),
  /** the step at which to act, when it matters (e.g. checkpoint after step N) */
  step: count.optional(),
  reason: text(1024).optional(),
});

/** Weights / optimizer state / batch-norm statistics as raw float32 frames, one per named array. */
export const state = z
  .object({
    type: z.literal("state"),
    rank: rank.optional(),
    step: count,
    epoch: count.optional(),
    what: z.enum(["weights", "optimizer", "stats", "full"]),
    names: z.array(text(256)).max(4096),
    byteLengths: z
      .array(
        z
          .number()
          .int()
          .min(0)
          .max(2 ** 31),
      )
      .max(4096),
    /** extra small fields a sender wants to ship with the state (learning-rate schedule, RNG state ...) */
    meta: z.record(z.string().max(256), z.unknown()).optional(),
  })
  .refine((m) => m.names.length === m.byteLengths.length, "names and byteLengths differ in length");

/** A worker reports a failure it cannot recover from, before exiting. */
export const workerError = z.object({ type: z.literal("error"), rank: rank.optional(), message: text(4096) });

export const controlMessageVariants = [
  hello,
  assign,
  ready,
  heartbeat,
  stepMetrics,
  checksum,
  command,
  state,
  workerError,
] as const;

export const controlMessage = z.discriminatedUnion("type", controlMessageVariants);
export type ControlMessage = z.infer<typeof controlMessage>;
export type ControlMessageOf<T extends ControlMessage["type"]> = Extract<ControlMessage, { type: T }>;
