/**
 * The session state machine against simulated workers (no processes, no sockets): a fake link delivers
 * each coordinator message to an in-memory worker that answers as worker/loop.ts does.
 */
import { describe, expect, it } from "vitest";
import {
  runSession,
  type SessionInput,
  StopSignal,
  WaitingHellos,
  type WorkerPool,
} from "../../../src/coordinator/session.js";
import { BOUND_FLOOR_SECONDS, FIRST_STEP_BOUND_SECONDS } from "../../../src/coordinator/stallWatch.js";
import type { WorkerExit, WorkerSpawnOptions } from "../../../src/coordinator/supervisor.js";
import type { CoordinatorLink, PeerId } from "../../../src/protocol/link.js";
import type { CoordinatorMessage, RunSpec, StateHeader, WorkerMessage } from "../../../src/protocol/messages.js";
import { defaultConfig, type TrainConfig } from "../../../src/train/config.js";

interface Behaviour {
  /** checksum a rank reports at a step */
  checksum?: (rank: number, step: number) => number;
  /** a rank that exits (as a process would) when it reaches this global step */
  exitAt?: { rank: number; step: number };
  /** a rank that reports a failure at this step and exits, as worker/main.ts does (exit 2 for input) */
  failAt?: { rank: number; step: number; kind: "input" | "crash"; exitFirst?: boolean; helloWith?: PeerId };
  /** a rank that goes silent at this step */
  silentAt?: { rank: number; step: number };
  /** a stop signal requested when rank 0 reaches this step */
  stopAt?: { step: number; signal: StopSignal };
  /** at this step `rank` hangs (heartbeats go on) and the others report waiting for their previous rank */
  stallAt?: { rank: number; step: number; reports: boolean };
  /** rank 0 never sends the snapshot a plan asks for */
  noSnapshot?: boolean;
}

function header(globalStep: number, epoch: number, stepInEpoch: number): StateHeader {
  return {
    globalStep,
    epoch,
    stepInEpoch,
    optimizerStep: globalStep,
    lossScale: null,
    skippedSteps: 0,
    paramsLength: 3,
    statsLength: 1,
  };
}

