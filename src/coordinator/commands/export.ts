import { defineCommand, notImplemented } from "../command.js";

export const exportCommand = defineCommand({
  command: "export",
  describe: "Write a self-contained inference bundle (tfjs model, ONNX model, bundle.json) from a run",
  options: {
    run: { type: "string", demandOption: true, describe: "Run directory written by `orchestrate train`" },
    out: { type: "string", demandOption: true, describe: "Bundle directory to write" },
    checkpoint: { type: "string", default: "best", describe: "best, last, or a checkpoint path" },
  },
  examples: [["orchestrate export --run runs/demo --out bundles/demo", "bundle of the best checkpoint"]],
  run: async () => notImplemented("export"),
});
