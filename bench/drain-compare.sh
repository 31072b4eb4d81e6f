#!/bin/bash
# cloudflow against nfdump's collector in the same minutes: runs the shared
# harness's drain test (../shared/bench/ingest-drain.sh, one rep at a time)
# alternately for cloudflow and nfcapd (sfcapd for sFlow), ROUNDS times per
# protocol, and prints the medians of CPU µs per flow and drain flows/s with
# the ratios.  Loopback only, bounded by the harness (nfgen -x).
#
# usage: bench/drain-compare.sh [--rounds K] [--flows N] [--opts 'collect options'] [PROTO ...]
#        PROTO: v9 ipfix v5 sflow (default: all four)
# env:   CLOUDFLOW (default build-rel/cloudflow), NFCAPD_OPTS (e.g. -y for LZ4 files)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${SHARED_BENCH:-$(cd "$HERE/../../shared/bench" && pwd)}  # SHARED_BENCH: a modified copy (see README)
ROUNDS=3 FLOWS=5000000 OPTS=""
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --flows) FLOWS=$2; shift 2 ;;
    --opts) OPTS=$2; shift 2 ;;
    --*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
PROTOS=${*:-v9 ipfix v5 sflow}
export CLOUDFLOW=${CLOUDFLOW:-$HERE/../build-rel/cloudflow} CLOUDFLOW_OPTS=$OPTS
[ -x "$CLOUDFLOW" ] || { echo "no $CLOUDFLOW (cmake --build build-rel)" >&2; exit 2; }
OUT=${BENCHDATA:-/var/tmp/cloudflow-bench}/compare-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
echo "# $(date -Is) $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg), $FLOWS flows, $ROUNDS rounds, cloudflow $($CLOUDFLOW --version | head -1) opts='$OPTS'"
for p in $PROTOS; do
    peer=nfcapd
    [ "$p" = sflow ] && peer=sfcapd
    for r in $(seq "$ROUNDS"); do
        for t in cloudflow "$peer"; do
            bash "$SHARED/ingest-drain.sh" "$t" --proto "$p" --flows "$FLOWS" --reps 1 --out "$OUT" 2>&1 |
                sed -nE "s|^DRAIN median flows/s=([0-9]+).*cpu_us/flow median=([0-9.]+).*loss% max=([0-9.NA]+).*|$t $p \\1 \\2 \\3|p" >>"$OUT/runs.txt"
        done
    done
done
awk '
function med(list,   a, n, i, j, t) { n = split(list, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((n + 1) / 2)] }
function rng(list,   a, n, i, lo, hi) { n = split(list, a, " "); lo = hi = a[1] + 0; for (i = 2; i <= n; i++) { lo = a[i] + 0 < lo ? a[i] + 0 : lo; hi = a[i] + 0 > hi ? a[i] + 0 : hi } return sprintf("%.3f–%.3f", lo, hi) }
{ key = $1 " " $2; fps[key] = fps[key] " " $3; us[key] = us[key] " " $4; if ($5 > loss[key]) loss[key] = $5; protos[$2] = 1; tools[$2] = tools[$2] " " $1 }
END {
    printf "| proto | cloudflow µs/flow | peer µs/flow | ratio | cloudflow flows/s | peer flows/s | drain ratio | max loss %% | cloudflow µs range | peer µs range |\n|---|---|---|---|---|---|---|---|---|---|\n"
    for (p in protos) {
        peer = (p == "sflow") ? "sfcapd" : "nfcapd"
        c = "cloudflow " p; q = peer " " p
        cu = med(us[c]); qu = med(us[q]); cf = med(fps[c]); qf = med(fps[q])
        printf "| %s | %.3f | %.3f (%s) | %.2f | %.2f M | %.2f M | %.2f× | %s / %s | %s | %s |\n", p, cu, qu, peer, (qu > 0 ? cu / qu : 0), cf / 1e6, qf / 1e6, (qf > 0 ? cf / qf : 0), loss[c] + 0, loss[q] + 0, rng(us[c]), rng(us[q])
    }
}' "$OUT/runs.txt" | tee "$OUT/summary.md"
echo "runs: $OUT/runs.txt"
