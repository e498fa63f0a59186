#!/usr/bin/env bash
# Quick start, first command: set up, then train the demo preset on the built-in synthetic dataset,
# export the best model and segment one case with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/src/cli/cli.js train --preset demo --out runs/demo "$@"
