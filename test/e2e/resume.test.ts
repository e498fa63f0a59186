import { describe, expect, it } from "vitest";
import { events, flatParams, maxAbsDiff, run, start, tempRun, waitForEvents } from "./trainHelpers.js";

const args = (out: string) => [
  "--preset",
  "smoke",
  "--gpus",
  "2",
  "--epochs",
  "5",
  "--deterministic",
  "--seed",
  "3",
  "--out",
  out,
  "--metrics-port",
  "0",
];

describe("--resume", () => {
  it("a run killed with SIGKILL and resumed ends with the weights of an uninterrupted run", async () => {
    const straight = tempRun("straight");
    const first = await run(args(straight));
    expect(first.code).toBe(0);

    const broken = tempRun("broken");
    const running = start(args(broken));
    await waitForEvents(broken, (e) => e.some((x) => x.type === "checkpoint"), 90_000);
    running.child.kill("SIGKILL");
    await running.done;
    const killedAt = events(broken);
    expect(killedAt.some((x) => x.type === "end")).toBe(false); // really interrupted

    const resumed = await run(["--resume", broken, "--metrics-port", "0"]);
    expect(resumed.stderr).toMatch(/resuming .* at step \d+/);
    expect(resumed.code).toBe(0);

    const steps = events(broken)
      .filter((x) => x.type === "step")
      .map((x) => (x.type === "step" ? x.step : -1));
    // every step of the 5 epochs appears; steps lost after the checkpoint are the only ones run twice
    expect(new Set(steps)).toEqual(new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));

    const a = flatParams(straight);
    const b = flatParams(broken);
    expect(a.length).toBeGreaterThan(0);
    expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(1e-6);
  });
});
