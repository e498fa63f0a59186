#!/usr/bin/env bash
# Installs what voxring needs on a Debian machine (run as root): oneDNN for the native kernels, libzmq (with
# CURVE) for the streamed ring's native data plane, nibabel and
# scipy for the NIfTI round-trip tests, Prometheus for the observability tests, iproute2 for the multi-host
# tests, Chromium (headless) for the live page's test; then the npm packages, the native addon and the
# TypeScript build (npm ci runs both scripts).
set -euo pipefail
cd "$(dirname "$0")/.."
# onnxruntime-node's install script would fetch CUDA parts from outside the registry; its CPU runtime ships inside.
export ONNXRUNTIME_NODE_INSTALL=skip
packages=(libdnnl-dev libzmq3-dev g++ make python3 python3-nibabel python3-scipy prometheus iproute2 chromium)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund # also builds the native addon (install script) and dist/ (prepare script)
else
  # A checkout that was set up before: bring the addon and dist/ up to date with the sources.
  { test -f native/build/Release/voxring_native.node && test -f native/build/Release/voxring_comm.node; } ||
    node native/build.mjs
  npx tsc -p tsconfig.json
fi
for addon in voxring_native voxring_comm; do
  test -f "native/build/Release/$addon.node" || { echo "setup: the native addon $addon did not build" >&2; exit 1; }
done
