/**
 * Failures handled (issue 15), through the built CLI with real worker processes: a bad case met only by a
 * worker ends the run at once with exit 2, a coordinator never blocks or hangs, nothing is left behind.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { cli, events, root, start, tempRun, waitForEvents } from "./trainHelpers.js";

/** A small dataset of our own, so that its files can be changed under a running training. */
function synthDataset(name: string, cases: number): string {
  const dir = join(tempRun(name), "..", "data");
  execFileSync(process.execPath, [cli, "synth", "--out", dir, "--cases", String(cases), "--seed", "3"], {
    cwd: root,
    stdio: "ignore",
  });
  return dir;
}

const tiny = (data: string, out: string) => [
  "train",
  "--data",
  data,
  "--out",
  out,
  "--threads",
  "1",
  "--channels",
  "4",
  "8",
  "--patch",
  "32",
  "32",
  "8",
  "--val-window",
  "32",
  "32",
  "8",
  "--metrics-port",
  "0",
];

describe("failures classified", () => {
  it("a training case that turns bad after the check ends the run with exit 2 and the worker's real rank, no restart", async () => {
    const data = synthDataset("inputfail", 6);
    const out = tempRun("inputfail");
    // --cache-rate 0.2: a worker keeps one case in memory and reads the others again when it needs them,
    // so a file changed after the check (here: every label file made garbage) is met while training.
    const running = start([
      ...tiny(data, out),
      "--gpus",
      "1",
      "--epochs",
      "20",
      "--steps-per-epoch",
      "10",
      "--cache-rate",
      "0.2",
      "--max-restarts",
      "3",
    ]);
    await waitForEvents(out, (e) => e.some((x) => x.type === "step"), 120_000);
    const garbage = gzipSync(Buffer.from("plain text, no NIfTI header ".repeat(20)));
    for (const name of readdirSync(join(data, "labelsTr"))) {
      const path = join(data, "labelsTr", name);
      writeFileSync(`${path}.tmp`, garbage);
      renameSync(`${path}.tmp`, path); // atomic: the worker reads the old file or the garbage, never half
    }
    const result = await running.done;
    expect(result.code).toBe(2);
    const lastLine = result.stderr.trim().split("\n").at(-1) ?? "";
    expect(lastLine).toMatch(/^orchestrate: rank 0 \(pid \d+ on [^)]+\): .*labelsTr.*not a NIfTI/);
    expect(result.stderr).not.toMatch(/restarting|rank -1|\bat .*\.js:\d+/);
    const e = events(out);
    expect(e.filter((x) => x.type === "restart")).toEqual([]);
    expect(e.at(-1)).toMatchObject({ type: "end", status: "failed" });
  });
});
