/**
 * The validation thread's side (started by validationThread.ts): the cpu backend with the native kernels,
 * one Validator over the cases handed in at start, then one validation per request, one at a time.
 */
import { parentPort, workerData } from "node:worker_threads";
import { initBackend } from "../native/backend.js";
import { writeCurvesPng } from "../viz/curves.js";
import { writePreviewPng } from "../viz/preview.js";
import { type ValidationCase, type ValidationResult, Validator, type ValidatorOptions } from "./validation.js";

/** PNG rendering takes a quarter second or more each: it happens here too, never on the coordinator's loop. */
export type ThreadRequest =
  | {
      type: "validate";
      id: number;
      params: Float32Array;
      stats: Float32Array;
      /** where to write the preview of this validation (viz/preview.ts) */
      preview?: { path: string; labelNames: string[] };
    }
  | { type: "curves"; id: number; path: string; loss: [number, number][]; dice: Record<string, [number, number][]> }
  | { type: "cancel"; id: number };

export type ThreadReply =
  | { type: "ready" }
  | { type: "result"; id: number; result: ValidationResult }
  | { type: "done"; id: number }
  | { type: "error"; id: number; message: string; aborted: boolean };

async function serve(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error("validationWorker.ts runs as a worker thread (validationThread.ts)");
  const { options, cases } = workerData as { options: ValidatorOptions; cases: ValidationCase[] };
  await initBackend({ backend: "cpu", threads: 1 });
  const validator = new Validator(options, cases);
  const running = new Map<number, AbortController>();
  port.on("message", (request: ThreadRequest) => {
    if (request.type === "cancel") {
      running.get(request.id)?.abort();
      return;
    }
    if (request.type === "curves") {
      try {
        writeCurvesPng(request.path, request.loss, request.dice);
        port.postMessage({ type: "done", id: request.id } satisfies ThreadReply);
      } catch (error) {
        port.postMessage({
          type: "error",
          id: request.id,
          message: String(error),
          aborted: false,
        } satisfies ThreadReply);
      }
      return;
    }
    const abort = new AbortController();
    running.set(request.id, abort);
    const { preview } = request;
    validator
      .validate(request.params, request.stats, abort.signal)
      .then((result) => {
        if (preview) writePreviewPng(preview.path, result.preview, preview.labelNames);
        return result;
      })
      .then(
        (result) => port.postMessage({ type: "result", id: request.id, result } satisfies ThreadReply),
        (error: unknown) =>
          port.postMessage({
            type: "error",
            id: request.id,
            message: error instanceof Error ? error.message : String(error),
            aborted: abort.signal.aborted,
          } satisfies ThreadReply),
      )
      .finally(() => running.delete(request.id));
  });
  port.postMessage({ type: "ready" } satisfies ThreadReply);
}

await serve();
