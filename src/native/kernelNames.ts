/**
 * voxring's own fused kernels: names and attributes, declared once for both sides of the contract, the ops
 * that call them (src/model/ops, with a plain tfjs version when none is registered) and the native kernels
 * that implement them (./kernels).
 */
export const VoxKernel = {
  BatchNormReluTrain: "VoxBatchNormReluTrain",
  BatchNormReluGrad: "VoxBatchNormReluGrad",
  BatchNormReluInfer: "VoxBatchNormReluInfer",
  SoftDiceLoss: "VoxSoftDiceLoss",
  SoftDiceLossGrad: "VoxSoftDiceLossGrad",
} as const;

/** Attributes of the three VoxBatchNormRelu* kernels. */
export interface BatchNormReluAttrs {
  epsilon: number;
  relu: boolean;
}

/** Attributes of VoxSoftDiceLoss and its gradient. */
export interface SoftDiceAttrs {
  smooth: number;
}
