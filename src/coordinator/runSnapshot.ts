/**
 * The state of a run as the live page shows it, folded from RUN/events.jsonl plus what only the running
 * coordinator knows (workers up, each rank's throughput, when each rank was last heard). Pure: no I/O, no
 * clock of its own (`now` is an argument), so the live coordinator and `orchestrate view` fold the same
 * events into the same page, and the tests are events in, snapshot out.
 *
 *   const fold = new RunFold();
 *   for (const e of readEvents(path)) fold.apply(e);          // then fold.apply(e) for each appended line
 *   const snapshot = fold.snapshot({ name: "p1", now: Date.now(), config, live: workers.facts(), preview });
 *
 * Memory is bounded for any run length: curves keep at most `maxLossPoints` / `maxDicePoints` points (older
 * ones merged pairwise into means), the ETA window and the restart list are fixed-size.
 */
import type { RunEvent, StoredEvent } from "./events.js";

/**
 * "interrupted": no end event, and no coordinator holds the run's lock any more (SIGKILL, a crash, a power
 * cut); the last checkpoint is where `train --resume` goes on from.
 */
export type RunStatus = "running" | "validating" | "stopped" | "failed" | "completed" | "interrupted";

/** [global step, value] */
export type Point = [number, number];

export interface RankFacts {
  rank: number;
  /** This rank's training voxels per second of step time, last step. */
  voxelsPerSecond: number | null;
  /** Wall time of this rank's last step. */
  stepSeconds: number | null;
  /** Global step of this rank's last reported step. */
  step: number | null;
  /** When the coordinator last heard from this rank (any message: step or heartbeat), ms since the epoch. */
  lastHeard: number;
}

/** What the running coordinator knows beyond events.jsonl. */
export interface LiveFacts {
  workersUp: number;
  ranks: RankFacts[];
}

export interface RunSnapshot {
  /** Version of this JSON shape (GET /api/run); bumped when a field changes meaning. */
  version: 1;
  name: string;
  /** true: served by the run's own coordinator; false: `orchestrate view` from the run directory. */
  live: boolean;
  status: RunStatus;
  /** Why the run failed or stopped, when the end event says. */
  reason: string | null;
  /** The time the snapshot was taken (ISO); the page counts heartbeat ages and elapsed time from it. */
  now: string;
  startedAt: string | null;
  endedAt: string | null;
  lastEventAt: string | null;
  /** Wall time spent training, summed over the attempts (resumes) of the run. */
  elapsedSeconds: number;
  /** Remaining steps at the recent step rate; null when unknown or ended. */
  etaSeconds: number | null;
  /** 0-based, like voxring_epoch. */
  epoch: number;
  epochs: number | null;
  step: number;
  stepsPerEpoch: number | null;
  totalSteps: number | null;
  /** Steps per second over the recent steps. */
  stepsPerSecond: number | null;
  /** Training loss (mean over ranks) of the last step. */
  loss: number | null;
  lossScale: number | null;
  skippedSteps: number;
  /** Voxels per second of all ranks together, last step. */
  voxelsPerSecond: number | null;
  stepSeconds: number | null;
  /** Foreground class names (dataset.json labels), in label order. */
  classes: string[];
  workers: {
    /** Ranks in the ring now; null when not known (`view` of a run that has not ended). */
    up: number | null;
    worldSize: number | null;
    backend: string | null;
    threads: number | null;
    /** Per rank, only while served live. `secondsSinceHeard` is counted from `now`. */
    ranks: (Omit<RankFacts, "lastHeard"> & { lastHeard: string; secondsSinceHeard: number })[];
  };
  restarts: { count: number; recent: { count: number; reason: string; fromStep: number; time: string }[] };
  validation: {
    step: number;
    epoch: number;
    dice: Record<string, number>;
    mean: number;
    seconds: number;
    time: string;
  } | null;
  /** The step of a checkpoint whose validation has not reported yet (the badge says "validating"). */
  validatingStep: number | null;
  best: { step: number; mean: number; dice: Record<string, number>; checkpoint: string | null } | null;
  checkpoints: { count: number; last: { step: number; path: string; time: string } | null };
  export: { bundle: string; prediction: string | null } | null;
  curves: {
    /** Training loss; each point the mean over `lossStride` consecutive steps or fewer (long runs). */
    loss: Point[];
    lossStride: number;
    /** Validation Dice per class name and "mean". */
    dice: Record<string, Point[]>;
  };
  /** The latest val_preview.png; `url` changes when the file does. */
  preview: { url: string; updatedAt: string } | null;
  /** The resolved configuration (RUN/config.json). */
  config: Record<string, unknown> | null;
}

