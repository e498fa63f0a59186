/**
 * What a worker's failure means for the run. An input error (a case that changed after the dataset check,
 * a file that became unreadable) would be met again by every restart: the run ends with exit status 2 and
 * the worker's message. Anything else is a crash, and the run restarts from its last checkpoint.
 */
import type { WorkerMessage } from "../protocol/messages.js";

type FailedMessage = Extract<WorkerMessage, { type: "failed" }>;

/** The coordinator's own record of a worker: its rank is -1 until one was assigned. */
export interface KnownWorker {
  rank: number;
  pid: number;
  host: string;
}

/** "rank 1 (pid 123 on node-a)", or "worker pid 123 on node-a" before it had a rank. */
export function describeWorker(worker: KnownWorker): string {
  return worker.rank >= 0
    ? `rank ${worker.rank} (pid ${worker.pid} on ${worker.host})`
    : `worker pid ${worker.pid} on ${worker.host}`;
}

/** The outcome a `failed` message asks for, naming the worker as the coordinator knows it. */
export function failureOf(
  message: FailedMessage,
  worker: KnownWorker | undefined,
): { kind: "input" | "failed"; reason: string } {
  const who = worker ? describeWorker(worker) : message.rank === null ? "a worker" : `rank ${message.rank}`;
  return message.kind === "input"
    ? { kind: "input", reason: `${who}: ${message.message}` }
    : { kind: "failed", reason: `${who} failed: ${message.message}` };
}
