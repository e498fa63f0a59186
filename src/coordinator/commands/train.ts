import { defineCommand, notImplemented } from "../command.js";

export const trainCommand = defineCommand({
  command: "train",
  aliases: ["$0"],
  describe: "Train a 3D U-Net with one worker per GPU (or CPU slot); the default command",
  options: {
    gpus: { type: "number", default: 4, describe: "Number of workers (one per GPU; CPU slots on a host without GPU)" },
    data: { type: "string", describe: "Decathlon task directory (dataset.json); default: built-in synthetic dataset" },
    out: { type: "string", describe: "Run directory (checkpoints, events, plots)" },
  },
  run: async () => notImplemented("train"),
});
