import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createMetrics, type MetricsServer, startMetricsServer } from "../../../../src/coordinator/metrics.js";
import { InputError } from "../../../../src/errors.js";
import { Rng } from "../../../../src/random.js";
import { exposedSamples, recordRealisticRun } from "./fixture.js";

// DESIGN.md's list: the names the dashboards, the docs and the users rely on.
const designNames = [
  "voxring_train_loss",
  "voxring_val_dice",
  "voxring_val_dice_mean",
  "voxring_best_dice_mean",
  "voxring_epoch",
  "voxring_global_step",
  "voxring_step_seconds",
  "voxring_allreduce_seconds",
  "voxring_allreduce_bytes_total",
  "voxring_voxels_per_second",
  "voxring_loss_scale",
  "voxring_skipped_steps_total",
  "voxring_workers_up",
  "voxring_worker_restarts_total",
];

function sampleValue(text: string, name: string, labels = ""): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  if (!line) throw new Error(`no sample ${name}${labels} in the exposition`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("createMetrics", () => {
  it("exposes every DESIGN.md metric and the process defaults after a few recorded steps", async () => {
    const metrics = createMetrics(["background", "PZ", "TZ"]);
    recordRealisticRun(metrics, { ranks: 3, steps: 5, rng: new Rng(11) });
    const text = await metrics.expose();
    const families = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]));
    for (const name of designNames) expect(families, name).toContain(name);
    expect(families).toContain("process_resident_memory_bytes");
    expect(families).toContain("process_cpu_seconds_total");
    expect(text).toMatch(/^# TYPE voxring_step_seconds histogram$/m);
    expect(text).toMatch(/^# TYPE voxring_allreduce_seconds histogram$/m);
    for (const rank of ["0", "1", "2"]) {
      expect(sampleValue(text, "voxring_step_seconds_count", `{rank="${rank}"}`)).toBe(5);
    }
    for (const cls of ["background", "PZ", "TZ"]) expect(text).toContain(`voxring_val_dice{class="${cls}"}`);
  });

  it("records the figures it is given: last loss per rank, summed bytes, one skip per step however many ranks", async () => {
    const metrics = createMetrics(["background", "PZ", "TZ"], { defaultMetrics: false });
    const rng = new Rng(5);
    const bytes = [0, 0];
    let lastLoss = [0, 0];
    const base = { stepSeconds: 1.5, allreduceSeconds: 0.02, voxelsPerSecond: 9e4, epoch: 2 };
    for (let step = 1; step <= 4; step++) {
      lastLoss = [rng.next(), rng.next()];
      for (const rank of [0, 1]) {
        const sent = 1000 + Math.floor(rng.next() * 1000);
        bytes[rank] += sent;
        const skipped = step === 2 || step === 4;
        const lossScale = 2 ** (15 - step);
        metrics.recordStep({
          ...base,
          rank,
          loss: lastLoss[rank],
          allreduceBytes: sent,
          lossScale,
          skipped,
          globalStep: step,
        });
      }
    }
    metrics.setWorkersUp(2);
    metrics.incRestarts();
    metrics.incRestarts(2);
    metrics.recordValidation({ dice: { PZ: 0.61, TZ: 0.83 }, mean: 0.72, best: 0.75 });
    const text = await metrics.expose();
    expect(sampleValue(text, "voxring_train_loss", '{rank="1"}')).toBeCloseTo(lastLoss[1], 12);
    expect(sampleValue(text, "voxring_allreduce_bytes_total", '{rank="0"}')).toBe(bytes[0]);
    expect(sampleValue(text, "voxring_allreduce_bytes_total", '{rank="1"}')).toBe(bytes[1]);
    expect(sampleValue(text, "voxring_skipped_steps_total")).toBe(2);
    expect(sampleValue(text, "voxring_loss_scale")).toBe(2 ** 11);
    expect(sampleValue(text, "voxring_global_step")).toBe(4);
    expect(sampleValue(text, "voxring_epoch")).toBe(2);
    expect(sampleValue(text, "voxring_workers_up")).toBe(2);
    expect(sampleValue(text, "voxring_worker_restarts_total")).toBe(3);
    expect(sampleValue(text, "voxring_val_dice", '{class="TZ"}')).toBe(0.83);
    expect(sampleValue(text, "voxring_best_dice_mean")).toBe(0.75);
    expect(text).not.toContain("process_cpu_seconds_total");
  });

  it("counts worker CPU time across a worker restart without going backwards", async () => {
    const metrics = createMetrics(["a"], { defaultMetrics: false });
    const step = { rank: 0, loss: 0.5, stepSeconds: 1, allreduceSeconds: 0.1, allreduceBytes: 10 };
    const rest = { voxelsPerSecond: 1, lossScale: 1, skipped: false, epoch: 0 };
    metrics.recordStep({ ...step, ...rest, globalStep: 1, cpuSeconds: 3.5, residentMemoryBytes: 7e8 });
    metrics.recordStep({ ...step, ...rest, globalStep: 2, cpuSeconds: 5 });
    metrics.recordStep({ ...step, ...rest, globalStep: 3, cpuSeconds: 1.25 }); // restarted process
    const text = await metrics.expose();
    expect(sampleValue(text, "voxring_worker_cpu_seconds_total", '{rank="0"}')).toBe(6.25);
    expect(sampleValue(text, "voxring_worker_resident_memory_bytes", '{rank="0"}')).toBe(7e8);
  });

  it("refuses a class it was not told about, and duplicate class names", () => {
    const metrics = createMetrics(["background", "PZ", "TZ"], { defaultMetrics: false });
    expect(() => metrics.recordValidation({ dice: { CZ: 0.5 }, mean: 0.5, best: 0.5 })).toThrow(/unknown class "CZ"/);
    expect(() => createMetrics(["PZ", "PZ"])).toThrow(/duplicate/);
  });

  it("keeps runs apart: two registries, no global state", async () => {
    const a = createMetrics(["x"]);
    const b = createMetrics(["x"]);
    a.setWorkersUp(3);
    b.setWorkersUp(1);
    expect(sampleValue(await a.expose(), "voxring_workers_up")).toBe(3);
    expect(sampleValue(await b.expose(), "voxring_workers_up")).toBe(1);
  });

  it("passes promtool check metrics", async () => {
    const metrics = createMetrics(["background", "PZ", "TZ"]);
    recordRealisticRun(metrics, { ranks: 2, steps: 4, rng: new Rng(3) });
    const text = await metrics.expose();
    const result = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(result.error).toBeUndefined();
    expect(`${result.stdout}${result.stderr}`.trim()).toBe("");
    expect(result.status).toBe(0);
    // The fixture really produced samples for every family promtool looked at.
    expect(exposedSamples(text).size).toBeGreaterThan(designNames.length);
  });
});

