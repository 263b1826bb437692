#!/usr/bin/env bash
# Conformance: schemathesis (all checks; examples, coverage and fuzzing phases) against every
# document a running keymint serves and against the providers' published documents
# (openapi/published/), with a valid key (an admin key for the admin API). Fails on any finding.
# Usage: tests/conformance/run.sh [KEYMINT_BINARY]   (ST selects the schemathesis executable)
set -euo pipefail

bin=${1:-target/debug/keymint}
st=${ST:-.venv/bin/st}
work=$(mktemp -d)
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

export KEYMINT_DATABASE_URL="sqlite://$work/keymint.db"
created=$("$bin" accounts create conformance --json)
key=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["keys"][0]["secret"])' "$created")
key_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["keys"][0]["id"])' "$created")
# The admin API takes an admin key, as a bearer credential.
admin_key=$("$bin" admin-keys create conformance --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
# Dialects that take credentials in the body get the real key on schema-valid requests; the
# registry says where each body holds it.
KEYMINT_DIALECTS_JSON=$("$bin" dialects --json)
export KEYMINT_CONFORMANCE_KEY_ID="$key_id" KEYMINT_CONFORMANCE_KEY="$key" KEYMINT_DIALECTS_JSON
export SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$(dirname "$0")${PYTHONPATH:+:$PYTHONPATH}"

# Quotas are lifted: the run sends thousands of requests, valid and not, from one address, and
# a 429 there would be the limiters working, not a finding. Quotas have their own tests.
"$bin" serve --bind 127.0.0.1:0 --rate-limit 1000000000/1s --failed-auth-limit 1000000000/1s \
    2>"$work/server.log" &
server=$!
for _ in $(seq 100); do
    base=$(grep -o 'listening on http://[0-9.:]*' "$work/server.log" | head -n1 | sed 's/listening on //') || true
    [ -n "$base" ] && break
    sleep 0.1
done
[ -n "$base" ] || { cat "$work/server.log"; echo "keymint did not start" >&2; exit 1; }

# The key goes in the header the document's apiKey scheme names, spelled as it spells it:
# schemathesis removes credentials by exact name when it checks that auth is enforced. A
# document whose only scheme is HTTP Basic (OAuth 2.0's client_secret_basic) gets `basic`; one
# whose only scheme is HTTP Bearer (the admin API's admin key) gets `bearer`.
key_header() {
    "$(dirname "$st")/python" -c '
import sys, yaml
schemes = (yaml.safe_load(sys.stdin) or {}).get("components", {}).get("securitySchemes", {})
names = [s["name"] for s in schemes.values() if s.get("type") == "apiKey" and s.get("in") == "header"]
http = [s.get("scheme", "").lower() for s in schemes.values() if s.get("type") == "http"]
print(names[0] if names else "basic" if "basic" in http else "bearer" if http == ["bearer"] else "X-Api-Key")'
}

status=0
# run LOCATION HEADER [schemathesis options]: one document, all checks, every phase.
run() {
    local location=$1 header=$2 credentials
    shift 2
    if [ "$header" = basic ]; then
        credentials=(--auth "$key_id:$key")
    elif [ "$header" = bearer ]; then
        credentials=(--header "Authorization: Bearer $admin_key")
    else
        credentials=(--header "$header: $key")
    fi
    echo "== schemathesis: $location"
    "$st" run "$location" "$@" \
        --checks all \
        --phases examples,coverage,fuzzing \
        "${credentials[@]}" \
        --max-examples "${CONFORMANCE_EXAMPLES:-150}" \
        --seed 1 \
        --suppress-health-check all \
        || status=1
}

# keymint's own documents, as served.
docs=$(curl -fsS "$base/swagger-ui/swagger-initializer.js" | grep -o '/v3/api-docs/[a-z]*' | sort -u)
for doc in $docs; do
    run "$base$doc" "$(curl -fsS "$base$doc" | key_header)"
done

# The providers' documents exactly as they publish them: what a tester or a generated client
# holds keymint to. Their servers are the providers'; --origin keeps each server's base path.
for doc in "$(dirname "$0")"/../../openapi/published/*.yaml; do
    run "$doc" "$(key_header <"$doc")" --origin "$base"
done
exit $status
