import { writeSyntheticDataset } from "../data/synth/dataset.js";
import { defineCommand } from "./command.js";

export const synthCommand = defineCommand({
  command: "synth",
  describe: "Write a synthetic Task05-style prostate dataset (Decathlon layout) of phantom cases",
  options: {
    out: { type: "string", demandOption: true, describe: "Directory to write (dataset.json, imagesTr/, labelsTr/)" },
    cases: { type: "number", default: 32, describe: "Number of cases" },
    seed: { type: "number", default: 0, describe: "Random seed; the same seed writes the same bytes" },
  },
  examples: [["orchestrate synth --out data/synth --cases 32 --seed 1", "32 phantom cases"]],
  run: async (args) => {
    const started = performance.now();
    const ids = await writeSyntheticDataset(args.out, { cases: args.cases, seed: args.seed });
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(`wrote ${ids.length} cases to ${args.out} in ${seconds.toFixed(1)} s\n`);
    return 0;
  },
});
