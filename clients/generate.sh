#!/usr/bin/env bash
# Generates the typed clients from the documents a running keymint serves (not from the
# checked-in openapi/*.yaml: the served documents are what clients meet).
#   clients/generate.sh [KEYMINT_BINARY]      writes clients/src/<document>.ts
#   OUT=DIR clients/generate.sh [BINARY]      writes DIR/<document>.ts instead (run.sh's drift check)
# Starts keymint on a fresh database and a free port, and always stops it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${1:-$root/target/debug/keymint}
case $bin in /*) ;; *) bin="$PWD/$bin" ;; esac
out=${OUT:-$here/src}

[ -x "$bin" ] || { echo "generate.sh: no keymint binary at $bin (run cargo build)" >&2; exit 1; }
[ -x "$here/node_modules/.bin/openapi-typescript" ] || { echo "generate.sh: no npm packages in clients/: run \`make setup\`" >&2; exit 1; }

work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

KEYMINT_DATABASE_URL="sqlite://$work/keymint.db" "$bin" serve --bind 127.0.0.1:0 2>"$work/server.log" &
server=$!
base=""
for _ in $(seq 100); do
    base=$(grep -o 'listening on http://[0-9.:]*' "$work/server.log" | head -n1 | sed 's/listening on //') || true
    [ -n "$base" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
[ -n "$base" ] || { cat "$work/server.log" >&2; echo "generate.sh: keymint did not start" >&2; exit 1; }

# A client for every document Swagger UI lists: the registry decides, nothing here names one.
read -r -a documents <<<"$(curl -fsS "$base/swagger-ui/swagger-initializer.js" | grep -o '/v3/api-docs/[a-z]*' | sed 's|.*/||' | sort -u | tr '\n' ' ')"
[ ${#documents[@]} -gt 0 ] || { echo "generate.sh: keymint lists no documents" >&2; exit 1; }

mkdir -p "$out"
node "$here/generate.mjs" "$base" "$out" "${documents[@]}"
