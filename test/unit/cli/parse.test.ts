import { describe, expect, it } from "vitest";
import { commands, parseCLI } from "../../../src/cli/main.js";
import { InputError } from "../../../src/errors.js";

describe("parseCLI", () => {
  it.each([
    [["--gpus", "2"], "train"],
    [["train", "--gpus", "2"], "train"],
    [["synth", "--out", "d"], "synth"],
    [["inspect", "a.nii.gz", "--json"], "inspect"],
    [["check", "--data", "d"], "check"],
    [["export", "--run", "r", "--out", "b"], "export"],
    [["predict", "--model", "b", "--in", "x.nii.gz", "--out", "m.nii.gz"], "predict"],
    [["bench", "step", "--json"], "bench"],
    [["worker", "--coordinator", "tcp://127.0.0.1:5555"], "worker"],
  ])("%j selects %s", async (argv, command) => {
    const parsed = await parseCLI(argv);
    expect(parsed?.command).toBe(command);
  });

  it.each([
    [["--bogus"], /Unknown argument: bogus/],
    [["synth"], /Missing required argument: out/],
    [["check"], /Missing required argument: data/],
    [["bench", "nope"], /Invalid values/],
  ])("%j is refused with an InputError", async (argv, message) => {
    await expect(parseCLI(argv)).rejects.toSatisfy((e: unknown) => e instanceof InputError && message.test(e.message));
  });

  // Appending an override is a habit: the last occurrence of any flag wins; list-valued flags keep their group.
  it.each([
    [["--epochs", "4", "--gpus", "1", "--epochs", "2"], "epochs", 2],
    [["--epochs=4", "--epochs", "3"], "epochs", 3],
    [["--patch", "32", "32", "8", "--patch", "64", "64", "16"], "patch", [64, 64, 16]],
    [["--patch", "32", "32", "8"], "patch", [32, 32, 8]],
    [["--channels", "4", "8", "--channels", "8", "16", "32"], "channels", [8, 16, 32]],
    [["--val-window", "64", "64", "16", "--val-window", "32", "32", "8"], "valWindow", [32, 32, 8]],
    [["--preset", "smoke", "--preset", "demo"], "preset", "demo"],
    [["--data", "a", "--data", "b"], "data", "b"],
    [["--amp", "--no-amp"], "amp", false],
    [["--lr", "0.1", "--lr", "0.01"], "lr", 0.01],
    [["--lr-schedule", "cosine", "--lr-schedule", "constant"], "lrSchedule", "constant"],
    [["synth", "--out", "a", "--cases", "3", "--out", "b", "--cases", "4"], "out", "b"],
    [["predict", "--model", "b", "--in", "x.nii.gz", "--in", "y.nii.gz", "--out", "m"], "in", ["x.nii.gz", "y.nii.gz"]],
  ])("%j: %s is %j", async (argv, key, value) => {
    const parsed = await parseCLI(argv);
    expect(parsed?.args[key]).toEqual(value);
  });

  it("a repeated train flag passes the train settings' own validation", async () => {
    const parsed = await parseCLI([
      "--epochs",
      "4",
      "--steps-per-epoch",
      "3",
      "--epochs",
      "2",
      "--steps-per-epoch",
      "5",
    ]);
    const { flagSettings } = await import("../../../src/cli/train.js");
    expect(flagSettings(parsed?.args as Parameters<typeof flagSettings>[0])).toMatchObject({
      epochs: 2,
      stepsPerEpoch: 5,
    });
  });

  it("has every command of the design contract", () => {
    expect(Object.keys(commands).sort()).toEqual([
      "bench",
      "check",
      "export",
      "inspect",
      "predict",
      "synth",
      "train",
      "view",
      "worker",
    ]);
  });
});
