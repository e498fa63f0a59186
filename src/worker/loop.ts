/**
 * One training worker, from hello to exit (the conversation is listed in protocol/messages.ts):
 *
 *   hello → assign → backend, model, data, ring receiver → ready → start (join ring, load state)
 *   → plan → steps in lock-step (gradients all-reduced, identical Adam update on every rank) → ... → exit
 *
 * Each step is train/trainStep.ts: the gradients are all-reduced with the loss and a stop flag beside them
 * (in fp32), so a stop requested of any rank reaches every rank in the same step, all stop after it and no
 * rank is left waiting in a collective the others never call.
 */

import { hostname } from "node:os";
import { setImmediate as eventLoopTurn } from "node:timers/promises";
import { checksum } from "../comm/checksum.js";
import { bytesOf, float32View } from "../comm/frames.js";
import { RingAllReduce, RingStallError } from "../comm/ring.js";
import type { RunKeys } from "../comm/security.js";
import { InputError } from "../errors.js";
import { readFlat, writeFlat } from "../model/paramLayout.js";
import { createUNet, type UNet } from "../model/unet.js";
import { initBackend } from "../native/backend.js";
import { retainFreedMemory } from "../native/commAddon.js";
import { installNativeRingArithmetic } from "../native/ringArithmetic.js";
import type { WorkerLink } from "../protocol/link.js";
import type { CoordinatorMessage, RunSpec, StateHeader } from "../protocol/messages.js";
import { Rng } from "../random.js";
import { learningRateAt } from "../train/lrSchedule.js";
import { makeRunContext, type RunContext, stepSeed } from "../train/runContext.js";
import { openTrainData, type TrainData } from "../train/trainData.js";
import { type BatchShape, createTrainer, type Trainer } from "../train/trainer.js";
import { trainStep } from "../train/trainStep.js";

export interface WorkerOptions {
  localIndex: number;
  /** Host the ring receiver binds to and peers dial. */
  bindHost: string;
  keys?: RunKeys;
  threads?: number;
  log: (line: string) => void;
  /**
   * Called the moment an exit arrives, even while a step or a collective is in flight (a neighbour that
   * died leaves this rank waiting in the ring until its timeout): the process may leave at once.
   */
  onExitRequested?: (rejoin: boolean) => void;
  /** Folder for the ring receiver's socket directory (the coordinator's run folder); default the temp folder */
  ipcParent?: string;
  /** Called with this worker's rank once the coordinator assigned it (failures then name it). */
  onAssigned?: (rank: number) => void;
}

type Incoming = { message: CoordinatorMessage; frames: Buffer[] };

/** Why this rank cannot go on; `stall` when a collective made no progress (who it waited for, and where). */
export class WorkerFailure extends Error {
  override readonly name = "WorkerFailure";
  constructor(
    readonly rank: number,
    message: string,
    readonly stall?: { waitingFor: number; seconds: number; where: string; step: number },
    /** the cause was bad input (an InputError: a case or file), which a restart would only meet again */
    readonly input = false,
  ) {
    super(message);
  }
}

interface Session {
  ctx: RunContext;
  run: RunSpec;
  unet: UNet;
  trainer: Trainer;
  data: TrainData;
  ring: RingAllReduce;
  globalStep: number;
}

