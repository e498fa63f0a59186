import { readFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import { listCheckpoints, readCheckpoint } from "../../src/train/checkpoint.js";
import { events, fileExists, json, run, tempRun } from "./trainHelpers.js";

function pngSize(path: string): [number, number] {
  const png = PNG.sync.read(readFileSync(path));
  return [png.width, png.height];
}

describe.each([1, 2])("orchestrate --preset smoke --gpus %i", (gpus) => {
  it("trains, validates, checkpoints and draws", async () => {
    const out = tempRun(`smoke${gpus}`);
    const result = await run(["--preset", "smoke", "--gpus", String(gpus), "--out", out, "--metrics-port", "0"]);
    expect(result.stderr).not.toMatch(/internal error/);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/no GPU on this host: \d worker\(s\) on the cpu backend/);

    const config = json(join(out, "config.json")) as { gpus: number; patch: number[]; preset: string };
    expect(config).toMatchObject({ gpus, patch: [16, 16, 8], preset: "smoke" });

    const e = events(out);
    const types = new Set(e.map((x) => x.type));
    expect([...types]).toEqual(expect.arrayContaining(["start", "step", "validation", "checkpoint", "end"]));
    const steps = e.filter((x) => x.type === "step");
    expect(steps.map((s) => (s.type === "step" ? s.step : 0))).toEqual([1, 2, 3, 4]); // 2 epochs × 2 steps
    for (const s of steps) if (s.type === "step") expect(Number.isFinite(s.loss) && s.loss > 0).toBe(true);
    const validations = e.filter((x) => x.type === "validation");
    expect(validations).toHaveLength(2);
    for (const v of validations) {
      if (v.type !== "validation") continue;
      expect(Object.keys(v.dice).sort()).toEqual(["PZ", "TZ"]); // dataset.json's foreground label names
      expect(v.dice_mean).toBeGreaterThanOrEqual(0);
      expect(v.dice_mean).toBeLessThanOrEqual(1);
    }
    expect(e.at(-1)).toMatchObject({ type: "end", status: "completed", step: 4 });

    const checkpoints = listCheckpoints(out);
    expect(checkpoints.map((p) => p.replace(/.*\//, ""))).toEqual(["step-00000002", "step-00000004"]);
    const last = readCheckpoint(checkpoints[1]);
    expect(last.globalStep).toBe(4);
    expect(last.optimizer.step).toBe(4);
    expect(last.model).toEqual({ inChannels: 2, numClasses: 3, channels: [4, 8] });
    expect(last.dataOrder).toHaveLength(gpus);
    expect(fileExists(join(out, "checkpoints", "best", "checkpoint.json"))).toBe(true);

    expect(pngSize(join(out, "curves.png"))).toEqual([960, 360]);
    expect(pngSize(join(out, "val_preview.png"))[0]).toBeGreaterThan(100);
    expect(result.stderr).toMatch(/voxring run completed/);
  });
});

describe("bad input", () => {
  it.each([
    [["--lr", "-0.1"], /^orchestrate: --lr: /],
    [["--patch", "31", "32", "16", "--preset", "smoke"], /^orchestrate: --patch: X = 31 must be a multiple of 2/],
    [["--epochs", "1.5"], /^orchestrate: --epochs: /],
    [["--resume", "/nonexistent/run"], /^orchestrate: --resume \/nonexistent\/run: /],
    [
      ["--data", "/nonexistent/data", "--preset", "smoke", "--metrics-port", "0"],
      /^orchestrate: .*\/nonexistent\/data/,
    ],
  ])("%j → one line on stderr, exit 2", async (args, message) => {
    const out = tempRun("bad");
    const result = await run([...args, "--out", out]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(message);
  });

  it("a control --port that is taken: exit 2 naming the option, no stack trace, no run directory", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as AddressInfo).port;
    const out = tempRun("porttaken");
    try {
      const result = await run(["--preset", "smoke", "--metrics-port", "0", "--port", String(port), "--out", out]);
      expect(result.code).toBe(2);
      const errors = result.stderr
        .trim()
        .split("\n")
        .filter((line) => line.startsWith("orchestrate:"));
      expect(errors).toEqual([
        `orchestrate: --port: port ${port} on 127.0.0.1 is already in use (choose another, or 0 for any)`,
      ]);
      expect(result.stderr).not.toMatch(/^\s+at /m);
      expect(fileExists(out)).toBe(false);
    } finally {
      taken.close();
    }
  });

  it("a bad --config names the file and the key", async () => {
    const out = tempRun("badconfig");
    const path = join(out, "..", "bad.yaml");
    (await import("node:fs")).writeFileSync(path, "epochs: 2\nbatch: zero\n");
    const result = await run(["--config", path, "--out", out]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/^orchestrate: --config .*bad.yaml: key "batch": /);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  });
});
