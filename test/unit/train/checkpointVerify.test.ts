import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../../../src/errors.js";
import { Rng } from "../../../src/random.js";
import {
  type Checkpoint,
  readCheckpoint,
  readNewestIntactCheckpoint,
  writeCheckpoint,
  writeCheckpointValidation,
} from "../../../src/train/checkpoint.js";
import { defaultConfig } from "../../../src/train/config.js";

function sample(step: number): Checkpoint {
  const rng = new Rng(step);
  const random = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  return {
    globalStep: step,
    epoch: 1,
    stepInEpoch: 3,
    stepsPerEpoch: 7,
    params: [
      { name: "enc.0.weight", shape: [2, 3, 4], data: random(24) },
      { name: "enc.0.bias", shape: [4], data: random(4) },
    ],
    stats: [{ name: "enc.0.running_mean", shape: [4], data: random(4) }],
    optimizer: { step: 9, m: random(28), v: random(28).map(Math.abs) },
    lossScale: null,
    skippedSteps: 0,
    rng: { seed: 5 },
    dataOrder: [[1], [0]],
    model: { inChannels: 2, numClasses: 3, channels: [4, 8] },
    dataset: { labels: { "0": "background" }, modality: { "0": "T2" }, trainCases: ["a", "b"], valCases: ["c"] },
    config: { ...defaultConfig, out: "runs/x" },
    validation: null,
    bestDiceMean: null,
    restarts: 0,
    savedAt: "2026-01-01T00:00:00.000Z",
  };
}

type Header = Record<string, unknown> & { tensors: Record<string, unknown>[]; checksums: Record<string, string> };
const headerOf = (dir: string): Header => JSON.parse(readFileSync(join(dir, "checkpoint.json"), "utf8"));
const setHeader = (dir: string, h: unknown) => writeFileSync(join(dir, "checkpoint.json"), JSON.stringify(h));
const editHeader = (edit: (h: Header) => void) => (dir: string) => {
  const h = headerOf(dir);
  edit(h);
  setHeader(dir, h);
};
/** Overwrites bytes of tensors.bin; with `rehash`, the header's checksum is made to match (a forger's move). */
const editBin =
  (at: number, bytes: number[], rehash = false) =>
  (dir: string) => {
    const bin = readFileSync(join(dir, "tensors.bin"));
    Buffer.from(bytes).copy(bin, at);
    writeFileSync(join(dir, "tensors.bin"), bin);
    if (rehash) editHeader((h) => (h.checksums["tensors.bin"] = createHash("sha256").update(bin).digest("hex")))(dir);
  };

const corruptions: [string, (dir: string) => void, RegExp][] = [
  [
    "eight 0xFF bytes in tensors.bin",
    editBin(40, Array(8).fill(0xff)),
    /tensors\.bin: SHA-256 \w+… differs from the header's/,
  ],
  [
    "a NaN tensor with a matching checksum",
    editBin(8, [0, 0, 0xc0, 0x7f], true),
    /tensors\.bin: params enc\.0\.weight holds NaN at element 2$/,
  ],
  [
    "an Infinity in Adam's v",
    editBin((32 + 28 + 5) * 4, [0, 0, 0x80, 0x7f], true),
    /tensors\.bin: adam_v v holds Infinity at element 5$/,
  ],
  [
    "tensors.bin truncated",
    (dir) => truncateSync(join(dir, "tensors.bin"), 100),
    /tensors\.bin: holds 100 bytes, the header describes 352$/,
  ],
  ["globalStep -5", editHeader((h) => (h.globalStep = -5)), /checkpoint\.json: globalStep: .*>=0/],
  ['globalStep "100"', editHeader((h) => (h.globalStep = "100")), /checkpoint\.json: globalStep: .*expected number/],
  ["stepInEpoch 3.5", editHeader((h) => (h.stepInEpoch = 3.5)), /checkpoint\.json: stepInEpoch: .*int/],
  [
    "stepInEpoch past the epoch",
    editHeader((h) => (h.stepInEpoch = 8)),
    /checkpoint\.json: stepInEpoch: exceeds stepsPerEpoch 7$/,
  ],
  [
    "no tensors list",
    editHeader((h) => delete (h as Record<string, unknown>).tensors),
    /checkpoint\.json: tensors: .*expected array/,
  ],
  ["a null header", (dir) => setHeader(dir, null), /checkpoint\.json: the header: .*expected object/],
  [
    "a header that is not JSON",
    (dir) => writeFileSync(join(dir, "checkpoint.json"), "{"),
    /checkpoint\.json: unreadable/,
  ],
  [
    "a shape that disagrees with its length",
    editHeader((h) => (h.tensors[1].shape = [5])),
    /checkpoint\.json: tensors\.1: shape \[5\] holds 5 elements, length says 4$/,
  ],
  [
    "tensors not back to back",
    editHeader((h) => (h.tensors[1].offset = 25)),
    /checkpoint\.json: tensors\.1: offset 25, expected 24/,
  ],
  [
    "no Adam m (its entry relabelled as v)",
    editHeader((h) => (h.tensors[3].group = "adam_v")),
    /checkpoint\.json: tensors: expected exactly one adam_m tensor$/,
  ],
  [
    "a config the config schema refuses",
    editHeader((h) => ((h.config as Record<string, unknown>).lr = -1)),
    /checkpoint\.json: config\.lr: /,
  ],
  [
    "the checksum removed from a /2 header",
    editHeader((h) => delete (h as Record<string, unknown>).checksums),
    /checkpoint\.json: checksums: required by voxring-checkpoint\/2$/,
  ],
  ["an unknown format", editHeader((h) => (h.format = "voxring-checkpoint/9")), /checkpoint\.json: format: /],
  [
    "a broken validation.json",
    (dir) => writeFileSync(join(dir, "validation.json"), '{"diceMean": 0.'),
    /validation\.json: unreadable/,
  ],
  [
    "a validation.json out of range",
    (dir) => writeFileSync(join(dir, "validation.json"), '{"diceMean": 7, "dice": {}}'),
    /validation\.json: diceMean: /,
  ],
];