/** Runs one session; "rejoin" when the coordinator restarts the run and wants a fresh worker. */
export async function runWorker(link: WorkerLink, options: WorkerOptions): Promise<"done" | "rejoin"> {
  const inbox = new Inbox(link);
  let stopRequested = false;
  inbox.onStop = () => {
    stopRequested = true;
  };
  inbox.onExit = (rejoin) => options.onExitRequested?.(rejoin);
  // Applies from the next collective on (the one under way keeps the bound it started with).
  inbox.onBound = (seconds) => session?.ring.setProgressTimeout(Math.round(seconds * 1000));
  await link.send({ type: "hello", host: hostname(), pid: process.pid, localIndex: options.localIndex });

  const assign = await inbox.expect("assign");
  if (assign.message.type === "exit") return assign.message.rejoin ? "rejoin" : "done";
  if (assign.message.type !== "assign") throw new Error("unreachable");
  const { rank, worldSize, generation, run } = assign.message;
  options.onAssigned?.(rank);
  const ctx = makeRunContext(rank, worldSize, generation);
  let session: Session | undefined;
  try {
    return await runAssigned();
  } catch (error) {
    if (error instanceof WorkerFailure) throw error;
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof RingStallError) {
      // The step in flight is the next one: globalStep counts the steps already done.
      const step = (session?.globalStep ?? 0) + 1;
      throw new WorkerFailure(rank, `stalled at step ${step}: ${message}`, {
        waitingFor: error.waitingFor,
        seconds: error.seconds,
        where: error.where,
        step,
      });
    }
    throw new WorkerFailure(rank, message, undefined, error instanceof InputError);
  } finally {
    session?.ring.close();
    session?.unet.dispose();
  }

  async function runAssigned(): Promise<"done" | "rejoin"> {
    session = await openSession(ctx, run, options);
    await link.send({ type: "ready", rank, ringEndpoint: session.ring.endpoint });

    const start = await inbox.expect("start");
    if (start.message.type === "exit") return start.message.rejoin ? "rejoin" : "done";
    if (start.message.type !== "start") throw new Error("unreachable");
    await session.ring.join({ rank, worldSize, next: start.message.next || undefined });
    if (start.message.state) loadState(session, start.message.state, start.frames);

    for (;;) {
      const { message } = await inbox.next();
      if (message.type === "exit") return message.rejoin ? "rejoin" : "done";
      if (message.type !== "plan") continue;
      session.ring.setProgressTimeout(Math.round(message.collectiveTimeoutSeconds * 1000));
      const stopped = await runPlan(session, message, link, () => stopRequested);
      if (stopped) await link.send({ type: "stopped", rank, globalStep: session.globalStep });
    }
  }
}

async function openSession(ctx: RunContext, run: RunSpec, options: WorkerOptions): Promise<Session> {
  const { config } = run;
  // A worker from another host uses that host's first GPU (or what its CUDA_VISIBLE_DEVICES says).
  const gpuIndex = Math.max(0, options.localIndex);
  await initBackend({ backend: config.backend, threads: options.threads, gpuIndex });
  const unet = createUNet(
    { inChannels: run.inChannels, numClasses: run.numClasses, channels: config.channels },
    config.seed,
  );
  const trainer = createTrainer(unet, { lr: config.lr, amp: config.amp });
  const data = await openTrainData(run);
  installNativeRingArithmetic();
  // On every backend: the data plane's received frames are fresh 1 MiB blocks, freed after forwarding.
  retainFreedMemory();
  const ring =
    ctx.worldSize === 1
      ? RingAllReduce.solo()
      : await RingAllReduce.open({
          bind: `tcp://${options.bindHost}:0`,
          keys: options.keys,
          generation: ctx.generation,
          log: options.log,
          ipcParent: options.ipcParent,
        });
  return { ctx, run, unet, trainer, data, ring, globalStep: 0 };
}

type Plan = Extract<CoordinatorMessage, { type: "plan" }>;

/** Runs the plan's steps; returns true when a stop ended it early (after a snapshot). */
async function runPlan(s: Session, plan: Plan, link: WorkerLink, stopRequested: () => boolean): Promise<boolean> {
  const { config } = s.run;
  const { rank, worldSize } = s.ctx;
  const [X, Y, Z] = config.patch;
  const shape: BatchShape = [config.batch, Z, Y, X, s.run.inChannels];
  const fp16Wire = config.amp && !config.deterministic;
  const totalSteps = config.epochs * s.run.stepsPerEpoch;
  let stopAll = false;
  s.globalStep = plan.globalStep;
  for (let step = plan.fromStep; step < plan.toStep && !stopAll; step++) {
    const t0 = performance.now();
    const rng = new Rng(stepSeed(config.seed, rank, s.globalStep));
    const { x, labels } = await s.data.batch(s.data.stepCases(plan.epoch, rank, worldSize, step), rng);
    const lr = learningRateAt(s.globalStep, { name: config.lrSchedule, lr: config.lr, totalSteps });
    const bytesBefore = s.ring.stats.bytesSent;
    const result = await trainStep(s.trainer, { x, labels, shape }, s.ring, {
      lr,
      fp16Wire,
      stopRequested: stopRequested(),
      bucketMb: config.bucketMb,
    });
    stopAll = result.stopAll;
    s.globalStep++;
    const due = s.globalStep % config.checksumEvery === 0;
    await link.send({
      type: "step",
      rank,
      globalStep: s.globalStep,
      epoch: plan.epoch,
      stepInEpoch: step + 1,
      loss: result.loss,
      meanLoss: result.meanLoss,
      seconds: (performance.now() - t0) / 1000,
      allreduceSeconds: result.allreduceSeconds,
      allreduceBytes: s.ring.stats.bytesSent - bytesBefore,
      voxels: config.batch * X * Y * Z,
      lossScale: result.lossScale,
      skipped: !result.applied,
      checksum: due ? checksum(readFlat(s.unet.params)) : null,
      rss: process.memoryUsage().rss,
      cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    });
    // A ring of one has no socket to wait on and a writable link resolves at once: without a turn of the
    // event loop per step, timers and I/O (the coordinator's stop, the IPC channel closing when the
    // coordinator dies) would wait until ZeroMQ's queue to a dead coordinator filled up.
    await eventLoopTurn();
  }
  if (plan.snapshot || stopAll) await sendSnapshot(s, plan, link, stopAll);
  return stopAll;
}

