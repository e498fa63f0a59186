import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunEvent } from "../../../src/coordinator/events.js";
import { createMetrics, type MetricsServer, startMetricsServer } from "../../../src/coordinator/metrics.js";
import { createPageRoutes, type PageRoutes, startPageServer } from "../../../src/coordinator/pageRoutes.js";
import { acquireRunLock } from "../../../src/coordinator/runLock.js";
import { LiveWorkers } from "../../../src/coordinator/runSnapshot.js";
import { RunWatch } from "../../../src/coordinator/runWatch.js";
import { InputError } from "../../../src/errors.js";
import { Canvas } from "../../../src/viz/canvas.js";

/** The documented fields of GET /api/run (README "The live page"). */
const apiFields = [
  "best",
  "checkpoints",
  "classes",
  "config",
  "curves",
  "elapsedSeconds",
  "endedAt",
  "epoch",
  "epochs",
  "etaSeconds",
  "export",
  "lastEventAt",
  "live",
  "loss",
  "lossScale",
  "name",
  "now",
  "preview",
  "reason",
  "restarts",
  "skippedSteps",
  "startedAt",
  "status",
  "step",
  "stepSeconds",
  "stepsPerEpoch",
  "stepsPerSecond",
  "totalSteps",
  "validatingStep",
  "validation",
  "version",
  "voxelsPerSecond",
  "workers",
];

function line(event: RunEvent): string {
  return `${JSON.stringify({ ...event, time: new Date().toISOString() })}\n`;
}
const stepEvent = (step: number, loss: number): RunEvent => ({
  type: "step",
  step,
  epoch: 0,
  loss,
  seconds: 0.5,
  allreduceSeconds: 0.01,
  voxelsPerSecond: 4096,
  lossScale: 1,
  skipped: false,
});

