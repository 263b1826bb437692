#!/usr/bin/env bash
# What the suites need from the machine, checked in well under a second and installed only
# when missing: Debian packages by apt-get when run as root, otherwise one line naming the
# command to run. Node.js cannot be installed from here (Debian's is too old), so it is only
# checked. `make test` and `make bench` call this; the venv and npm packages are Make targets.
#   tests/setup.sh PACKAGE...   (curl, nginx, chromium, python3-venv, wrk, node)
set -euo pipefail

present() {
    case $1 in
        # The gateway tests run Debian's nginx in front of keymint (tests/api/nginx.rs).
        nginx) [ -x /usr/sbin/nginx ] ;;
        # The browser suite drives Debian's chromium, never a downloaded browser.
        chromium) [ -x /usr/bin/chromium ] ;;
        python3-venv) python3 -c 'import venv, ensurepip' 2>/dev/null ;;
        *) command -v "$1" >/dev/null ;;
    esac
}

missing=()
for package in "$@"; do
    [ "$package" = node ] && continue
    present "$package" || missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        echo "missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "installing ${missing[*]} (apt-get)"
    log=$(mktemp)
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        echo "apt-get install ${missing[*]} failed (its log: $log)" >&2
        exit 1
    fi
    rm -f "$log"
    # Debian's nginx package starts a system nginx on :80; the tests run their own.
    if [[ " ${missing[*]} " == *" nginx "* ]]; then
        /usr/sbin/nginx -s quit 2>/dev/null || true
    fi
fi

# The client and browser suites run on the machine's Node.js and npm (`node --test` options
# need 20.10 or later).
if [[ " $* " == *" node "* ]]; then
    node -e 'const [a, b] = process.versions.node.split(".").map(Number);
             process.exit(a > 20 || (a === 20 && b >= 10) ? 0 : 1)' 2>/dev/null &&
        command -v npm >/dev/null || {
        echo "the client and browser suites need Node.js >= 20.10 with npm (https://nodejs.org); found: $(node --version 2>/dev/null || echo none)" >&2
        exit 1
    }
fi
