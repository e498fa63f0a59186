/**
 * `orchestrate export`: a run's checkpoint → an inference bundle (see bundle.ts for the layout).
 *
 *   orchestrate export --run runs/p1 --out bundles/p1                    best checkpoint
 *   orchestrate export --run runs/p1 --checkpoint last --out bundles/p1
 *
 * Batch norm is folded into the convolutions (exact with running statistics), the same folded network is
 * written as a tfjs LayersModel and as ONNX, and bundle.json records what inference must repeat: channel and
 * label names and order, preprocessing, sliding-window settings, the source, checksums.
 */

import { inputError } from "../errors.js";
import { readCheckpoint, resolveCheckpoint } from "../train/checkpoint.js";
import { BUNDLE_FORMAT, type BundleManifest, voxringVersion, writeBundle } from "./bundle.js";
import { countParameters, type InferenceUNet, windowMultiple } from "./exportGraph.js";
import { buildLayersModel, LAYERS_MODEL_FILE, serializeLayersModel } from "./exportTfjs.js";
import { inferenceUNetFromWeights } from "./exportUNet.js";
import { buildOnnxModel, ONNX_INPUT, ONNX_OPSET, ONNX_OUTPUT } from "./onnxExport.js";

export const ONNX_FILE = "model.onnx";

/** Preprocessing the data pipeline applies to training cases (src/data): 1 mm, z-score over nonzero voxels. */
export const DEFAULT_PREPROCESSING: BundleManifest["preprocessing"] = {
  targetSpacing: [1, 1, 1],
  interpolation: "trilinear",
  normalization: { kind: "zscore", perChannel: true, nonzeroOnly: true },
};

export interface ExportOptions {
  run: string;
  /** "best", "last" or a checkpoint directory. */
  checkpoint: string;
  out: string;
}

/** What a bundle needs besides the network itself. */
export interface BundleDescription {
  channels: string[];
  labels: string[];
  window: [number, number, number];
  overlap: number;
  source: BundleManifest["source"];
  preprocessing?: BundleManifest["preprocessing"];
  /** Defaults to what validation measured Dice with: the largest connected component only. */
  postprocess?: BundleManifest["postprocess"];
}

export async function exportRun({ run, checkpoint, out }: ExportOptions): Promise<BundleManifest> {
  const path = resolveCheckpoint(run, checkpoint);
  const ckpt = readCheckpoint(path);
  let net: InferenceUNet;
  try {
    net = inferenceUNetFromWeights(ckpt.model, [...ckpt.params, ...ckpt.stats]);
  } catch (error) {
    throw inputError(path, (error as Error).message);
  }
  const channels = orderedNames(ckpt.dataset.modality, `${path} dataset.modality`);
  const labels = orderedNames(ckpt.dataset.labels, `${path} dataset.labels`);
  if (channels.length !== net.inChannels || labels.length !== net.numClasses) {
    throw inputError(
      path,
      `names ${channels.length} channels and ${labels.length} labels for a net of ${net.inChannels} inputs and ${net.numClasses} classes`,
    );
  }
  return writeInferenceBundle(out, net, {
    channels,
    labels,
    window: ckpt.config.valWindow,
    overlap: ckpt.config.valOverlap,
    source: {
      run,
      checkpoint: path,
      globalStep: ckpt.globalStep,
      epoch: ckpt.epoch,
      validation: ckpt.validation,
    },
  });
}

/** Writes a bundle for a folded network; also the entry point for tests and the training run's final export. */
export async function writeInferenceBundle(
  out: string,
  net: InferenceUNet,
  description: BundleDescription,
): Promise<BundleManifest> {
  if (description.channels.length !== net.inChannels) {
    throw new Error(`bundle: ${description.channels.length} channel names for a net of ${net.inChannels} inputs`);
  }
  if (description.labels.length !== net.numClasses) {
    throw new Error(`bundle: ${description.labels.length} label names for a net of ${net.numClasses} classes`);
  }
  const multiple = windowMultiple(net);
  const window = description.window.map((n) => Math.ceil(n / multiple) * multiple) as [number, number, number];
  const version = voxringVersion();
  const metadata = {
    channels: JSON.stringify(description.channels),
    labels: JSON.stringify(description.labels),
    layout: "NCDHW",
  };
  const model = buildLayersModel(net);
  let layersFiles: Awaited<ReturnType<typeof serializeLayersModel>>;
  try {
    layersFiles = await serializeLayersModel(model, { voxring: version, ...metadata, layout: "NDHWC" });
  } finally {
    model.dispose();
  }
  const files = { ...layersFiles, [ONNX_FILE]: buildOnnxModel(net, { producerVersion: version, metadata }) };
  return writeBundle(out, files, {
    format: BUNDLE_FORMAT,
    voxringVersion: version,
    createdAt: new Date().toISOString(),
    source: description.source,
    channels: description.channels,
    labels: description.labels,
    model: {
      channels: net.channels,
      parameters: countParameters(net),
      concatOrder: net.concatOrder,
      batchNormFolded: true,
    },
    preprocessing: description.preprocessing ?? DEFAULT_PREPROCESSING,
    inference: {
      window,
      windowMultiple: multiple,
      overlap: description.overlap,
      blending: "gaussian",
      sigmaScale: 1 / 8,
      padValue: 0,
    },
    postprocess: description.postprocess ?? "largest-component",
    engines: {
      tfjs: { modelFile: LAYERS_MODEL_FILE, layout: "NDHWC" },
      onnx: { modelFile: ONNX_FILE, layout: "NCDHW", opset: ONNX_OPSET, input: ONNX_INPUT, output: ONNX_OUTPUT },
    },
  });
}

/** dataset.json's {"0": "T2", "1": "ADC"} → ["T2", "ADC"]; keys must be 0..n−1. */
export function orderedNames(map: Record<string, string>, where: string): string[] {
  const keys = Object.keys(map)
    .map(Number)
    .sort((a, b) => a - b);
  if (keys.length === 0 || keys.some((k, i) => k !== i)) {
    throw inputError(where, `keys must be 0..n−1, got ${Object.keys(map).join(", ")}`);
  }
  return keys.map((k) => map[String(k)]);
}
