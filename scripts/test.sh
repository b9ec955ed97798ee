#!/usr/bin/env bash
# `npm test`: the whole suite on a fresh machine with only Node 20 — installs the real clients
# (as root, via apt) and the npm dev-dependencies when needed, builds from clean, lints, and runs
# every test file. Exits non-zero on any failure; nothing is skipped for a missing tool.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step 'test tools (skopeo, umoci, podman, buildah, docker-registry)'
bash scripts/install-test-tools.sh

if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] ||
  [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step 'npm install'
  # Not `npm ci`: the lock file lacks the other platforms' optional binaries (e.g. Biome's), which
  # this machine's npm registry does not serve, and `npm ci` refuses such a lock; `npm install`
  # installs exactly the locked versions of what this platform needs.
  npm install --no-audit --no-fund
fi

step 'build'
rm -rf dist
npx tsc -p tsconfig.json
# The tests that start `berth` as a process run the bundle that `npm start` runs.
node scripts/bundle.mjs

step 'lint'
lint_dirs=()
for dir in src test bench scripts; do
  [ -d "$dir" ] && lint_dirs+=("$dir")
done
npx biome check "${lint_dirs[@]}"

step 'tests'
# Node 20 treats every .js file under a directory named `test` as a test file (helpers included),
# so the test files are listed explicitly.
mapfile -t files < <(find dist/test -type f -name '*.test.js' | sort)
if [ "${#files[@]}" -eq 0 ]; then
  echo 'no test files found under dist/test' >&2
  exit 1
fi
# Node 20's default concurrency is one less than the CPU count — serial on a 2-CPU CI runner.
# The client tests mostly wait on child processes and the network, so run at least two files at once.
jobs=$(node -p 'Math.min(4, Math.max(2, require("node:os").availableParallelism()))')
tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
status=0
node --enable-source-maps --test --test-concurrency="$jobs" --test-timeout=300000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  "${files[@]}" || status=$?
# The spec reporter prints its totals as `ℹ pass N`; the TAP totals are the greppable `# pass N`.
grep -E '^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ' "$tap" || true
exit "$status"
