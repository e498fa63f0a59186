/**
 * The demo's last act: export the best checkpoint as an inference bundle (RUN/bundle) and segment one
 * validation case with it (RUN/prediction/), through the export engineer's `exportRun` and `runPredict`,
 * exactly as `orchestrate export` and `orchestrate predict` would.
 */
import { join } from "node:path";
import { exportRun } from "../inference/export.js";
import { runPredict } from "../inference/predict.js";
import type { RunData } from "./runData.js";

export async function exportAndPredict(
  runDir: string,
  data: RunData,
  log: (line: string) => void,
): Promise<{ bundle: string; prediction: string | null }> {
  const bundle = join(runDir, "bundle");
  await exportRun({ run: runDir, checkpoint: "best", out: bundle });
  log(`exported the best checkpoint to ${bundle}`);
  const image = data.valImagePaths[0];
  if (!image) return { bundle, prediction: null };
  const name = image.replace(/^.*\//, "").replace(/\.nii(\.gz)?$/, "");
  const mask = join(runDir, "prediction", `${name}_mask.nii.gz`);
  const png = join(runDir, "prediction", `${name}.png`);
  const [result] = await runPredict({ model: bundle, inputs: [image], out: mask, png, engine: "tfjs", log });
  log(`segmented ${image} → ${result.mask} (${result.seconds.toFixed(1)} s), preview ${png}`);
  return { bundle, prediction: result.mask };
}
