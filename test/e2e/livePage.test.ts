/**
 * The live page in a real browser: a short real run (two workers, a tiny U-Net) serves its page beside /metrics;
 * headless Chromium (Debian's `chromium`, scripts/setup.sh) loads it twice, a few seconds apart, and the DOM it
 * rendered must name dataset.json's classes, show the loss and a step that moved on, and hold plots with data.
 * After the run, `orchestrate view RUN` must render the same page in its final state.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cli,
  type Finished,
  fileExists,
  type Running,
  run,
  start,
  tempRun,
  tinyRun,
  waitForEvents,
  waitUntilGone,
  workerPids,
} from "./trainHelpers.js";

const chromiumFlags = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--window-size=1280,1600",
];

/** The DOM after the page's script ran (virtual time lets its first poll and render finish). */
function renderedDom(url: string): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), "voxring-chromium-"));
  const child = spawn(
    "chromium",
    [...chromiumFlags, `--user-data-dir=${profile}`, "--virtual-time-budget=4000", "--dump-dom", url],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    err += d;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve, reject) => {
    child.on("exit", (code) => {
      clearTimeout(timer);
      rmSync(profile, { recursive: true, force: true });
      if (code === 0 && out.includes("</html>")) resolve(out);
      else reject(new Error(`chromium exited ${code}: ${err.slice(-2000)}`));
    });
  });
}

function attribute(dom: string, pattern: RegExp): string {
  const match = dom.match(pattern);
  if (!match) throw new Error(`${pattern} not in the rendered page: ${dom.slice(0, 3000)}`);
  return match[1];
}
const pageStep = (dom: string) => Number(attribute(dom, /<main id="app" data-status="[a-z]+" data-step="(\d+)"/));
const pageStatus = (dom: string) => attribute(dom, /<main id="app" data-status="([a-z]+)"/);
/** data-points of each drawn chart, in page order (loss, then Dice). */
const plotPoints = (dom: string) =>
  [...dom.matchAll(/<svg class="plot"[^>]* data-points="(\d+)"/g)].map((m) => Number(m[1]));

