import { inputError } from "../errors.js";
import { runPredict } from "../inference/predict.js";
import { ENGINES } from "../inference/predictEngine.js";
import { defineCommand } from "./command.js";

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
    png: {
      type: "string",
      describe: "Also write a preview PNG of the prediction over T2 (a directory for a directory)",
    },
    engine: { choices: ENGINES, default: "tfjs" as const, describe: "Inference engine" },
    threads: { type: "number", describe: "CPU threads for the engine (default: all cores)" },
    json: { type: "boolean", default: false, describe: "Print one JSON object per case on stdout" },
  },
  repeatable: ["in"],
  examples: [
    ["orchestrate predict --model bundles/p1 --in case.nii.gz --out mask.nii.gz --png mask.png", "one 4D case"],
    ["orchestrate predict --model bundles/p1 --in t2.nii.gz --in adc.nii.gz --out mask.nii.gz", "one file per channel"],
    ["orchestrate predict --model bundles/p1 --in imagesTs --out masks --engine onnx", "a directory of cases"],
  ],
  check: (args) => {
    if (args.threads !== undefined && !(Number.isInteger(args.threads) && args.threads > 0)) {
      throw inputError("--threads", `must be a positive integer, got ${args.threads}`);
    }
  },
  run: async (args) => {
    const results = await runPredict({
      model: args.model,
      inputs: args.in,
      out: args.out,
      png: args.png,
      engine: args.engine,
      threads: args.threads,
      log: args.json ? undefined : (line) => process.stdout.write(`${line}\n`),
    });
    if (args.json) for (const result of results) process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  },
});
