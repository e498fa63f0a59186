import { spawnSync } from "node:child_process";
import type { TrainConfig } from "../train/config.js";
import { threadsPerWorker } from "../train/config.js";

export interface WorkerPlacement {
  /** The backend the workers run: the GPU build of tfjs, or the cpu backend with the native kernels. */
  backend: "gpu" | "cpu";
  gpusFound: number;
  threads: number;
  /** Said once by the coordinator, so the log tells where the run actually computes. */
  summary: string;
  env: (index: number) => Record<string, string>;
}

/** GPUs visible to this host (nvidia-smi -L), 0 when there is no driver. */
export function countGpus(): number {
  const result = spawnSync("nvidia-smi", ["-L"], { encoding: "utf8", timeout: 5000 });
  if (result.status !== 0 || !result.stdout) return 0;
  return result.stdout.split("\n").filter((line) => line.startsWith("GPU ")).length;
}

/** Decides where each local worker computes: worker r gets GPU r, or the cpu backend with its share of cores. */
export function placeWorkers(config: TrainConfig): WorkerPlacement {
  const gpusFound = config.backend === "cpu" ? 0 : countGpus();
  const threads = threadsPerWorker(config);
  const useGpu = config.backend === "gpu" || (config.backend === "auto" && gpusFound > 0);
  const common: Record<string, string> = { VOXRING_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  // Every batch is seeded by (seed, rank, step) in any case; this asks kernels for reproducible reductions too.
  if (config.deterministic) common.VOXRING_DETERMINISTIC = "1";
  if (useGpu) {
    return {
      backend: "gpu",
      gpusFound,
      threads,
      summary: `${config.gpus} worker(s) on GPUs 0..${config.gpus - 1} (${gpusFound} found)`,
      env: (index) => ({ ...common, CUDA_VISIBLE_DEVICES: String(index) }),
    };
  }
  const why = config.backend === "cpu" ? "--backend cpu" : "no GPU on this host";
  return {
    backend: "cpu",
    gpusFound,
    threads,
    summary: `${why}: ${config.gpus} worker(s) on the cpu backend, ${threads} thread(s) each`,
    env: () => ({ ...common, CUDA_VISIBLE_DEVICES: "" }),
  };
}
