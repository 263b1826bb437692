#!/usr/bin/env bash
# keymint's OAuth 2.0 dialect through real, unmodified clients: openid-client and jose (node
# --test, *.test.mjs), Authlib and PyJWT (unittest, test_*.py). For each algorithm a resource
# server may be told to pin (ES256, the default; RS256 by --published-signing-alg), a fresh
# keymint on a fresh SQLite database with one account and `--resource https://api.example.com`.
# The servers are always stopped.
#   tests/oauth-clients/run.sh [KEYMINT_BINARY]     (default target/debug/keymint; `make setup`
#   installs the npm packages here and the Python ones into .venv)
#   ALGORITHMS="ES256" tests/oauth-clients/run.sh   (one algorithm only)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/target/debug/keymint}
case $bin in /*) ;; *) bin="$PWD/$bin" ;; esac
[ -x "$bin" ] || { echo "run.sh: no keymint binary at $bin (run cargo build)" >&2; exit 1; }
python=${PYTHON:-$root/.venv/bin/python}
[ -d "$here/node_modules/openid-client" ] && [ -d "$here/node_modules/jose" ] &&
    "$python" -c 'import authlib, jwt' 2>/dev/null ||
    { echo "run.sh: needs the npm packages here and authlib and PyJWT in .venv: run \`make setup\`" >&2; exit 1; }

work=$(mktemp -d)
server=""
tests=""
cleanup() {
    [ -n "$tests" ] && kill "$tests" 2>/dev/null
    [ -n "$server" ] && { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; }
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export KEYMINT_RESOURCE=https://api.example.com KEYMINT_ACCOUNT=oauth-clients

# start ALG ARGS...: a fresh keymint on a fresh database with one account; sets KEYMINT_URL and
# the account's primary key (KEYMINT_KEY_ID, KEYMINT_KEY).
start() {
    local alg=$1 log="$work/$1.log"
    shift
    export KEYMINT_DATABASE_URL="sqlite://$work/$alg.db"
    local account
    account=$("$bin" accounts create "$KEYMINT_ACCOUNT" --json)
    KEYMINT_KEY_ID=$(key "$account" id)
    KEYMINT_KEY=$(key "$account" secret)
    export KEYMINT_KEY_ID KEYMINT_KEY KEYMINT_ALG=$alg
    "$bin" serve --bind 127.0.0.1:0 --resource "$KEYMINT_RESOURCE" "$@" 2>"$log" &
    server=$!
    KEYMINT_URL=""
    for _ in $(seq 100); do
        KEYMINT_URL=$(grep -o 'listening on http://[0-9.:]*' "$log" | head -n1 | sed 's/listening on //') || true
        [ -n "$KEYMINT_URL" ] && { export KEYMINT_URL; return 0; }
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    cat "$log" >&2
    echo "run.sh: keymint ($alg) did not start" >&2
    exit 1
}
stop() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
}
key() { node -e 'const k = JSON.parse(process.argv[1]).keys[0]; console.log(k[process.argv[2]])' "$1" "$2"; }

# run NAME COMMAND...: one suite, in the background so that the cleanup can stop it.
run() {
    local name=$1 status=0
    shift
    echo "== oauth-clients ($KEYMINT_ALG): $name"
    "$@" &
    tests=$!
    wait "$tests" || status=$?
    tests=""
    return $status
}

cd "$here"
failed=()
for alg in ${ALGORITHMS:-ES256 RS256}; do
    case $alg in
        ES256) start ES256 ;;  # the default for the OAuth 2.0 dialect
        *) start "$alg" --published-signing-alg "$alg" ;;
    esac
    echo "== oauth-clients ($alg): keymint at $KEYMINT_URL"
    ok=1
    run "openid-client, jose (node --test)" node --test --test-reporter=spec ./*.test.mjs || ok=0
    run "Authlib, PyJWT (unittest)" "$python" -m unittest -v test_authlib_pyjwt || ok=0
    if [ $ok = 0 ]; then
        failed+=("$alg")
        echo "--- keymint's log ($alg)" >&2
        tail -n 30 "$work/$alg.log" >&2
    fi
    stop
done
[ ${#failed[@]} = 0 ] || { echo "run.sh: the OAuth clients failed against keymint with ${failed[*]}" >&2; exit 1; }
