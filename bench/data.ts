/**
 * `orchestrate bench data --data DIR --json`: loads every training case of a Decathlon directory, resamples
 * it to 1 mm and z-scores it, as the anchor anchors/nibabel_scipy_load.py does with nibabel + scipy, and
 * reports cases per second. Without --data it times an 8-case synthetic dataset written to a temp dir.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadDecathlon } from "../src/data/decathlon.js";
import { type LoadedCase, loadCase } from "../src/data/loadCase.js";
import { preprocessLoaded } from "../src/data/preprocess.js";
import { writeSyntheticDataset } from "../src/data/synth/dataset.js";

export type BenchArgs = Record<string, unknown>;

export interface DataBenchResult {
  engine: "voxring";
  data: string;
  cases: number;
  seconds: number;
  cases_per_s: number;
}

export async function run(args: BenchArgs): Promise<DataBenchResult> {
  const given = typeof args.data === "string" ? args.data : undefined;
  const dir = given ?? mkdtempSync(join(tmpdir(), "voxring-bench-data-"));
  try {
    if (!given) await writeSyntheticDataset(dir, { cases: 8, seed: 1 });
    const dataset = await loadDecathlon(dir);
    const started = performance.now();
    // The next two cases inflate on libuv's thread pool while this one is resampled on the main thread.
    const ahead = 2;
    const loads: Promise<LoadedCase>[] = [];
    const prefetch = (i: number) => {
      if (i >= dataset.cases.length) return;
      const p = loadCase(dataset, dataset.cases[i]);
      p.catch(() => {}); // rejection is rethrown where it is awaited; this only keeps Node from calling it unhandled
      loads[i] = p;
    };
    for (let i = 0; i < ahead; i++) prefetch(i);
    for (let i = 0; i < dataset.cases.length; i++) {
      const loaded = await loads[i];
      prefetch(i + ahead);
      preprocessLoaded(loaded.id, loaded.image, loaded.label);
    }
    const seconds = (performance.now() - started) / 1000;
    const cases = dataset.cases.length;
    return {
      engine: "voxring",
      data: given ?? "synthetic (8 cases, seed 1)",
      cases,
      seconds: round(seconds),
      cases_per_s: round(cases / seconds),
    };
  } finally {
    if (!given) rmSync(dir, { recursive: true, force: true });
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