/** A pool of simulated workers behind a fake control link. */
function simulate(behaviour: Behaviour = {}) {
  let handler: (peer: PeerId, m: WorkerMessage, frames: Buffer[]) => void = () => {};
  let exitHandler: (e: WorkerExit) => void = () => {};
  const ranks = new Map<PeerId, number>();
  const stopFlags = new Map<PeerId, boolean>();
  const sent: { peer: PeerId; message: CoordinatorMessage }[] = [];
  const heartbeats: NodeJS.Timeout[] = [];
  let spawned = 0;
  let dead = false;
  const reply = (peer: PeerId, m: WorkerMessage, frames: Buffer[] = []) =>
    setImmediate(() => {
      if (!dead) handler(peer, m, frames);
    });

  const link: CoordinatorLink = {
    endpoint: "tcp://127.0.0.1:1",
    onMessage: (h) => {
      handler = h;
    },
    send: async (peer, message) => {
      sent.push({ peer, message });
      if (message.type === "assign") {
        ranks.set(peer, message.rank);
        reply(peer, { type: "ready", rank: message.rank, ringEndpoint: `tcp://127.0.0.1:${100 + message.rank}` });
      } else if (message.type === "stop") {
        stopFlags.set(peer, true);
      } else if (message.type === "plan") {
        const rank = ranks.get(peer) as number;
        let step = message.globalStep;
        for (let s = message.fromStep; s < message.toStep; s++) {
          step++;
          if (behaviour.stopAt && rank === 0 && step === behaviour.stopAt.step) behaviour.stopAt.signal.request();
          if (behaviour.exitAt?.rank === rank && behaviour.exitAt.step === step) {
            setImmediate(() => exitHandler({ index: rank, pid: 4000 + rank, code: null, signal: "SIGKILL" }));
            return;
          }
          if (behaviour.silentAt?.rank === rank && behaviour.silentAt.step === step) return;
          if (behaviour.stallAt?.step === step) {
            const beat = setInterval(() => reply(peer, { type: "heartbeat", rank, step }), 200);
            heartbeats.push(beat);
            if (behaviour.stallAt.reports && rank !== behaviour.stallAt.rank) {
              const waitingFor = (rank + ranks.size - 1) % ranks.size;
              const where = "all-reduce #9 (reduce-scatter hop 1 of 1, 0 of 4 frames)";
              reply(peer, {
                type: "failed",
                rank,
                kind: "crash",
                message: "stalled",
                stall: { waitingFor, seconds: 5, where, step },
              });
            }
            return;
          }
          const fail = behaviour.failAt;
          if (fail?.rank === rank && fail.step === step) {
            const code = fail.kind === "input" ? 2 : 1;
            const exit = () => exitHandler({ index: rank, pid: 4000 + rank, code, signal: null });
            if (fail.exitFirst) setImmediate(exit);
            const failed: WorkerMessage = {
              type: "failed",
              rank,
              kind: fail.kind,
              message: "labelsTr/c1.nii.gz: not a NIfTI file",
            };
            // A fresh worker's hello in the same burst: queued behind the failure that ends the session.
            if (fail.helloWith) {
              const fresh = fail.helloWith;
              setImmediate(() => {
                handler(peer, failed, []);
                handler(fresh, { type: "hello", host: "h2", pid: 5000, localIndex: -1 }, []);
              });
            } else reply(peer, failed);
            if (!fail.exitFirst) setTimeout(exit, 5);
            return;
          }
          reply(peer, {
            type: "step",
            rank,
            globalStep: step,
            epoch: message.epoch,
            stepInEpoch: s + 1,
            loss: 0.5,
            meanLoss: 0.5,
            seconds: 0.01,
            allreduceSeconds: 0.001,
            allreduceBytes: 12,
            voxels: 100,
            lossScale: 1,
            skipped: false,
            checksum: behaviour.checksum ? behaviour.checksum(rank, step) : 7,
            rss: 1,
            cpuSeconds: 1,
          });
          // The stop flag travels in the all-reduce: every rank sees it after the same step.
          if ([...stopFlags.values()].some(Boolean) && behaviour.stopAt) {
            if (rank === 0) reply(peer, { type: "state", rank, header: header(step, message.epoch, s + 1) }, []);
            reply(peer, { type: "stopped", rank, globalStep: step });
            return;
          }
        }
        if (message.snapshot && rank === 0 && !behaviour.noSnapshot) {
          reply(peer, { type: "state", rank, header: header(step, message.epoch, message.toStep) }, []);
        }
      }
    },
  };
  const pool: WorkerPool = {
    spawn: (count: number, _options: WorkerSpawnOptions) => {
      spawned += count;
      for (let i = 0; i < count; i++) reply(`peer${i}`, { type: "hello", host: "h", pid: 4000 + i, localIndex: i });
    },
    onUnexpectedExit: (h) => {
      exitHandler = h;
    },
    killAll: async () => {
      dead = true;
      for (const beat of heartbeats) clearInterval(beat);
    },
  };
  return { link, pool, sent, spawned: () => spawned };
}

function input(
  config: Partial<TrainConfig>,
  sim: ReturnType<typeof simulate>,
  stop = new StopSignal(),
  start?: SessionInput["start"],
) {
  const snapshots: { header: StateHeader; reason: string }[] = [];
  const steps: number[] = [];
  const full: TrainConfig = { ...defaultConfig, out: "x", gpus: 2, epochs: 3, valEvery: 2, ...config };
  const run: RunSpec = {
    config: full,
    dataDir: "d",
    trainCases: [0, 1, 2],
    inChannels: 2,
    numClasses: 3,
    stepsPerEpoch: 2,
  };
  const session: SessionInput = {
    config: full,
    run,
    link: sim.link,
    workers: sim.pool,
    workerEnv: () => ({}),
    generation: 0,
    start: start ?? { header: null, frames: [], globalStep: 0, epoch: 0, stepInEpoch: 0 },
    stop,
    hooks: {
      onStep: (m) => {
        if (m.rank === 0) steps.push(m.globalStep);
      },
      onSnapshot: async (h, _frames, reason) => {
        snapshots.push({ header: h, reason });
      },
      log: () => {},
    },
  };
  return { session, snapshots, steps };
}

