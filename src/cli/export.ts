import * as tf from "@tensorflow/tfjs";
import { exportRun } from "../inference/export.js";
import { defineCommand } from "./command.js";

export const exportCommand = defineCommand({
  command: "export",
  describe: "Write a self-contained inference bundle (tfjs model, ONNX model, bundle.json) from a run",
  options: {
    run: { type: "string", demandOption: true, describe: "Run directory written by `orchestrate train`" },
    out: { type: "string", demandOption: true, describe: "Bundle directory to write" },
    checkpoint: { type: "string", default: "best", describe: "best, last, or a checkpoint path" },
  },
  examples: [
    ["orchestrate export --run runs/demo --out bundles/demo", "bundle of the best checkpoint"],
    ["orchestrate export --run runs/demo --checkpoint last --out bundles/last", "bundle of the latest checkpoint"],
  ],
  run: async (args) => {
    // The model is only built and serialised, never run: the plain cpu backend, and no tfjs banner.
    tf.enableProdMode();
    await tf.setBackend("cpu");
    const manifest = await exportRun({ run: args.run, checkpoint: args.checkpoint, out: args.out });
    const dice = manifest.source.validation ? `, val dice ${manifest.source.validation.diceMean.toFixed(3)}` : "";
    process.stdout.write(
      `exported ${manifest.source.checkpoint} (step ${manifest.source.globalStep}${dice}) → ${args.out}: ` +
        `${Object.keys(manifest.files).join(", ")}, bundle.json; ${manifest.model.parameters} parameters, ` +
        `channels ${manifest.channels.join("+")}, labels ${manifest.labels.join("/")}\n`,
    );
    return 0;
  },
});
