// Builds the native addons during `npm install` / `npm ci` (both targets of binding.gyp):
// - voxring_comm.node: the ring's arithmetic, shared memory and, with libzmq's headers (libzmq3-dev), the
//   streamed ring's data plane. No oneDNN, OpenMP or malloc settings: every image builds and loads it.
// - voxring_native.node: the oneDNN kernels, only where oneDNN's headers are (binding.gyp checks).
// A failed or partial build is not an error: voxring then runs the missing parts in plain JavaScript / tfjs,
// so an install on a machine without the libraries still succeeds (with one warning each).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dnnlHeaders = ["/usr/include/dnnl.hpp", "/usr/include/oneapi/dnnl/dnnl.hpp", "/usr/local/include/dnnl.hpp"];
const zmqHeaders = ["/usr/include/zmq.h", "/usr/local/include/zmq.h"];

if (!dnnlHeaders.some((p) => existsSync(p))) {
  console.warn(
    "voxring: warning: oneDNN headers not found (apt-get install libdnnl-dev); native kernels not built, plain tfjs kernels will be used (much slower)",
  );
}
if (!zmqHeaders.some((p) => existsSync(p))) {
  console.warn(
    "voxring: warning: libzmq headers not found (apt-get install libzmq3-dev); the streamed ring runs its I/O in JavaScript",
  );
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
    "voxring: warning: native build failed; plain JavaScript / tfjs will be used (see the compiler output above)",
  );
  process.exit(0);
}
for (const [addon, what] of [
  ["voxring_comm.node", "the ring's arithmetic runs in plain JavaScript"],
  ["voxring_native.node", "plain tfjs kernels will be used"],
]) {
  if (!existsSync(join(here, "build", "Release", addon))) console.warn(`voxring: warning: no ${addon} built; ${what}`);
}