describe("runSession", () => {
  it("drives every epoch in lock-step and asks for snapshots at validation epochs and the last", async () => {
    const sim = simulate();
    const { session, snapshots, steps } = input({}, sim);
    expect(await runSession(session)).toEqual({ kind: "completed", globalStep: 6 });
    expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
    expect(snapshots.map((s) => [s.header.globalStep, s.reason])).toEqual([
      [4, "plan"],
      [6, "plan"],
    ]);
    const assigns = sim.sent.filter((s) => s.message.type === "assign").map((s) => [s.peer, s.message]);
    expect(assigns.map(([peer, m]) => [peer, (m as { rank: number }).rank])).toEqual([
      ["peer0", 0],
      ["peer1", 1],
    ]);
    const starts = sim.sent.filter((s) => s.message.type === "start").map((s) => s.message);
    expect(starts).toEqual([
      { type: "start", next: "tcp://127.0.0.1:101", state: null },
      { type: "start", next: "tcp://127.0.0.1:100", state: null },
    ]);
    expect(sim.sent.filter((s) => s.message.type === "exit").map((s) => s.message)).toContainEqual({
      type: "exit",
      rejoin: false,
    });
  });

  it("resumes mid-epoch where the checkpoint left", async () => {
    const sim = simulate();
    const start = { header: header(3, 1, 1), frames: [], globalStep: 3, epoch: 1, stepInEpoch: 1 };
    const { session, steps } = input({}, sim, new StopSignal(), start);
    expect(await runSession(session)).toEqual({ kind: "completed", globalStep: 6 });
    expect(steps).toEqual([4, 5, 6]);
    const plans = sim.sent.filter((s) => s.peer === "peer0" && s.message.type === "plan").map((s) => s.message);
    expect(plans[0]).toMatchObject({ epoch: 1, fromStep: 1, toStep: 2, globalStep: 3 });
  });

  it("fails loudly when the ranks' weights diverge", async () => {
    const sim = simulate({ checksum: (rank, step) => (step === 3 && rank === 1 ? 8 : 7) });
    const { session } = input({}, sim);
    const outcome = await runSession(session);
    expect(outcome.kind).toBe("diverged");
    if (outcome.kind === "diverged") expect(outcome.reason).toMatch(/diverged across ranks at step 3/);
  });

  it("reports a worker that exits as a failure to restart from", async () => {
    const sim = simulate({ exitAt: { rank: 1, step: 3 } });
    const { session } = input({}, sim);
    const outcome = await runSession(session);
    expect(outcome).toEqual({ kind: "failed", reason: "worker 1 (pid 4001) exited with signal SIGKILL" });
    expect(sim.sent.at(-1)?.message).toEqual({ type: "exit", rejoin: true });
  });

  it.each([false, true])(
    "an input error met by a worker ends the session as input, naming its real rank (exit first: %s)",
    async (exitFirst) => {
      const sim = simulate({ failAt: { rank: 1, step: 3, kind: "input", exitFirst } });
      const { session } = input({}, sim);
      const outcome = await runSession(session);
      expect(outcome).toEqual({
        kind: "input",
        reason: "rank 1 (pid 4001 on h): labelsTr/c1.nii.gz: not a NIfTI file",
      });
      // no rejoin: the run ends, a remote agent starts no fresh worker
      expect(sim.sent.at(-1)?.message).toEqual({ type: "exit", rejoin: false });
    },
  );

  it("a crash reported by a worker is a failure to restart from, naming its real rank", async () => {
    const sim = simulate({ failAt: { rank: 0, step: 2, kind: "crash" } });
    const { session } = input({}, sim);
    const outcome = await runSession(session);
    expect(outcome).toEqual({
      kind: "failed",
      reason: "rank 0 (pid 4000 on h) failed: labelsTr/c1.nii.gz: not a NIfTI file",
    });
    expect(sim.sent.at(-1)?.message).toEqual({ type: "exit", rejoin: true });
  });

  it("a hello queued behind the failure that ends the session is kept for the next generation", async () => {
    const sim = simulate({ failAt: { rank: 0, step: 2, kind: "crash", helloWith: "fresh" } });
    const { session } = input({}, sim);
    const lateHellos = new WaitingHellos(2);
    const outcome = await runSession({ ...session, lateHellos });
    expect(outcome.kind).toBe("failed");
    expect(lateHellos.take()).toEqual([
      { peer: "fresh", message: { type: "hello", host: "h2", pid: 5000, localIndex: -1 } },
    ]);
  });

  it("keeps one waiting hello per routing id, and at most twice the ranks, the newest", () => {
    const waiting = new WaitingHellos(2);
    const hello = (pid: number): WorkerMessage => ({ type: "hello", host: "h", pid, localIndex: -1 });
    waiting.add("a", hello(1));
    waiting.add("a", hello(2)); // a second hello on the same routing id
    for (const [i, peer] of ["b", "c", "d", "e"].entries()) waiting.add(peer, hello(10 + i));
    expect(waiting.peers).toEqual(["b", "c", "d", "e"]);
    expect(waiting.take().map((h) => h.message)).toEqual([hello(10), hello(11), hello(12), hello(13)]);
    expect(waiting.peers).toEqual([]);
  });

  it("reports a silent worker after the heartbeat timeout", async () => {
    const sim = simulate({ silentAt: { rank: 0, step: 2 } });
    const { session } = input({ heartbeatSeconds: 0.5 }, sim);
    const outcome = await runSession(session);
    expect(outcome.kind).toBe("failed");
    if (outcome.kind === "failed") expect(outcome.reason).toMatch(/rank [01] .* silent for \d+ s/);
  });

  it("a stall reported by the waiting rank names the rank it waited for, and the bound travels in plans", async () => {
    const sim = simulate({ stallAt: { rank: 1, step: 3, reports: true } });
    const { session } = input({ gpus: 3, collectiveTimeout: 5 }, sim);
    const outcome = await runSession(session);
    expect(outcome).toEqual({
      kind: "failed",
      reason:
        "rank 1 stalled: rank 2 had no frame from rank 1 for 5 s in all-reduce #9 (reduce-scatter hop 1 of 1, " +
        "0 of 4 frames) at step 3; ranks 0, 2 waited in the ring",
    });
    const plans = sim.sent.filter((s) => s.message.type === "plan").map((s) => s.message);
    expect(plans.length).toBeGreaterThan(0);
    expect(plans.every((p) => p.type === "plan" && p.collectiveTimeoutSeconds === 5)).toBe(true);
  });

  it("the first plan's bound (no step timed yet) gives way to the measured one at the first step, once per rank", async () => {
    const sim = simulate();
    const { session } = input({ collectiveTimeout: null }, sim);
    expect(await runSession(session)).toEqual({ kind: "completed", globalStep: 6 });
    const plans = sim.sent.filter((s) => s.message.type === "plan").map((s) => s.message);
    const bounds = sim.sent.filter((s) => s.message.type === "bound");
    expect(plans[0]).toMatchObject({ collectiveTimeoutSeconds: FIRST_STEP_BOUND_SECONDS });
    // Steps of 0.01 s: the floor. Told to each rank once, mid-plan, and carried by every later plan.
    expect(bounds.map((b) => [b.peer, b.message])).toEqual(
      ["peer0", "peer1"].map((peer) => [peer, { type: "bound", collectiveTimeoutSeconds: BOUND_FLOOR_SECONDS }]),
    );
    expect(plans.slice(2).every((p) => p.type === "plan" && p.collectiveTimeoutSeconds === BOUND_FLOOR_SECONDS)).toBe(
      true,
    );
  });

  it("with heartbeats still coming, no step for twice the bound ends the session naming the late ranks", async () => {
    const sim = simulate({ stallAt: { rank: 1, step: 3, reports: false } });
    const { session } = input({ collectiveTimeout: 0.5 }, sim);
    const outcome = await runSession(session);
    expect(outcome).toEqual({
      kind: "failed",
      reason: "no progress for 1 s: ranks 0, 1 did not report step 3, though heartbeats still arrive",
    });
  });

  it("a plan whose steps all came but whose snapshot does not ends the session, saying so", async () => {
    const sim = simulate({ noSnapshot: true });
    const { session } = input({ collectiveTimeout: 0.5 }, sim);
    expect(await runSession(session)).toEqual({
      kind: "failed",
      reason: "no progress for 1 s: rank 0 sent no snapshot after step 4",
    });
  });

  it("a stop requested before the session begins spawns no worker", async () => {
    const stop = new StopSignal();
    stop.request();
    const sim = simulate();
    const { session } = input({}, sim, stop);
    expect(await runSession(session)).toEqual({ kind: "stopped", globalStep: 0 });
    expect(sim.spawned()).toBe(0);
  });

  it("a stop ends after the step in flight with a snapshot of that step", async () => {
    const stop = new StopSignal();
    const sim = simulate({ stopAt: { step: 3, signal: stop } });
    const { session, snapshots } = input({ epochs: 10 }, sim, stop);
    const outcome = await runSession(session);
    expect(outcome.kind).toBe("stopped");
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0].reason).toBe("stop");
    expect(snapshots[0].header.globalStep).toBeGreaterThanOrEqual(3);
    expect(snapshots[0].header.globalStep).toBeLessThan(20);
  });
});
