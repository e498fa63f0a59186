#!/usr/bin/env bash
# Quick start, second command: set up, then type-check, lint and run every test suite (unit and end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsc -p tsconfig.check.json
npx biome check .
npx vitest run "$@"
