#!/usr/bin/env bash
# Makes the pgvector extension available to the local PostgreSQL (server-mode tests use the real extension).
# Does nothing when `pg_available_extensions` already lists `vector`; otherwise builds pgvector from the vendored
# source (../shared/vendor/pgvector-*.tar.gz beside the repository, see its README) and installs it. Usage:
#   bash scripts/ensure-pgvector.sh [postgres-url]     (default: $OPENVESPER_TEST_PG_URL or the local test database)
set -euo pipefail
cd "$(dirname "$0")/.."
url="${1:-${OPENVESPER_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}}"
available() { psql "$url" -Atc "select 1 from pg_available_extensions where name = 'vector'" 2>/dev/null | grep -q 1; }
if available; then
  echo "pgvector: available"
  exit 0
fi
tarball=$(ls ../shared/vendor/pgvector-*.tar.gz 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$tarball" ]; then
  echo "pgvector: not available and no vendored source in ../shared/vendor; install pgvector for this PostgreSQL" >&2
  exit 1
fi
major=$(psql "$url" -Atc "show server_version_num" | cut -c1-2)
if [ ! -x "/usr/lib/postgresql/$major/bin/pg_config" ] || [ ! -d "/usr/include/postgresql/$major/server" ]; then
  echo "pgvector: installing postgresql-server-dev-$major" >&2
  (apt-get install -y "postgresql-server-dev-$major" >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y "postgresql-server-dev-$major" >/dev/null; })
fi
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
tar xzf "$tarball" -C "$src"
dir=$(ls -d "$src"/pgvector-*)
make -s -C "$dir" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" >/dev/null
make -s -C "$dir" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" install >/dev/null
available || { echo "pgvector: built and installed, but PostgreSQL still does not list it" >&2; exit 1; }
echo "pgvector: built from $(basename "$tarball") and installed"
