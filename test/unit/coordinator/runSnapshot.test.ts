import { describe, expect, it } from "vitest";
import type { RunEvent, StoredEvent } from "../../../src/coordinator/events.js";
import {
  BoundedCurve,
  foldEvents,
  LiveWorkers,
  maxLossPoints,
  type RunSnapshot,
} from "../../../src/coordinator/runSnapshot.js";

const t0 = Date.parse("2026-01-01T00:00:00.000Z");

/** An event at `second` seconds after t0. */
function at(second: number, event: RunEvent): StoredEvent {
  return { ...event, time: new Date(t0 + second * 1000).toISOString() } as StoredEvent;
}
const start = (second: number, extra: Partial<Extract<RunEvent, { type: "start" }>> = {}) =>
  at(second, {
    type: "start",
    resumedFrom: null,
    worldSize: 2,
    backend: "cpu",
    threads: 1,
    classes: ["PZ", "TZ"],
    stepsPerEpoch: 4,
    ...extra,
  });
const step = (second: number, n: number, loss: number, epoch = Math.floor((n - 1) / 4)) =>
  at(second, {
    type: "step",
    step: n,
    epoch,
    loss,
    seconds: 1,
    allreduceSeconds: 0.1,
    voxelsPerSecond: 1000,
    lossScale: 1,
    skipped: false,
  });
const checkpoint = (second: number, n: number) =>
  at(second, {
    type: "checkpoint",
    step: n,
    epoch: Math.floor((n - 1) / 4),
    path: `run/checkpoints/step-${n}`,
    best: false,
  });
const validation = (second: number, n: number, pz: number, tz: number) =>
  at(second, {
    type: "validation",
    step: n,
    epoch: Math.floor((n - 1) / 4),
    dice: { PZ: pz, TZ: tz },
    dice_mean: (pz + tz) / 2,
    seconds: 2,
  });
const end = (second: number, status: "completed" | "stopped" | "failed", n: number, seconds: number, reason?: string) =>
  at(second, { type: "end", status, step: n, epoch: 1, bestDiceMean: null, seconds, ...(reason ? { reason } : {}) });
const restart = (second: number, count: number, fromStep: number) =>
  at(second, { type: "restart", count, reason: "worker 1 (pid 7) exited with signal SIGKILL", fromStep });

const config = { epochs: 2, stepsPerEpoch: null, seed: 0 };

function snapshotOf(events: StoredEvent[], nowSecond: number): RunSnapshot {
  return foldEvents(events).snapshot({ name: "r1", now: t0 + nowSecond * 1000, config });
}

