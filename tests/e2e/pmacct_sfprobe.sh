#!/usr/bin/env bash
# End to end, sFlow v5 from a real agent: pmacct's pmacctd (Debian package)
# reads a pcap this test writes and its sfprobe plugin exports every packet as
# an sFlow flow sample (sampling 1/1) to sfcapd (Debian nfdump-sflow) on
# loopback; sfcapd repeats every datagram unchanged (-R) to `cloudflow
# collect`.  The flows `cloudflow query` lists must be those `nfdump` lists.
# sFlow carries no flow times: both collectors stamp samples with their
# receive time, which may differ by a second between them, so the time
# columns are checked against the test's own run time instead.
. "$(dirname "$0")/lib.sh"
MKPCAP=${MKPCAP:?MKPCAP must name the mkpcap helper}
for t in pmacctd sfcapd nfdump; do command -v $t >/dev/null || fail "$t is not installed (scripts/install-deps --test)"; done

n_pkts=$("$MKPCAP" "$WORK/traffic.pcap" 60 13 | awk '{print $1}')
[ "${n_pkts:-0}" -gt 0 ] || fail "mkpcap"
t0=$(date +%s)
start_collectors sfcapd
cat >"$WORK/pmacctd.conf" <<CONF
daemonize: false
pcap_savefile: $WORK/traffic.pcap
plugins: sfprobe
sfprobe_receiver: 127.0.0.1:$port_nf
sfprobe_sampling_rate: 1
CONF
timeout 60 pmacctd -f "$WORK/pmacctd.conf" >"$WORK/pmacctd.log" 2>&1
[ $? -eq 124 ] && fail "pmacctd did not finish within 60 s"
# pmacctd may drop a few packets between its core and the plugin when it reads
# a file at full speed: at least 90% of the packets must arrive as samples.
compare_with_nfdump "pmacct sfprobe sFlow v5" "$t0" $(( $(date +%s) + 2 )) "min:$((n_pkts * 9 / 10))" relative
