#!/bin/sh
# Regenerates the nfdump 1.7.1 references of test_query_bidir (-b, -B).
#   tests/query/data/bidir/regen.sh [NFCAPD_FILE]
# The input is the flows of select.filter (39 flow pairs that have both
# directions, the flows of one host, some ICMP) out of the first file of the
# bench v5 data set (nfgen, see bench/); flows.txt holds them (every field
# cloudflow stores, ms times), qN.expected what nfdump printed for line N of
# queries.txt ("sorted": the test compares the records sorted, as nfdump
# prints -b without -O in hash-table order).
set -eu
d=$(cd "$(dirname "$0")" && pwd)
src=${1:-/var/tmp/cloudflow-bench/ds-v5/nfcapd-plain/nfcapd.202401010000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
f=$tmp/sub.nfcapd
nfdump -r "$src" -f "$d/select.filter" -w "$f"
nfdump -r "$f" -q -N -6 -o 'fmt:%ts|%te|%pr|%sa|%da|%sp|%dp|%pkt|%byt|%flg|%tos|%in|%out|%sas|%das|%smk|%dmk|%nh|%nhb|%ra|%svln|%dvln|%fwd|%dir|%eng' \
    | sed 's/ *| */|/g; s/^ *//; s/ *$//' > "$d/flows.txt"
i=0
while IFS="$(printf '\t')" read -r _mode q; do
    i=$((i + 1))
    # shellcheck disable=SC2086
    eval "nfdump -r \"$f\" $q" > "$d/q$i.expected"
done < "$d/queries.txt"