/**
 * Batch-norm running statistics differ per rank (each saw its own batches): every rank averages them
 * (the same collective on all ranks, so no deadlock) and keeps the average; rank 0 then sends weights,
 * statistics and optimizer state to the coordinator for validation and the checkpoint.
 */
async function sendSnapshot(s: Session, plan: Plan, link: WorkerLink, stopped: boolean): Promise<void> {
  const stats = readFlat(s.unet.stats);
  await s.ring.allReduce(stats, { average: true });
  writeFlat(s.unet.stats, stats);
  if (!s.ctx.isMain) return;
  const params = readFlat(s.unet.params);
  const optimizer = s.trainer.getState();
  const stepInEpoch = stopped ? plan.fromStep + (s.globalStep - plan.globalStep) : plan.toStep;
  const header: StateHeader = {
    globalStep: s.globalStep,
    epoch: plan.epoch,
    stepInEpoch,
    optimizerStep: optimizer.adam.step,
    lossScale: optimizer.lossScale,
    skippedSteps: optimizer.skippedSteps,
    paramsLength: params.length,
    statsLength: stats.length,
  };
  await link.send({ type: "state", rank: s.ctx.rank, header }, [
    bytesOf(params),
    bytesOf(stats),
    bytesOf(optimizer.adam.m),
    bytesOf(optimizer.adam.v),
  ]);
}

function loadState(s: Session, header: StateHeader, frames: Buffer[]): void {
  const [params, stats, m, v] = frames.map(float32View);
  if (params.length !== header.paramsLength || stats.length !== header.statsLength || m.length !== params.length) {
    throw new Error(
      `start: state frames do not match the model (${params.length} params, expected ${header.paramsLength})`,
    );
  }
  writeFlat(s.unet.params, params);
  writeFlat(s.unet.stats, stats);
  s.trainer.setState({
    adam: { step: header.optimizerStep, m, v },
    lossScale: header.lossScale,
    skippedSteps: header.skippedSteps,
  });
  s.globalStep = header.globalStep;
}

/**
 * Messages from the coordinator, pumped as they arrive so that a `stop` is seen between two steps while
 * the loop itself is busy; everything else waits in order for `next()`.
 */
class Inbox {
  private queue: Incoming[] = [];
  private waiting: ((m: Incoming) => void) | null = null;
  private failure: Error | null = null;
  onStop: () => void = () => {};
  onExit: (rejoin: boolean) => void = () => {};
  onBound: (seconds: number) => void = () => {};

  constructor(link: WorkerLink) {
    void (async () => {
      try {
        for (;;) {
          const incoming = await link.receive();
          if (incoming.message.type === "heartbeat") continue;
          if (incoming.message.type === "stop") {
            this.onStop();
            continue;
          }
          if (incoming.message.type === "bound") {
            this.onBound(incoming.message.collectiveTimeoutSeconds);
            continue;
          }
          if (incoming.message.type === "exit") this.onExit(incoming.message.rejoin);
          if (this.waiting) {
            const w = this.waiting;
            this.waiting = null;
            w(incoming);
          } else this.queue.push(incoming);
        }
      } catch (error) {
        this.failure = error as Error;
      }
    })();
  }

  next(): Promise<Incoming> {
    if (this.failure) return Promise.reject(this.failure);
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  /** The next message of this type, or an exit (the coordinator gave up on this session). */
  async expect(type: CoordinatorMessage["type"]): Promise<Incoming> {
    for (;;) {
      const incoming = await this.next();
      if (incoming.message.type === type || incoming.message.type === "exit") return incoming;
    }
  }
}
