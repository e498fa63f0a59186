import { checkDataset, formatReport, problemLines } from "../data/check.js";
import { defineCommand } from "./command.js";

export const checkCommand = defineCommand({
  command: "check",
  describe: "Check a Decathlon dataset the way train does before it starts: every case read and verified",
  options: {
    data: { type: "string", demandOption: true, describe: "Decathlon task directory (dataset.json)" },
  },
  examples: [["orchestrate check --data data/Task05_Prostate", "what was checked, or one line per bad case"]],
  run: async (args) => {
    const report = await checkDataset(args.data);
    if (report.problems.length === 0) {
      process.stdout.write(formatReport(report));
      return 0;
    }
    for (const line of problemLines(report)) process.stderr.write(`orchestrate: ${line}\n`);
    return 2;
  },
});