describe("checkpoint verification", () => {
  it.each(corruptions)("%s → an InputError naming the file and what is wrong", (_what, corrupt, expected) => {
    const run = mkdtempSync(join(tmpdir(), "voxring-verify-"));
    const path = writeCheckpoint(run, sample(4));
    writeCheckpointValidation(path, { diceMean: 0.5, dice: { PZ: 0.5 } });
    expect(readCheckpoint(path).validation).toEqual({ diceMean: 0.5, dice: { PZ: 0.5 } }); // intact before
    corrupt(path);
    let error: unknown;
    try {
      readCheckpoint(path);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message.startsWith(path)).toBe(true);
    expect((error as Error).message).toMatch(expected);
  });

  it("reads a voxring-checkpoint/1 (no checksum) with a warning, still checking every value", () => {
    const run = mkdtempSync(join(tmpdir(), "voxring-verify-"));
    const path = writeCheckpoint(run, sample(4));
    editHeader((h) => {
      h.format = "voxring-checkpoint/1";
      delete (h as Record<string, unknown>).checksums;
    })(path);
    const warnings: string[] = [];
    expect(readCheckpoint(path, (w) => warnings.push(w))).toEqual(sample(4));
    expect(warnings).toEqual([
      `warning: ${join(path, "checkpoint.json")}: format voxring-checkpoint/1 has no checksum; tensors.bin is not verified`,
    ]);
    editBin(8, [0xff, 0xff, 0xff, 0xff])(path);
    expect(() => readCheckpoint(path, () => {})).toThrow(/params enc\.0\.weight holds NaN at element 2$/);
  });

  it("falls back to the newest intact checkpoint, naming each damaged one; none intact → InputError", () => {
    const run = mkdtempSync(join(tmpdir(), "voxring-verify-"));
    const paths = [2, 4, 6].map((s) => writeCheckpoint(run, sample(s)));
    editBin(0, Array(8).fill(0xff))(paths[2]);
    const lines: string[] = [];
    expect(readNewestIntactCheckpoint(run, (l) => lines.push(l)).globalStep).toBe(4);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^damaged checkpoint: .*step-00000006\/tensors\.bin: SHA-256 .*; falling back to step-00000004$/,
    );

    editHeader((h) => (h.globalStep = -5))(paths[1]);
    setHeader(paths[0], null);
    lines.length = 0;
    expect(() => readNewestIntactCheckpoint(run, (l) => lines.push(l))).toThrow(
      new RegExp(`^${run}: no intact checkpoint \\(3 damaged; the newest: .*step-00000006/tensors\\.bin: SHA-256`),
    );
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(/step-00000002\/checkpoint\.json: the header: .*; no older checkpoint$/);
  });
});
