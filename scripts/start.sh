#!/usr/bin/env bash
# `npm start`: installs dependencies when needed, builds, and runs `berth serve` with any
# arguments passed after `npm start --` (no arguments: the embedded default configuration).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npx tsc -p tsconfig.json
exec node --enable-source-maps dist/src/cli/main.js serve "$@"
