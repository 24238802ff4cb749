#!/usr/bin/env bash
# Builds every tobira fuzz target and runs each one for N seconds (default
# 30), one after the other, from its seed corpus in fuzz/corpus/<target>.
# Exits non-zero when any target crashes (panic, failed assertion, timeout,
# out-of-memory); the crashing inputs are in fuzz/artifacts/<target>/.
#
#   fuzz/run-all.sh [seconds] [target...]
#
# Environment:
#   FUZZ_SANITIZER   cargo-fuzz sanitizer (default: none; `address` works
#                    too, at about half the speed; changing it rebuilds
#                    everything)
#   FUZZ_TIMEOUT     per-input timeout in seconds (default 60)
#   FUZZ_KEEP_CORPUS set to 1 to add new inputs to fuzz/corpus/<target>
#                    instead of a throw-away directory
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and runs on the stable
# toolchain through RUSTC_BOOTSTRAP=1 (cargo-fuzz passes -Z flags).
set -uo pipefail

secs=${1:-30}
shift || true
cd "$(dirname "$0")"

all_targets=(packet_open messages server_state client_state keys_and_configs agent inflate)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi
san=${FUZZ_SANITIZER:-none}
timeout_s=${FUZZ_TIMEOUT:-60}
export RUSTC_BOOTSTRAP=1
# cargo-fuzz's RUSTFLAGS replace the repository's build.rustflags
# (.cargo/config.toml) and keep what this variable already holds: pass the
# flag that lets chacha20-poly1305@openssh.com use RustCrypto's AVX-512
# ChaCha20 on CPUs that have it, so that the packet fuzzer reaches the
# implementation tobira runs there (crypto/chacha_poly.rs).
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }--cfg chacha20_avx512"

start=$(date +%s)
if ! cargo fuzz build -s "$san"; then
    echo "run-all: build failed" >&2
    exit 2
fi
echo "run-all: build took $(( $(date +%s) - start ))s"

triple=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=target/$triple/release
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

failed=()
summary=()
for t in "${targets[@]}"; do
    mkdir -p "artifacts/$t" "corpus/$t"
    if [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ]; then
        dirs=("corpus/$t")
    else
        mkdir -p "$scratch/$t"
        dirs=("$scratch/$t" "corpus/$t")
    fi
    max_len=4096
    case $t in server_state|client_state) max_len=16384 ;; esac
    log=$scratch/$t.log
    echo "=== $t: ${secs}s"
    "$bin_dir/$t" "${dirs[@]}" \
        -max_total_time="$secs" -timeout="$timeout_s" -max_len=$max_len \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$log" | tail -1)
    line="$t: rc=$rc execs=${execs:-?} ${cov:-no coverage line}"
    summary+=("$line")
    if [ $rc -ne 0 ]; then
        failed+=("$t")
        echo "--- $t FAILED (rc=$rc); log tail:"
        tail -60 "$log"
        ls -1 "artifacts/$t/" | sed 's/^/    artifact: /'
    fi
    echo "$line"
done

echo
echo "=== summary (sanitizer: $san, ${secs}s per target, total $(( $(date +%s) - start ))s)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
    echo "run-all: crashes in: ${failed[*]}" >&2
    exit 1
fi
