export { type Affine, affineSpacing, affinesClose, scaleAffine, spacingAffine } from "./affine.js";
export type { NiftiDatatype, NiftiTypedArray } from "./datatypes.js";
export {
  channelCount,
  DEFAULT_MAX_NIFTI_BYTES,
  decodeNifti,
  maxNiftiBytes,
  type NiftiVolume,
  type ReadOptions,
  readNifti,
} from "./read.js";
export { encodeNifti, type NiftiWriteInput, writeNifti } from "./write.js";
