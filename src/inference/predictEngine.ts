/**
 * The two inference engines behind `orchestrate predict --engine`: the bundle's tfjs LayersModel on the cpu
 * backend (with the native oneDNN kernels when built) or its ONNX model on onnxruntime. Both answer the
 * sliding window's PredictFn: channels-last patches in, channels-last probabilities out.
 */
import * as tf from "@tensorflow/tfjs";
import type { InferenceSession } from "onnxruntime-node";
import type { PredictFn } from "../data/slidingWindow.js";
import { initBackend } from "../native/backend.js";
import type { BundleManifest } from "./bundle.js";
import { loadLayersModelFromDir } from "./exportTfjs.js";
import { fastForward } from "./predictForward.js";

export const ENGINES = ["tfjs", "onnx"] as const;
export type EngineName = (typeof ENGINES)[number];

export interface InferenceEngine {
  name: EngineName;
  predict: PredictFn;
  dispose(): Promise<void>;
}

export interface EngineOptions {
  /** CPU threads; default: what the engine picks (all cores). */
  threads?: number;
}

/** Loads the bundle's model for one engine; the bundle must already be verified (readBundle). */
export async function createEngine(
  bundleDir: string,
  manifest: BundleManifest,
  name: EngineName,
  options: EngineOptions = {},
): Promise<InferenceEngine> {
  return name === "onnx"
    ? createOnnxEngine(bundleDir, manifest, options)
    : createTfjsEngine(bundleDir, manifest, options);
}

async function createTfjsEngine(
  bundleDir: string,
  manifest: BundleManifest,
  { threads }: EngineOptions,
): Promise<InferenceEngine> {
  await initBackend({ backend: "cpu", threads });
  const model = await loadLayersModelFromDir(bundleDir);
  const fast = fastForward(model, manifest.model.concatOrder);
  const C = manifest.channels.length;
  return {
    name: "tfjs",
    predict: async (patches, [X, Y, Z], count) => {
      const x = tf.tensor5d(patches, [count, Z, Y, X, C]);
      try {
        if (fast) return await fast.probabilities(x);
        const probs = model.predict(x) as tf.Tensor;
        const values = (await probs.data()) as Float32Array;
        probs.dispose();
        return values;
      } finally {
        x.dispose();
      }
    },
    dispose: async () => {
      fast?.dispose();
      model.dispose();
    },
  };
}

async function createOnnxEngine(
  bundleDir: string,
  manifest: BundleManifest,
  { threads }: EngineOptions,
): Promise<InferenceEngine> {
  // Loaded on demand: the tfjs path (and validation during training) never pays for onnxruntime.
  const ort = await import("onnxruntime-node");
  const { onnx } = manifest.engines;
  const sessionOptions: InferenceSession.SessionOptions = threads
    ? { intraOpNumThreads: threads, interOpNumThreads: 1 }
    : {};
  const session = await ort.InferenceSession.create(`${bundleDir}/${onnx.modelFile}`, sessionOptions);
  const C = manifest.channels.length;
  const K = manifest.labels.length;
  return {
    name: "onnx",
    predict: async (patches, [X, Y, Z], count) => {
      const input = swapLastAxes(patches, count, X * Y * Z, C);
      const result = await session.run({ [onnx.input]: new ort.Tensor("float32", input, [count, C, Z, Y, X]) });
      const output = result[onnx.output];
      const probs = swapLastAxes(output.data as Float32Array, count, K, X * Y * Z);
      output.dispose();
      return probs;
    },
    dispose: () => session.release(),
  };
}

/** [n, a, b] → [n, b, a]: channels-last ↔ channels-first for `n` patches (a tight loop; runs on every window). */
export function swapLastAxes(values: Float32Array, n: number, a: number, b: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let p = 0, base = 0; p < n; p++, base += a * b) {
    for (let i = 0; i < a; i++) {
      const from = base + i * b;
      for (let j = 0; j < b; j++) out[base + j * a + i] = values[from + j];
    }
  }
  return out;
}
