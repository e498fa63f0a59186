import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { createPageRoutes, startPageServer } from "../coordinator/pageRoutes.js";
import { RunWatch } from "../coordinator/runWatch.js";
import { inputError } from "../errors.js";
import { defineCommand } from "./command.js";

export const viewCommand = defineCommand({
  command: "view <run>",
  describe: "Serve the live page of a run from its directory (events.jsonl, val_preview.png, config.json)",
  positionals: { run: { type: "string", describe: "Run directory written by `orchestrate train`" } },
  options: {
    host: { type: "string", default: "127.0.0.1", describe: "Address to listen on" },
    port: { type: "number", default: 9465, describe: "Port to listen on (0: any free port)" },
  },
  examples: [
    ["orchestrate view runs/p1", "the page of runs/p1 at http://127.0.0.1:9465/"],
    ["orchestrate view runs/p1 --port 0", "on any free port (the URL is printed)"],
  ],
  run: async (args) => {
    const runDir = String(args.run);
    if (!existsSync(runDir)) throw inputError(runDir, "no such run directory");
    if (!statSync(runDir).isDirectory()) throw inputError(runDir, "not a directory");
    if (!existsSync(join(runDir, "events.jsonl"))) throw inputError(runDir, "not a run directory (no events.jsonl)");
    // The whole file once now; afterwards each request reads only what was appended (a run still going).
    const watch = new RunWatch({ runDir });
    watch.catchUp();
    const server = await startPageServer({ routes: createPageRoutes(watch), host: args.host, port: args.port });
    process.stdout.write(`voxring view: ${server.url} (${runDir}; Ctrl-C to stop)\n`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    await server.close();
    process.stderr.write(`voxring view: ${signal}, stopped\n`);
    return 0;
  },
});
