#!/usr/bin/env bash
# Browser: the console (a key's whole life, the keyboard alone, labels), Swagger UI (every
# dialect, "Authorize", "Try it out", offline) and CORS from a page on another origin, in
# Debian's chromium driven by playwright-core (tests/browser/*.test.mjs).
# Usage: tests/browser/run.sh [KEYMINT_BINARY]     Screenshots: build/browser/*.png
# Needs Debian's chromium and `npm ci` here (`make browser` sees to both); never downloads a browser.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$(realpath "${1:-$root/target/debug/keymint}")
[ -x "$bin" ] || { echo "no keymint binary at $bin (cargo build first)" >&2; exit 1; }

[ -x "${CHROMIUM:-/usr/bin/chromium}" ] && [ -d "$here/node_modules/playwright-core" ] ||
    { echo "run.sh: needs chromium and playwright-core: run \`make setup\`" >&2; exit 1; }

work=$(mktemp -d)
server=""
tests=""
cleanup() {
    set +e
    # The tests start a keymint of their own (CORS) and chromium: all in the tests' process group.
    [ -n "$tests" ] && kill -- "-$tests" 2>/dev/null
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export KEYMINT_DATABASE_URL="sqlite://$work/keymint.db"
created=$("$bin" accounts create browser --json)
key_field() { node -e 'console.log(JSON.parse(process.argv[1]).keys[0][process.argv[2]])' "$created" "$1"; }
export KEYMINT_BINARY="$bin" KEYMINT_ACCOUNT=browser
KEYMINT_KEY=$(key_field secret)
KEYMINT_KEY_ID=$(key_field id)
export KEYMINT_KEY KEYMINT_KEY_ID

"$bin" serve --bind 127.0.0.1:0 2>"$work/server.log" &
server=$!
KEYMINT_URL=""
for _ in $(seq 100); do
    KEYMINT_URL=$(grep -o 'listening on http://[0-9.:]*' "$work/server.log" | head -n1 | sed 's/listening on //') || true
    [ -n "$KEYMINT_URL" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
[ -n "$KEYMINT_URL" ] || { cat "$work/server.log"; echo "keymint did not start" >&2; exit 1; }
export KEYMINT_URL

export SCREENSHOT_DIR="$root/build/browser"
rm -rf "$SCREENSHOT_DIR"
mkdir -p "$SCREENSHOT_DIR"

cd "$here"
status=0
set -m  # the tests get a process group of their own (its id is $!), for the cleanup
node --test --test-concurrency=1 --test-reporter=spec ./*.test.mjs &
tests=$!
set +m
wait "$tests" || status=$?
[ $status -eq 0 ] || { echo "== keymint's log"; cat "$work/server.log"; }
echo "screenshots: $SCREENSHOT_DIR"
exit $status