export interface SnapshotInput {
  name: string;
  now: number;
  config?: Record<string, unknown> | null;
  /** Absent for `view`. */
  live?: LiveFacts;
  /**
   * false: nobody holds the run's lock (`view` of a run whose coordinator is gone). The fold alone cannot
   * tell a run still going from one killed without an end event.
   */
  coordinatorAlive?: boolean;
  preview?: { url: string; updatedAt: string } | null;
}

const interruptedReason =
  "the coordinator ended without an end event (killed or crashed); train --resume goes on from the last checkpoint";

export const maxLossPoints = 2000;
export const maxDicePoints = 500;
const etaWindow = 64;
const recentRestarts = 5;

/**
 * A curve of bounded length: points come in by step; when there are more than `maxPoints`, neighbours merge
 * pairwise (means of step and value) and later points go into buckets twice as wide. A point at a step
 * already covered (steps run again after a restart) drops everything from that step on first.
 */
export class BoundedCurve {
  private buckets: { first: number; last: number; stepSum: number; sum: number; n: number }[] = [];
  /** Steps per bucket for new points. */
  stride = 1;

  constructor(readonly maxPoints: number) {}

  add(step: number, value: number): void {
    this.truncateAfter(step - 1);
    const tail = this.buckets.at(-1);
    if (tail && step - tail.first < this.stride) {
      tail.last = step;
      tail.stepSum += step;
      tail.sum += value;
      tail.n++;
    } else {
      this.buckets.push({ first: step, last: step, stepSum: step, sum: value, n: 1 });
    }
    if (this.buckets.length > this.maxPoints) this.compact();
  }

  /** Drops the points after `step` (a restart from the checkpoint at `step`). */
  truncateAfter(step: number): void {
    while (this.buckets.length > 0 && this.buckets[this.buckets.length - 1].first > step) this.buckets.pop();
    const tail = this.buckets.at(-1);
    // A merged bucket across `step` keeps its mean: the steps it summed cannot be told apart any more.
    if (tail && tail.last > step) tail.last = step;
  }

  points(): Point[] {
    return this.buckets.map((b) => [Math.round((b.stepSum / b.n) * 10) / 10, round(b.sum / b.n)]);
  }

  get length(): number {
    return this.buckets.length;
  }

  private compact(): void {
    const merged: typeof this.buckets = [];
    for (let i = 0; i < this.buckets.length; i += 2) {
      const a = this.buckets[i];
      const b = this.buckets[i + 1];
      merged.push(
        b ? { first: a.first, last: b.last, stepSum: a.stepSum + b.stepSum, sum: a.sum + b.sum, n: a.n + b.n } : a,
      );
    }
    this.buckets = merged;
    this.stride *= 2;
  }
}

/** Folds events one at a time; `snapshot()` renders the page's view of them at a given time. */
export class RunFold {
  private startedAt: number | null = null;
  private endedAt: number | null = null;
  private lastEventAt: number | null = null;
  /** Start time of the attempt in progress (null once it ended). */
  private attemptStart: number | null = null;
  private closedSeconds = 0;
  private ended: Extract<RunEvent, { type: "end" }> | null = null;
  private start: Extract<RunEvent, { type: "start" }> | null = null;
  private step = 0;
  private epoch = 0;
  private lastStep: Extract<RunEvent, { type: "step" }> | null = null;
  private skipped = 0;
  private inferredStepsPerEpoch: number | null = null;
  private classes: string[] = [];
  private rate: { step: number; time: number }[] = [];
  private restartCount = 0;
  private restarts: RunSnapshot["restarts"]["recent"] = [];
  private validation: RunSnapshot["validation"] = null;
  private best: { step: number; mean: number; dice: Record<string, number> } | null = null;
  private checkpointCount = 0;
  private lastCheckpoint: { step: number; path: string; time: string } | null = null;
  private checkpointPaths = new Map<number, string>();
  /** Steps of checkpoints written since the last validation report. */
  private unvalidated: number | null = null;
  private exported: RunSnapshot["export"] = null;
  private readonly loss = new BoundedCurve(maxLossPoints);
  private readonly dice = new Map<string, BoundedCurve>();

