/**
 * Validation off the coordinator's event loop: a worker thread of its own (node:worker_threads) holds the
 * validation cases, the tfjs backend with the native kernels and a Validator. A validation of the default
 * windows runs for minutes of synchronous tensor work; on the coordinator's own thread it kept /metrics,
 * the live page, heartbeats, control messages and signals waiting that long.
 *
 *   const thread = await ValidationThread.start(options, cases);   // the cases move into the thread
 *   const result = await thread.validate(params, stats, signal);  // copies the weights; signal cancels
 *   await thread.close();
 */
import { Worker } from "node:worker_threads";
import { ThreadCalls, threadModule } from "./threadCalls.js";
import type { ValidationCase, ValidationResult, ValidatorOptions } from "./validation.js";
import type { ThreadReply, ThreadRequest } from "./validationWorker.js";

export class ValidationThread {
  private readonly calls: ThreadCalls<ThreadReply, ValidationResult | null>;

  private constructor(private readonly worker: Worker) {
    this.calls = new ThreadCalls<ThreadReply, ValidationResult | null>(
      worker,
      "validation",
      (reply) => (reply.type === "ready" ? null : reply.id),
      (reply) => {
        if (reply.type === "result") return reply.result;
        if (reply.type === "error") {
          throw reply.aborted ? new DOMException(reply.message, "AbortError") : new Error(reply.message);
        }
        return null;
      },
    );
  }

  /** Starts the thread and resolves once its backend is up; the cases' buffers move into it (not copied). */
  static async start(options: ValidatorOptions, cases: ValidationCase[]): Promise<ValidationThread> {
    const transfer = [...new Set(cases.flatMap((c) => [c.image.buffer, c.labels.buffer]))] as ArrayBuffer[];
    const spawn = (transferList: ArrayBuffer[]) =>
      new Worker(threadModule(import.meta.url, "validationWorker.js"), {
        workerData: { options, cases },
        transferList,
      });
    let worker: Worker;
    try {
      worker = spawn(transfer);
    } catch {
      worker = spawn([]); // a buffer that cannot move (a pooled Buffer's): copied instead
    }
    await new Promise<void>((resolve, reject) => {
      const onMessage = (reply: ThreadReply) => {
        if (reply.type !== "ready") return;
        worker.off("message", onMessage);
        worker.off("error", reject);
        resolve();
      };
      worker.on("message", onMessage);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`the validation thread exited (status ${code}) while starting`)));
    });
    return new ValidationThread(worker);
  }

  /**
   * Validates these weights in the thread (and writes the preview PNG there, when given where); `signal`
   * interrupts it between two windows.
   */
  async validate(
    params: Float32Array,
    stats: Float32Array,
    signal?: AbortSignal,
    preview?: { path: string; labelNames: string[] },
  ): Promise<ValidationResult> {
    signal?.throwIfAborted();
    // Copies of our own to hand over: the originals are views into the snapshot's message frames.
    const copies = { params: params.slice(), stats: stats.slice() };
    const { id, done } = this.calls.call(
      (id) => ({ type: "validate", id, ...copies, preview }) satisfies ThreadRequest,
      [copies.params.buffer, copies.stats.buffer] as ArrayBuffer[],
    );
    const cancel = () => this.worker.postMessage({ type: "cancel", id } satisfies ThreadRequest);
    signal?.addEventListener("abort", cancel, { once: true });
    try {
      return (await done) as ValidationResult;
    } finally {
      signal?.removeEventListener("abort", cancel);
    }
  }

  /** Draws curves.png in the thread (viz/curves.ts). */
  async writeCurves(path: string, loss: [number, number][], dice: Record<string, [number, number][]>): Promise<void> {
    await this.calls.call((id) => ({ type: "curves", id, path, loss, dice }) satisfies ThreadRequest).done;
  }

  close(): Promise<void> {
    return this.calls.close();
  }
}
