/**
 * The training run's configuration: one typed record resolved from four layers, later ones winning:
 *
 *   built-in defaults (the reference model) < --preset < --config FILE (JSON or YAML) < command-line flags
 *
 * With --resume RUN the saved RUN/config.json replaces the first two layers. Every layer is validated on its
 * own so an error names where the bad value came from (the flag, or the config file and key).
 */
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { InputError, inputError } from "../errors.js";

const positiveInt = z.number().int().positive();
const triple = z.tuple([positiveInt, positiveInt, positiveInt]);

/** Every key a config file or a flag may set (camelCase; config files may also spell keys in kebab-case). */
export const trainSettingsSchema = z.strictObject({
  gpus: positiveInt,
  remoteWorkers: z.number().int().min(0),
  data: z.string().min(1).nullable(),
  out: z.string().min(1),
  epochs: positiveInt,
  patch: triple,
  channels: z.array(positiveInt).min(2).max(7),
  batch: positiveInt,
  lr: z.number().positive().max(1),
  lrSchedule: z.enum(["constant", "cosine"]),
  valEvery: positiveInt,
  valWindow: triple,
  valOverlap: z.number().min(0).max(0.75),
  valFraction: z.number().gt(0).lt(1),
  seed: z.number().int().min(0),
  deterministic: z.boolean(),
  amp: z.boolean(),
  bucketMb: z.number().min(0),
  backend: z.enum(["auto", "gpu", "cpu"]),
  threads: positiveInt.nullable(),
  cacheRate: z.number().gt(0).max(1),
  keepLast: positiveInt,
  maxRestarts: z.number().int().min(0),
  metricsPort: z.number().int().min(0).max(65535),
  metricsHost: z.string().min(1),
  bind: z.string().min(1),
  port: z.number().int().min(0).max(65535),
  stepsPerEpoch: positiveInt.nullable(),
  synthCases: z.number().int().min(2),
  checksumEvery: positiveInt,
  heartbeatSeconds: z.number().positive(),
  /** no progress in a collective for this long ends the generation; null: from the step times (stallWatch.ts) */
  collectiveTimeout: z.number().positive().max(86_400).nullable(),
  exportAtEnd: z.boolean(),
  preset: z.enum(["smoke", "demo", "full"]).nullable(),
});

export type TrainConfig = z.infer<typeof trainSettingsSchema>;
export type TrainSettings = Partial<TrainConfig>;
export type PresetName = NonNullable<TrainConfig["preset"]>;

/** The reference model (Adam 5e-4, soft Dice, 96×96×32 patches, channels 16..256); out is filled at resolve time. */
export const defaultConfig: Omit<TrainConfig, "out"> = {
  gpus: 4,
  remoteWorkers: 0,
  data: null,
  epochs: 100,
  patch: [96, 96, 32],
  channels: [16, 32, 64, 128, 256],
  batch: 2,
  lr: 5e-4,
  lrSchedule: "constant",
  valEvery: 2,
  valWindow: [192, 192, 64],
  valOverlap: 0.25,
  valFraction: 0.2,
  seed: 0,
  deterministic: false,
  amp: false,
  bucketMb: 25,
  backend: "auto",
  threads: null,
  cacheRate: 1,
  keepLast: 3,
  maxRestarts: 3,
  metricsPort: 9464,
  metricsHost: "127.0.0.1",
  bind: "127.0.0.1",
  port: 0,
  stepsPerEpoch: null,
  synthCases: 32,
  checksumEvery: 50,
  heartbeatSeconds: 10,
  collectiveTimeout: null,
  exportAtEnd: false,
  preset: null,
};

/**
 * smoke: seconds, for tests. demo: the README's first command, sized by measurement on a 2-core machine
 * (2 workers × 1 thread) to reach a mean validation Dice ≥ 0.8 on the synthetic data within 15 minutes.
 */
export const presets: Record<PresetName, TrainSettings> = {
  smoke: {
    gpus: 1,
    epochs: 2,
    patch: [16, 16, 8],
    channels: [4, 8],
    batch: 1,
    stepsPerEpoch: 2,
    valEvery: 1,
    valWindow: [64, 64, 32],
    synthCases: 4,
    valFraction: 0.25,
    checksumEvery: 1,
  },
  demo: {
    gpus: 2,
    threads: 1,
    epochs: 360,
    patch: [64, 64, 16],
    channels: [8, 16, 32, 64],
    batch: 2,
    lr: 1e-3,
    valEvery: 60,
    valWindow: [128, 128, 32],
    synthCases: 24,
    lrSchedule: "cosine",
    exportAtEnd: true,
  },
  full: {},
};

