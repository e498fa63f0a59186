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
import { threadModule } from "./threadModule.js";

export class CheckpointThread {
  private nextId = 0;
  private readonly calls = new Map<number, { resolve: (path: string) => void; reject: (e: Error) => void }>();
  private failure: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on("message", (reply: CheckpointReply) => {
      const call = this.calls.get(reply.id);
      if (!call) return;
      this.calls.delete(reply.id);
      if ("path" in reply) call.resolve(reply.path);
      else call.reject(reply.environment ? new EnvironmentError(reply.error) : new Error(reply.error));
      if (this.calls.size === 0) worker.unref();
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const call of this.calls.values()) call.reject(error);
      this.calls.clear();
    };
    worker.on("error", (error) => fail(new Error(`checkpoint thread failed: ${error.message}`)));
    worker.on("exit", (code) => fail(new Error(`checkpoint thread exited (status ${code})`)));
    worker.unref(); // alive only while a write is in flight: an idle thread must not hold the process up
  }

  static start(): CheckpointThread {
    return new CheckpointThread(new Worker(threadModule(import.meta.url, "checkpointWorker.js")));
  }

  /** Writes `checkpoint` into `runDir` in the thread (the arrays are copied over); resolves with its path. */
  write(runDir: string, checkpoint: Checkpoint): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const written = new Promise<string>((resolve, reject) => this.calls.set(id, { resolve, reject }));
    this.worker.ref();
    this.worker.postMessage({ id, runDir, checkpoint } satisfies CheckpointRequest);
    return written;
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners("exit");
    await this.worker.terminate();
  }
}