describe("startMetricsServer", () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("serves the exposition on /metrics of an ephemeral port and 404 elsewhere", async () => {
    const metrics = createMetrics(["PZ"]);
    metrics.setWorkersUp(4);
    server = await startMetricsServer({ registry: metrics.registry, port: 0, host: "127.0.0.1" });
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`);
    const response = await fetch(server.url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    expect(sampleValue(await response.text(), "voxring_workers_up")).toBe(4);
    expect((await fetch(server.url.replace("/metrics", "/"))).status).toBe(404);
    expect((await fetch(server.url, { method: "POST" })).status).toBe(405);
  });

  it("closes promptly even while a scraper holds a keep-alive connection", async () => {
    const metrics = createMetrics(["PZ"], { defaultMetrics: false });
    server = await startMetricsServer({ registry: metrics.registry, port: 0, host: "127.0.0.1" });
    await (await fetch(server.url, { keepalive: true })).text();
    const closing = server.close();
    server = undefined;
    await expect(closing).resolves.toBeUndefined();
  });

  it("lets a steady scraper take one last scrape on close, so figures recorded at the end are seen", async () => {
    const metrics = createMetrics(["PZ"], { defaultMetrics: false });
    const running = await startMetricsServer({ registry: metrics.registry, port: 0, host: "127.0.0.1" });
    const seen: number[] = [];
    let scraping = true;
    const scraper = (async () => {
      while (scraping) {
        try {
          seen.push(sampleValue(await (await fetch(running.url)).text(), "voxring_workers_up"));
        } catch {
          return; // the server closed
        }
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    })();
    while (seen.length < 3) await new Promise((resolve) => setTimeout(resolve, 50));
    metrics.setWorkersUp(7);
    await running.close();
    scraping = false;
    await scraper;
    expect(seen.at(-1)).toBe(7);
    expect(seen.slice(0, 3)).toEqual([0, 0, 0]);
  });

  it("turns a busy port into an InputError naming --metrics-port", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const metrics = createMetrics(["PZ"], { defaultMetrics: false });
      const attempt = startMetricsServer({ registry: metrics.registry, port, host: "127.0.0.1" });
      await expect(attempt).rejects.toBeInstanceOf(InputError);
      await expect(attempt).rejects.toThrow(/^--metrics-port: port \d+ on 127\.0\.0\.1 is already in use/);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it("rejects a port out of range and a host that is not ours", async () => {
    const registry = createMetrics(["PZ"], { defaultMetrics: false }).registry;
    await expect(startMetricsServer({ registry, port: 70000, host: "127.0.0.1" })).rejects.toThrow(/^--metrics-port:/);
    await expect(startMetricsServer({ registry, port: 0, host: "192.0.2.1" })).rejects.toThrow(/^--metrics-host:/);
  });
});
