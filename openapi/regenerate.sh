#!/usr/bin/env bash
# Rewrites openapi/<name>.yaml from the document a fresh keymint serves, keeping the file's
# leading comment lines. For keymint's own documents (admin, oauth), whose reference is what the
# code serves; the dialects' references follow their providers and are edited by hand.
#   openapi/regenerate.sh [KEYMINT_BINARY] NAME...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/../target/debug/keymint
if [ $# -gt 0 ] && [ -x "$1" ] && [ -f "$1" ]; then bin=$1; shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [BINARY] NAME..." >&2; exit 2; }
work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
KEYMINT_DATABASE_URL="sqlite://$work/keymint.db" "$bin" serve --bind 127.0.0.1:0 \
    --public-url https://keymint.example 2>"$work/server.log" &
server=$!
base=""
for _ in $(seq 100); do
    base=$(grep -o 'listening on http://[0-9.:]*' "$work/server.log" | head -n1 | sed 's/listening on //') || true
    [ -n "$base" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
[ -n "$base" ] || { cat "$work/server.log" >&2; echo "regenerate.sh: keymint did not start" >&2; exit 1; }
for name in "$@"; do
    file=$here/$name.yaml
    curl -fsS "$base/v3/api-docs/$name" >"$work/$name.json"
    { grep '^#' "$file" || true
      python3 -c 'import json, sys, yaml; print(yaml.safe_dump(json.load(open(sys.argv[1])), allow_unicode=True, width=100), end="")' "$work/$name.json"
    } >"$work/$name.yaml"
    mv "$work/$name.yaml" "$file"
    echo "wrote $file"
done
