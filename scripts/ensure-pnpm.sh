# Sourced by .ci/run and scripts/start.sh: makes the pinned pnpm available with nothing but Node and npm.
# The pinned version is read from the repository's package.json, wherever this is sourced from.
OV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PNPM_VERSION=$(node -p "require(process.argv[1]).packageManager.split('@')[1]" "$OV_ROOT/package.json")
if [ -z "$PNPM_VERSION" ] || [ "$PNPM_VERSION" = "undefined" ]; then
  echo "cannot read the pinned pnpm version from $OV_ROOT/package.json" >&2
  return 1 2>/dev/null || exit 1
fi
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "installing pnpm $PNPM_VERSION" >&2
  if ! npm install -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1; then
    # No write access to the global prefix: install under the project instead.
    npm install --prefix "$OV_ROOT/.pnpm-bootstrap" "pnpm@$PNPM_VERSION" >/dev/null
    export PATH="$OV_ROOT/.pnpm-bootstrap/node_modules/.bin:$PATH"
  fi
fi
