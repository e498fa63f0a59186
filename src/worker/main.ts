/**
 * A worker process: connects to the coordinator and runs one training session (worker/loop.ts).
 *
 *   spawned by the coordinator:   orchestrate worker --coordinator tcp://127.0.0.1:PORT --local-index 0
 *   joining from another host:    orchestrate worker --coordinator tcp://10.0.0.2:5555 --key-file run.keys
 *
 * A worker never outlives its coordinator: a local one exits when its IPC channel to the coordinator closes
 * (whatever killed the coordinator), a remote one when the coordinator has been silent too long.
 */
import type { RunKeys } from "../comm/security.js";
import { RING_DIR_ENV } from "../comm/streamRing.js";
import { EXIT_INPUT_ERROR, InputError } from "../errors.js";
import { openWorkerLink } from "./controlLink.js";
import { startHeartbeatThread } from "./heartbeatThread.js";
import { runWorker, WorkerFailure } from "./loop.js";

export interface WorkerProcessOptions {
  coordinator: string;
  /** Index among the coordinator's local workers; -1 for a worker from another host. */
  localIndex: number;
  keys?: RunKeys;
  /** where the keys came from, for messages */
  keyFile?: string;
  bindHost: string;
  threads?: number;
  /** A remote worker gives up when the coordinator is silent this long. */
  coordinatorTimeoutSeconds: number;
}

/** Exit status asking the agent (`orchestrate worker` on a remote host) to start a fresh worker. */
export const EXIT_REJOIN = 75;
/** Exit status telling the agent that the coordinator is gone: nobody to rejoin, the agent ends too. */
export const EXIT_COORDINATOR_GONE = 69;

export async function workerProcessMain(options: WorkerProcessOptions): Promise<number> {
  const tag = options.localIndex >= 0 ? `worker ${options.localIndex}` : `worker pid ${process.pid}`;
  const log = (line: string) => process.stderr.write(`[${tag}] ${line}\n`);
  if (process.connected) process.on("disconnect", () => process.exit(0));
  // Ctrl-C reaches the whole process group; the coordinator decides how its workers stop.
  process.on("SIGINT", () => {});

  const link = await openWorkerLink({
    endpoint: options.coordinator,
    keys: options.keys,
    // A key file of another run: say so at once (ZeroMQ would retry in silence until the watch below gives up).
    onHandshakeFailure: (reason) => {
      const keys = options.keyFile ?? "the VOXRING_CURVE_* keys";
      process.stderr.write(`orchestrate worker: ${options.coordinator}: ${reason} (${keys})\n`);
      process.exit(EXIT_INPUT_ERROR);
    },
  });
  const watch = watchCoordinator(link, options.coordinatorTimeoutSeconds, () => {
    log(`the coordinator has been silent for ${options.coordinatorTimeoutSeconds} s: leaving`);
    process.exit(EXIT_COORDINATOR_GONE);
  });
  let rank: number | null = null;
  let heartbeats: { stop(): Promise<void> } | undefined;
  try {
    const how = await runWorker(link, {
      localIndex: options.localIndex,
      bindHost: options.bindHost,
      keys: options.keys,
      threads: options.threads,
      log,
      ipcParent: process.env[RING_DIR_ENV] || undefined,
      onAssigned: (assigned) => {
        rank = assigned;
        heartbeats ??= startHeartbeatThread({
          endpoint: options.coordinator,
          keys: options.keys,
          rank: assigned,
          pid: process.pid,
          intervalMs: 250, // several a second: --heartbeat-seconds may be as short as 1
        });
      },
      // A restart must not wait for this rank's collective to time out (its neighbour may be gone).
      onExitRequested: (rejoin) => {
        if (rejoin) process.exit(EXIT_REJOIN);
      },
    });
    return how === "rejoin" ? EXIT_REJOIN : 0;
  } catch (error) {
    // An input error (a case that changed after the check) is the user's to fix, not a crash to retry.
    const input = error instanceof WorkerFailure ? error.input : error instanceof InputError;
    const kind = input ? "input" : "crash";
    const message = error instanceof Error ? error.message : String(error);
    const failure = error instanceof WorkerFailure ? error : undefined;
    const reported = await link
      .send({
        type: "failed",
        rank: failure?.rank ?? rank,
        kind,
        message: message.slice(0, 4000),
        ...(failure?.stall ? { stall: { ...failure.stall, where: failure.stall.where.slice(0, 500) } } : {}),
      })
      .then(() => true)
      .catch(() => false);
    // A local worker's input error is the coordinator's one line; said here too only when that did not work.
    if (kind === "crash" || options.localIndex < 0 || !reported) log(`failed: ${message}`);
    if (process.env.VOXRING_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    if (kind === "input") return EXIT_INPUT_ERROR;
    // A rank that waited for a stalled neighbour is sound: it takes part in the restart, not as a crash.
    return failure?.stall ? EXIT_REJOIN : 1;
  } finally {
    await heartbeats?.stop();
    clearInterval(watch);
    link.close();
  }
}

/**
 * Calls `onSilent` when nothing has come from the coordinator for `seconds`. A long synchronous step
 * blocks this timer too; a gap between ticks means this process was busy, not that the coordinator was
 * silent, so the clock restarts after such a gap.
 */
function watchCoordinator(link: { lastHeard: number }, seconds: number, onSilent: () => void): NodeJS.Timeout {
  let lastTick = Date.now();
  return setInterval(() => {
    const now = Date.now();
    if (now - lastTick > 2000) link.lastHeard = Math.max(link.lastHeard, now);
    lastTick = now;
    if (now - link.lastHeard > seconds * 1000) onSilent();
  }, 1000);
}
