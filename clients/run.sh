#!/usr/bin/env bash
# The typed clients, end to end (`make setup` installs the npm packages): generate from the
# documents a fresh keymint serves and fail if the checked-in src/*.ts differ (run
# `make clients`); tsc --noEmit; compile; then
# `node --test` against two fresh keymints (fresh database, fresh keys): one with the defaults,
# one with `--rate-limit 2/60s` for each dialect's 429. The servers are always stopped.
#   clients/run.sh [KEYMINT_BINARY]     (default target/debug/keymint; run `cargo build` first)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${1:-$root/target/debug/keymint}
case $bin in /*) ;; *) bin="$PWD/$bin" ;; esac
[ -x "$bin" ] || { echo "run.sh: no keymint binary at $bin (run cargo build)" >&2; exit 1; }

work=$(mktemp -d)
servers=()
tests=""
cleanup() {
    [ -n "$tests" ] && kill "$tests" 2>/dev/null
    for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${servers[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

cd "$here"
[ -x node_modules/.bin/tsc ] || { echo "run.sh: no npm packages in clients/: run \`make setup\`" >&2; exit 1; }

echo "== clients: generate from the served documents"
OUT="$work/generated" ./generate.sh "$bin"
stale=0
for generated in "$work"/generated/*.ts; do
    name=$(basename "$generated")
    if ! diff -u "src/$name" "$generated" >"$work/$name.diff"; then
        echo "clients/src/$name differs from what keymint serves now:" >&2
        head -n 60 "$work/$name.diff" >&2
        stale=1
    fi
done
[ "$stale" = 0 ] || { echo "run.sh: the checked-in clients are stale: run \`make clients\` and commit clients/src" >&2; exit 1; }

echo "== clients: tsc --noEmit"
node_modules/.bin/tsc --noEmit
rm -rf build
node_modules/.bin/tsc --noCheck   # just checked: only emit build/ for node --test

# start NAME ARGS...: serves on a free port; sets $base.
start() {
    local name=$1 log="$work/$1.log"
    shift
    "$bin" serve --bind 127.0.0.1:0 "$@" 2>"$log" &
    servers+=($!)
    base=""
    for _ in $(seq 100); do
        base=$(grep -o 'listening on http://[0-9.:]*' "$log" | head -n1 | sed 's/listening on //') || true
        [ -n "$base" ] && return 0
        kill -0 "${servers[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    cat "$log" >&2
    echo "run.sh: keymint ($name) did not start" >&2
    exit 1
}
key() { node -e 'const k = JSON.parse(process.argv[1]).keys[0]; console.log(k[process.argv[2]])' "$1" "$2"; }

export KEYMINT_DATABASE_URL="sqlite://$work/keymint.db"
account=$("$bin" accounts create clients --json)
export KEYMINT_KEY=$(key "$account" secret) KEYMINT_KEY_ID=$(key "$account" id)
account=$("$bin" accounts create limited --json)
export KEYMINT_LIMITED_KEY=$(key "$account" secret) KEYMINT_LIMITED_KEY_ID=$(key "$account" id)
admin=$("$bin" admin-keys create clients --json)
export KEYMINT_ADMIN_KEY=$(node -e 'console.log(JSON.parse(process.argv[1]).secret)' "$admin")

# The tests offer wrong keys and tokens on purpose, all from 127.0.0.1: the per-address limit on
# failed authentications (default 20/60s, tested in tests/api) is raised so it cannot interfere.
start main --failed-auth-limit 1000/60s
export KEYMINT_URL=$base
start limited --rate-limit 2/60s --failed-auth-limit 1000/60s
export KEYMINT_LIMITED_URL=$base

echo "== clients: node --test (keymint at $KEYMINT_URL; rate-limited at $KEYMINT_LIMITED_URL)"
status=0
node --enable-source-maps --test --test-reporter=spec build/test/*.test.js &
tests=$!
wait "$tests" || status=$?
tests=""
if [ "$status" != 0 ]; then
    for log in "$work"/main.log "$work"/limited.log; do
        echo "--- $(basename "$log")" >&2
        tail -n 30 "$log" >&2
    done
fi
exit "$status"
