import { defineCommand, notImplemented } from "../command.js";

export const workerCommand = defineCommand({
  command: "worker",
  describe: "Join a run from another host",
  options: {
    coordinator: { type: "string", demandOption: true, describe: "tcp://HOST:PORT of the coordinator" },
  },
  run: async () => notImplemented("worker"),
});
