/**
 * `orchestrate train`: the whole training run, top to bottom in the order it happens.
 *
 *   orchestrate --preset demo                          synthetic data, 2 workers, export at the end
 *   orchestrate train --gpus 4 --data Task05_Prostate --out runs/p1
 *   orchestrate train --resume runs/p1 --epochs 200
 *
 * The coordinator owns the run directory (config.json, events.jsonl, checkpoints/, curves.png,
 * val_preview.png), validation and metrics; the workers own the training steps (worker/loop.ts).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../atomicWrite.js";
import { bytesOf, float32View } from "../comm/frames.js";
import { generateRunKeys, isLoopbackEndpoint, type RunKeys, runKeysToEnv, writeRunKeys } from "../comm/security.js";
import { RING_DIR_ENV } from "../comm/streamRing.js";
import { EnvironmentError, InputError, inputError } from "../errors.js";
import { joinFlat, paramLayout, splitFlat } from "../model/paramLayout.js";
import { initBackend } from "../native/backend.js";
import { type RunSpec, type StateHeader, workerSettings } from "../protocol/messages.js";
import {
  type Checkpoint,
  listCheckpoints,
  markBest,
  pruneCheckpoints,
  readNewestIntactCheckpoint,
  writeCheckpointValidation,
} from "../train/checkpoint.js";
import { type TrainConfig, worldSizeOf } from "../train/config.js";
import { CheckpointThread } from "./checkpointThread.js";
import { openCoordinatorLink } from "./controlLink.js";
import { EventLog } from "./events.js";
import { placeWorkers } from "./hardware.js";
import { createMetrics, startMetricsServer } from "./metrics.js";
import { createPageRoutes } from "./pageRoutes.js";
import { formatCount, formatSeconds, Progress } from "./progress.js";
import { prepareRunData } from "./runData.js";
import { RunHistory } from "./runHistory.js";
import { acquireRunLock, liveLockHolder, lockInUseError } from "./runLock.js";
import { LiveWorkers } from "./runSnapshot.js";
import { makeRunTemp } from "./runTemp.js";
import { RunWatch } from "./runWatch.js";
import { runSession, type SessionOutcome, StopSignal, WaitingHellos } from "./session.js";
import { StepClock } from "./stallWatch.js";
import { LocalWorkers } from "./supervisor.js";
import { type ValidationResult, ValidationRunner } from "./validation.js";
import { ValidationThread } from "./validationThread.js";

export async function runTraining(config: TrainConfig, options: { resume: string | null }): Promise<number> {
  const started = Date.now();
  const runDir = config.out;

  // ---- run directory: a fresh one, or the one being resumed, and nobody else's right now
  const holder = liveLockHolder(runDir);
  if (holder) throw lockInUseError(runDir, holder);
  if (!options.resume && listCheckpoints(runDir).length > 0) {
    throw inputError("--out", `${runDir} already holds a run (use --resume ${runDir}, or another --out)`);
  }
  const progress = new Progress(config.epochs);
  const log = (line: string) => progress.log(line);

  // ---- data: the dataset (or the cached synthetic one), checked before anything is written or started
  const data = await prepareRunData(config, log);
  log(`data: ${data.dir} (${data.trainCases.length} training, ${data.valCases.length} validation cases)`);

  // ---- where to start: the last checkpoint of a resumed run, else fresh weights from the seed
  let checkpoint: Checkpoint | null = null;
  if (options.resume) {
    checkpoint = readNewestIntactCheckpoint(runDir, log); // verified whole; damaged ones named and passed over
    log(`resuming ${runDir} at step ${checkpoint.globalStep} (epoch ${checkpoint.epoch + 1})`);
  }

  // ---- hardware, and validation in a thread of its own (the coordinator's event loop never waits for it)
  const placement = placeWorkers(config);
  log(placement.summary);
  await initBackend({ backend: "cpu", threads: 1 }); // for the export at the end (--export)
  const validator = await ValidationThread.start(
    {
      inChannels: data.inChannels,
      numClasses: data.numClasses,
      channels: config.channels,
      labelNames: data.labelNames,
      window: config.valWindow,
      overlap: config.valOverlap,
      seed: config.seed,
    },
    await data.loadValidationCases(),
  );
  const layout = paramLayout({ inChannels: data.inChannels, numClasses: data.numClasses, channels: config.channels });
  if (checkpoint && joinFlat(checkpoint.params).length !== layout.paramsLength) {
    throw inputError("--resume", `the checkpoint's model differs from --channels ${config.channels.join(" ")}`);
  }

  // ---- metrics endpoint, and the live page beside it (events.jsonl folded, plus what only we know)
  const metrics = createMetrics(data.labelNames.slice(1));
  const live = new LiveWorkers();
  const server = await startMetricsServer({
    registry: metrics.registry,
    port: config.metricsPort,
    host: config.metricsHost,
    page: createPageRoutes(new RunWatch({ runDir, live: () => live.facts() })),
  });
  log(`metrics: ${server.url}`);
  log(`live page: ${new URL("/", server.url)}`);

  // ---- control channel: every socket of the run (control and ring) speaks CURVE with keys made for this
  // run, on loopback too: another user of this host must not join, forge or disturb it. Local workers get
  // the keys by environment; remote ones from RUN/run.keys (0600) or the same variables.
  const keys: RunKeys = generateRunKeys();
  const link = await openCoordinatorLink({ bind: config.bind, port: config.port, keys }).catch(async (error) => {
    await server.close({ finalScrape: false }); // a port taken: leave as if never started
    await validator.close();
    throw error;
  });
  log(`coordinator listening on ${link.endpoint}`);

  // ---- the run directory, locked and written only now: a start refused above (bad input, a port taken)
  // leaves nothing behind (a second run on it was refused at the top, by the lock's holder, or is here)
  mkdirSync(runDir, { recursive: true });
  let lock: ReturnType<typeof acquireRunLock>;
  try {
    lock = acquireRunLock(runDir, log); // before the first byte written into the run directory
  } catch (error) {
    // Another run took it since the look at the top: leave as if never started (sockets keep a process up).
    link.close();
    await server.close({ finalScrape: false });
    await validator.close();
    throw error;
  }
  const events = new EventLog(runDir);
  const checkpointWriter = CheckpointThread.start();
  const history = RunHistory.fromEvents(events.read(), checkpoint?.globalStep ?? 0);
  // Steps up to here are in events.jsonl already: logged again (after a restart or this resume), they say so.
  let highestLoggedStep = events.read().reduce((h, e) => (e.type === "step" ? Math.max(h, e.step) : h), 0);
  writeFileAtomic(join(runDir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
  if (!isLoopbackEndpoint(`tcp://${config.bind}:1`) || config.remoteWorkers > 0) {
    writeRunKeys(join(runDir, "run.keys"), keys);
    log(`CURVE on: remote workers need ${join(runDir, "run.keys")} (--key-file) or VOXRING_CURVE_* variables`);
  }

  // ---- stop on Ctrl-C / SIGTERM after the step in flight (with a checkpoint); twice: at once
  const stop = new StopSignal();
  const workers = new LocalWorkers();
  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    // timeout(1) signals the command and then its whole process group: one stop, not two in a row.
    if (stop.requested && Date.now() - firstSignalAt < 1000) return;
    if (stop.requested) {
      log(`${signal} again: killing the workers now`);
      void workers.killAll(0).then(() => process.exit(130));
      return;
    }
    log(`${signal}: stopping after the current step`);
    firstSignalAt = Date.now();
    stop.request();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  // ---- what happens to each snapshot: checkpoint now, validation after (the ranks keep training)
  const run: RunSpec = {
    config: workerSettings(config),
    dataDir: data.dir,
    trainCases: data.trainIndices,
    inChannels: data.inChannels,
    numClasses: data.numClasses,
    stepsPerEpoch: data.stepsPerEpoch,
  };
  let restarts = checkpoint?.restarts ?? 0;
  let lastCheckpoint = checkpoint;
  const validationsRun: ValidationResult[] = [];
  type ValidationJob = { step: number; epoch: number; path: string; params: Float32Array; stats: Float32Array };
  const validations = new ValidationRunner<ValidationJob>(
    async (job, signal) => {
      const preview = { path: join(runDir, "val_preview.png"), labelNames: data.labelNames };
      const result = await validator.validate(job.params, job.stats, signal, preview);
      validationsRun.push(result);
      const isBest = history.addValidation(job.step, result);
      // --keep-last may have pruned this checkpoint meanwhile; then it cannot become the best one.
      if (existsSync(job.path)) {
        writeCheckpointValidation(job.path, { diceMean: result.mean, dice: result.dice });
        if (isBest) markBest(runDir, job.path);
      }
      metrics.recordValidation({ dice: result.dice, mean: result.mean, best: history.best ?? result.mean });
      events.write({
        type: "validation",
        step: job.step,
        epoch: job.epoch,
        dice: result.dice,
        dice_mean: result.mean,
        seconds: result.seconds,
      });
      const detail = Object.entries(result.dice)
        .map(([k, d]) => `${k} ${d.toFixed(3)}`)
        .join(", ");
      const best = isBest ? ", best so far" : "";
      log(`validation at step ${job.step}: mean Dice ${result.mean.toFixed(3)} (${detail})${best}`);
      await validator.writeCurves(join(runDir, "curves.png"), history.loss, history.diceSeries());
    },
    (skipped) => log(`validation of step ${skipped.step} skipped: the previous one was still running`),
  );
  stop.onRequest(() => validations.cancel());

  const onSnapshot = async (header: StateHeader, frames: Buffer[], reason: "plan" | "stop") => {
    const [params, stats, m, v] = frames.map(float32View);
    const ckpt: Checkpoint = {
      globalStep: header.globalStep,
      epoch: header.epoch,
      stepInEpoch: header.stepInEpoch,
      stepsPerEpoch: data.stepsPerEpoch,
      params: splitFlat(layout.params, params),
      stats: splitFlat(layout.stats, stats),
      optimizer: { step: header.optimizerStep, m, v },
      lossScale: header.lossScale,
      skippedSteps: header.skippedSteps,
      rng: { seed: config.seed },
      dataOrder: data.shard(header.epoch),
      model: { inChannels: data.inChannels, numClasses: data.numClasses, channels: config.channels },
      dataset: { labels: data.labels, modality: data.modality, trainCases: data.trainCases, valCases: data.valCases },
      config,
      validation: null,
      bestDiceMean: history.best,
      restarts,
      savedAt: new Date().toISOString(),
    };
    const path = await checkpointWriter.write(runDir, ckpt);
    lastCheckpoint = ckpt;
    pruneCheckpoints(runDir, config.keepLast);
    events.write({ type: "checkpoint", step: ckpt.globalStep, epoch: ckpt.epoch, path, best: false });
    log(`checkpoint ${path}`);
    if (reason !== "plan") return;
    validations.submit({ step: ckpt.globalStep, epoch: ckpt.epoch, path, params, stats });
  };

  events.write({
    type: "start",
    resumedFrom: options.resume,
    worldSize: worldSizeOf(config),
    backend: placement.backend,
    threads: placement.threads,
    classes: data.labelNames.slice(1),
    stepsPerEpoch: data.stepsPerEpoch,
  });

  // ---- a full disk (any EnvironmentError) ends the run like a failure: no restart, the end event, then one
  // line naming the path and exit 1 (cli/main.ts)
  const environment: { failure: EnvironmentError | null } = { failure: null };
  const endOnEnvironmentError = (error: unknown): SessionOutcome => {
    if (!(error instanceof EnvironmentError)) throw error;
    environment.failure ??= error;
    return { kind: "failed", reason: error.message };
  };

  // ---- train; a failed worker restarts every worker from the last checkpoint, up to --max-restarts
  const runTemp = makeRunTemp();
  let outcome: SessionOutcome;
  const stepClock = new StepClock(); // step times outlive a restart: the stall bound stays measured
  const lateHellos = new WaitingHellos(worldSizeOf(config));
  // A fresh worker from another host may say hello while the last generation ends: until the next one takes
  // it, it must hear from the coordinator, or its --coordinator-timeout takes the silence for a lost run.
  const keepWaitingWorkers = setInterval(() => {
    for (const peer of lateHellos.peers) void link.send(peer, { type: "heartbeat" }).catch(() => {});
  }, 1000);
  for (let generation = restarts; ; generation++) {
    const start = startOf(lastCheckpoint);
    outcome = await runSession({
      config,
      run,
      link,
      workers,
      workerEnv: (index) => ({ ...placement.env(index), ...runKeysToEnv(keys), [RING_DIR_ENV]: runTemp.dir }),
      generation,
      start,
      stop,
      stepClock,
      lateHellos,
      hooks: {
        onSnapshot,
        log,
        onWorkersUp: (n) => {
          metrics.setWorkersUp(n);
          live.setUp(n);
        },
        onHeard: (rank) => live.heard(rank, Date.now()),
        onStep: (m) => {
          live.step(
            m.rank,
            { voxelsPerSecond: m.voxels / m.seconds, stepSeconds: m.seconds, step: m.globalStep },
            Date.now(),
          );
          metrics.recordStep({
            rank: m.rank,
            loss: m.loss,
            stepSeconds: m.seconds,
            allreduceSeconds: m.allreduceSeconds,
            allreduceBytes: m.allreduceBytes,
            voxelsPerSecond: m.voxels / m.seconds,
            lossScale: m.lossScale,
            skipped: m.skipped,
            epoch: m.epoch,
            globalStep: m.globalStep,
            residentMemoryBytes: m.rss,
            cpuSeconds: m.cpuSeconds,
          });
          if (m.rank !== 0) return;
          const worldVoxelsPerSecond = (m.voxels * worldSizeOf(config)) / m.seconds;
          history.addStep(m.globalStep, m.meanLoss, worldVoxelsPerSecond);
          const redo = m.globalStep <= highestLoggedStep;
          highestLoggedStep = Math.max(highestLoggedStep, m.globalStep);
          events.write({
            type: "step",
            step: m.globalStep,
            epoch: m.epoch,
            loss: m.meanLoss,
            seconds: m.seconds,
            allreduceSeconds: m.allreduceSeconds,
            voxelsPerSecond: worldVoxelsPerSecond,
            lossScale: m.lossScale,
            skipped: m.skipped,
            ...(redo ? { redo: true } : {}),
          });
          progress.step({
            epoch: m.epoch,
            stepInEpoch: m.stepInEpoch,
            stepsPerEpoch: data.stepsPerEpoch,
            globalStep: m.globalStep,
            loss: m.meanLoss,
            voxelsPerSecond: worldVoxelsPerSecond,
          });
        },
      },
    }).catch(endOnEnvironmentError);
    if (outcome.kind !== "failed" || stop.requested || environment.failure) break;
    if (restarts >= config.maxRestarts) {
      log(`${outcome.reason}; no restarts left (--max-restarts ${config.maxRestarts})`);
      break;
    }
    restarts++;
    metrics.incRestarts();
    const from = lastCheckpoint?.globalStep ?? 0;
    events.write({ type: "restart", count: restarts, reason: outcome.reason, fromStep: from });
    log(`${outcome.reason}: restarting all workers from step ${from} (restart ${restarts} of ${config.maxRestarts})`);
  }
  clearInterval(keepWaitingWorkers);
  // Nobody will take them now: they leave as the run's workers did, and their agents with them.
  await Promise.all(
    lateHellos.take().map(({ peer }) => link.send(peer, { type: "exit", rejoin: false }).catch(() => {})),
  );
  runTemp.remove(); // every worker has exited (runSession's end): nobody uses the ring folders any more
  await validations.drain().catch((error) => {
    outcome = endOnEnvironmentError(error);
  });

  // ---- the end: export (demo), summary, cleanup
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  const status = outcome.kind === "completed" ? "completed" : outcome.kind === "stopped" ? "stopped" : "failed";
  const reason = outcome.kind === "completed" || outcome.kind === "stopped" ? undefined : outcome.reason;
  if (status === "completed" && config.exportAtEnd) {
    const { exportAndPredict } = await import("./exportAtEnd.js");
    const exported = await exportAndPredict(runDir, data, log);
    events.write({ type: "export", bundle: exported.bundle, prediction: exported.prediction });
  }
  const seconds = (Date.now() - started) / 1000;
  try {
    events.write({
      type: "end",
      status,
      step: lastCheckpoint?.globalStep ?? 0,
      epoch: lastCheckpoint?.epoch ?? 0,
      bestDiceMean: history.best,
      seconds,
      ...(reason ? { reason } : {}),
    });
  } catch (error) {
    process.stderr.write(`orchestrate: the end event was not written: ${(error as Error).message}\n`);
  }
  const last = validationsRun.at(-1);
  // Bad input met by a worker gets the one line of every input error (cli/main.ts), not a summary.
  if (outcome.kind !== "input")
    progress.table(`voxring run ${status}${reason ? `: ${reason}` : ""}`, [
      ["run", runDir],
      ["wall time", formatSeconds(seconds)],
      ["steps", String(lastCheckpoint?.globalStep ?? 0)],
      ["epochs", `${Math.min(config.epochs, (lastCheckpoint?.epoch ?? 0) + 1)} of ${config.epochs}`],
      ["workers", `${worldSizeOf(config)} (${placement.backend}, ${placement.threads} thread(s) each)`],
      ["final loss", history.loss.at(-1)?.[1].toFixed(4) ?? "-"],
      ["throughput", `${formatCount(history.meanVoxelsPerSecond())} voxels/s`],
      [
        "last Dice",
        last
          ? `${last.mean.toFixed(3)} (${Object.entries(last.dice)
              .map(([k, d]) => `${k} ${d.toFixed(3)}`)
              .join(", ")})`
          : "-",
      ],
      ["best Dice", history.best === null ? "-" : history.best.toFixed(3)],
      ["restarts", String(restarts)],
    ]);
  await validator.close();
  await checkpointWriter.close();
  link.close();
  await server.close();
  lock.release();
  if (environment.failure) throw environment.failure;
  if (outcome.kind === "input") throw new InputError(outcome.reason);
  if (outcome.kind === "diverged") log(`error: ${outcome.reason}`);
  return status === "failed" ? 1 : 0;
}

/** Where a session starts: the state frames of a checkpoint (flat, in UNet order), or nothing. */
function startOf(ckpt: Checkpoint | null) {
  if (!ckpt) return { header: null, frames: [], globalStep: 0, epoch: 0, stepInEpoch: 0 };
  const params = joinFlat(ckpt.params);
  const stats = joinFlat(ckpt.stats);
  const header: StateHeader = {
    globalStep: ckpt.globalStep,
    epoch: ckpt.epoch,
    stepInEpoch: ckpt.stepInEpoch,
    optimizerStep: ckpt.optimizer.step,
    lossScale: ckpt.lossScale,
    skippedSteps: ckpt.skippedSteps,
    paramsLength: params.length,
    statsLength: stats.length,
  };
  return {
    header,
    frames: [bytesOf(params), bytesOf(stats), bytesOf(ckpt.optimizer.m), bytesOf(ckpt.optimizer.v)],
    globalStep: ckpt.globalStep,
    epoch: ckpt.epoch,
    stepInEpoch: ckpt.stepInEpoch,
  };
}
