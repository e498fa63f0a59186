/**
 * One attempt at training: workers up, ranks assigned, the ring formed, then epoch plans driven in
 * lock-step until the run completes, is stopped, or a worker fails (the caller restarts from the last
 * checkpoint). Everything that happens (messages, worker exits, the stop signal, clock ticks) goes through
 * one queue and is handled in order, so the state below is only ever touched by one piece of code.
 */

import { EXIT_INPUT_ERROR } from "../errors.js";
import type { CoordinatorLink, PeerId } from "../protocol/link.js";
import type { CoordinatorMessage, RunSpec, StateHeader, WorkerMessage } from "../protocol/messages.js";
import { type TrainConfig, worldSizeOf } from "../train/config.js";
import { PeerGuard } from "./peerGuard.js";
import { collectiveBoundSeconds, diagnoseStall, STALL_GATHER_MS, type StallReport, StepClock } from "./stallWatch.js";
import type { WorkerExit, WorkerSpawnOptions } from "./supervisor.js";
import { failureOf } from "./workerFailure.js";

export type StepMessage = Extract<WorkerMessage, { type: "step" }>;

/** The local worker processes (supervisor.ts LocalWorkers; a fake in tests). */
export interface WorkerPool {
  spawn(count: number, options: WorkerSpawnOptions): void;
  onUnexpectedExit(handler: (exit: WorkerExit) => void): void;
  killAll(graceMs?: number): Promise<void>;
}

export interface SessionHooks {
  onStep(message: StepMessage): void;
  /** A snapshot from rank 0 (plan end with snapshot, or a stop); resolves once the checkpoint is written. */
  onSnapshot(header: StateHeader, frames: Buffer[], reason: "plan" | "stop"): Promise<void>;
  log(line: string): void;
  /** The ring formed with this many ranks (0 when the session ends). */
  onWorkersUp?(count: number): void;
  /** A message (step, heartbeat, ...) came from this rank: it is alive. */
  onHeard?(rank: number): void;
}

export interface SessionInput {
  config: TrainConfig;
  run: RunSpec;
  link: CoordinatorLink;
  workers: WorkerPool;
  /** Environment of local worker `index` (GPU, threads, keys). */
  workerEnv: (index: number) => Record<string, string>;
  generation: number;
  /** Where to start: the state to load (null: fresh weights from the seed) and the position. */
  start: { header: StateHeader | null; frames: Uint8Array[]; globalStep: number; epoch: number; stepInEpoch: number };
  hooks: SessionHooks;
  /** Set by the signal handler; the session stops after the step in flight. */
  stop: StopSignal;
  /** Step durations measured so far (kept across generations): the stall bound derives from them. */
  stepClock?: StepClock;
  /**
   * Hellos that came while no session listened for them (a fresh worker on another host may say hello before
   * the generation it belongs to has begun); the session takes them and leaves the late ones for the next.
   */
  lateHellos?: WaitingHellos;
}

export type SessionOutcome =
  | { kind: "completed"; globalStep: number }
  | { kind: "stopped"; globalStep: number }
  | { kind: "failed"; reason: string }
  /** A worker met bad input (a case changed after the check): a restart would meet it again. */
  | { kind: "input"; reason: string }
  | { kind: "diverged"; reason: string };

export class StopSignal {
  requested = false;
  private listeners: (() => void)[] = [];
  request(): void {
    if (this.requested) return;
    this.requested = true;
    for (const l of this.listeners) l();
  }
  /** Returns the function that removes the listener (a session listens only while it runs). */
  onRequest(listener: () => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }
}

type Event =
  | { kind: "message"; peer: PeerId; message: WorkerMessage; frames: Buffer[] }
  | { kind: "exit"; exit: WorkerExit }
  | { kind: "tick" }
  | { kind: "stop" };

class Failure extends Error {
  constructor(
    readonly outcome: SessionOutcome,
    message: string,
  ) {
    super(message);
  }
}

interface Peer {
  id: PeerId;
  rank: number;
  localIndex: number;
  pid: number;
  host: string;
  lastSeen: number;
  ringEndpoint: string | null;
}

