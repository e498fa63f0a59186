/**
 * Checkpoints written off the coordinator's event loop. A checkpoint of the default model is about 68 MB
 * (weights, Adam's moments), hashed and fsynced: 0.3 s on this machine, seconds on a slow disk, during which
 * the loop would keep /metrics, the live page, control messages and signals waiting.
 *
 *   const writer = CheckpointThread.start();
 *   const path = await writer.write(runDir, checkpoint);   // what writeCheckpoint returns or throws
 *   await writer.close();
 */
import { Worker } from "node:worker_threads";
import { EnvironmentError } from "../errors.js";
import type { Checkpoint } from "../train/checkpoint.js";
import type { CheckpointReply, CheckpointRequest } from "./checkpointWorker.js";
import { ThreadCalls, threadModule } from "./threadCalls.js";

export class CheckpointThread {
  private constructor(private readonly calls: ThreadCalls<CheckpointReply, string>) {}

  static start(): CheckpointThread {
    const worker = new Worker(threadModule(import.meta.url, "checkpointWorker.js"));
    return new CheckpointThread(
      new ThreadCalls<CheckpointReply, string>(
        worker,
        "checkpoint",
        (reply) => reply.id,
        (reply) => {
          if ("path" in reply) return reply.path;
          throw reply.environment ? new EnvironmentError(reply.error) : new Error(reply.error);
        },
      ),
    );
  }

  /** Writes `checkpoint` into `runDir` in the thread (the arrays are copied over); resolves with its path. */
  write(runDir: string, checkpoint: Checkpoint): Promise<string> {
    return this.calls.call((id) => ({ id, runDir, checkpoint }) satisfies CheckpointRequest).done;
  }

  close(): Promise<void> {
    return this.calls.close();
  }
}
