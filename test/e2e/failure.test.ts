import { describe, expect, it } from "vitest";
import { listCheckpoints, readCheckpoint } from "../../src/train/checkpoint.js";
import {
  events,
  pidAlive,
  smokeArgs,
  start,
  tempRun,
  tinyRun,
  waitForEvents,
  waitUntilGone,
  workerPids,
} from "./trainHelpers.js";

describe("worker failure", () => {
  it("a worker killed with SIGKILL mid-run: all restart from the last checkpoint and the run finishes", async () => {
    const out = tempRun("killworker");
    const running = start([...smokeArgs(out, 4), "--max-restarts", "2"]);
    // Wait for the first checkpoint, so the restart has somewhere to start from, then kill rank 1's process.
    await waitForEvents(out, (e) => e.some((x) => x.type === "checkpoint"), 90_000);
    const pids = workerPids(running.child.pid as number);
    expect(pids).toHaveLength(2);
    process.kill(pids[1], "SIGKILL");
    const result = await running.done;
    expect(result.code).toBe(0);
    const e = events(out);
    const restarts = e.filter((x) => x.type === "restart");
    expect(restarts).toHaveLength(1);
    expect(restarts[0]).toMatchObject({ count: 1 });
    if (restarts[0].type === "restart") expect(restarts[0].reason).toMatch(/exited with signal SIGKILL/);
    expect(result.stderr).toMatch(/restarting all workers from step \d+ \(restart 1 of 2\)/);
    expect(e.at(-1)).toMatchObject({ type: "end", status: "completed", step: 8 });
    const last = readCheckpoint(listCheckpoints(out).at(-1) as string);
    expect(last.globalStep).toBe(8);
    expect(last.restarts).toBe(1);
    expect(pids.filter(pidAlive)).toEqual([]);
  });
});

describe("stopping", () => {
  it("SIGTERM stops the coordinator and every worker within seconds, after writing a checkpoint", async () => {
    const out = tempRun("sigterm");
    const running = start(smokeArgs(out, 50));
    await waitForEvents(out, (e) => e.filter((x) => x.type === "step").length >= 3, 90_000);
    const pids = workerPids(running.child.pid as number);
    expect(pids).toHaveLength(2);
    running.child.kill("SIGTERM");
    const result = await running.done; // (no timing assertion: the suite's timeout catches a hang)
    expect(result.code).toBe(0);
    expect(await waitUntilGone(pids, 5000)).toEqual([]);
    // The state at the stop is saved: the newest checkpoint holds the step the run ended at. (Counting
    // checkpoints would race with --keep-last pruning, which keeps the count constant once it is reached.)
    const end = events(out).at(-1);
    expect(end).toMatchObject({ type: "end", status: "stopped" });
    const stoppedAt = end?.type === "end" ? end.step : -1;
    expect(stoppedAt).toBeGreaterThanOrEqual(3);
    expect(readCheckpoint(listCheckpoints(out).at(-1) as string).globalStep).toBe(stoppedAt);
  });

  // One worker too: a ring of one waits on no socket, so only a turn of the event loop lets it hear the IPC
  // channel close (it used to train on for 10–30 s, until ZeroMQ's queue to the dead coordinator filled).
  it.each([2, 1])("a coordinator killed with SIGKILL leaves none of its %i worker(s) behind", async (gpus) => {
    const out = tempRun("sigkill");
    // Steps of a few milliseconds, as fast as they come, past the first hundreds (while the cases still load,
    // the loader's I/O gives the event loop its turns): the case where nothing else yields.
    const running = start(tinyRun(out, gpus, 1, 100_000));
    await waitForEvents(out, (e) => e.some((x) => x.type === "step" && x.step >= 500), 90_000);
    const pids = workerPids(running.child.pid as number);
    expect(pids).toHaveLength(gpus);
    running.child.kill("SIGKILL");
    await running.done;
    expect(await waitUntilGone(pids, 10_000)).toEqual([]);
  });
});
