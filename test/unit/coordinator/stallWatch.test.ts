import { describe, expect, it } from "vitest";
import {
  BOUND_FLOOR_SECONDS,
  collectiveBoundSeconds,
  diagnoseStall,
  FIRST_STEP_BOUND_SECONDS,
  StepClock,
} from "../../../src/coordinator/stallWatch.js";

describe("collectiveBoundSeconds", () => {
  it.each([
    [7, null, 7],
    [7, 100, 7],
    [null, null, FIRST_STEP_BOUND_SECONDS],
    [null, 1.3, BOUND_FLOOR_SECONDS],
    [null, 12.5, 125],
  ])("configured %s, median step %s s → %s s", (configured, median, bound) => {
    expect(collectiveBoundSeconds(configured, median)).toBe(bound);
  });
});

describe("StepClock", () => {
  it("keeps the median of the last steps and ignores nonsense", () => {
    const clock = new StepClock(4);
    expect(clock.median()).toBeNull();
    for (const s of [100, 1, 2, 3, Number.NaN, -1, 4]) clock.add(s);
    expect(clock.median()).toBe(2.5); // 100 fell out of the window of 4
  });
});

describe("diagnoseStall", () => {
  const where = "all-reduce #3 (reduce-scatter hop 1 of 3, 0 of 8 frames)";
  it("blames the rank waited for that does not wait itself", () => {
    const line = diagnoseStall([
      { rank: 0, waitingFor: 3, seconds: 5, where, step: 7 },
      { rank: 2, waitingFor: 1, seconds: 5, where, step: 7 },
      { rank: 3, waitingFor: 2, seconds: 5, where, step: 7 },
    ]);
    expect(line).toBe(
      `rank 1 stalled: rank 2 had no frame from rank 1 for 5 s in ${where} at step 7; ranks 0, 2, 3 waited in the ring`,
    );
  });
  it("lists every wait when all ranks wait", () => {
    const line = diagnoseStall([
      { rank: 0, waitingFor: 1, seconds: 5, where, step: 2 },
      { rank: 1, waitingFor: 0, seconds: 5, where, step: 2 },
    ]);
    expect(line).toMatch(
      /^every reporting rank waited in the ring at step 2: rank 0 waited for rank 1 in .*; rank 1 waited for rank 0/,
    );
  });
});
