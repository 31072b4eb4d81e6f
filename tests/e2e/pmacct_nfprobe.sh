#!/usr/bin/env bash
# End to end from a second real exporter: pmacct's pmacctd (Debian package)
# reads a pcap this test writes and its nfprobe plugin exports NetFlow v9 or
# IPFIX (usage: pmacct_nfprobe.sh 9|10) to nfcapd on loopback; nfcapd repeats
# every packet unchanged (-R) to `cloudflow collect`.  The flows `cloudflow
# query` lists must be those `nfdump` lists (see compare_with_nfdump).
. "$(dirname "$0")/lib.sh"
VERSION=${1:?usage: pmacct_nfprobe.sh 9|10}
MKPCAP=${MKPCAP:?MKPCAP must name the mkpcap helper}
for t in pmacctd nfcapd nfdump; do command -v $t >/dev/null || fail "$t is not installed (scripts/install-deps --test)"; done

start=$(( $(date +%s) - 300 ))
"$MKPCAP" "$WORK/traffic.pcap" 200 11 "$start" >/dev/null || fail "mkpcap"
start_collectors

cat >"$WORK/pmacctd.conf" <<CONF
daemonize: false
pcap_savefile: $WORK/traffic.pcap
plugins: nfprobe
nfprobe_receiver: 127.0.0.1:$port_nf
nfprobe_version: $VERSION
aggregate: src_host, dst_host, src_port, dst_port, proto, tos, tcpflags
CONF
# pmacctd reads the file, its nfprobe plugin exports every flow when the core
# process shuts down at the end of the file (exit status 1 then).
timeout 60 pmacctd -f "$WORK/pmacctd.conf" >"$WORK/pmacctd.log" 2>&1
[ $? -eq 124 ] && fail "pmacctd did not finish within 60 s"
grep -q "Shutting down" "$WORK/pmacctd.log" || fail "pmacctd did not shut down cleanly: $(tail -3 "$WORK/pmacctd.log")"
# mkpcap's flows span 100 s from $start, plus at most 20 packets 0.5 s apart;
# v9 headers carry whole seconds: allow 2 s either side.
compare_with_nfdump "pmacct nfprobe NetFlow v$VERSION" $((start - 2)) $((start + 113)) 200
