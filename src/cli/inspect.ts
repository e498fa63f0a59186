import { formatSummary, inspectNifti } from "../data/inspect.js";
import { defineCommand } from "./command.js";

export const inspectCommand = defineCommand({
  command: "inspect <file>",
  describe: "Print a NIfTI file's header and per-channel statistics",
  positionals: { file: { type: "string", describe: "A .nii or .nii.gz file" } },
  options: {
    json: { type: "boolean", default: false, describe: "One JSON object: shape, spacing, datatype, affine, channels" },
  },
  examples: [["orchestrate inspect imagesTr/prostate_00.nii.gz --json", "header and statistics as JSON"]],
  run: async (args) => {
    const summary = await inspectNifti(String(args.file));
    process.stdout.write(args.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
    return 0;
  },
});
