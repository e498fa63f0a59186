import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseCLI } from "../../../src/cli/main.js";
import { flagSettings } from "../../../src/cli/train.js";
import { InputError } from "../../../src/errors.js";
import { defaultConfig, presets, resolveTrainConfig } from "../../../src/train/config.js";

const dir = mkdtempSync(join(tmpdir(), "voxring-config-"));
const now = new Date("2026-01-02T03:04:05Z");

async function resolve(argv: string[]) {
  const parsed = await parseCLI(argv);
  if (parsed?.command !== "train") throw new Error("not train");
  const args = parsed.args as Parameters<typeof flagSettings>[0];
  return resolveTrainConfig({ flags: flagSettings(args), configFile: args.config, resume: args.resume, now });
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("train config", () => {
  it("defaults to the reference model and a timestamped run directory", async () => {
    const config = await resolve([]);
    expect(config.lr).toBe(5e-4);
    expect(config.patch).toEqual([96, 96, 32]);
    expect(config.channels).toEqual([16, 32, 64, 128, 256]);
    expect(config.gpus).toBe(4);
    expect(config.bucketMb).toBe(25); // DDP's bucket_cap_mb
    expect(config.out).toBe(join("runs", "20260102-030405"));
  });

  it("layers preset < config file < flags", async () => {
    const yaml = file("c.yaml", "epochs: 7\nval-every: 3\nlr: 0.001\n");
    const config = await resolve(["--preset", "smoke", "--config", yaml, "--lr", "0.002", "--patch", "32", "32", "16"]);
    expect(config.channels).toEqual(presets.smoke.channels); // from the preset
    expect(config.epochs).toBe(7); // file over preset
    expect(config.valEvery).toBe(3); // kebab-case key in the file
    expect(config.lr).toBe(0.002); // flag over file
    expect(config.patch).toEqual([32, 32, 16]);
    expect(config.gpus).toBe(presets.smoke.gpus);
  });

  it("reads JSON config files too", async () => {
    const json = file("c.json", JSON.stringify({ batch: 3, seed: 11 }));
    const config = await resolve(["--config", json]);
    expect([config.batch, config.seed]).toEqual([3, 11]);
    expect(config.epochs).toBe(defaultConfig.epochs);
  });

  it.each([
    [["--lr", "-1"], /^--lr: /],
    [["--patch", "96", "96"], /^--patch: /],
    [["--patch", "90", "96", "32"], /^--patch: X = 90 must be a multiple of 16/],
    [["--gpus", "0"], /^--gpus: /],
    [["--cache-rate", "2"], /^--cache-rate: /],
    [["--val-window", "100", "96", "32"], /^--val-window: /],
    [["--bind", "0.0.0.0"], /^--port: /],
    [["--backend", "tpu"], /Invalid values/],
    [["--bucket-mb", "-1"], /^--bucket-mb: /],
    [["--config", "/nonexistent/x.yaml"], /^--config \/nonexistent\/x.yaml: no such file/],
    [["--resume", "/nonexistent/run"], /^--resume \/nonexistent\/run: not a run directory/],
  ])("%j is refused naming the option", async (argv, message) => {
    await expect(resolve(argv)).rejects.toSatisfy((e: unknown) => e instanceof InputError && message.test(e.message));
  });

  it.each([
    ["bad.yaml", "epochs: [1, 2\n", /^--config .*bad.yaml: not valid JSON or YAML/],
    ["unknown.yaml", "epochz: 3\n", /^--config .*unknown.yaml: key "epochz": unknown key/],
    ["type.yaml", "epochs: three\n", /^--config .*type.yaml: key "epochs": /],
    ["list.yaml", "- 1\n- 2\n", /^--config .*list.yaml: expected a mapping/],
  ])("a config file %s is refused naming the file and key", async (name, text, message) => {
    const path = file(name, text);
    await expect(resolve(["--config", path])).rejects.toSatisfy(
      (e: unknown) => e instanceof InputError && message.test(e.message),
    );
  });

  it("resume starts from the saved config and flags still override it", async () => {
    const run = join(dir, "run1");
    const saved = { ...defaultConfig, out: run, epochs: 5, lr: 0.003 };
    (await import("node:fs")).mkdirSync(run, { recursive: true });
    writeFileSync(join(run, "config.json"), JSON.stringify(saved));
    const config = await resolve(["--resume", run, "--epochs", "9"]);
    expect(config.out).toBe(run);
    expect(config.lr).toBe(0.003);
    expect(config.epochs).toBe(9);
  });

  it("resumes a run saved before a key existed, with that key's default", async () => {
    const run = join(dir, "run-old");
    const { collectiveTimeout: _, ...saved } = { ...defaultConfig, out: run, epochs: 5 };
    (await import("node:fs")).mkdirSync(run, { recursive: true });
    writeFileSync(join(run, "config.json"), JSON.stringify(saved));
    const config = await resolve(["--resume", run, "--collective-timeout", "90"]);
    expect(config.collectiveTimeout).toBe(90);
    expect((await resolve(["--resume", run])).collectiveTimeout).toBeNull();
  });

  it.each([["0"], ["-3"], ["abc"]])("refuses --collective-timeout %s naming the flag", async (value) => {
    await expect(resolve(["--collective-timeout", value])).rejects.toThrow(/^--collective-timeout: /);
  });

  it("takes --bucket-mb as MiB, 0 (one bucket) and fractions included", async () => {
    expect((await resolve(["--bucket-mb", "0"])).bucketMb).toBe(0);
    expect((await resolve(["--bucket-mb", "0.5"])).bucketMb).toBe(0.5);
  });

  it("resumes a run saved before --bucket-mb existed with its default", async () => {
    const run = join(dir, "run-older");
    const { bucketMb: _, ...older } = { ...defaultConfig, out: run, epochs: 4 };
    (await import("node:fs")).mkdirSync(run, { recursive: true });
    writeFileSync(join(run, "config.json"), JSON.stringify(older));
    const config = await resolve(["--resume", run]);
    expect(config.bucketMb).toBe(defaultConfig.bucketMb);
    expect(config.epochs).toBe(4);
  });
});
