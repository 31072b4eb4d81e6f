#!/bin/bash
# Profiles `cloudflow collect` during a drain (bench/ingest-drain.sh's method):
# collector frozen, N flows queued in its socket buffer, then perf record
# while it drains.  Loopback only, bounded (nfgen -x).
# usage: bench/drain-profile.sh [--proto v9] [--flows N] [--port P] [--bin PATH] [-- collect options]
set -u
PROTO=v9 FLOWS=3000000 PORT=47985 BIN=${CLOUDFLOW:-build-rel/cloudflow}
GEN=${GEN:-${BENCHDATA:-/var/tmp/cloudflow-bench}/bin/gen/nfgen}  # ../shared/bench/lib/build.sh builds it there
while [ $# -gt 0 ]; do
    case $1 in
    --proto) PROTO=$2; shift 2 ;; --flows) FLOWS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;; --bin) BIN=$2; shift 2 ;;
    --) shift; break ;; *) echo "unknown arg $1" >&2; exit 2 ;;
    esac
done
W=${BENCHDATA:-/var/tmp/cloudflow-bench}/drain-profile
rm -rf "$W"; mkdir -p "$W"
"$BIN" collect --listen 127.0.0.1:"$PORT" --data "$W/data" --rcvbuf 1000000000 "$@" >"$W/collector.log" 2>&1 &
PID=$!
sleep 1
kill -STOP $PID
"$GEN" -q -M -P "$PROTO" -n "$FLOWS" -r 0 -s 42 -p "$PORT" -x 120 >"$W/gen.out" 2>&1
perf record -g -o "$W/perf.data" -p $PID -- sleep 4 >/dev/null 2>&1 &
PERF=$!
sleep 0.3
kill -CONT $PID
wait $PERF
kill -TERM $PID; wait $PID
grep -E "final stats|drop|lost" "$W/collector.log" | head -5
perf report -i "$W/perf.data" --no-children --percent-limit 1.5 --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -40
