// Builds the oneDNN addon during `npm install` / `npm ci`.
// Missing oneDNN headers are not an error: voxring then runs on plain tfjs kernels,
// so an install on a machine without libdnnl-dev still succeeds (with one warning).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const headerCandidates = ["/usr/include/dnnl.hpp", "/usr/include/oneapi/dnnl/dnnl.hpp", "/usr/local/include/dnnl.hpp"];

if (process.env.VOXRING_SKIP_NATIVE === "1") {
  console.warn("voxring: VOXRING_SKIP_NATIVE=1, native oneDNN kernels not built; plain tfjs kernels will be used");
  process.exit(0);
}
if (!headerCandidates.some((p) => existsSync(p))) {
  console.warn(
    "voxring: warning: oneDNN headers not found (apt-get install libdnnl-dev); native kernels not built, plain tfjs kernels will be used (much slower)",
  );
  process.exit(0);
}
const require = createRequire(import.meta.url);
const nodeGyp = require.resolve("node-gyp/bin/node-gyp.js");
const jobs = process.env.JOBS ?? "2";
const args = [nodeGyp, "rebuild", `--jobs=${jobs}`];
// npm passes its nodedir through the environment; a direct `node native/build.mjs` falls back to the
// distribution's headers, since node-gyp would otherwise try to download them.
if (!process.env.npm_config_nodedir && existsSync("/usr/include/node/node_api.h")) args.push("--nodedir=/usr");
// Two builds at once in one checkout wipe each other's objects; a lock file serialises them where flock exists.
const lockable = spawnSync("flock", ["--version"], { stdio: "ignore" }).status === 0;
const [command, commandArgs] = lockable
  ? ["flock", [join(here, ".build.lock"), process.execPath, ...args]]
  : [process.execPath, args];
const result = spawnSync(command, commandArgs, {
  cwd: here,
  stdio: "inherit",
});
if (result.status !== 0) {
  console.warn(
    "voxring: warning: native build failed; plain tfjs kernels will be used (see the compiler output above)",
  );
  process.exit(0);
}
if (!existsSync(join(here, "build", "Release", "voxring_native.node"))) {
  console.warn("voxring: warning: native build produced no addon; plain tfjs kernels will be used");
}
