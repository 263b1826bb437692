#!/usr/bin/env bash
# Fuzzes every target in fuzz/Cargo.toml for SECONDS seconds each (default 30), starting from
# fuzz/corpus/<target>/; fails if any target crashes (the input lands in fuzz/artifacts/).
# Installs cargo-fuzz if missing. Works on stable Rust: cargo fuzz builds with
# `-Zsanitizer=address`, which RUSTC_BOOTSTRAP=1 lets a stable rustc accept.
# FUZZ_SANITIZER=none skips AddressSanitizer (still libFuzzer with coverage).
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-30}"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

# Longest input worth trying: what the server lets through (bodies 16 KiB, tokens 8 KiB).
max_len() {
    case "$1" in
        body) echo 16385 ;; # a dialect byte and a body
        apikey) echo 256 ;;
        token_mutate) echo 4096 ;; # edits, not a token
        *) echo 8192 ;;
    esac
}

echo "== building the fuzz targets (sanitizer: $sanitizer)"
# A link killed for memory or a full disk says only "compilation terminated": say which it was.
if ! cargo fuzz build --sanitizer "$sanitizer"; then
    echo "== the fuzz build failed; the machine at that moment:" >&2
    df -h . /tmp >&2 || true
    free -m >&2 || true
    exit 1
fi

failed=()
for target in $(cargo fuzz list); do
    echo "== fuzzing $target for ${seconds}s"
    mkdir -p "corpus/$target"
    if ! cargo fuzz run --sanitizer "$sanitizer" "$target" -- \
        -max_total_time="$seconds" -max_len="$(max_len "$target")" \
        -rss_limit_mb=512 -timeout=10 -print_final_stats=1; then
        failed+=("$target")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "== crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "== no crash in any target"
