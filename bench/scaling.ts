/**
 * `orchestrate bench scaling --hosts 4 --rate 1gbit --steps 8 [--anchor] [--amp] [--bucket-mb 25] --json`
 *
 * Training across hosts, as a user with N GPU hosts would run it, on one machine: N network-namespace hosts
 * on a bridge, each link shaped with `tc tbf` to --rate both ways (bench/netns.ts), the coordinator and
 * rank 0 on host 0, `orchestrate worker` on the others, every socket under CURVE. The default model at
 * patch 32×32×16, batch 1, one thread per rank: on the CPU that keeps the balance of a GPU host, where a step
 * computes in a fraction of a second while 22.6 MB of gradients cross the network (BENCHMARK.md).
 *
 * The figure is rank 0's step time (lock-step: it includes waiting for the slowest rank) averaged over the
 * steps after --warmup, and voxels/s over all ranks. --anchor also runs PyTorch DDP over gloo on the same
 * hosts, same model, batch and threads, one process per host with GLOO_SOCKET_IFNAME set to the host's
 * interface (../shared/anchors/ddp_unet.py), so the two are measured side by side in one sitting:
 *
 *   ip netns exec HOST_R env GLOO_SOCKET_IFNAME=DEV_R /usr/bin/python3 ../shared/anchors/ddp_unet.py \
 *     --rank R --world N --master ADDR_0:PORT --batch 1 --patch 32 32 16 --threads 1 --steps S
 *
 * Needs root. The namespaces are removed at the end, on failure and on Ctrl-C.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readEvents } from "../src/coordinator/events.js";
import { cliPath } from "../src/coordinator/supervisor.js";
import { inputError } from "../src/errors.js";
import { buildHosts, type HostNet, type NetHost, tcRateBitsPerSecond } from "./netns.js";

export type BenchArgs = Record<string, unknown>;

const PATCH = [32, 32, 16] as const;
const VOXELS = PATCH[0] * PATCH[1] * PATCH[2];

export interface EngineFigure {
  voxels_per_s: number;
  step_s: number;
  /** the all-reduce's share of the step (voxring only) */
  allreduce_share?: number;
}

export interface ScalingResult {
  hosts: number;
  rate: string;
  steps: number;
  warmup: number;
  amp: boolean;
  bucket_mb: number | null;
  patch: readonly number[];
  voxring: EngineFigure;
  ddp: EngineFigure | null;
  /** voxring / DDP voxels per second */
  ratio: number | null;
}

export async function run(args: BenchArgs): Promise<ScalingResult> {
  const hostCount = Number(args.hosts ?? 4);
  const rate = String(args.rate ?? "1gbit");
  const steps = Number(args.steps ?? 8);
  const warmup = Number(args.warmup ?? 2);
  const amp = args.amp === true;
  const bucketMb = args.bucketMb === undefined ? null : Number(args.bucketMb);
  if (!(Number.isInteger(hostCount) && hostCount >= 2 && hostCount <= 16))
    throw inputError("--hosts", "expected 2..16");
  if (tcRateBitsPerSecond(rate) === null) throw inputError("--rate", `expected a tc rate such as 1gbit, got ${rate}`);
  if (!(Number.isInteger(steps) && steps >= 1)) throw inputError("--steps", "expected a positive integer");
  if (!(Number.isInteger(warmup) && warmup >= 0)) throw inputError("--warmup", "expected an integer ≥ 0");
  const anchor = args.anchor === true ? resolve(String(args.anchorScript ?? "../shared/anchors/ddp_unet.py")) : null;
  if (anchor && !existsSync(anchor)) throw inputError("--anchor-script", `${anchor} does not exist`);
  if (process.getuid?.() !== 0)
    throw inputError("bench scaling", "needs root to build network namespaces (ip netns, tc)");

  const prefix = `vsb${process.pid % 100}`;
  const children = new Set<ChildProcess>();
  let net: HostNet | undefined;
  const cleanUp = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    net?.remove();
  };
  const onSignal = () => {
    cleanUp();
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    net = buildHosts({ prefix, count: hostCount, subnet: "10.215.9", rate });
    const voxring = await runVoxring(net.hosts, { steps, warmup, amp, bucketMb }, children);
    const ddp = anchor ? await runDdp(net.hosts, anchor, steps, children) : null;
    return {
      hosts: hostCount,
      rate,
      steps,
      warmup,
      amp,
      bucket_mb: bucketMb,
      patch: PATCH,
      voxring,
      ddp,
      ratio: ddp ? round(voxring.voxels_per_s / ddp.voxels_per_s, 3) : null,
    };
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    cleanUp();
  }
}

