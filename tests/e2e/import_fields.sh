#!/usr/bin/env bash
# `cloudflow import` of real captures, then `cloudflow query -o csv/json`
# shows the newer fields as tshark decodes them: the MPLS label stack of a
# Nokia SR OS IPFIX export (tshark: MPLS-Label1 20005 exp 0, MPLS-Label2
# 524250 exp 0 bottom-of-stack) and the receive time (the capture's time).
. "$(dirname "$0")/lib.sh"
TESTDATA=${CF_TESTDATA:?CF_TESTDATA must name the shared testdata}
"$CF" import "$TESTDATA/pcap/nokia/akvorado_mpls.pcap" --data "$WORK/d" >/dev/null || fail "import"
csv=$("$CF" query -R "$WORK/d" -q -o csv -N) || fail "query"
[ "$(echo "$csv" | wc -l)" -eq 2 ] || fail "expected 2 flows, got: $csv"
echo "$csv" | cut -d, -f32-34 | sort -u >"$WORK/mpls"
[ "$(cat "$WORK/mpls")" = "$(printf '20005-0-0,524250-0-1,0-0-0\n20006-0-0,524275-0-1,0-0-0')" ] \
    || fail "MPLS columns: $(cat "$WORK/mpls")"
tr=$(echo "$csv" | cut -d, -f48 | sort -u)
[ "$tr" = "2023-11-13 16:36:44.489" ] || fail "receive time: $tr"
json=$("$CF" query -R "$WORK/d" -o json -c 1) || fail "query json"
echo "$json" | grep -q '"mpls_2" : "524250-0-1"' || fail "json has no mpls_2: $json"
echo "ok: MPLS labels and receive time in csv and json"