describe("the live page's HTTP endpoints beside /metrics", () => {
  let dir: string;
  let server: MetricsServer;
  let routes: PageRoutes;
  let base: string;
  const live = new LiveWorkers();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "voxring-page-"));
    writeFileSync(join(dir, "config.json"), JSON.stringify({ epochs: 2, stepsPerEpoch: 4, channels: [4, 8] }));
    writeFileSync(
      join(dir, "events.jsonl"),
      line({
        type: "start",
        resumedFrom: null,
        worldSize: 2,
        backend: "cpu",
        threads: 1,
        classes: ["PZ", "TZ"],
        stepsPerEpoch: 4,
      }) + line(stepEvent(1, 0.9)),
    );
    live.setUp(2);
    live.step(0, { voxelsPerSecond: 2048, stepSeconds: 0.5, step: 1 }, Date.now());
    live.heard(1, Date.now());
    routes = createPageRoutes(new RunWatch({ runDir: dir, live: () => live.facts(), minIntervalMs: 0 }));
    const metrics = createMetrics(["PZ", "TZ"], { defaultMetrics: false });
    metrics.setWorkersUp(2);
    server = await startMetricsServer({ registry: metrics.registry, port: 0, host: "127.0.0.1", page: routes });
    base = new URL("/", server.url).href;
  });

  afterAll(async () => {
    await server?.close({ finalScrape: false });
    rmSync(dir, { recursive: true, force: true });
  });

  const api = async () => {
    const response = await fetch(`${base}api/run`);
    expect(response.status).toBe(200);
    return { response, body: (await response.json()) as Record<string, unknown> & { [k: string]: never } };
  };

  it("GET /api/run: the snapshot as JSON, every documented field, live facts included, never cached", async () => {
    const { response, body } = await api();
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(Object.keys(body).sort()).toEqual(apiFields);
    expect(body).toMatchObject({
      version: 1,
      live: true,
      status: "running",
      step: 1,
      loss: 0.9,
      classes: ["PZ", "TZ"],
      epochs: 2,
      totalSteps: 8,
      config: { epochs: 2, channels: [4, 8] },
      workers: {
        up: 2,
        worldSize: 2,
        ranks: [
          { rank: 0, voxelsPerSecond: 2048 },
          { rank: 1, voxelsPerSecond: null },
        ],
      },
      curves: { loss: [[1, 0.9]], dice: {} },
      preview: null,
    });
  });

  it("GET /api/run follows events.jsonl as it grows, and waits for a line to be complete", async () => {
    appendFileSync(join(dir, "events.jsonl"), line(stepEvent(2, 0.8)));
    expect((await api()).body.step).toBe(2);
    const next = line(stepEvent(3, 0.7));
    appendFileSync(join(dir, "events.jsonl"), next.slice(0, 20));
    expect((await api()).body.step).toBe(2);
    appendFileSync(join(dir, "events.jsonl"), next.slice(20));
    const { body } = await api();
    expect(body.step).toBe(3);
    expect(body.curves).toMatchObject({
      loss: [
        [1, 0.9],
        [2, 0.8],
        [3, 0.7],
      ],
    });
  });

  it("GET / is the page: one HTML document with its own script and nothing fetched from elsewhere", async () => {
    const response = await fetch(base);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = await response.text();
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('fetch("/api/run"');
    expect(html).toContain('id="lossChart"');
    expect(html).toContain('id="diceChart"');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const head = await fetch(base, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  it("GET /val_preview.png: 404 until written, then the picture, revalidated (no-cache, ETag, 304)", async () => {
    expect((await fetch(`${base}val_preview.png`)).status).toBe(404);
    const path = join(dir, "val_preview.png");
    new Canvas(8, 4, [10, 20, 30]).writePng(path);
    const response = await fetch(`${base}val_preview.png?v=1`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/png");
    expect(response.headers.get("cache-control")).toBe("no-cache");
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(bytes.subarray(1, 4).toString()).toBe("PNG");
    const etag = response.headers.get("etag") ?? "";
    expect(etag).not.toBe("");
    const again = await fetch(`${base}val_preview.png`, { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    const { body } = await api();
    expect(body.preview).toMatchObject({ url: expect.stringMatching(/^\/val_preview\.png\?v=/) });
  });

  it("GET /metrics still works; other paths are 404, other methods 405", async () => {
    const metrics = await fetch(server.url);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^voxring_workers_up 2$/m);
    const missing = await fetch(`${base}nope`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toMatch(/\/metrics, \/ \(the live page\), \/api\/run/);
    expect((await fetch(`${base}api/run`, { method: "POST" })).status).toBe(405);
  });

  it("settle() lets an open page fetch the final state before the server closes", async () => {
    await api(); // the page polled just now
    let settled = false;
    const settling = routes.settle(5000).then(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(false);
    await api();
    await settling;
    expect(settled).toBe(true);
  });
});

describe("the page server of `orchestrate view`", () => {
  it("shows a run without an end event as running while a coordinator holds its lock, then interrupted", () => {
    const dir = mkdtempSync(join(tmpdir(), "voxring-view-"));
    try {
      writeFileSync(
        join(dir, "events.jsonl"),
        line({ type: "start", resumedFrom: null, worldSize: 1, backend: "cpu", threads: 2 }) + line(stepEvent(1, 0.5)),
      );
      const lock = acquireRunLock(dir, () => {});
      const watch = new RunWatch({ runDir: dir, minIntervalMs: 0 });
      watch.catchUp();
      expect(watch.snapshot()).toMatchObject({ live: false, status: "running", reason: null });
      lock.release();
      expect(watch.snapshot()).toMatchObject({ status: "interrupted", reason: expect.stringMatching(/--resume/) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("serves the same routes (no /metrics) and names --port when the port is taken", async () => {
    const dir = mkdtempSync(join(tmpdir(), "voxring-view-"));
    try {
      writeFileSync(
        join(dir, "events.jsonl"),
        line({ type: "start", resumedFrom: null, worldSize: 1, backend: "cpu", threads: 2 }) +
          line(stepEvent(1, 0.5)) +
          line({ type: "end", status: "completed", step: 1, epoch: 0, bestDiceMean: null, seconds: 3 }),
      );
      const watch = new RunWatch({ runDir: dir });
      watch.catchUp();
      const server = await startPageServer({ routes: createPageRoutes(watch), host: "127.0.0.1", port: 0 });
      try {
        expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
        const body = (await (await fetch(`${server.url}api/run`)).json()) as Record<string, unknown>;
        expect(body).toMatchObject({ live: false, status: "completed", step: 1, config: null, workers: { up: 0 } });
        expect((await fetch(server.url)).status).toBe(200);
        expect((await fetch(`${server.url}metrics`)).status).toBe(404);
        await expect(
          startPageServer({ routes: createPageRoutes(watch), host: "127.0.0.1", port: server.port }),
        ).rejects.toSatisfy((e: unknown) => e instanceof InputError && /^--port: port \d+/.test(e.message));
      } finally {
        await server.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
