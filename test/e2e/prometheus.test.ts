/**
 * The dashboards against a real Prometheus: start `prometheus` on loopback scraping a voxring metrics
 * endpoint every second, then ask its HTTP API for every PromQL expression of dashboards/ and require data.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetrics, type MetricsServer, startMetricsServer } from "../../src/coordinator/metrics.js";
import { Rng } from "../../src/random.js";
import { recordRealisticRun } from "../unit/metrics/fixture.js";
import { dashboardQueries, substituteGrafanaVariables } from "../unit/metrics/promql.js";

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
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
  let endpoint: MetricsServer | undefined;
  let driver: NodeJS.Timeout | undefined;

  const query = async (expr: string): Promise<Sample[]> => {
    const response = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await response.json()) as { status: string; error?: string; data: { result: Sample[] } };
    if (body.status !== "success") throw new Error(`${expr}: ${body.error}`);
    return body.data.result;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "voxring-prometheus-"));
    // The endpoint: the metrics module fed a realistic two-rank run, a step every 250 ms.
    const metrics = createMetrics(["background", "PZ", "TZ"]);
    endpoint = await startMetricsServer({ registry: metrics.registry, port: 0, host: "127.0.0.1" });
    const rng = new Rng(21);
    let step = 1;
    metrics.incRestarts();
    driver = setInterval(() => recordRealisticRun(metrics, { ranks: 2, steps: 1, firstStep: step++, rng }), 250);

    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const target = new URL(endpoint.url).host;
    writeFileSync(
      join(dir, "prometheus.yml"),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: voxring\n    static_configs:\n      - targets: ["${target}"]\n`,
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
    // Rates over a 10 s window need a few scrapes of a moving run.
    await waitFor("eight scrapes of the endpoint", 40, async () => {
      const [sample] = await query('count_over_time(up{job="voxring"}[1m])');
      return sample && Number(sample.value[1]) >= 8 ? true : undefined;
    });
  }, 90_000);

  afterAll(async () => {
    clearInterval(driver);
    await stop(prometheus);
    await endpoint?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("scrapes the endpoint as healthy", async () => {
    const [up] = await query('up{job="voxring"}');
    expect(up?.value[1], prometheusLog).toBe("1");
  });

  it("returns finite data for every PromQL expression of the dashboards", async () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(20);
    const empty: string[] = [];
    for (const { dashboard, panel, expr } of queries) {
      const result = await query(substituteGrafanaVariables(expr, "10s"));
      const finite = result.filter((s) => Number.isFinite(Number(s.value[1])));
      if (finite.length === 0) empty.push(`${dashboard}: ${panel}: ${expr}`);
    }
    expect(empty).toEqual([]);
  });

  it("shows what was recorded: every rank and class, a moving step counter", async () => {
    const ranks = (await query("voxring_train_loss")).map((s) => s.metric.rank).sort();
    expect(ranks).toEqual(["0", "1"]);
    const classes = (await query("voxring_val_dice")).map((s) => s.metric.class).sort();
    expect(classes).toEqual(["PZ", "TZ", "background"]);
    const [progress] = await query("delta(voxring_global_step[5s])");
    expect(Number(progress.value[1])).toBeGreaterThan(0);
  });
});
