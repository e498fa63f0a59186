import type * as tf from "@tensorflow/tfjs";
import type { NativeKernelConfig } from "../kernelConfig.js";
import { type SoftDiceAttrs, VoxKernel } from "../kernelNames.js";
import {
  type CpuBackendLike,
  int32Values,
  type KernelInputs,
  requireFloat32,
  uninitializedFloat32,
} from "./cpuTensors.js";

/** Labels of the Dice kernels: int32 class indices, one per voxel. */
export function requireLabels(backend: CpuBackendLike, labels: tf.TensorInfo, where: string): Int32Array {
  const values = int32Values(backend, labels);
  if (!values) throw new Error(`${where}: labels must be an int32 tensor of the cpu backend, got ${labels.dtype}`);
  return values;
}

/**
 * VoxSoftDiceLoss: {logits [N,D,H,W,K], labels [N,D,H,W] int32}, {smooth} → [loss [], probs, intersect [K],
 * predSum [K], truthSum [K]]: softmax and the Dice sums in one pass (native/src/VoxSoftDiceLoss.cc).
 */
export const voxSoftDiceLossConfig: NativeKernelConfig = {
  kernelName: VoxKernel.SoftDiceLoss,
  make: (addon) => (args) => {
    const backend = args.backend as CpuBackendLike;
    const { logits, labels } = args.inputs as KernelInputs<"logits" | "labels">;
    const { smooth } = args.attrs as unknown as SoftDiceAttrs;
    const classes = logits.shape[logits.shape.length - 1];
    const voxels = labels.shape.reduce((a, b) => a * b, 1);
    const probs = uninitializedFloat32(voxels * classes);
    const sums = new Float32Array(3 * classes);
    const loss = addon.softDiceLoss(
      requireFloat32(backend, logits, "VoxSoftDiceLoss: logits"),
      requireLabels(backend, labels, "VoxSoftDiceLoss"),
      probs,
      sums,
      voxels,
      classes,
      smooth,
    );
    const perClass = (i: number) =>
      backend.makeTensorInfo([classes], "float32", sums.slice(i * classes, (i + 1) * classes));
    return [
      backend.makeTensorInfo([], "float32", Float32Array.of(loss)),
      backend.makeTensorInfo(logits.shape, "float32", probs),
      perClass(0),
      perClass(1),
      perClass(2),
    ];
  },
};