interface VoxringJob {
  steps: number;
  warmup: number;
  amp: boolean;
  bucketMb: number | null;
}

/** A real run: coordinator and rank 0 on host 0, an agent on each other host; figures from events.jsonl. */
async function runVoxring(hosts: NetHost[], job: VoxringJob, children: Set<ChildProcess>): Promise<EngineFigure> {
  const dir = mkdtempSync(join(tmpdir(), "voxring-scaling-"));
  try {
    const out = join(dir, "run");
    const [first] = hosts;
    const port = 5555;
    const total = job.warmup + job.steps;
    const coordinator = inNamespace(
      first.ns,
      [process.execPath, cliPath(), "train"],
      [
        ...["--bind", first.addr, "--port", String(port), "--gpus", "1", "--remote-workers", String(hosts.length - 1)],
        ...["--threads", "1", "--patch", ...PATCH.map(String), "--batch", "1", "--out", out, "--metrics-port", "0"],
        ...["--epochs", "1", "--steps-per-epoch", String(total), "--val-every", "1000"],
        ...["--val-window", ...PATCH.map(String), "--synth-cases", "8"],
        ...(job.amp ? ["--amp"] : []),
        ...(job.bucketMb !== null ? ["--bucket-mb", String(job.bucketMb)] : []),
      ],
      {},
      children,
    );
    const keyFile = join(out, "run.keys");
    const deadline = Date.now() + 120_000;
    while (!existsSync(keyFile)) {
      if (coordinator.exitCode !== null || Date.now() > deadline) throw new Error("bench scaling: no coordinator");
      await new Promise((r) => setTimeout(r, 100));
    }
    const agents = hosts
      .slice(1)
      .map((h) =>
        inNamespace(
          h.ns,
          [process.execPath, cliPath(), "worker"],
          ["--coordinator", `tcp://${first.addr}:${port}`, "--key-file", keyFile, "--bind", h.addr, "--threads", "1"],
          {},
          children,
        ),
      );
    const code = await exited(coordinator);
    await Promise.all(agents.map(exited));
    if (code !== 0) throw new Error(`bench scaling: the voxring run exited with status ${code}`);
    const timed = readEvents(join(out, "events.jsonl"))
      .flatMap((e) => (e.type === "step" ? [e] : []))
      .filter((e) => e.step > job.warmup);
    if (timed.length < job.steps) throw new Error(`bench scaling: ${timed.length} timed steps, expected ${job.steps}`);
    const stepSeconds = timed.reduce((s, e) => s + e.seconds, 0) / timed.length;
    const allreduce = timed.reduce((s, e) => s + e.allreduceSeconds, 0) / timed.length;
    return {
      voxels_per_s: Math.round((hosts.length * VOXELS) / stepSeconds),
      step_s: round(stepSeconds, 3),
      allreduce_share: round(allreduce / stepSeconds, 3),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The anchor: one DDP process per host; rank 0 prints one JSON line. */
async function runDdp(hosts: NetHost[], script: string, steps: number, children: Set<ChildProcess>) {
  const master = `${hosts[0].addr}:29500`;
  const ranks = hosts.map((h, rank) =>
    inNamespace(
      h.ns,
      ["/usr/bin/python3", script],
      [
        ...["--rank", String(rank), "--world", String(hosts.length), "--master", master],
        ...["--batch", "1", "--patch", ...PATCH.map(String), "--threads", "1", "--steps", String(steps)],
      ],
      { GLOO_SOCKET_IFNAME: h.dev, OMP_NUM_THREADS: "1" },
      children,
      true,
    ),
  );
  let stdout = "";
  ranks[0].stdout?.on("data", (d) => {
    stdout += d;
  });
  const codes = await Promise.all(ranks.map(exited));
  if (codes.some((c) => c !== 0)) throw new Error(`bench scaling: the DDP anchor exited with ${codes.join(", ")}`);
  const line = JSON.parse(stdout.trim().split("\n").at(-1) as string) as { ms_per_step: number; voxels_per_s: number };
  return { voxels_per_s: line.voxels_per_s, step_s: round(line.ms_per_step / 1000, 3) };
}

function inNamespace(
  ns: string,
  command: string[],
  args: string[],
  env: Record<string, string>,
  children: Set<ChildProcess>,
  captureStdout = false,
): ChildProcess {
  const child = spawn("ip", ["netns", "exec", ns, ...command, ...args], {
    env: { ...process.env, ...env },
    // stdout is the bench's own JSON line: the runs' progress goes to stderr
    stdio: ["ignore", captureStdout ? "pipe" : process.stderr, process.stderr],
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolveExit) => child.on("exit", (code) => resolveExit(code)));
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
