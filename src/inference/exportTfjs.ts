/**
 * The folded U-Net as a tfjs LayersModel: model.json + one weights file, the format `tf.loadLayersModel` reads
 * with any backend (browser over http, Node through `loadLayersModelFromDir`). tfjs-node, which owns the
 * file:// handler, cannot be installed here, so saving and loading go through small handlers of our own.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { ConvWeights, InferenceUNet } from "./exportGraph.js";
import { checkInferenceUNet } from "./exportGraph.js";

export const LAYERS_MODEL_FILE = "model.json";
export const LAYERS_WEIGHTS_FILE = "weights.bin";

/**
 * Builds the LayersModel: input [N, D, H, W, C] with free spatial sizes (multiples of 2^(levels-1)), output
 * class probabilities [N, D, H, W, K]. Layer names follow the InferenceUNet fields, so a weight is found by name.
 */
export function buildLayersModel(net: InferenceUNet): tf.LayersModel {
  checkInferenceUNet(net);
  const input = tf.input({ shape: [null, null, null, net.inChannels], name: "image" });
  const pending: [tf.layers.Layer, ConvWeights][] = [];
  const conv = (x: tf.SymbolicTensor, weights: ConvWeights, name: string, relu: boolean) => {
    const layer = tf.layers.conv3d({
      name,
      filters: weights.kernelShape[4],
      kernelSize: weights.kernelShape.slice(0, 3),
      padding: "same",
      activation: relu ? "relu" : "linear",
    });
    pending.push([layer, weights]);
    return layer.apply(x) as tf.SymbolicTensor;
  };

  let x = input;
  const skips: tf.SymbolicTensor[] = [];
  net.encoder.forEach(([a, b], level) => {
    x = conv(conv(x, a, `encoder${level}_conv0`, true), b, `encoder${level}_conv1`, true);
    if (level < net.encoder.length - 1) {
      skips.push(x);
      x = tf.layers
        .maxPooling3d({ name: `encoder${level}_pool`, poolSize: 2, strides: 2 })
        .apply(x) as tf.SymbolicTensor;
    }
  });
  net.upsample.forEach((up, i) => {
    const layer = tf.layers.conv3dTranspose({
      name: `decoder${i}_up`,
      filters: up.kernelShape[3],
      kernelSize: 2,
      strides: 2,
      padding: "valid",
    });
    pending.push([layer, up]);
    const upsampled = layer.apply(x) as tf.SymbolicTensor;
    const skip = skips.pop() as tf.SymbolicTensor;
    const parts = net.concatOrder === "upsampledFirst" ? [upsampled, skip] : [skip, upsampled];
    x = tf.layers.concatenate({ name: `decoder${i}_concat`, axis: -1 }).apply(parts) as tf.SymbolicTensor;
    const [a, b] = net.decoder[i];
    x = conv(conv(x, a, `decoder${i}_conv0`, true), b, `decoder${i}_conv1`, true);
  });
  x = conv(x, net.head, "head", false);
  const probs = tf.layers.softmax({ name: "probabilities", axis: -1 }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: probs, name: "voxring_unet" });

  for (const [layer, weights] of pending) {
    const values = [tf.tensor(weights.kernel, weights.kernelShape), tf.tensor(weights.bias)];
    layer.setWeights(values); // copies into the layer's variables
    tf.dispose(values);
  }
  return model;
}

/** model.json and weights.bin as bytes, ready to be written into a bundle. */
export async function serializeLayersModel(
  model: tf.LayersModel,
  metadata: Record<string, unknown> = {},
): Promise<{ [LAYERS_MODEL_FILE]: Uint8Array; [LAYERS_WEIGHTS_FILE]: Uint8Array }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (saved) => {
      artifacts = saved;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
  if (!artifacts?.weightData || !artifacts.weightSpecs) throw new Error("serializeLayersModel: tfjs saved no weights");
  const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
  const modelJson = {
    format: "layers-model",
    generatedBy: artifacts.generatedBy,
    convertedBy: "voxring export",
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [`./${LAYERS_WEIGHTS_FILE}`], weights: artifacts.weightSpecs }],
    userDefinedMetadata: metadata,
  };
  return {
    [LAYERS_MODEL_FILE]: new TextEncoder().encode(JSON.stringify(modelJson)),
    [LAYERS_WEIGHTS_FILE]: new Uint8Array(weightData),
  };
}

/** Loads model.json and its weight files from a directory (the file:// handler tfjs-node would provide). */
export async function loadLayersModelFromDir(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel({
    load: async () => {
      const modelJson = JSON.parse(readFileSync(join(dir, LAYERS_MODEL_FILE), "utf8")) as tf.io.ModelJSON;
      const weightSpecs: tf.io.WeightsManifestEntry[] = [];
      const buffers: ArrayBuffer[] = [];
      for (const group of modelJson.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const path of group.paths) {
          const bytes = readFileSync(join(dir, path));
          buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
        }
      }
      return {
        modelTopology: modelJson.modelTopology,
        format: modelJson.format,
        generatedBy: modelJson.generatedBy,
        convertedBy: modelJson.convertedBy,
        weightSpecs,
        weightData: tf.io.CompositeArrayBuffer.join(buffers),
      };
    },
  });
}
