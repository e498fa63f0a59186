import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/** The layout's one-way imports (.dependency-cruiser.mjs), checked on the tree as it is. */
const root = resolve(import.meta.dirname, "..", "..", "..");
const depcruise = join(root, "node_modules", ".bin", "depcruise");
const config = join(root, ".dependency-cruiser.mjs");

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

function cruise(cwd: string, paths: string[]): Violation[] {
  const result = spawnSync(depcruise, [...paths, "--config", config, "--output-type", "json"], {
    cwd,
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  expect(result.stdout, result.stderr).not.toBe("");
  return (JSON.parse(result.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

const fixtures: string[] = [];
afterAll(() => {
  for (const dir of fixtures) rmSync(dir, { recursive: true, force: true });
});

describe("import rules", () => {
  it("hold for src/ and bench/", () => {
    const violations = cruise(root, ["src", "bench"]);
    expect(violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)).toEqual([]);
  });

  it("catch each kind of wrong import (a tree made to break them)", () => {
    const dir = mkdtempSync(join(tmpdir(), "voxring-layout-"));
    fixtures.push(dir);
    const files: Record<string, string> = {
      "tsconfig.json": JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext" } }),
      "src/comm/ring.ts": 'import "../coordinator/session.js";\nimport "@tensorflow/tfjs";\nexport {};\n',
      "src/data/load.ts": 'import "../native/addon.js";\nexport {};\n',
      "src/worker/loop.ts": 'import "../coordinator/session.js";\nexport {};\n',
      "src/coordinator/session.ts": 'import "../worker/loop.js";\nexport {};\n',
      "src/model/unet.ts": 'import "../worker/loop.js";\nimport "../cli/main.js";\nexport {};\n',
      "src/native/addon.ts": "export {};\n",
      "src/cli/main.ts": "export {};\n",
      "node_modules/@tensorflow/tfjs/package.json": JSON.stringify({ name: "@tensorflow/tfjs", main: "index.js" }),
      "node_modules/@tensorflow/tfjs/index.js": "export {};\n",
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const found = cruise(dir, ["src"]).map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
    expect(found).toEqual(
      expect.arrayContaining([
        "bottom-knows-nothing-above: src/comm/ring.ts → src/coordinator/session.ts",
        "bottom-knows-no-framework: src/comm/ring.ts → node_modules/@tensorflow/tfjs/index.js",
        "bottom-knows-nothing-above: src/data/load.ts → src/native/addon.ts",
        "worker-not-coordinator: src/worker/loop.ts → src/coordinator/session.ts",
        "coordinator-not-worker: src/coordinator/session.ts → src/worker/loop.ts",
        "libraries-know-no-process: src/model/unet.ts → src/worker/loop.ts",
        "nothing-imports-the-cli: src/model/unet.ts → src/cli/main.ts",
      ]),
    );
  });
});
