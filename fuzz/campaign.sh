#!/usr/bin/env bash
# A long fuzzing campaign: each target in turn (one at a time) for
# SECONDS (default 3600), growing a persistent working corpus in
# fuzz/work/<target> (not committed) seeded from fuzz/corpus/<target>, and
# appending libFuzzer's final statistics (executions, exec/s, coverage
# `cov:`, features `ft:`, corpus size) to fuzz/CAMPAIGN.md.
#
#   fuzz/campaign.sh [seconds-per-target] [target...]
#
# A crash ends that target's run; its input is in fuzz/artifacts/<target>/
# and is listed in CAMPAIGN.md. Minimize one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz tmin -s none <target> <artifact>
# Environment: FUZZ_SANITIZER (default none), FUZZ_TIMEOUT (default 60).
set -uo pipefail

secs=${1:-3600}
shift || true
cd "$(dirname "$0")"

all_targets=(packet_open messages server_state client_state keys_and_configs agent inflate)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi
san=${FUZZ_SANITIZER:-none}
timeout_s=${FUZZ_TIMEOUT:-60}
export RUSTC_BOOTSTRAP=1
# As in run-all.sh: chacha20-poly1305@openssh.com's AVX-512 implementation.
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }--cfg chacha20_avx512"

cargo fuzz build -s "$san" || { echo "campaign: build failed" >&2; exit 2; }
triple=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=target/$triple/release
commit=$(git -C .. rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C .. status --porcelain -- ../crates 2>/dev/null)" ]; then commit="$commit+dirty"; fi

if ! grep -q '^| date (UTC) | commit' CAMPAIGN.md 2>/dev/null; then
    cat >> CAMPAIGN.md <<'HDR'

## campaign.sh runs

Appended by `fuzz/campaign.sh` (keep this table last in the file). Working
corpora in `fuzz/work/<target>`, seeded from `fuzz/corpus/<target>`;
`execs` = `stat::number_of_executed_units`, `cov`/`ft`/`corpus` from the
final status line.

| date (UTC) | commit | sanitizer | target | seconds | execs | exec/s | cov | ft | corpus | result |
|---|---|---|---|---|---|---|---|---|---|---|
HDR
fi

rc_all=0
for t in "${targets[@]}"; do
    mkdir -p "work/$t" "artifacts/$t"
    max_len=4096
    case $t in server_state|client_state) max_len=16384 ;; esac
    log=work/$t.log
    echo "=== $t: ${secs}s (log: fuzz/$log)"
    begin=$(date +%s)
    "$bin_dir/$t" "work/$t" "corpus/$t" \
        -max_total_time="$secs" -timeout="$timeout_s" -max_len=$max_len \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - begin ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
    if [ $rc -eq 0 ]; then
        result=ok
    else
        rc_all=1
        art=$(grep -o 'Test unit written to [^ ]*' "$log" | tail -1 | sed 's/Test unit written to //')
        where=$(grep -m1 -o "panicked at [^ ]*" "$log" || true)
        result="CRASH rc=$rc ${where} ${art}"
    fi
    echo "| $(date -u '+%Y-%m-%d %H:%M') | $commit | $san | $t | $took | ${execs:-?} | ${eps:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | $result |" >> CAMPAIGN.md
    tail -1 CAMPAIGN.md
done
exit $rc_all
