import { defineCommand, notImplemented } from "../command.js";

export const predictCommand = defineCommand({
  command: "predict",
  describe: "Segment a case with an exported bundle; the mask is written in the input's own grid",
  options: {
    model: { type: "string", demandOption: true, describe: "Bundle directory written by `orchestrate export`" },
    in: {
      type: "string",
      array: true,
      demandOption: true,
      describe: "One 4D image with the bundle's channels, one 3D image per channel (repeat --in), or a directory",
    },
    out: { type: "string", demandOption: true, describe: "Mask file (.nii.gz) or directory" },
    png: { type: "string", describe: "Also write a preview PNG of the prediction over T2" },
    engine: { choices: ["tfjs", "onnx"] as const, default: "tfjs" as const, describe: "Inference engine" },
  },
  run: async () => notImplemented("predict"),
});