export async function runSession(input: SessionInput): Promise<SessionOutcome> {
  const { config, link, hooks } = input;
  // A stop that came before this session began (during a restart) must not spawn anyone.
  if (input.stop.requested) return { kind: "stopped", globalStep: input.start.globalStep };
  const queue = new EventQueue();
  const lateHellos = input.lateHellos ?? new WaitingHellos(worldSizeOf(config));
  for (const { peer, message } of lateHellos.take()) queue.push({ kind: "message", peer, message, frames: [] });
  link.onMessage((peer, message, frames) => queue.push({ kind: "message", peer, message, frames }));
  input.workers.onUnexpectedExit((exit) => queue.push({ kind: "exit", exit }));
  const unlistenStop = input.stop.onRequest(() => queue.push({ kind: "stop" }));
  const ticker = setInterval(() => queue.push({ kind: "tick" }), 1000);
  const worldSize = worldSizeOf(config);
  const peers = new Map<PeerId, Peer>();
  const guard = new PeerGuard(hooks.log);
  const byRank: Peer[] = [];
  let longestStep = 0;
  let lastTick = Date.now();
  const stepClock = input.stepClock ?? new StepClock();
  const bound = () => collectiveBoundSeconds(config.collectiveTimeout, stepClock.median());
  let boundSent = 0; // the bound the ranks hold (the last plan's or bound message's)
  const boundToSend = () => {
    boundSent = bound();
    return boundSent;
  };
  // The coordinator's own watch while steps are planned: when the last step message came, and which ranks
  // reached which step (null outside a plan).
  let progress: { at: number; base: number; end: number; reached: Map<number, number> } | null = null;
  // Stall reports of waiting ranks, gathered for a moment before the generation ends (stallWatch.ts).
  const stalls: StallReport[] = [];
  let gatherUntil = 0;
  const stallFailure = () => new Failure({ kind: "failed", reason: diagnoseStall(stalls) }, "stall");

  /**
   * From here on the session acts on nothing; a fresh worker's hello (one still queued, or one yet to come)
   * is kept for the next generation, which a remote agent's fresh worker belongs to.
   */
  let listening = true;
  const stopListening = () => {
    if (!listening) return;
    listening = false;
    clearInterval(ticker);
    unlistenStop();
    link.onMessage((peer, message) => {
      if (message.type === "hello") lateHellos.add(peer, message);
    });
    for (const e of queue.drain()) {
      if (e.kind === "message" && e.message.type === "hello" && !peers.has(e.peer)) {
        lateHellos.add(e.peer, e.message);
      }
    }
  };

  const broadcast = (message: CoordinatorMessage) =>
    Promise.all(byRank.map((p) => link.send(p.id, message).catch(() => {})));

  /** Waits for events until `done` says so; failures, stops and liveness are handled for every wait. */
  const until = async (what: string, timeoutMs: number, done: (e: Event) => boolean): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = await queue.next();
      if (e.kind === "exit") {
        if (input.stop.requested) throw new Failure({ kind: "stopped", globalStep: input.start.globalStep }, what);
        if (stalls.length > 0) continue; // a rank that reported a stall may leave; the reports say more
        if (e.exit.code === EXIT_INPUT_ERROR) throw new Failure(await inputFailureOf(e.exit, queue, peers), what);
        const how = e.exit.signal ? `signal ${e.exit.signal}` : `status ${e.exit.code}`;
        throw new Failure(
          { kind: "failed", reason: `worker ${e.exit.index} (pid ${e.exit.pid}) exited with ${how}` },
          what,
        );
      }
      if (e.kind === "message") {
        const peer = peers.get(e.peer);
        if (!peer && e.message.type === "heartbeat") {
          // The worker's heartbeat thread has a socket of its own (CURVE-authenticated like every socket): it
          // counts only for the joined rank whose process it names.
          const { rank, pid } = e.message;
          const owner = rank >= 0 ? byRank[rank] : undefined;
          if (owner && owner.pid === pid) {
            owner.lastSeen = Date.now();
            hooks.onHeard?.(owner.rank);
          }
          continue;
        }
        if (!guard.admit(peer, e.message, e.peer)) continue; // only joined peers, as themselves
        if (peer) peer.lastSeen = Date.now();
        if (!peer && e.message.type === "hello" && byRank.length > 0) {
          lateHellos.add(e.peer, e.message);
          continue;
        }
        if (peer && peer.rank >= 0) hooks.onHeard?.(peer.rank);
        if (e.message.type === "failed" && e.message.stall) {
          stalls.push({ rank: peer?.rank ?? e.message.rank ?? -1, ...e.message.stall });
          gatherUntil ||= Date.now() + STALL_GATHER_MS;
          if (stalls.length === worldSize) throw stallFailure();
          continue;
        }
        if (e.message.type === "failed") throw new Failure(failureOf(e.message, peer), what);
        if (e.message.type === "heartbeat") continue;
      }
      if (e.kind === "tick") {
        // A gap between ticks means this process was busy (a validation window): the workers were not
        // heard because nobody listened, so their silence only counts from now.
        const now = Date.now();
        if (now - lastTick > 2500) {
          for (const p of peers.values()) p.lastSeen = Math.max(p.lastSeen, now);
          if (progress) progress.at = Math.max(progress.at, now);
        }
        lastTick = now;
        if (gatherUntil && now > gatherUntil) throw stallFailure();
        // Heartbeats say the ranks live, not that they move: no step from anyone for long is a stall too.
        // Twice the ranks' own bound, so that their reports (which say where they wait) come first.
        const watch = 2 * bound();
        if (progress && now - progress.at > watch * 1000) {
          const { reached, base, end } = progress;
          const at = (p: Peer) => reached.get(p.rank) ?? base;
          if (byRank.every((p) => at(p) === end)) {
            const reason = `no progress for ${Math.round(watch)} s: rank 0 sent no snapshot after step ${end}`;
            throw new Failure({ kind: "failed", reason }, what);
          }
          const front = Math.max(...byRank.map(at));
          const behind = byRank.filter((p) => at(p) < front);
          // Ranks behind the front have not reported its step; when none is behind, nobody reported the next.
          const late = (behind.length > 0 ? behind : byRank).map((p) => p.rank);
          const step = behind.length > 0 ? front : front + 1;
          throw new Failure(
            {
              kind: "failed",
              reason:
                `no progress for ${Math.round(watch)} s: rank${late.length > 1 ? "s" : ""} ${late.join(", ")} ` +
                `did not report step ${step}, though heartbeats still arrive`,
            },
            what,
          );
        }
        for (const p of peers.values()) void link.send(p.id, { type: "heartbeat" }).catch(() => {});
        if (Date.now() > deadline) throw new Failure({ kind: "failed", reason: `timed out ${what}` }, what);
        // A worker cannot answer while a step computes (one JavaScript thread): allow 3 step times on top.
        // Before any step was measured, loading data and building kernels can hold it as long: allow a minute.
        const silence = config.heartbeatSeconds * 1000 + (longestStep > 0 ? 3 * longestStep : 60) * 1000;
        for (const p of byRank) {
          if (Date.now() - p.lastSeen > silence) {
            throw new Failure(
              {
                kind: "failed",
                reason: `rank ${p.rank} (pid ${p.pid} on ${p.host}) silent for ${Math.round(silence / 1000)} s`,
              },
              what,
            );
          }
        }
      }
      if (done(e)) return;
    }
  };

  try {
    // ---- workers and rendezvous: local workers take the first ranks in index order, remote ones follow
    // Local ranks bind their ring receivers where the remote ranks can reach them: the coordinator's address.
    input.workers.spawn(config.gpus, {
      coordinator: link.endpoint,
      env: input.workerEnv,
      args: ["--bind", config.bind],
    });
    const hellos: Peer[] = [];
    await until("waiting for workers to say hello", 600_000, (e) => {
      if (e.kind === "stop") throw new Failure({ kind: "stopped", globalStep: input.start.globalStep }, "stop");
      if (e.kind !== "message" || e.message.type !== "hello" || peers.has(e.peer)) return false;
      const { localIndex, pid, host } = e.message;
      const peer: Peer = { id: e.peer, rank: -1, localIndex, pid, host, lastSeen: Date.now(), ringEndpoint: null };
      peers.set(e.peer, peer);
      hellos.push(peer);
      return hellos.length === worldSize;
    });
    hellos.sort((a, b) => rankOrder(a) - rankOrder(b));
    hellos.forEach((p, rank) => {
      p.rank = rank;
      byRank.push(p);
    });
    for (const p of byRank) {
      await link.send(p.id, { type: "assign", rank: p.rank, worldSize, generation: input.generation, run: input.run });
    }
    let ready = 0;
    await until("waiting for workers to load data and bind the ring", 1_800_000, (e) => {
      if (e.kind === "stop") throw new Failure({ kind: "stopped", globalStep: input.start.globalStep }, "stop");
      if (e.kind !== "message" || e.message.type !== "ready") return false;
      const peer = peers.get(e.peer);
      if (!peer || peer.ringEndpoint) return false;
      peer.ringEndpoint = e.message.ringEndpoint;
      return ++ready === worldSize;
    });
    for (const p of byRank) {
      const next = byRank[(p.rank + 1) % worldSize].ringEndpoint ?? "";
      await link.send(
        p.id,
        { type: "start", next: worldSize > 1 ? next : "", state: input.start.header },
        input.start.frames,
      );
    }
    hooks.onWorkersUp?.(worldSize);
    hooks.log(
      `ring of ${worldSize} formed (generation ${input.generation}); training from step ${input.start.globalStep}`,
    );

    // ---- epochs, in plans of lock-step steps
    let { globalStep, epoch, stepInEpoch } = input.start;
    const stepsPerEpoch = input.run.stepsPerEpoch;
    if (stepInEpoch >= stepsPerEpoch) [epoch, stepInEpoch] = [epoch + 1, 0];
    let stopping = false;
    while (epoch < config.epochs) {
      const snapshot = (epoch + 1) % config.valEvery === 0 || epoch === config.epochs - 1;
      const endStep = globalStep + (stepsPerEpoch - stepInEpoch);
      await broadcast({
        type: "plan",
        epoch,
        fromStep: stepInEpoch,
        toStep: stepsPerEpoch,
        globalStep,
        snapshot,
        collectiveTimeoutSeconds: boundToSend(),
      });
      const reached = new Map<number, number>();
      progress = { at: Date.now(), base: globalStep, end: endStep, reached };
      const checksums = new Map<number, Map<number, number>>();
      let state: { header: StateHeader; frames: Buffer[] } | null = null;
      let stoppedRanks = 0;
      await until(`in epoch ${epoch + 1}`, Number.POSITIVE_INFINITY, (e) => {
        if (e.kind === "stop" && !stopping) {
          stopping = true;
          hooks.log("stop requested: finishing the step in flight, then a checkpoint");
          void broadcast({ type: "stop" });
        }
        if (e.kind !== "message") return false;
        const m = e.message;
        if (m.type === "step") {
          longestStep = Math.max(longestStep, m.seconds);
          stepClock.add(m.seconds);
          if (bound() !== boundSent) void broadcast({ type: "bound", collectiveTimeoutSeconds: boundToSend() });
          if (progress) progress.at = Date.now();
          reached.set(m.rank, m.globalStep);
          hooks.onStep(m);
          if (m.checksum !== null) checkConsistency(checksums, m, worldSize);
        } else if (m.type === "state") {
          state = { header: m.header, frames: e.frames };
        } else if (m.type === "stopped") {
          stoppedRanks++;
        }
        const planDone = byRank.every((p) => reached.get(p.rank) === endStep);
        if (stopping && stoppedRanks === worldSize && state !== null) return true;
        return planDone && (!snapshot || state !== null);
      });
      progress = null;
      if (stopping && state === null) {
        // The plan ended before any rank saw the stop: ask for a snapshot with a plan of no steps.
        await broadcast({
          type: "plan",
          epoch,
          fromStep: stepsPerEpoch,
          toStep: stepsPerEpoch,
          globalStep: endStep,
          snapshot: true,
          collectiveTimeoutSeconds: boundToSend(),
        });
        await until("waiting for the final snapshot", 600_000, (e) => {
          if (e.kind === "message" && e.message.type === "state")
            state = { header: e.message.header, frames: e.frames };
          return state !== null;
        });
      }
      const snap = state as { header: StateHeader; frames: Buffer[] } | null;
      if (snap) await hooks.onSnapshot(snap.header, snap.frames, stopping ? "stop" : "plan");
      if (stopping) {
        await broadcast({ type: "exit", rejoin: false });
        return { kind: "stopped", globalStep: snap?.header.globalStep ?? globalStep };
      }
      globalStep = endStep;
      epoch++;
      stepInEpoch = 0;
    }
    await broadcast({ type: "exit", rejoin: false });
    return { kind: "completed", globalStep };
  } catch (error) {
    if (error instanceof Failure) {
      stopListening();
      // A stopping coordinator starts nothing: agents on other hosts must not start fresh workers either.
      await broadcast({ type: "exit", rejoin: error.outcome.kind === "failed" && !input.stop.requested });
      return error.outcome;
    }
    throw error;
  } finally {
    stopListening();
    hooks.onWorkersUp?.(0);
    input.workers.onUnexpectedExit(() => {});
    await input.workers.killAll(2000);
  }
}

