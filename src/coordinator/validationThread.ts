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
import { threadModule } from "./threadModule.js";
import type { ValidationCase, ValidationResult, ValidatorOptions } from "./validation.js";
import type { ThreadReply, ThreadRequest } from "./validationWorker.js";

export class ValidationThread {
  private nextId = 0;
  private readonly calls = new Map<
    number,
    { resolve: (r: ValidationResult | null) => void; reject: (e: Error) => void }
  >();
  private failure: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on("message", (reply: ThreadReply) => {
      if (reply.type === "ready") return;
      const call = this.calls.get(reply.id);
      if (!call) return;
      this.calls.delete(reply.id);
      if (reply.type === "result") call.resolve(reply.result);
      else if (reply.type === "done") call.resolve(null);
      else call.reject(reply.aborted ? new DOMException(reply.message, "AbortError") : new Error(reply.message));
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const call of this.calls.values()) call.reject(error);
      this.calls.clear();
    };
    worker.on("error", (error) => fail(new Error(`validation thread failed: ${error.message}`)));
    worker.on("exit", (code) => fail(new Error(`validation thread exited (status ${code})`)));
    // The thread keeps the process alive only while it works for us: a run that ends early (a refused
    // start, a bug) must not wait for an idle thread nobody closed. (After the listeners: adding one refs.)
    worker.unref();
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
    const id = this.nextId;
    const result = this.call((id) => ({ type: "validate", id, ...copies, preview }), [
      copies.params.buffer,
      copies.stats.buffer,
    ] as ArrayBuffer[]);
    const cancel = () => this.worker.postMessage({ type: "cancel", id } satisfies ThreadRequest);
    signal?.addEventListener("abort", cancel, { once: true });
    try {
      return (await result) as ValidationResult;
    } finally {
      signal?.removeEventListener("abort", cancel);
    }
  }

  /** Draws curves.png in the thread (viz/curves.ts). */
  async writeCurves(path: string, loss: [number, number][], dice: Record<string, [number, number][]>): Promise<void> {
    await this.call((id) => ({ type: "curves", id, path, loss, dice }), []);
  }

  private call(request: (id: number) => ThreadRequest, transfer: ArrayBuffer[]): Promise<ValidationResult | null> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const result = new Promise<ValidationResult | null>((resolve, reject) => this.calls.set(id, { resolve, reject }));
    this.worker.ref();
    this.worker.postMessage(request(id), transfer);
    return result.finally(() => {
      if (this.calls.size === 0) this.worker.unref();
    });
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners("exit");
    await this.worker.terminate();
  }
}
