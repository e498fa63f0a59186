export { type Affine, affineSpacing, affinesClose, scaleAffine, spacingAffine } from "./affine.js";
export type { NiftiDatatype, NiftiTypedArray } from "./datatypes.js";
export { channelCount, decodeNifti, type NiftiVolume, readNifti } from "./read.js";
export { encodeNifti, type NiftiWriteInput, writeNifti } from "./write.js";
