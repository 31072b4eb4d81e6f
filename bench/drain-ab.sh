#!/bin/bash
# Two cloudflow builds against each other in the same minutes: runs the
# shared harness's drain test (one rep at a time) alternately for binary A
# and binary B, ROUNDS times per protocol, and prints the mean CPU µs per
# flow of each.  For measuring one change: build the commit before it into
# another directory (git worktree or stash) and compare.
# usage: bench/drain-ab.sh A_BINARY B_BINARY [--rounds K] [PROTO ...]   (default: v9 v5, 3 rounds)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${SHARED_BENCH:-$(cd "$HERE/../../shared/bench" && pwd)}  # SHARED_BENCH: a modified copy (see README)
[ $# -ge 2 ] || { echo "usage: $0 A_BINARY B_BINARY [--rounds K] [PROTO ...]" >&2; exit 2; }
A=$(realpath "$1") B=$(realpath "$2"); shift 2
ROUNDS=3
[ "${1:-}" = --rounds ] && { ROUNDS=$2; shift 2; }
PROTOS=${*:-v9 v5}
OUT=${BENCHDATA:-/var/tmp/cloudflow-bench}/ab-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
for r in $(seq "$ROUNDS"); do
    for p in $PROTOS; do
        for bin in "$A" "$B"; do
            CLOUDFLOW=$bin bash "$SHARED/ingest-drain.sh" cloudflow --proto "$p" --reps 1 --out "$OUT" 2>&1 |
                sed -nE "s|^DRAIN median flows/s=([0-9]+).*cpu_us/flow median=([0-9.]+).*|$bin $p \1 \2|p"
        done
    done
done | tee "$OUT/runs.txt" | awk '{ k = $1 " " $2; s[k] += $4; n[k]++ }
    END { for (k in s) printf "mean cpu_us/flow %.3f (n=%d)  %s\n", s[k] / n[k], n[k], k }' | sort -k5
