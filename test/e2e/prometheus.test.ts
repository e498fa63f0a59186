/**
 * The dashboards against a real Prometheus: `prometheus` on loopback scrapes, every half second, a short
 * real training run (`orchestrate train --preset smoke --gpus 2 --metrics-port P`) and, beside it, the
 * metrics module fed a realistic run by a driver; then every PromQL expression of dashboards/ must return
 * finite data for each of the two targets (the dashboards' $instance), over the time it was up.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetrics, type MetricsServer, startMetricsServer } from "../../src/coordinator/metrics.js";
import { Rng } from "../../src/random.js";
import { recordRealisticRun } from "../unit/coordinator/metrics/fixture.js";
import { dashboardQueries, substituteGrafanaVariables } from "../unit/coordinator/metrics/promql.js";
import { type Finished, type Running, start } from "./trainHelpers.js";

interface Series {
  metric: Record<string, string>;
  values: [number, string][];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitFor<T>(what: string, seconds: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (${String(last)})` : ""}`);
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

describe("dashboards against a real Prometheus", () => {
  let dir: string;
  let prometheus: ChildProcess | undefined;
  let prometheusLog = "";
  let api: string;
  let driverEndpoint: MetricsServer | undefined;
  let driver: NodeJS.Timeout | undefined;
  let training: Running | undefined;
  let finished: Finished;
  /** The two scrape targets, as Prometheus labels them (instance). */
  const targets = { run: "", driver: "" };
  let startedAt = 0;
  let endedAt = 0;

  const call = async <T>(path: string, params: Record<string, string>): Promise<T> => {
    const response = await fetch(`${api}${path}?${new URLSearchParams(params)}`);
    const body = (await response.json()) as { status: string; error?: string; data: { result: T } };
    if (body.status !== "success") throw new Error(`${params.query}: ${body.error}`);
    return body.data.result;
  };
  /** Every sample of `expr` while the run was going (start to end, half-second resolution). */
  const overRun = (expr: string) =>
    call<Series[]>("/api/v1/query_range", {
      query: expr,
      start: String(startedAt / 1000),
      end: String(endedAt / 1000),
      step: "0.5",
    });
  const finiteValues = (series: Series[]) =>
    series.flatMap((s) => s.values.map(([, v]) => Number(v))).filter((v) => Number.isFinite(v));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "voxring-prometheus-"));
    startedAt = Date.now();

    // Beside the run, a driven endpoint: the metrics module fed a realistic two-rank run, a step every 250 ms.
    const metrics = createMetrics(["background", "PZ", "TZ"]);
    driverEndpoint = await startMetricsServer({ registry: metrics.registry, port: 0, host: "127.0.0.1" });
    const rng = new Rng(21);
    let step = 1;
    metrics.incRestarts();
    driver = setInterval(() => recordRealisticRun(metrics, { ranks: 2, steps: 1, firstStep: step++, rng }), 250);
    targets.driver = new URL(driverEndpoint.url).host;

    const runPort = await freePort();
    targets.run = `127.0.0.1:${runPort}`;
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    writeFileSync(
      join(dir, "prometheus.yml"),
      [
        "global:",
        "  scrape_interval: 500ms",
        "  scrape_timeout: 400ms",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: voxring",
        "    static_configs:",
        `      - targets: ["${targets.run}", "${targets.driver}"]`,
        "",
      ].join("\n"),
    );
    prometheus = spawn(
      "prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--storage.tsdb.retention.time=1h",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    prometheus.stderr?.on("data", (chunk: Buffer) => {
      prometheusLog = (prometheusLog + chunk.toString()).slice(-4000);
    });
    await waitFor("Prometheus to be ready", 30, async () => ((await fetch(`${api}/-/ready`)).ok ? true : undefined));
    // Prometheus applies discovered targets only after a ~5 s throttle; a smoke run can end sooner than that, so
    // the run starts once the scrape loops are running (the driver target answered a scrape).
    await waitFor("Prometheus to scrape the driver endpoint", 30, async () => {
      const response = (await (await fetch(`${api}/api/v1/targets`)).json()) as {
        data: { activeTargets: { labels: { instance: string }; health: string }[] };
      };
      const driverTarget = response.data.activeTargets.find((t) => t.labels.instance === targets.driver);
      return driverTarget?.health === "up" ? true : undefined;
    });

    // A real run: two workers in a ring, one epoch of 8 steps, one validation (the slow part), then exit.
    training = start([
      "train",
      "--preset",
      "smoke",
      "--gpus",
      "2",
      "--epochs",
      "1",
      "--steps-per-epoch",
      "8",
      "--val-overlap",
      "0",
      "--metrics-port",
      String(runPort),
      "--out",
      join(dir, "run"),
    ]);
    // SIGTERM stops the coordinator and its workers (they watch it); a hung run must not hang the suite.
    const timeout = setTimeout(() => stop(training?.child), 150_000);
    finished = await training.done;
    clearTimeout(timeout);
    // The run's last scrape lands in the TSDB just after the run's exit.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    endedAt = Date.now();
  }, 240_000);

  afterAll(async () => {
    clearInterval(driver);
    await stop(training?.child);
    await stop(prometheus);
    await driverEndpoint?.close({ finalScrape: false });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("scraped a run that completed", async () => {
    expect(finished.code, finished.stderr.slice(-3000)).toBe(0);
    expect(finished.stderr).toMatch(/voxring run completed/);
    for (const instance of [targets.run, targets.driver]) {
      const up = finiteValues(await overRun(`up{instance="${instance}"}`));
      expect(Math.max(...up), `${instance}: ${prometheusLog}`).toBe(1);
    }
  });

  it.each(["run", "driver"] as const)(
    "has finite data for every PromQL expression of the dashboards (%s)",
    async (which) => {
      const queries = dashboardQueries();
      expect(queries.length).toBeGreaterThan(20);
      const empty: string[] = [];
      for (const { dashboard, panel, expr } of queries) {
        const concrete = substituteGrafanaVariables(expr.replaceAll("$instance", targets[which]), "5s");
        if (finiteValues(await overRun(concrete)).length === 0) empty.push(`${dashboard}: ${panel}: ${concrete}`);
      }
      expect(empty).toEqual([]);
    },
  );

  it("shows the run as it was: both ranks, dataset.json's foreground classes, 8 steps, 2 workers up", async () => {
    expect(finished.code).toBe(0);
    const instance = `instance="${targets.run}"`;
    const ranks = new Set((await overRun(`voxring_train_loss{${instance}}`)).map((s) => s.metric.rank));
    expect([...ranks].sort()).toEqual(["0", "1"]);
    const classes = new Set((await overRun(`voxring_val_dice{${instance}}`)).map((s) => s.metric.class));
    expect([...classes].sort()).toEqual(["PZ", "TZ"]);
    expect(Math.max(...finiteValues(await overRun(`voxring_global_step{${instance}}`)))).toBe(8);
    const sent = await overRun(`voxring_allreduce_bytes_total{${instance}}`);
    for (const series of sent) expect(Number(series.values.at(-1)?.[1])).toBeGreaterThan(0);
    expect(sent).toHaveLength(2);
    expect(Math.max(...finiteValues(await overRun(`voxring_workers_up{${instance}}`)))).toBe(2);
  });
});
