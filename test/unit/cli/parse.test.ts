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
