import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fsyncDir } from "../atomicWrite.js";
import { writeSyntheticDataset } from "../data/synth/dataset.js";

/** VOXRING_CACHE_DIR, else $XDG_CACHE_HOME/voxring, else ~/.cache/voxring. */
export function cacheRoot(): string {
  if (process.env.VOXRING_CACHE_DIR) return process.env.VOXRING_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "voxring");
}

/**
 * The built-in synthetic dataset for a run without --data: generated once into the cache and reused.
 * It is written under a temp name and renamed, so a directory of that name is always complete; when two
 * runs race, the loser's copy is dropped (both are byte-identical by construction).
 */
export async function ensureSyntheticDataset(
  seed: number,
  cases: number,
  log: (line: string) => void,
): Promise<string> {
  const root = cacheRoot();
  const dir = join(root, `synth-${seed}-${cases}`);
  if (existsSync(join(dir, "dataset.json"))) return dir;
  mkdirSync(root, { recursive: true });
  const temp = join(root, `.tmp-synth-${seed}-${cases}-${process.pid}`);
  rmSync(temp, { recursive: true, force: true });
  log(`generating the synthetic dataset (${cases} cases, seed ${seed}) into ${dir}`);
  const started = Date.now();
  await writeSyntheticDataset(temp, { cases, seed });
  try {
    renameSync(temp, dir);
    fsyncDir(root);
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    if (!existsSync(join(dir, "dataset.json"))) throw error;
  }
  log(`synthetic dataset ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return dir;
}