  apply(event: StoredEvent): void {
    const time = Date.parse(event.time);
    const at = Number.isFinite(time) ? time : (this.lastEventAt ?? 0);
    switch (event.type) {
      case "start": {
        // An attempt that never wrote its end (killed) lasted until its last event.
        if (this.attemptStart !== null && this.lastEventAt !== null) {
          this.closedSeconds += Math.max(0, this.lastEventAt - this.attemptStart) / 1000;
        }
        this.startedAt ??= at;
        this.attemptStart = at;
        this.start = event;
        this.ended = null;
        this.endedAt = null;
        this.rate = [];
        this.unvalidated = null;
        if (event.classes) this.classes = [...event.classes];
        if (event.resumedFrom !== null) {
          // Resuming loads the last checkpoint: what was trained after it is run again.
          this.rewindTo(this.lastCheckpoint?.step ?? 0);
        }
        break;
      }
      case "step": {
        if (event.step <= this.step) this.rate = this.rate.filter((r) => r.step < event.step);
        if (this.lastStep && event.epoch === this.lastStep.epoch + 1 && event.step === this.lastStep.step + 1) {
          this.inferredStepsPerEpoch ??= event.epoch > 0 ? this.lastStep.step / event.epoch : null;
        }
        this.step = event.step;
        this.epoch = event.epoch;
        this.lastStep = event;
        if (event.skipped) this.skipped++;
        this.loss.add(event.step, event.loss);
        this.rate.push({ step: event.step, time: at });
        if (this.rate.length > etaWindow) this.rate.shift();
        break;
      }
      case "validation": {
        this.validation = {
          step: event.step,
          epoch: event.epoch,
          dice: { ...event.dice },
          mean: event.dice_mean,
          seconds: event.seconds,
          time: event.time,
        };
        if (this.classes.length === 0) this.classes = Object.keys(event.dice);
        for (const [name, value] of [...Object.entries(event.dice), ["mean", event.dice_mean] as const]) {
          let curve = this.dice.get(name);
          if (!curve) {
            curve = new BoundedCurve(maxDicePoints);
            this.dice.set(name, curve);
          }
          curve.add(event.step, value);
        }
        // The same rule as RunHistory: strictly better than every earlier validation.
        if (this.best === null || event.dice_mean > this.best.mean) {
          this.best = { step: event.step, mean: event.dice_mean, dice: { ...event.dice } };
        }
        if (this.unvalidated !== null && this.unvalidated <= event.step) this.unvalidated = null;
        break;
      }
      case "checkpoint": {
        this.checkpointCount++;
        this.lastCheckpoint = { step: event.step, path: event.path, time: event.time };
        this.checkpointPaths.set(event.step, event.path);
        if (this.checkpointPaths.size > maxDicePoints) {
          const oldest = this.checkpointPaths.keys().next().value as number;
          if (oldest !== this.best?.step) this.checkpointPaths.delete(oldest);
        }
        if (this.validation === null || event.step > this.validation.step) this.unvalidated = event.step;
        break;
      }
      case "restart": {
        this.restartCount = Math.max(this.restartCount + 1, event.count);
        this.restarts.push({ count: event.count, reason: event.reason, fromStep: event.fromStep, time: event.time });
        if (this.restarts.length > recentRestarts) this.restarts.shift();
        this.rewindTo(event.fromStep);
        this.unvalidated = null;
        this.rate = [];
        break;
      }
      case "export":
        this.exported = { bundle: event.bundle, prediction: event.prediction };
        break;
      case "end": {
        this.ended = event;
        this.endedAt = at;
        if (this.attemptStart !== null) this.closedSeconds += event.seconds;
        this.attemptStart = null;
        this.unvalidated = null;
        break;
      }
    }
    this.lastEventAt = at;
  }