/** Every rank applied the same update, so their weights must be bitwise equal: compare checksums per step. */
function checkConsistency(checksums: Map<number, Map<number, number>>, m: StepMessage, worldSize: number): void {
  const atStep = checksums.get(m.globalStep) ?? new Map<number, number>();
  checksums.set(m.globalStep, atStep);
  atStep.set(m.rank, m.checksum as number);
  if (atStep.size < worldSize) return;
  checksums.delete(m.globalStep);
  const values = [...atStep.entries()];
  const differing = values.filter(([, c]) => c !== values[0][1]);
  if (differing.length > 0) {
    const detail = values.map(([r, c]) => `rank ${r}: ${c.toString(16)}`).join(", ");
    throw new Failure(
      { kind: "diverged", reason: `weights diverged across ranks at step ${m.globalStep} (${detail})` },
      "checksum",
    );
  }
}

/**
 * A worker that exited with the input-error status: its `failed` message (which may trail the exit by a
 * moment) names the case; the wait is bounded (the ticker pushes an event every second).
 */
async function inputFailureOf(exit: WorkerExit, queue: EventQueue, peers: Map<PeerId, Peer>): Promise<SessionOutcome> {
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline) {
    const e = await queue.next();
    if (e.kind === "message" && e.message.type === "failed") return failureOf(e.message, peers.get(e.peer));
  }
  return { kind: "input", reason: `worker ${exit.index} (pid ${exit.pid}) exited with status 2 (bad input)` };
}