/** Reads a --config file (JSON or YAML; kebab-case keys accepted) into validated settings. */
export function readConfigFile(path: string): TrainSettings {
  if (!existsSync(path)) throw inputError(`--config ${path}`, "no such file");
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, "utf8")); // YAML is a superset of JSON
  } catch (error) {
    throw inputError(`--config ${path}`, `not valid JSON or YAML (${(error as Error).message.split("\n")[0]})`);
  }
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) throw inputError(`--config ${path}`, "expected a mapping of keys");
  const camel = Object.fromEntries(Object.entries(raw).map(([k, v]) => [kebabToCamel(k), v]));
  return validateLayer(camel, (key) => `--config ${path}: key "${key}"`);
}

/** Validates one layer; `where(key)` names the source of a bad key in the error. */
export function validateLayer(settings: Record<string, unknown>, where: (key: string) => string): TrainSettings {
  const defined = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
  const result = trainSettingsSchema.partial().safeParse(defined);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const key =
    issue.code === "unrecognized_keys" ? issue.keys[0] : String(issue.path[0] ?? Object.keys(defined)[0] ?? "");
  const what = issue.code === "unrecognized_keys" ? "unknown key" : issue.message;
  throw new InputError(`${where(key)}: ${what}`);
}

export interface ResolveInput {
  /** Settings from the command line (camelCase, undefined where the flag was not given). */
  flags: TrainSettings;
  configFile?: string;
  resume?: string;
  now?: Date;
}

/** The resolved config of a run, ready to save into RUN/config.json. */
export function resolveTrainConfig({ flags, configFile, resume, now = new Date() }: ResolveInput): TrainConfig {
  const fromFile = configFile ? readConfigFile(configFile) : {};
  let base: TrainSettings;
  if (resume) {
    const saved = join(resume, "config.json");
    if (!existsSync(saved)) throw inputError(`--resume ${resume}`, "not a run directory (no config.json)");
    // Under the saved config, the defaults of keys it predates (a run saved by an older version).
    const savedSettings = validateLayer(JSON.parse(readFileSync(saved, "utf8")), (key) => `${saved}: key "${key}"`);
    base = { ...defaultConfig, ...savedSettings, out: resume };
  } else {
    const presetName = flags.preset ?? fromFile.preset ?? null;
    base = { ...defaultConfig, ...(presetName ? presets[presetName] : {}) };
  }
  const merged = { ...base, ...fromFile, ...flags };
  if (resume) merged.out = resume;
  merged.out ??= join("runs", timestamp(now));
  const config = trainSettingsSchema.parse(merged);
  checkAcrossKeys(config);
  return config;
}

function checkAcrossKeys(config: TrainConfig): void {
  const levels = config.channels.length - 1;
  const factor = 2 ** levels;
  for (const [i, axis] of ["X", "Y", "Z"].entries()) {
    if (config.patch[i] % factor !== 0) {
      throw inputError(
        "--patch",
        `${axis} = ${config.patch[i]} must be a multiple of ${factor} (${levels} poolings for ${config.channels.length} levels)`,
      );
    }
    if (config.valWindow[i] % factor !== 0) {
      throw inputError("--val-window", `${axis} = ${config.valWindow[i]} must be a multiple of ${factor}`);
    }
  }
  if (config.bind !== "127.0.0.1" && config.bind !== "localhost" && config.bind !== "::1" && config.port === 0) {
    throw inputError("--port", "give a fixed port when --bind is beyond loopback, so remote workers can find it");
  }
}

/** The ranks of a run: the local workers, then the remote ones. */
export function worldSizeOf(config: TrainConfig): number {
  return config.gpus + config.remoteWorkers;
}

/** Threads per worker: --threads, else the cores shared by the local workers (at least 1). */
export function threadsPerWorker(config: TrainConfig): number {
  return config.threads ?? Math.max(1, Math.floor(availableParallelism() / config.gpus));
}

function kebabToCamel(key: string): string {
  return key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function timestamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
}
