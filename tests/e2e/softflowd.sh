#!/usr/bin/env bash
# End to end from a real exporter: softflowd (Debian package) reads a pcap
# this test writes and exports NetFlow v5, v9 or IPFIX (usage: softflowd.sh
# 5|9|10) to nfcapd on loopback;
# nfcapd repeats every packet unchanged (-R) to `cloudflow collect`.  The
# flows `cloudflow query` lists must be the flows `nfdump` lists, field by
# field (nfdump 1.7.1's csv, all columns but the receive time).
. "$(dirname "$0")/lib.sh"
VERSION=${1:?usage: softflowd.sh 5|9|10}
MKPCAP=${MKPCAP:?MKPCAP must name the mkpcap helper}
for t in softflowd softflowctl nfcapd nfdump; do command -v $t >/dev/null || fail "$t is not installed (scripts/install-deps --test)"; done

start=$(( $(date +%s) - 300 ))
"$MKPCAP" "$WORK/traffic.pcap" 300 7 "$start" >/dev/null || fail "mkpcap"
start_collectors

# (softflowd keeps only 15 characters of the -r path: give it a short relative one.)
(cd "$WORK" && exec softflowd -d -r traffic.pcap -n 127.0.0.1:"$port_nf" -v "$VERSION" -p "$WORK/sf.pid" -c "$WORK/sf.ctl" >"$WORK/sf.log" 2>&1) &
sf_pid=$!; E2E_PIDS+=("$sf_pid")

# softflowd -r reads the file only as control commands wake its loop; at the
# end of the file it exports every flow and exits.  Wake it until it has.
for _ in $(seq 200); do
    is_running "$sf_pid" || break
    softflowctl -c "$WORK/sf.ctl" statistics >/dev/null 2>&1
    sleep 0.1
done
is_running "$sf_pid" && fail "softflowd did not finish within 20 s"
grep -q "Flows exported: 300 " "$WORK/sf.log" || fail "softflowd did not export 300 flows: $(grep exported "$WORK/sf.log")"
if [ "$VERSION" = 5 ]; then times=absolute; else times=relative; fi
# mkpcap's flows span 100 s from $start, plus at most 20 packets 0.5 s apart;
# v9 headers carry whole seconds: allow 2 s either side.
compare_with_nfdump "softflowd NetFlow v$VERSION" $((start - 2)) $((start + 113)) 300 "$times"
