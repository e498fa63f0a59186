/**
 * Heartbeats from a thread of their own. A training step is one long synchronous stretch of tensor work
 * on the worker's JavaScript thread (seconds to minutes for big patches), which holds back every timer on
 * it; a heartbeat sent from there says only that a step ended. This thread has its own control socket to
 * the coordinator and says once a second that the process lives, however long the step in flight takes.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { RunKeys } from "../comm/security.js";

export interface HeartbeatSettings {
  endpoint: string;
  keys?: RunKeys;
  rank: number;
  pid: number;
  intervalMs: number;
}

export function startHeartbeatThread(settings: HeartbeatSettings): { stop(): Promise<void> } {
  const here = fileURLToPath(import.meta.url);
  const module = join(dirname(here), "heartbeatWorker.js");
  if (!existsSync(module)) throw new Error(`${module} is missing: run \`npx tsc -p tsconfig.json\``);
  const worker = new Worker(module, { workerData: settings });
  worker.on("error", () => {}); // a failed heartbeat thread shows as silence, which the coordinator handles
  worker.unref(); // never what keeps the process alive (after the listener: adding one may ref again)
  return {
    stop: async () => {
      await worker.terminate();
    },
  };
}
