/**
 * src/comm: the ZeroMQ transport of voxring, framework-free (Float32Arrays and plain objects only).
 * Ring all-reduce for gradients, control channel for everything else, CURVE keys for both.
 */
export { checksum } from "./checksum.js";
export { type CodecLimits, DEFAULT_LIMITS, decodeMessage, encodeMessage } from "./codec.js";
export { ControlClient, type ControlOptions, ControlServer, type Incoming } from "./control.js";
export { decodeHalf, encodeHalf, roundToHalf } from "./fp16.js";
export { bytesOf, float32View } from "./frames.js";
export {
  type AllReduceOptions,
  RingAllReduce,
  RingError,
  type RingJoin,
  type RingOpenOptions,
  RingStallError,
} from "./ring.js";
export {
  generateRunKeys,
  isLoopbackEndpoint,
  RUN_KEYS_ENV,
  type RunKeys,
  readRunKeys,
  runKeysFromEnv,
  runKeysToEnv,
  writeRunKeys,
} from "./security.js";
