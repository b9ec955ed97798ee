#!/usr/bin/env bash
# `npm start`: installs dependencies when needed, builds, and runs `berth serve` with any
# arguments passed after `npm start --` (no arguments: the embedded default configuration).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # Not `npm ci`: the lock file lacks the other platforms' optional binaries (e.g. Biome's), which
  # this machine's npm registry does not serve, and `npm ci` refuses such a lock; `npm install`
  # installs exactly the locked versions of what this platform needs.
  npm install --no-audit --no-fund
fi
npx tsc -p tsconfig.json
node scripts/bundle.mjs
# No --enable-source-maps: loading the maps costs ~100 ms of start-up. Set
# NODE_OPTIONS=--enable-source-maps to see TypeScript positions in stack traces.
exec node dist/berth/main.mjs serve "$@"
