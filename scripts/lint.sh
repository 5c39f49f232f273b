#!/usr/bin/env bash
# Format and lint check (no writes): Biome (formatter + linter, biome.jsonc) and knip (unused files, exports and
# dependencies, knip.json). Runs both, prints what each found, exits non-zero if either fails.
# Fix formatting with `pnpm format`; see a rule's reason in biome.jsonc.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/.bin
failed=()

echo "== biome ci"
# --error-on-warnings: a remaining lint warning fails too, so the rule set in biome.jsonc is the whole gate.
"$bin/biome" ci --error-on-warnings --colors=off --max-diagnostics=30 . || failed+=(biome)

echo "== knip"
"$bin/knip" --no-progress || failed+=(knip)

if ((${#failed[@]})); then
  echo "lint FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "lint OK"
