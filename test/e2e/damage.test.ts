/**
 * Damaged checkpoints and a full disk, on real runs: --resume passes over a damaged newest checkpoint, export
 * refuses one, and a checkpoint that does not fit on a real (tmpfs) filesystem ends the run in one line.
 */
import { execFileSync } from "node:child_process";
import {
  appendFileSync,
  closeSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { listCheckpoints, readCheckpoint } from "../../src/train/checkpoint.js";
import { events, run, smokeArgs, tempRun } from "./trainHelpers.js";

function damage(checkpoint: string): void {
  const bin = join(checkpoint, "tensors.bin");
  const bytes = readFileSync(bin);
  bytes.fill(0xff, 64, 72);
  writeFileSync(bin, bytes);
}

describe("damaged checkpoints", () => {
  it("--resume falls back to the newest intact checkpoint, saying so; export refuses the damaged one; all damaged → exit 2", async () => {
    const out = tempRun("damaged");
    expect((await run([...smokeArgs(out, 2), "--keep-last", "5"])).code).toBe(0);
    const [older, newest] = listCheckpoints(out);
    const olderStep = readCheckpoint(older).globalStep;
    damage(newest);

    const exported = await run(["export", "--run", out, "--checkpoint", newest, "--out", join(out, "..", "bundle")]);
    expect(exported.code).toBe(2);
    expect(exported.stderr.trim()).toMatch(
      new RegExp(`^orchestrate: ${newest}/tensors\\.bin: SHA-256 \\w+… differs from the header's \\w+…$`),
    );

    const resumed = await run(["--resume", out, "--epochs", "3", "--metrics-port", "0"]);
    expect(resumed.code).toBe(0);
    const said = resumed.stderr.split("\n").filter((l) => l.includes("damaged checkpoint"));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/step-\d+\/tensors\.bin: SHA-256 .*; falling back to step-\d+$/);
    expect(resumed.stderr).toMatch(new RegExp(`resuming ${out} at step ${olderStep} `));
    // training went on from the intact one, and every checkpoint written since is intact and finite
    const after = listCheckpoints(out).map((p) => readCheckpoint(p, () => {}));
    expect(after.at(-1)?.globalStep).toBeGreaterThan(olderStep);

    for (const path of listCheckpoints(out)) damage(path);
    const refused = await run(["--resume", out, "--epochs", "4", "--metrics-port", "0"]);
    expect(refused.code).toBe(2);
    const last = refused.stderr.trim().split("\n").at(-1);
    expect(last).toMatch(
      new RegExp(`^orchestrate: ${out}: no intact checkpoint \\(\\d+ damaged; the newest: .*SHA-256`),
    );
  });
});

describe("a full disk during a checkpoint", () => {
  const mount = mkdtempSync(join(tmpdir(), "voxring-tmpfs-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mount]);
  afterAll(() => {
    execFileSync("umount", [mount]);
    rmSync(mount, { recursive: true, force: true });
  });

  it("one line naming the path, exit 1, no stack, no temp directory, the previous checkpoint intact, an end event", async () => {
    const out = join(mount, "run");
    expect((await run([...smokeArgs(out, 1), "--steps-per-epoch", "4"])).code).toBe(0);
    expect(listCheckpoints(out)).toHaveLength(1);
    // a crash mid-append left a torn last line; the resumed run's events must not be glued to it
    appendFileSync(join(out, "events.jsonl"), '{"type":"step","st');
    // fill the filesystem but for 16 KiB: config.json and events still fit, a checkpoint (60 KB) does not
    const fd = openSync(join(mount, "filler"), "w");
    const block = Buffer.alloc(64 * 1024);
    let size = 0;
    try {
      for (;;) size += writeSync(fd, block);
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe("ENOSPC");
    }
    ftruncateSync(fd, Math.max(0, size - 16 * 1024));
    closeSync(fd);

    const result = await run(["--resume", out, "--epochs", "2", "--metrics-port", "0"]);
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split("\n");
    expect(lines.at(-1)).toMatch(
      new RegExp(
        `^orchestrate: ${out}/checkpoints/\\.tmp-step-00000008-\\d+/tensors\\.bin: no space left on device while writing checkpoint step-00000008 \\(tensors\\.bin\\)$`,
      ),
    );
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(result.stderr).not.toMatch(/internal error/);
    expect(readdirSync(join(out, "checkpoints")).filter((n) => n.startsWith(".tmp"))).toEqual([]);
    const [previous] = listCheckpoints(out);
    expect(listCheckpoints(out)).toHaveLength(1);
    expect(readCheckpoint(previous).globalStep).toBe(4); // verified whole: checksum and finite values
    const e = events(out);
    expect(e.filter((x) => x.type === "start")).toHaveLength(2); // the resume's start survived the torn line
    const end = e.at(-1);
    expect(end).toMatchObject({ type: "end", status: "failed", step: 4 });
    expect(end?.type === "end" && end.reason).toMatch(/no space left on device/);
  });
});
