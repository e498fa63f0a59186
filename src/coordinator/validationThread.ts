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
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { cliPath } from "./supervisor.js";
import type { ValidationCase, ValidationResult, ValidatorOptions } from "./validation.js";
import type { ThreadReply, ThreadRequest } from "./validationWorker.js";

/** The thread's module: beside this one in dist/, or dist's copy when this runs from src/ under vitest. */
function threadModule(): string {
  const here = fileURLToPath(import.meta.url);
  const sibling = join(dirname(here), "validationWorker.js");
  if (here.endsWith(".js") && existsSync(sibling)) return sibling;
  return join(dirname(cliPath()), "..", "coordinator", "validationWorker.js");
}

export class ValidationThread {
  private nextId = 0;
  private readonly calls = new Map<number, { resolve: (r: ValidationResult) => void; reject: (e: Error) => void }>();
  private failure: Error | null = null;

  private constructor(private readonly worker: Worker) {
    // The thread keeps the process alive only while it works for us: a run that ends early (a refused
    // start, a bug) must not wait for an idle thread nobody closed.
    worker.unref();
    worker.on("message", (reply: ThreadReply) => {
      if (reply.type === "ready") return;
      const call = this.calls.get(reply.id);
      if (!call) return;
      this.calls.delete(reply.id);
      if (reply.type === "result") call.resolve(reply.result);
      else call.reject(reply.aborted ? new DOMException(reply.message, "AbortError") : new Error(reply.message));
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const call of this.calls.values()) call.reject(error);
      this.calls.clear();
    };
    worker.on("error", (error) => fail(new Error(`validation thread failed: ${error.message}`)));
    worker.on("exit", (code) => fail(new Error(`validation thread exited (status ${code})`)));
  }

  /** Starts the thread and resolves once its backend is up; the cases' buffers move into it (not copied). */
  static async start(options: ValidatorOptions, cases: ValidationCase[]): Promise<ValidationThread> {
    const transfer = [...new Set(cases.flatMap((c) => [c.image.buffer, c.labels.buffer]))] as ArrayBuffer[];
    const spawn = (transferList: ArrayBuffer[]) =>
      new Worker(threadModule(), { workerData: { options, cases }, transferList });
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

  /** Validates these weights in the thread; `signal` interrupts it between two windows. */
  validate(params: Float32Array, stats: Float32Array, signal?: AbortSignal): Promise<ValidationResult> {
    if (this.failure) return Promise.reject(this.failure);
    signal?.throwIfAborted();
    const id = this.nextId++;
    // Copies of our own to hand over: the originals are views into the snapshot's message frames.
    const request: ThreadRequest = { type: "validate", id, params: params.slice(), stats: stats.slice() };
    const result = new Promise<ValidationResult>((resolve, reject) => this.calls.set(id, { resolve, reject }));
    this.worker.ref();
    this.worker.postMessage(request, [request.params.buffer, request.stats.buffer] as ArrayBuffer[]);
    const cancel = () => this.worker.postMessage({ type: "cancel", id } satisfies ThreadRequest);
    signal?.addEventListener("abort", cancel, { once: true });
    return result.finally(() => {
      signal?.removeEventListener("abort", cancel);
      if (this.calls.size === 0) this.worker.unref();
    });
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners("exit");
    await this.worker.terminate();
  }
}
