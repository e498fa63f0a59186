import { defineCommand, notImplemented } from "../command.js";

export const benchCommand = defineCommand({
  command: "bench <which>",
  describe: "Benchmarks; one JSON object on the last line of stdout",
  positionals: {
    which: { choices: ["step", "allreduce", "data"] as const, describe: "step | allreduce | data" },
  },
  options: {
    json: { type: "boolean", default: false, describe: "Print the result as one JSON object" },
  },
  run: async () => notImplemented("bench"),
});
