import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { readRunKeys, requireKeysFor, runKeysFromEnv } from "../comm/security.js";
import { cliPath } from "../coordinator/supervisor.js";
import { EXIT_INPUT_ERROR, inputError } from "../errors.js";
import { defineCommand } from "./command.js";

const endpointPattern = /^tcp:\/\/[^:\s]+:\d+$/;

export const workerCommand = defineCommand({
  command: "worker",
  describe: "Join a run from another host (the coordinator also starts its local workers with this)",
  options: {
    coordinator: { type: "string", demandOption: true, describe: "tcp://HOST:PORT of the coordinator" },
    "key-file": { type: "string", describe: "The run's CURVE keys (RUN/run.keys); or VOXRING_CURVE_* variables" },
    bind: { type: "string", default: "127.0.0.1", describe: "Address of this host that the other ranks can reach" },
    threads: { type: "number", describe: "Threads for this worker (default: VOXRING_THREADS, else all cores)" },
    "max-restarts": { type: "number", default: 3, describe: "Fresh workers this agent starts after failures" },
    "coordinator-timeout": {
      type: "number",
      default: 30,
      describe:
        "Leave after this many seconds without a word from the coordinator (it sends one a second); a worker " +
        "stopped (SIGSTOP) this long is ended and replaced",
    },
    "local-index": { type: "number", hidden: true, describe: "Set by the coordinator for its own workers" },
  },
  examples: [
    ["orchestrate worker --coordinator tcp://10.0.0.2:5555 --key-file run.keys --bind 10.0.0.3", "join a run"],
  ],
  check: (args) => {
    if (!endpointPattern.test(args.coordinator))
      throw inputError("--coordinator", `expected tcp://HOST:PORT, got ${args.coordinator}`);
    if (args.threads !== undefined && !(Number.isInteger(args.threads) && args.threads >= 1)) {
      throw inputError("--threads", "expected a positive integer");
    }
  },
  run: async (args) => {
    const keys = args.keyFile ? readRunKeys(args.keyFile) : runKeysFromEnv();
    requireKeysFor([args.coordinator], keys, "--key-file");
    const envThreads = Number(process.env.VOXRING_THREADS);
    const threads = args.threads ?? (Number.isInteger(envThreads) && envThreads > 0 ? envThreads : undefined);
    if (args.localIndex !== undefined) {
      const { workerProcessMain } = await import("../worker/main.js");
      return workerProcessMain({
        coordinator: args.coordinator,
        localIndex: args.localIndex,
        keys,
        keyFile: args.keyFile ? `--key-file ${args.keyFile}` : undefined,
        bindHost: args.bind,
        threads,
        coordinatorTimeoutSeconds: args.coordinatorTimeout,
      });
    }
    return runAgent(process.argv.slice(2), args.maxRestarts, args.coordinatorTimeout);
  },
});

/**
 * On a remote host, `orchestrate worker` is an agent (as torchrun's): it runs the actual worker as a child
 * and starts a fresh one when the coordinator restarts the run (exit status 75) or the child crashed,
 * up to --max-restarts crashes; it ends when the run ends. A child that stays stopped (SIGSTOP, SIGTSTP)
 * for the coordinator timeout cannot hear the coordinator's restart, so the agent ends it (a crash).
 */
async function runAgent(argv: string[], maxRestarts: number, stoppedLimitSeconds: number): Promise<number> {
  const { EXIT_COORDINATOR_GONE, EXIT_REJOIN } = await import("../worker/main.js");
  let crashes = 0;
  for (;;) {
    const code = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, [cliPath(), ...argv, "--local-index", "-1"], { stdio: "inherit" });
      const forward = (signal: NodeJS.Signals) => child.kill(signal);
      process.on("SIGTERM", forward);
      let stoppedSince: number | null = null;
      const watch = setInterval(() => {
        stoppedSince = isStopped(child.pid) ? (stoppedSince ?? Date.now()) : null;
        if (stoppedSince !== null && Date.now() - stoppedSince >= stoppedLimitSeconds * 1000) {
          process.stderr.write(
            `orchestrate worker: the worker (pid ${child.pid}) has been stopped for ${stoppedLimitSeconds} s; ending it\n`,
          );
          child.kill("SIGKILL");
        }
      }, 1000);
      child.on("exit", (c, signal) => {
        clearInterval(watch);
        process.off("SIGTERM", forward);
        resolve(c ?? (signal === "SIGTERM" ? 143 : 1));
      });
    });
    if (code === 0 || code === 143) return code === 0 ? 0 : 1;
    // Bad input (a case, a key file) is met again by every fresh worker: say it once and stop.
    if (code === EXIT_INPUT_ERROR) return EXIT_INPUT_ERROR;
    if (code === EXIT_COORDINATOR_GONE) {
      process.stderr.write("orchestrate worker: the coordinator is gone; leaving\n");
      return 1;
    }
    if (code !== EXIT_REJOIN && ++crashes > maxRestarts) {
      process.stderr.write(`orchestrate worker: the worker failed ${crashes} times; giving up\n`);
      return 1;
    }
    process.stderr.write(`orchestrate worker: starting a fresh worker (the run restarted)\n`);
  }
}

/** Whether the process is stopped by a signal (state T in /proc/PID/stat; a debugger's stop, t, is not). */
function isStopped(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // pid (comm) state ...: comm may hold spaces and parentheses, so read the state after the last ")".
    return stat[stat.lastIndexOf(")") + 2] === "T";
  } catch {
    return false; // gone, or no /proc
  }
}