  snapshot(input: SnapshotInput): RunSnapshot {
    const { now, live } = input;
    const config = input.config ?? null;
    const epochs = numberOr(config?.epochs, null);
    const stepsPerEpoch =
      this.start?.stepsPerEpoch ?? numberOr(config?.stepsPerEpoch, null) ?? this.inferredStepsPerEpoch;
    const totalSteps = epochs !== null && stepsPerEpoch !== null ? epochs * stepsPerEpoch : null;
    const interrupted = this.ended === null && input.coordinatorAlive === false;
    const status: RunStatus = this.ended
      ? this.ended.status
      : interrupted
        ? "interrupted"
        : this.unvalidated !== null
          ? "validating"
          : "running";
    const running = this.ended === null && !interrupted;
    // An interrupted attempt lasted until its last event, as one a resume closes does.
    const attemptEnd = interrupted ? (this.lastEventAt ?? now) : now;
    const elapsed =
      this.closedSeconds + (this.attemptStart !== null ? Math.max(0, attemptEnd - this.attemptStart) / 1000 : 0);
    const stepsPerSecond = this.stepRate();
    const remaining = totalSteps !== null ? Math.max(0, totalSteps - this.step) : null;
    const eta = running && remaining !== null && stepsPerSecond ? remaining / stepsPerSecond : null;
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    const bestCheckpoint = this.best ? (this.checkpointPaths.get(this.best.step) ?? null) : null;
    return {
      version: 1,
      name: input.name,
      live: live !== undefined,
      status,
      reason: this.ended?.reason ?? (interrupted ? interruptedReason : null),
      now: new Date(now).toISOString(),
      startedAt: iso(this.startedAt),
      endedAt: iso(this.endedAt),
      lastEventAt: iso(this.lastEventAt),
      elapsedSeconds: round(elapsed),
      etaSeconds: eta === null ? null : round(eta),
      epoch: this.epoch,
      epochs,
      step: this.step,
      stepsPerEpoch,
      totalSteps,
      stepsPerSecond: stepsPerSecond === null ? null : round(stepsPerSecond),
      loss: this.lastStep ? round(this.lastStep.loss) : null,
      lossScale: this.lastStep?.lossScale ?? null,
      skippedSteps: this.skipped,
      voxelsPerSecond: this.lastStep ? round(this.lastStep.voxelsPerSecond) : null,
      stepSeconds: this.lastStep ? round(this.lastStep.seconds) : null,
      classes: this.classes,
      workers: {
        up: live ? live.workersUp : running ? null : 0,
        worldSize: this.start?.worldSize ?? null,
        backend: this.start?.backend ?? null,
        threads: this.start?.threads ?? null,
        ranks: (live?.ranks ?? [])
          .map((r) => ({
            ...r,
            voxelsPerSecond: r.voxelsPerSecond === null ? null : round(r.voxelsPerSecond),
            stepSeconds: r.stepSeconds === null ? null : round(r.stepSeconds),
            lastHeard: new Date(r.lastHeard).toISOString(),
            secondsSinceHeard: round(Math.max(0, now - r.lastHeard) / 1000),
          }))
          .sort((a, b) => a.rank - b.rank),
      },
      restarts: { count: this.restartCount, recent: [...this.restarts] },
      validation: this.validation,
      validatingStep: running ? this.unvalidated : null,
      best: this.best ? { ...this.best, checkpoint: bestCheckpoint } : null,
      checkpoints: { count: this.checkpointCount, last: this.lastCheckpoint },
      export: this.exported,
      curves: {
        loss: this.loss.points(),
        lossStride: this.loss.stride,
        dice: Object.fromEntries([...this.dice].map(([name, curve]) => [name, curve.points()])),
      },
      preview: input.preview ?? null,
      config,
    };
  }

  /** Back to the checkpoint at `step`: the steps after it are lost and will be run again. */
  private rewindTo(step: number): void {
    if (step >= this.step) return;
    this.loss.truncateAfter(step);
    this.step = step;
    this.rate = [];
  }

  private stepRate(): number | null {
    if (this.rate.length < 2) return null;
    const first = this.rate[0];
    const last = this.rate[this.rate.length - 1];
    const seconds = (last.time - first.time) / 1000;
    return seconds > 0 && last.step > first.step ? (last.step - first.step) / seconds : null;
  }
}

/** Folds a whole list (tests, a finished run). */
export function foldEvents(events: StoredEvent[]): RunFold {
  const fold = new RunFold();
  for (const e of events) fold.apply(e);
  return fold;
}

/**
 * The coordinator's live facts, kept as the session reports them: workers up, each rank's last step, and when
 * each rank was last heard. `now` comes from the caller (Date.now() in the run, fixed in tests).
 */
export class LiveWorkers {
  private up = 0;
  private readonly ranks = new Map<number, RankFacts>();

  setUp(count: number): void {
    this.up = count;
    // A new ring (restart) may be smaller; ranks beyond it are gone.
    for (const rank of [...this.ranks.keys()]) if (count > 0 && rank >= count) this.ranks.delete(rank);
  }

  step(rank: number, figures: { voxelsPerSecond: number; stepSeconds: number; step: number }, now: number): void {
    this.ranks.set(rank, { rank, ...figures, lastHeard: now });
  }

  heard(rank: number, now: number): void {
    const facts = this.ranks.get(rank);
    if (facts) facts.lastHeard = now;
    else this.ranks.set(rank, { rank, voxelsPerSecond: null, stepSeconds: null, step: null, lastHeard: now });
  }

  facts(): LiveFacts {
    return { workersUp: this.up, ranks: [...this.ranks.values()].map((r) => ({ ...r })) };
  }
}

function numberOr<T>(value: unknown, fallback: T): number | T {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

/** Five significant digits: the JSON stays small and the page shows no more. */
function round(value: number): number {
  return Number.isFinite(value) ? Number(value.toPrecision(5)) : value;
}
