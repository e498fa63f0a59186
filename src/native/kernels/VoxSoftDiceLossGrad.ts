import type { NativeKernelConfig } from "../kernelConfig.js";
import { type SoftDiceAttrs, VoxKernel } from "../kernelNames.js";
import { type CpuBackendLike, type KernelInputs, requireFloat32, uninitializedFloat32 } from "./cpuTensors.js";
import { requireLabels } from "./VoxSoftDiceLoss.js";

/**
 * VoxSoftDiceLossGrad: {dloss [], probs, labels, intersect, predSum, truthSum}, {smooth} → [dlogits], one pass
 * over the voxels (native/src/VoxSoftDiceLoss.cc).
 */
export const voxSoftDiceLossGradConfig: NativeKernelConfig = {
  kernelName: VoxKernel.SoftDiceLossGrad,
  make: (addon) => (args) => {
    const backend = args.backend as CpuBackendLike;
    const inputs = args.inputs as KernelInputs<"dloss" | "probs" | "labels" | "intersect" | "predSum" | "truthSum">;
    const { smooth } = args.attrs as unknown as SoftDiceAttrs;
    const values = (name: "dloss" | "probs" | "intersect" | "predSum" | "truthSum") =>
      requireFloat32(backend, inputs[name], `VoxSoftDiceLossGrad: ${name}`);
    const classes = inputs.probs.shape[inputs.probs.shape.length - 1];
    const voxels = inputs.labels.shape.reduce((a, b) => a * b, 1);
    const sums = new Float32Array(3 * classes);
    sums.set(values("intersect"), 0);
    sums.set(values("predSum"), classes);
    sums.set(values("truthSum"), 2 * classes);
    const dlogits = uninitializedFloat32(voxels * classes);
    addon.softDiceLossGrad(
      values("dloss")[0],
      values("probs"),
      requireLabels(backend, inputs.labels, "VoxSoftDiceLossGrad"),
      sums,
      dlogits,
      voxels,
      classes,
      smooth,
    );
    return backend.makeTensorInfo(inputs.probs.shape, "float32", dlogits);
  },
};
