/**
 * The local worker processes of a run: spawned from the same CLI (`orchestrate worker --coordinator ...`),
 * watched, and killed. Each child gets an IPC channel whose only purpose is to die with us: when the
 * coordinator exits for any reason (even SIGKILL) the channel closes and the worker exits on 'disconnect'.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface WorkerSpawnOptions {
  coordinator: string;
  /** Extra environment per local index (CUDA_VISIBLE_DEVICES, thread counts, keys). */
  env: (index: number) => Record<string, string>;
  /** Extra CLI arguments for every worker. */
  args?: string[];
}

export interface WorkerExit {
  index: number;
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The built CLI that workers run (dist/ also when the coordinator itself runs from src/ under vitest). */
export function cliPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const sibling = join(here, "..", "cli", "cli.js");
  if (existsSync(sibling)) return sibling;
  let dir = here;
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "dist", "src", "cli", "cli.js");
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error("cannot find dist/src/cli/cli.js: run `npx tsc -p tsconfig.json` first");
}

export class LocalWorkers {
  private children: (ChildProcess | null)[] = [];
  private exitHandler: (exit: WorkerExit) => void = () => {};
  private expected = new Set<number>();

  /** Called once per child that exits without killAll() having asked it to. */
  onUnexpectedExit(handler: (exit: WorkerExit) => void): void {
    this.exitHandler = handler;
  }

  spawn(count: number, options: WorkerSpawnOptions): void {
    const cli = cliPath();
    this.expected.clear();
    this.children = [];
    for (let index = 0; index < count; index++) {
      const child = spawn(
        process.execPath,
        [cli, "worker", "--coordinator", options.coordinator, "--local-index", String(index), ...(options.args ?? [])],
        {
          stdio: ["ignore", "inherit", "inherit", "ipc"],
          env: { ...process.env, ...options.env(index) },
          // A process group of their own: a signal to ours (Ctrl-C, timeout(1)) reaches the coordinator
          // alone, which stops the workers after the step in flight with a checkpoint. They still die with
          // us: the IPC channel closes (see the file comment).
          detached: true,
        },
      );
      const pid = child.pid ?? -1;
      child.on("exit", (code, signal) => {
        this.children[index] = null;
        if (!this.expected.has(pid)) this.exitHandler({ index, pid, code, signal });
      });
      this.children.push(child);
    }
  }

  pids(): number[] {
    return this.children.filter((c): c is ChildProcess => c !== null).map((c) => c.pid ?? -1);
  }

  /** Kills every live child (SIGTERM, then SIGKILL after `graceMs`) and resolves once all have exited. */
  async killAll(graceMs = 3000): Promise<void> {
    const live = this.children.filter((c): c is ChildProcess => c !== null && c.exitCode === null);
    for (const child of live) if (child.pid) this.expected.add(child.pid);
    await Promise.all(
      live.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
            child.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill(graceMs > 0 ? "SIGTERM" : "SIGKILL");
          }),
      ),
    );
    this.children = [];
  }
}
