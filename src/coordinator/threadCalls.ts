/**
 * What the coordinator's worker threads (validation, checkpoints) share: where a thread's module is, and the
 * table of calls in flight, each settled by the reply that carries its id.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Worker } from "node:worker_threads";
import { cliPath } from "./supervisor.js";

/**
 * The module a worker thread runs: `name` beside the caller's module in dist/, or dist's copy of it when the
 * caller runs from src/ under vitest (a thread cannot load TypeScript).
 */
export function threadModule(callerUrl: string, name: string): string {
  const here = fileURLToPath(callerUrl);
  const sibling = join(dirname(here), name);
  if (here.endsWith(".js") && existsSync(sibling)) return sibling;
  return join(dirname(cliPath()), "..", "coordinator", name);
}

/**
 * Calls to a worker thread: `call` posts a request under a fresh id, and the reply with that id settles it
 * (`settle` returns the result or throws the error). A thread that fails or exits rejects every call in
 * flight and every later one. The thread holds the process up only while calls are in flight: a run that ends
 * early (a refused start, a bug) must not wait for an idle thread nobody closed.
 */
export class ThreadCalls<Reply, Result> {
  private nextId = 0;
  private readonly calls = new Map<number, { resolve: (r: Result) => void; reject: (e: Error) => void }>();
  private failure: Error | null = null;

  constructor(
    private readonly worker: Worker,
    name: string,
    idOf: (reply: Reply) => number | null,
    settle: (reply: Reply) => Result,
  ) {
    worker.on("message", (reply: Reply) => {
      const id = idOf(reply);
      const call = id === null ? undefined : this.calls.get(id);
      if (id === null || !call) return;
      this.calls.delete(id);
      try {
        call.resolve(settle(reply));
      } catch (error) {
        call.reject(error as Error);
      }
      if (this.calls.size === 0) worker.unref();
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const call of this.calls.values()) call.reject(error);
      this.calls.clear();
    };
    worker.on("error", (error) => fail(new Error(`${name} thread failed: ${error.message}`)));
    worker.on("exit", (code) => fail(new Error(`${name} thread exited (status ${code})`)));
    worker.unref(); // after the listeners: adding one refs
  }

  /** Posts `request(id)` (moving `transfer`); `done` settles with the reply to it. */
  call(request: (id: number) => unknown, transfer: ArrayBuffer[] = []): { id: number; done: Promise<Result> } {
    const id = this.nextId++;
    if (this.failure) return { id, done: Promise.reject(this.failure) };
    const done = new Promise<Result>((resolve, reject) => this.calls.set(id, { resolve, reject }));
    this.worker.ref();
    this.worker.postMessage(request(id), transfer);
    return { id, done };
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners("exit");
    await this.worker.terminate();
  }
}
