import { describe, expect, it } from "vitest";
import { createMetrics } from "../../../../src/coordinator/metrics.js";
import { Rng } from "../../../../src/random.js";
import { exposedSamples, recordRealisticRun } from "./fixture.js";
import { allPanels, dashboardQueries, metricNames, readDashboards, substituteGrafanaVariables } from "./promql.js";

async function exportedNames(): Promise<Set<string>> {
  const metrics = createMetrics(["background", "PZ", "TZ"]);
  recordRealisticRun(metrics, { ranks: 2, steps: 4, rng: new Rng(9) });
  return exposedSamples(await metrics.expose());
}

describe("metricNames (PromQL)", () => {
  it.each([
    ['voxring_train_loss{instance=~"$instance", rank=~"$rank"}', ["voxring_train_loss"]],
    [
      'histogram_quantile(0.9, sum by (le, rank) (rate(voxring_step_seconds_bucket{rank=~"a"}[$__rate_interval])))',
      ["voxring_step_seconds_bucket"],
    ],
    ["sum without (rank) (a_total) / on (x) group_left b offset 5m", ["a_total", "b"]],
    ['60 * deriv(voxring_global_step{job="by"}[5m]) and bool up', ["voxring_global_step", "up"]],
  ])("%s", (expr, names) => {
    expect(metricNames(expr).sort()).toEqual([...names].sort());
  });
});

describe("dashboards", () => {
  const dashboards = readDashboards();

  it("exist and are current Grafana dashboards with a Prometheus datasource variable", () => {
    expect(dashboards.length).toBeGreaterThan(0);
    for (const { file, json } of dashboards) {
      expect(json.schemaVersion, file).toBeGreaterThanOrEqual(36);
      expect(typeof json.title, file).toBe("string");
      const dsVariable = json.templating.list.find((v: { type: string }) => v.type === "datasource");
      expect(dsVariable?.query, file).toBe("prometheus");
      // A dashboard that names a datasource UID breaks on every Grafana but the one it came from.
      const uids = [...JSON.stringify(json).matchAll(/"datasource":\s*\{[^}]*"uid":\s*"([^"]*)"/g)].map((m) => m[1]);
      expect(uids.length, file).toBeGreaterThan(0);
      for (const uid of uids) expect(uid, file).toMatch(/^\$\{?(datasource|DS_PROMETHEUS)\}?$/);
    }
  });

  it("give every panel a query and a unique id, and place panels on the 24-column grid", () => {
    for (const { file, json } of dashboards) {
      const ids = new Set<number>();
      for (const panel of allPanels(json)) {
        expect(ids.has(panel.id), `${file}: duplicate id ${panel.id}`).toBe(false);
        ids.add(panel.id);
        expect(panel.gridPos.x + panel.gridPos.w, `${file}: ${panel.title}`).toBeLessThanOrEqual(24);
        if (panel.type === "row") continue;
        expect(panel.targets?.length, `${file}: ${panel.title}`).toBeGreaterThan(0);
        for (const target of panel.targets) expect(target.expr, `${file}: ${panel.title}`).toMatch(/\S/);
      }
    }
  });

  it("cover what the run needs watching", () => {
    const exprs = dashboardQueries()
      .map((q) => q.expr)
      .join("\n");
    for (const needle of [
      "voxring_train_loss",
      "voxring_val_dice{",
      "voxring_best_dice_mean",
      "histogram_quantile(0.9, sum by (le) (rate(voxring_step_seconds_bucket",
      "rate(voxring_allreduce_bytes_total",
      "voxring_loss_scale",
      "voxring_skipped_steps_total",
      "voxring_workers_up",
      "voxring_worker_restarts_total",
      "process_resident_memory_bytes",
      "rate(process_cpu_seconds_total",
    ]) {
      expect(exprs).toContain(needle);
    }
  });

  it("query only metrics voxring exports", async () => {
    const exported = await exportedNames();
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(20);
    for (const { dashboard, panel, expr } of queries) {
      const names = metricNames(expr);
      expect(names.length, `${dashboard}: ${panel}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) expect(exported.has(name), `${dashboard}: ${panel}: ${name}`).toBe(true);
    }
  });

  it("leave no Grafana variable behind once substituted for Prometheus", () => {
    for (const { expr } of dashboardQueries()) expect(substituteGrafanaVariables(expr)).not.toContain("$");
  });
});