function rankOrder(p: Peer): number {
  return p.localIndex >= 0 ? p.localIndex : 1_000_000 + p.lastSeen;
}

/**
 * Workers that said hello between generations, oldest first, one entry per routing id. Bounded: only peers
 * with the run's keys get a hello through, but keys can leak, and every entry is sent a heartbeat each
 * second; past the bound (twice the ranks, as each may have a fresh worker on the way) the oldest goes.
 */
export class WaitingHellos {
  private items: { peer: PeerId; message: WorkerMessage }[] = [];
  private readonly capacity: number;

  constructor(worldSize: number) {
    this.capacity = 2 * worldSize;
  }

  add(peer: PeerId, message: WorkerMessage): void {
    if (this.items.some((h) => h.peer === peer)) return;
    this.items.push({ peer, message });
    if (this.items.length > this.capacity) this.items.shift();
  }

  /** Every waiting hello, oldest first; none wait after. */
  take(): { peer: PeerId; message: WorkerMessage }[] {
    return this.items.splice(0);
  }

  get peers(): PeerId[] {
    return this.items.map((h) => h.peer);
  }
}

/** An async FIFO of events: push from callbacks, `await next()` from the session. */
class EventQueue {
  private items: Event[] = [];
  private waiter: ((e: Event) => void) | null = null;

  push(e: Event): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(e);
    } else this.items.push(e);
  }

  /** The events not taken yet (the queue is empty after). */
  drain(): Event[] {
    return this.items.splice(0);
  }

  next(): Promise<Event> {
    const item = this.items.shift();
    if (item) return Promise.resolve(item);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }
}
