/**
 * The checkpoint thread's side (started by checkpointThread.ts): writes each checkpoint it is handed with
 * train/checkpoint.ts's writeCheckpoint, one at a time, in the order they came.
 */
import { parentPort } from "node:worker_threads";
import { EnvironmentError } from "../errors.js";
import { type Checkpoint, writeCheckpoint } from "../train/checkpoint.js";

export interface CheckpointRequest {
  id: number;
  runDir: string;
  checkpoint: Checkpoint;
}

export type CheckpointReply =
  | { id: number; path: string }
  /** `environment`: an EnvironmentError (a full disk...), to be raised as one on the other side. */
  | { id: number; error: string; environment: boolean };

const port = parentPort;
if (!port) throw new Error("checkpointWorker.ts runs as a worker thread (checkpointThread.ts)");
port.on("message", ({ id, runDir, checkpoint }: CheckpointRequest) => {
  try {
    port.postMessage({ id, path: writeCheckpoint(runDir, checkpoint) } satisfies CheckpointReply);
  } catch (error) {
    const environment = error instanceof EnvironmentError;
    const message =
      error instanceof Error ? (environment ? error.message : (error.stack ?? error.message)) : String(error);
    port.postMessage({ id, error: message, environment } satisfies CheckpointReply);
  }
});
