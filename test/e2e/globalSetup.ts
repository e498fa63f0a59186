import { execFileSync } from "node:child_process";
import { resolve } from "node:path";

/** The e2e suites run the built CLI and modules from dist/: build it once, before any of them starts. */
export default function buildDist(): void {
  execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: resolve(import.meta.dirname, "../.."), stdio: "inherit" });
}