/** `orchestrate view RUN --port 0`, once it printed its URL; stop() sends SIGTERM and gives its exit code. */
async function view(runDir: string): Promise<{ url: string; stop: () => Promise<number | null> }> {
  const viewing = spawn(process.execPath, [cli, "view", runDir, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  viewing.stdout.on("data", (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => viewing.on("exit", (code) => resolve(code)));
  const stop = () => {
    viewing.kill("SIGTERM");
    return exited;
  };
  const deadline = Date.now() + 30_000;
  while (!/http:\/\/127\.0\.0\.1:\d+\//.test(out) && Date.now() < deadline && viewing.exitCode === null) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  try {
    return { url: attribute(out, /voxring view: (http:\/\/127\.0\.0\.1:\d+\/)/), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function untilStderr(training: Running, pattern: RegExp, seconds: number): Promise<RegExpMatchArray> {
  const deadline = Date.now() + seconds * 1000;
  return new Promise((resolve, reject) => {
    const look = () => {
      const match = training.output().stderr.match(pattern);
      if (match) return resolve(match);
      if (Date.now() > deadline || training.child.exitCode !== null) {
        return reject(new Error(`no ${pattern} in: ${training.output().stderr.slice(-3000)}`));
      }
      setTimeout(look, 100);
    };
    look();
  });
}

describe("the live page", () => {
  const runDir = tempRun("livepage");
  let training: Running;
  let pageUrl: string;
  let finished: Finished | undefined;

  beforeAll(async () => {
    // 480 steps of a tiny net on two workers: long enough to be seen moving, a validation every epoch.
    training = start([...tinyRun(runDir, 2, 4, 120), "--val-overlap", "0"]);
    pageUrl = (await untilStderr(training, /live page: (http:\/\/127\.0\.0\.1:\d+\/)/, 120))[1];
  });

  afterAll(async () => {
    if (training.child.exitCode === null) training.child.kill("SIGKILL");
    await training.done;
  });

  it("answers /api/run live: workers up, each rank's throughput and last heartbeat", async () => {
    await waitForEvents(runDir, (e) => e.filter((x) => x.type === "step").length >= 10, 120_000);
    const snapshot = (await (await fetch(`${pageUrl}api/run`)).json()) as {
      live: boolean;
      status: string;
      workers: { up: number; ranks: { rank: number; voxelsPerSecond: number; secondsSinceHeard: number }[] };
      classes: string[];
      totalSteps: number;
    };
    expect(snapshot.live).toBe(true);
    expect(snapshot.classes).toEqual(["PZ", "TZ"]);
    expect(snapshot.totalSteps).toBe(480);
    expect(["running", "validating"]).toContain(snapshot.status);
    expect(snapshot.workers.up).toBe(2);
    expect(snapshot.workers.ranks.map((r) => r.rank)).toEqual([0, 1]);
    for (const r of snapshot.workers.ranks) {
      expect(r.voxelsPerSecond).toBeGreaterThan(0);
      expect(r.secondsSinceHeard).toBeLessThan(30);
    }
  });

  it("renders the running run in Chromium: classes, loss, step moving on, plots with data", async () => {
    await waitForEvents(runDir, (e) => e.filter((x) => x.type === "step").length >= 10, 120_000);
    const first = await renderedDom(pageUrl);
    expect(["running", "validating"]).toContain(pageStatus(first));
    // dataset.json's foreground label names (the synthetic dataset: PZ and TZ) in the legend and the table
    expect(first).toMatch(/<\/i>PZ<\/span>/);
    expect(first).toMatch(/<\/i>TZ<\/span>/);
    expect(first).toMatch(/<div class="v" id="loss">0\.\d{4}<\/div>/);
    expect(first).toMatch(/live from the coordinator/);
    const step1 = pageStep(first);
    expect(step1).toBeGreaterThanOrEqual(10);
    expect(plotPoints(first)[0]).toBeGreaterThanOrEqual(10);
    expect(first).toMatch(/<path clip-path="url\(#cliplossChart\)" d="M[\d.]+ [\d.]+(L[\d.]+ [\d.]+){9,}/);

    await new Promise((resolve) => setTimeout(resolve, 3000));
    const later = await renderedDom(pageUrl);
    expect(pageStep(later)).toBeGreaterThan(step1);
    expect(plotPoints(later)[0]).toBeGreaterThan(plotPoints(first)[0]);
  });

  it("completes the run", async () => {
    finished = await training.done;
    expect(finished.code, finished.stderr.slice(-3000)).toBe(0);
  });

  it("`orchestrate view RUN` renders the finished run's final state", async () => {
    expect(finished?.code).toBe(0);
    const viewing = await view(runDir);
    try {
      const dom = await renderedDom(viewing.url);
      expect(pageStatus(dom)).toBe("completed");
      expect(pageStep(dom)).toBe(480);
      expect(dom).toMatch(/from events\.jsonl \(orchestrate view\)/);
      expect(dom).toMatch(/<\/i>PZ<\/span>/);
      const [lossPoints, dicePoints] = plotPoints(dom);
      expect(lossPoints).toBe(2 * 480); // every step, and its moving average
      expect(dom).toMatch(/id="lossChartNote">480 points</);
      expect(dicePoints).toBeGreaterThanOrEqual(3); // PZ, TZ and mean at one validation or more
      expect(dom).toMatch(/class="best-marker"/);
      expect(dom).toMatch(/<img alt="validation preview" src="\/val_preview\.png\?v=/);
      expect(dom).toMatch(/"channels": \[\s*4,\s*8\s*\]/); // the resolved configuration, in its <details>
    } finally {
      expect(await viewing.stop()).toBe(0);
    }
  });

  it("shows a run whose coordinator was SIGKILLed as interrupted, with how to go on", async () => {
    const killedDir = tempRun("livepage-killed");
    const killed = start(tinyRun(killedDir, 1, 1, 100_000));
    try {
      await waitForEvents(killedDir, (e) => e.some((x) => x.type === "step" && x.step >= 3), 120_000);
      const workers = workerPids(killed.child.pid ?? -1);
      killed.child.kill("SIGKILL"); // no end event, and RUN/.lock left behind naming a dead pid
      await killed.done;
      expect(fileExists(join(killedDir, ".lock"))).toBe(true);
      await waitUntilGone(workers, 30_000); // its worker leaves once the IPC channel closes
      const viewing = await view(killedDir);
      try {
        const dom = await renderedDom(viewing.url);
        expect(pageStatus(dom)).toBe("interrupted");
        expect(dom).toMatch(/<span id="reason" class="sub">[^<]*train --resume/);
        expect(pageStep(dom)).toBeGreaterThanOrEqual(3);
      } finally {
        expect(await viewing.stop()).toBe(0);
      }
    } finally {
      if (killed.child.exitCode === null) killed.child.kill("SIGKILL");
      rmSync(killedDir, { recursive: true, force: true });
    }
  });

  it("refuses a directory that is not a run: one line naming it, exit 2", async () => {
    const notRun = mkdtempSync(join(tmpdir(), "voxring-notrun-"));
    try {
      const result = await run(["view", notRun, "--port", "0"]);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(`orchestrate: ${notRun}: not a run directory (no events.jsonl)\n`);
    } finally {
      rmSync(notRun, { recursive: true, force: true });
    }
  });
});
