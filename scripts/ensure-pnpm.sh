# Sourced by .ci/run and scripts/start.sh: makes the pinned pnpm available with nothing but Node and npm.
PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "installing pnpm $PNPM_VERSION" >&2
  if ! npm install -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1; then
    # No write access to the global prefix: install under the project instead.
    npm install --prefix "$PWD/.pnpm-bootstrap" "pnpm@$PNPM_VERSION" >/dev/null
    export PATH="$PWD/.pnpm-bootstrap/node_modules/.bin:$PATH"
  fi
fi
