/**
 * The data commands through the built CLI: synth writes a dataset that inspect and bench data read; bad
 * files make inspect exit 2 with one stderr line naming the file.
 */
import { spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { createGzip, gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { encodeNifti } from "../../src/data/nifti/index.js";
import { cli } from "./trainHelpers.js";

const dir = mkdtempSync(join(tmpdir(), "voxring-e2e-data-"));
const data = join(dir, "synth");

function orchestrate(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("orchestrate synth / inspect / bench data", () => {
  it("synth writes a Decathlon dataset; inspect --json describes its 4D image", () => {
    const synth = orchestrate("synth", "--out", data, "--cases", "2", "--seed", "5");
    expect(synth.stderr).toBe("");
    expect(synth.status).toBe(0);
    const r = orchestrate("inspect", join(data, "imagesTr", "prostate_01.nii.gz"), "--json");
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout.trim());
    expect(s.datatype).toBe("float32");
    expect(s.shape.length).toBe(4);
    expect(s.shape[3]).toBe(2);
    expect(s.affine.length).toBe(4);
    expect(s.channels.length).toBe(2);
    for (const c of s.channels) {
      expect(c.max).toBeGreaterThan(c.mean);
      expect(c.mean).toBeGreaterThan(c.min);
      expect(c.sum).toBeCloseTo(c.mean * s.shape[0] * s.shape[1] * s.shape[2], -2);
    }
    const human = orchestrate("inspect", join(data, "labelsTr", "prostate_01.nii.gz"));
    expect(human.stdout).toMatch(/NIfTI-1, uint8, \d+×\d+×\d+ voxels/);
  });

  it("bench data --json prints one JSON object with cases, seconds and cases_per_s", () => {
    const r = orchestrate("bench", "data", "--data", data, "--json");
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split("\n");
    const result = JSON.parse(lines[lines.length - 1]);
    expect(result.cases).toBe(2);
    expect(result.seconds).toBeGreaterThan(0);
    expect(result.cases_per_s).toBeCloseTo(2 / result.seconds, 1);
  });

  const bad: [string, string, Uint8Array | null, RegExp][] = [
    ["not a NIfTI", "bad.nii.gz", gzipSync(Buffer.from("plain text, no header".repeat(30))), /not a NIfTI/],
    [
      "truncated gzip",
      "cut.nii.gz",
      gzipSync(
        encodeNifti("cut.nii", {
          shape: [10, 10, 50],
          data: Float32Array.from({ length: 5000 }, (_, i) => (i * 7919) % 251),
        }),
      ).subarray(0, 300),
      /truncated gzip/,
    ],
    ["missing file", "absent.nii.gz", null, /no such file/],
  ];
  for (const [what, name, bytes, message] of bad) {
    it(`inspect on a ${what}: exit 2, one stderr line naming the file`, () => {
      const path = join(dir, name);
      if (bytes) writeFileSync(path, bytes);
      const r = orchestrate("inspect", path, "--json");
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      const lines = r.stderr.trim().split("\n");
      expect(lines.length).toBe(1);
      expect(lines[0]).toContain(path);
      expect(lines[0]).toMatch(message);
    });
  }

  // A header of 16×16×8 uint8 (2400 bytes with the header) over 256 MiB of zeros: ~250 KB on disk.
  const header = encodeNifti("h.nii", { shape: [16, 16, 8], data: new Uint8Array(16 * 16 * 8) });
  it("inspect on a gzip bomb: exit 2 at once naming the file, without inflating the payload", async () => {
    const path = join(dir, "bomb.nii.gz");
    const gz = createGzip({ level: 9 });
    const out = gz.pipe(createWriteStream(path));
    gz.write(header);
    const block = Buffer.alloc(1 << 20);
    for (let i = 0; i < 256; i++) if (!gz.write(block)) await new Promise((r) => gz.once("drain", r));
    gz.end();
    await finished(out);
    const r = orchestrate("inspect", path, "--json");
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trim().split("\n");
    expect(lines).toEqual([expect.stringContaining(path)]);
    expect(lines[0]).toMatch(/inflates past the 2400 bytes its header describes/);
  });

  for (const [what, value] of [
    ["infinite", Infinity],
    ["zero", 0],
    ["negative", -1.5],
  ] as const) {
    it(`inspect on a file with ${what} pixdim: exit 2, one line naming the file and the field`, () => {
      const bytes = header.slice();
      new DataView(bytes.buffer).setFloat32(84, value, true); // pixdim[2]
      const path = join(dir, `pixdim-${what}.nii.gz`);
      writeFileSync(path, gzipSync(bytes));
      const r = orchestrate("inspect", path, "--json");
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n")).toEqual([expect.stringContaining(path)]);
      expect(r.stderr).toContain(`bad voxel spacing pixdim[2] = ${value}`);
    });
  }

  it("bench data on a dataset with a corrupt case: exit 2 naming that file", () => {
    const broken = join(dir, "broken");
    orchestrate("synth", "--out", broken, "--cases", "1", "--seed", "1");
    const label = join(broken, "labelsTr", "prostate_00.nii.gz");
    writeFileSync(label, gzipSync(Buffer.from("garbage".repeat(100))));
    const r = orchestrate("bench", "data", "--data", broken, "--json");
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringContaining(label)]);
  });

  it("check on a good dataset: exit 0, what it checked; on a bad one: exit 2, one stderr line per bad case", () => {
    const good = orchestrate("check", "--data", data);
    expect(good.stderr).toBe("");
    expect(good.status).toBe(0);
    expect(good.stdout).toContain("2 training case(s) checked");
    expect(good.stdout).toContain("channels: 2 (0: T2, 1: ADC)");
    expect(good.stdout).toMatch(/labels: \{0: background/);
    expect(good.stdout).toContain("checks:");

    const bad = join(dir, "badset");
    orchestrate("synth", "--out", bad, "--cases", "4", "--seed", "2");
    const wrongGrid = join(bad, "labelsTr", "prostate_01.nii.gz");
    writeFileSync(wrongGrid, gzipSync(encodeNifti("l.nii", { shape: [4, 4, 4], data: new Uint8Array(64) })));
    const garbage = join(bad, "imagesTr", "prostate_03.nii.gz");
    writeFileSync(garbage, gzipSync(Buffer.from("garbage".repeat(100))));
    const r = orchestrate("check", "--data", bad);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(new RegExp(`^orchestrate: prostate_01: ${wrongGrid}: shape 4×4×4 does not match image`)),
      expect.stringMatching(new RegExp(`^orchestrate: prostate_03: ${garbage}: not a NIfTI file`)),
    ]);

    // train runs the same check first: exit 2 naming the first bad case, nothing written into --out
    const out = join(dir, "refused-run");
    const t = orchestrate("train", "--data", bad, "--out", out, "--preset", "smoke", "--gpus", "1");
    expect(t.status).toBe(2);
    expect(t.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(
        new RegExp(
          `^orchestrate: ${bad}: dataset check failed for 2 of 4 case\\(s\\), first prostate_01: ${wrongGrid}`,
        ),
      ),
    ]);
    expect(t.stderr + t.stdout).not.toMatch(/worker|coordinator listening|metrics:/);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });
});
