#!/bin/bash
# CPU of each collector thread during a drain (bench/ingest-drain.sh's
# method: collector frozen, N flows queued in its socket buffer, then let go):
# prints per thread (cf-recv-N, cf-decode, cf-writer, cf-templates, ...) the
# CPU time (ns, from /proc/PID/task/TID/schedstat, not 100 Hz ticks) and
# context switches while it drains.  Loopback only, bounded
# (nfgen -x).  GEN may name another nfgen (e.g. one whose -E cap is raised).
# usage: bench/drain-threads.sh [--proto v9] [--flows N] [--exporters E] [--bin PATH]
set -u
PROTO=v9 FLOWS=3000000 EXP=1 PORT=47981 BIN=${CLOUDFLOW:-build-rel/cloudflow}
GEN=${GEN:-${BENCHDATA:-/var/tmp/cloudflow-bench}/bin/gen/nfgen}  # ../shared/bench/lib/build.sh builds it there
while [ $# -gt 0 ]; do
    case $1 in
    --proto) PROTO=$2; shift 2 ;; --flows) FLOWS=$2; shift 2 ;; --exporters) EXP=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;; *) echo "unknown arg $1" >&2; exit 2 ;;
    esac
done
W=${BENCHDATA:-/var/tmp/cloudflow-bench}/drain-threads
rm -rf "$W"; mkdir -p "$W"
"$BIN" collect --listen 127.0.0.1:"$PORT" --data "$W/data" --rcvbuf 1000000000 >"$W/collector.log" 2>&1 &
PID=$!
sleep 1
kill -STOP $PID
E=(); [ "$EXP" -gt 1 ] && E=(-E "$EXP")
"$GEN" -q -M -P "$PROTO" -n "$FLOWS" -r 0 -s 42 -p "$PORT" -x 120 "${E[@]}" >"$W/gen.out" 2>&1
snap() {
    for t in /proc/$PID/task/*; do
        echo "$(cat "$t/comm") $(awk '/^voluntary_ctxt_switches|^nonvoluntary_ctxt_switches/{s=s" "$2} END{print s}' "$t/status") $(awk '{print $1}' "$t/schedstat")"
    done
}
snap >"$W/before"
kill -CONT $PID
sleep 6
snap >"$W/after"
kill -TERM $PID; wait $PID
echo "# $PROTO, $FLOWS flows, $EXP exporters; CPU ns per flow from schedstat"
paste "$W/before" "$W/after" | awk -v flows="$FLOWS" '{t += $8 - $4; n[NR] = $1; ns[NR] = $8 - $4; v[NR] = $6 - $2; iv[NR] = $7 - $3}
    END { for (i = 1; i <= NR; i++) printf "%-14s ns/flow=%-7.1f (%4.1f%%)  voluntary=%-6d involuntary=%d\n", n[i], ns[i] / flows, t ? 100 * ns[i] / t : 0, v[i], iv[i]
          printf "%-14s ns/flow=%-7.1f\n", "total", t / flows }'
