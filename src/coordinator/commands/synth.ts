import { defineCommand, notImplemented } from "../command.js";

export const synthCommand = defineCommand({
  command: "synth",
  describe: "Write a synthetic Task05-style prostate dataset (Decathlon layout) of phantom cases",
  options: {
    out: { type: "string", demandOption: true, describe: "Directory to write (dataset.json, imagesTr/, labelsTr/)" },
    cases: { type: "number", default: 32, describe: "Number of cases" },
    seed: { type: "number", default: 0, describe: "Random seed; the same seed writes the same bytes" },
  },
  examples: [["orchestrate synth --out data/synth --cases 32 --seed 1", "32 phantom cases"]],
  run: async () => notImplemented("synth"),
});
