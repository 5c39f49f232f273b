#!/usr/bin/env bash
# Installs everything, builds, and starts the gateway (embedded mode unless DATABASE_URL and REDIS_URL are set).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-pnpm.sh
pnpm install --frozen-lockfile --prefer-offline >&2
pnpm exec turbo run build --output-logs=errors-only >&2
exec node apps/gateway/dist/main.js "$@"