describe("RunFold: events in, snapshot out", () => {
  it.each<[string, StoredEvent[], number, Record<string, unknown>]>([
    [
      "no events yet",
      [],
      5,
      {
        status: "running",
        step: 0,
        loss: null,
        startedAt: null,
        elapsedSeconds: 0,
        etaSeconds: null,
        workers: { up: null, worldSize: null, backend: null, threads: null, ranks: [] },
        curves: { loss: [], lossStride: 1, dice: {} },
        best: null,
        validation: null,
      },
    ],
    [
      "a run in progress: step, epoch, loss, elapsed and ETA from the step rate",
      [start(0), step(1, 1, 0.9), step(2, 2, 0.8), step(3, 3, 0.7), step(4, 4, 0.6), step(5, 5, 0.5, 1)],
      6,
      {
        status: "running",
        step: 5,
        epoch: 1,
        epochs: 2,
        stepsPerEpoch: 4,
        totalSteps: 8,
        loss: 0.5,
        classes: ["PZ", "TZ"],
        elapsedSeconds: 6,
        stepsPerSecond: 1,
        etaSeconds: 3,
        startedAt: "2026-01-01T00:00:00.000Z",
        curves: {
          loss: [
            [1, 0.9],
            [2, 0.8],
            [3, 0.7],
            [4, 0.6],
            [5, 0.5],
          ],
          lossStride: 1,
          dice: {},
        },
        workers: { up: null, worldSize: 2, backend: "cpu", threads: 1, ranks: [] },
      },
    ],
    [
      "a checkpoint not validated yet: validating that step",
      [start(0), step(1, 1, 0.9), step(2, 2, 0.8), step(3, 3, 0.7), step(4, 4, 0.6), checkpoint(4, 4), step(5, 5, 0.5)],
      6,
      {
        status: "validating",
        validatingStep: 4,
        checkpoints: { count: 1, last: { step: 4, path: "run/checkpoints/step-4" } },
      },
    ],
    [
      "its validation reported: running again, Dice curves per class and mean, the best marked",
      [start(0), step(1, 4, 0.6), checkpoint(1, 4), validation(2, 4, 0.4, 0.6), step(3, 5, 0.5)],
      4,
      {
        status: "running",
        validatingStep: null,
        validation: { step: 4, dice: { PZ: 0.4, TZ: 0.6 }, mean: 0.5 },
        best: { step: 4, mean: 0.5, checkpoint: "run/checkpoints/step-4" },
        curves: { dice: { PZ: [[4, 0.4]], TZ: [[4, 0.6]], mean: [[4, 0.5]] } },
      },
    ],
    [
      "the best is the first strictly highest mean, not the latest",
      [
        start(0),
        checkpoint(1, 4),
        validation(2, 4, 0.4, 0.6),
        checkpoint(3, 8),
        validation(4, 8, 0.7, 0.7),
        checkpoint(5, 12),
        validation(6, 12, 0.6, 0.8),
        checkpoint(7, 16),
        validation(8, 16, 0.5, 0.5),
      ],
      9,
      {
        best: { step: 8, mean: 0.7, dice: { PZ: 0.7, TZ: 0.7 }, checkpoint: "run/checkpoints/step-8" },
        validation: { step: 16, mean: 0.5 },
        curves: {
          dice: {
            mean: [
              [4, 0.5],
              [8, 0.7],
              [12, 0.7],
              [16, 0.5],
            ],
          },
        },
      },
    ],
    [
      "a restart: back to the checkpoint, the lost steps dropped, the redone ones replacing them",
      [
        start(0),
        step(1, 1, 0.9),
        step(2, 2, 0.8),
        checkpoint(2, 2),
        step(3, 3, 0.7),
        step(4, 4, 0.6),
        restart(5, 1, 2),
        step(7, 3, 0.65),
      ],
      8,
      {
        status: "running",
        step: 3,
        restarts: {
          count: 1,
          recent: [{ count: 1, fromStep: 2, reason: "worker 1 (pid 7) exited with signal SIGKILL" }],
        },
        curves: {
          loss: [
            [1, 0.9],
            [2, 0.8],
            [3, 0.65],
          ],
        },
      },
    ],
    [
      "a restart with no step redone yet shows the checkpoint's step",
      [start(0), step(1, 1, 0.9), step(2, 2, 0.8), checkpoint(2, 2), step(3, 3, 0.7), restart(4, 1, 2)],
      5,
      {
        step: 2,
        etaSeconds: null,
        curves: {
          loss: [
            [1, 0.9],
            [2, 0.8],
          ],
        },
      },
    ],
    [
      "a completed run: final state, no ETA, no worker up, elapsed from the end event",
      [start(0), step(1, 8, 0.3), checkpoint(2, 8), validation(3, 8, 0.5, 1), end(4, "completed", 8, 4.5)],
      100,
      {
        status: "completed",
        reason: null,
        etaSeconds: null,
        validatingStep: null,
        elapsedSeconds: 4.5,
        endedAt: "2026-01-01T00:00:04.000Z",
        workers: { up: 0 },
        best: { step: 8, mean: 0.75 },
      },
    ],
    [
      "a failed run keeps its reason",
      [start(0), step(1, 1, 0.9), end(2, "failed", 0, 2, "rank 1 failed: out of memory")],
      3,
      { status: "failed", reason: "rank 1 failed: out of memory", step: 1 },
    ],
    [
      "stopped, then resumed: steps after the last checkpoint are run again, wall time of both attempts adds up",
      [
        start(0),
        step(1, 1, 0.9),
        step(2, 2, 0.8),
        checkpoint(2, 2),
        step(3, 3, 0.7),
        end(4, "stopped", 2, 4),
        start(100, { resumedFrom: "run" }),
        step(101, 3, 0.72),
      ],
      102,
      {
        status: "running",
        step: 3,
        elapsedSeconds: 6,
        endedAt: null,
        reason: null,
        curves: {
          loss: [
            [1, 0.9],
            [2, 0.8],
            [3, 0.72],
          ],
        },
      },
    ],
    [
      "an attempt killed without an end event lasted until its last event",
      [start(0), step(10, 1, 0.9), start(50, { resumedFrom: "run" })],
      60,
      { elapsedSeconds: 20, step: 0, curves: { loss: [] } },
    ],
    [
      "old logs: classes from the first validation, steps per epoch from the epoch change",
      [
        start(0, { classes: undefined, stepsPerEpoch: undefined }),
        step(1, 3, 0.9, 0),
        step(2, 4, 0.8, 0),
        step(3, 5, 0.7, 1),
        checkpoint(3, 5),
        validation(4, 5, 0.1, 0.2),
      ],
      5,
      { classes: ["PZ", "TZ"], stepsPerEpoch: 4, totalSteps: 8 },
    ],
  ])("%s", (_name, events, nowSecond, expected) => {
    expect(snapshotOf(events, nowSecond)).toMatchObject(expected);
  });

  it("is the same snapshot however the events arrive (one fold, applied incrementally)", () => {
    const events = [start(0), step(1, 1, 0.9), checkpoint(1, 1), validation(2, 1, 0.3, 0.4), end(3, "completed", 1, 3)];
    const incremental = foldEvents([]);
    for (const e of events) incremental.apply(e);
    const input = { name: "r1", now: t0 + 10_000, config };
    expect(incremental.snapshot(input)).toEqual(foldEvents(events).snapshot(input));
  });

  it("is interrupted, not running forever, when no coordinator holds the run and no end event came", () => {
    const killed = [start(0), step(1, 1, 0.9), step(2, 2, 0.8), checkpoint(2, 2), step(12, 3, 0.7)];
    const snapshot = (events: StoredEvent[], coordinatorAlive: boolean) =>
      foldEvents(events).snapshot({ name: "r1", now: t0 + 100_000, config, coordinatorAlive });
    expect(snapshot(killed, false)).toMatchObject({
      status: "interrupted",
      reason: expect.stringMatching(/without an end event .*train --resume/),
      endedAt: null,
      lastEventAt: "2026-01-01T00:00:12.000Z",
      elapsedSeconds: 12, // until its last event, not until now
      etaSeconds: null,
      validatingStep: null,
      workers: { up: 0 },
    });
    expect(snapshot(killed, true)).toMatchObject({ status: "validating", validatingStep: 2, elapsedSeconds: 100 });
    // An end event says what happened, whoever holds the lock now.
    expect(snapshot([...killed, end(13, "stopped", 3, 13, "SIGTERM")], false)).toMatchObject({
      status: "stopped",
      reason: "SIGTERM",
    });
  });

  it("adds the coordinator's live facts: workers up, each rank's throughput and when it was last heard", () => {
    const live = new LiveWorkers();
    live.setUp(2);
    live.step(1, { voxelsPerSecond: 2000, stepSeconds: 0.5, step: 3 }, t0 + 3000);
    live.step(0, { voxelsPerSecond: 1800, stepSeconds: 0.55, step: 3 }, t0 + 3000);
    live.heard(0, t0 + 4500);
    const s = foldEvents([start(0), step(3, 3, 0.7)]).snapshot({
      name: "r1",
      now: t0 + 5000,
      config,
      live: live.facts(),
    });
    expect(s.live).toBe(true);
    expect(s.workers).toEqual({
      up: 2,
      worldSize: 2,
      backend: "cpu",
      threads: 1,
      ranks: [
        {
          rank: 0,
          voxelsPerSecond: 1800,
          stepSeconds: 0.55,
          step: 3,
          lastHeard: "2026-01-01T00:00:04.500Z",
          secondsSinceHeard: 0.5,
        },
        {
          rank: 1,
          voxelsPerSecond: 2000,
          stepSeconds: 0.5,
          step: 3,
          lastHeard: "2026-01-01T00:00:03.000Z",
          secondsSinceHeard: 2,
        },
      ],
    });
    live.setUp(1);
    expect(live.facts().ranks.map((r) => r.rank)).toEqual([0]);
  });

  it("keeps a long run's curves bounded and its JSON small", () => {
    const events: StoredEvent[] = [start(0, { stepsPerEpoch: 1000 })];
    for (let n = 1; n <= 100_000; n++) events.push(step(n, n, 1 / Math.sqrt(n), Math.floor((n - 1) / 1000)));
    const s = foldEvents(events).snapshot({ name: "long", now: t0 + 200_000_000, config: { epochs: 100 } });
    expect(s.curves.loss.length).toBeLessThanOrEqual(maxLossPoints);
    expect(s.curves.loss.length).toBeGreaterThan(maxLossPoints / 2);
    expect(s.curves.lossStride).toBeGreaterThan(1);
    expect(s.step).toBe(100_000);
    expect(s.totalSteps).toBe(100_000);
    expect(JSON.stringify(s).length).toBeLessThan(60_000);
  });
});

describe("BoundedCurve", () => {
  it("merges neighbours into means once full, in step order, covering the whole range", () => {
    const curve = new BoundedCurve(100);
    for (let n = 1; n <= 1000; n++) curve.add(n, n % 2);
    const points = curve.points();
    expect(points.length).toBeLessThanOrEqual(100);
    expect(points[0][0]).toBeLessThan(10);
    expect(points.at(-1)?.[0]).toBeGreaterThan(990);
    for (let i = 1; i < points.length; i++) expect(points[i][0]).toBeGreaterThan(points[i - 1][0]);
    // alternating 0/1 averages to one half in every merged bucket
    for (const [, y] of points.slice(0, -1)) expect(y).toBeCloseTo(0.5, 5);
  });

  it("drops the points after a rewind and takes redone steps in their place", () => {
    const curve = new BoundedCurve(10);
    for (let n = 1; n <= 5; n++) curve.add(n, n);
    curve.add(3, 30);
    expect(curve.points()).toEqual([
      [1, 1],
      [2, 2],
      [3, 30],
    ]);
    curve.truncateAfter(1);
    expect(curve.points()).toEqual([[1, 1]]);
  });
});
