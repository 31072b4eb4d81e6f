#!/bin/bash
# Instructions per flow of the whole user-space path (decode, batches,
# column encoding, LZ4, checksums, writes) counted exactly by callgrind:
# `cloudflow import` of a capture of nfgen's traffic goes through the same
# pipeline as `collect` without the socket, and callgrind's counts repeat to
# the instruction, where drain runs on this VM vary by ±10-20 %.  Use it to
# compare two builds on a change to decoding or storing; the kernel's
# receive cost is not in it (see drain-threads.sh for that).
#
# The capture (N flows sent by nfgen on loopback at 400 k flows/s, recorded
# with dumpcap, bounded by nfgen -x and timeout) is made once per protocol
# under $BENCHDATA/pcap and reused.
#
# usage: bench/import-instr.sh [--proto v9|ipfix|v5|sflow] [--flows N] [--top K] BINARY...
set -u
PROTO=v9 FLOWS=1000000 TOP=12 PORT=47950
GEN=${GEN:-${BENCHDATA:-/var/tmp/cloudflow-bench}/bin/gen/nfgen}  # ../shared/bench/lib/build.sh builds it there
while [ $# -gt 0 ]; do
    case $1 in
    --proto) PROTO=$2; shift 2 ;; --flows) FLOWS=$2; shift 2 ;; --top) TOP=$2; shift 2 ;;
    --*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "usage: $0 [--proto P] [--flows N] [--top K] BINARY..." >&2; exit 2; }
command -v valgrind >/dev/null && command -v dumpcap >/dev/null || { echo "needs valgrind and dumpcap (apt-get install valgrind tshark)" >&2; exit 2; }
D=${BENCHDATA:-/var/tmp/cloudflow-bench}/pcap
mkdir -p "$D"
CAP=$D/$PROTO-$FLOWS.pcap
if [ ! -s "$CAP" ]; then
    timeout 120 dumpcap -q -i lo -s 0 -B 256 -f "udp port $PORT" -w "$CAP.tmp" >/dev/null 2>&1 &
    DC=$!
    sleep 2
    "$GEN" -q -M -P "$PROTO" -n "$FLOWS" -r 400000 -s 42 -p "$PORT" -x 100 >/dev/null
    sleep 1
    kill -INT $DC; wait $DC
    mv "$CAP.tmp" "$CAP"
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
for bin in "$@"; do
    rm -rf "$W/data"
    valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" "$bin" import "$CAP" --data "$W/data" >"$W/log" 2>&1 ||
        { echo "$bin: import failed:"; tail -3 "$W/log"; continue; }
    stored=$("$bin" query -R "$W/data" -I 2>/dev/null | awk -F': ' '/^Flows:/{print $2}')
    echo "== $bin ($PROTO, $CAP): stored $stored flows"
    callgrind_annotate "$W/cg.out" 2>/dev/null | awk -v n="${stored:-0}" -v top="$TOP" '
        /PROGRAM TOTALS/ { gsub(",", "", $1); printf "%10.1f instructions per flow in all\n", n ? $1 / n : 0; next }
        /^ *[0-9,]+ +\( *[0-9.]+%\) +[^=]/ && k < top { c = $1; gsub(",", "", c); l = $0; sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", l); sub(/ \[.*/, "", l); printf "%10.1f  %s\n", n ? c / n : 0, l; k++ }'
done
