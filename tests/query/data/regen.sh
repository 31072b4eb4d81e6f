#!/bin/sh
# Regenerates the nfdump reference outputs of test_query_nfdump from an nfcapd
# file (made with bench/gen/nfgen -P v9 -n 2000 -6 10 into nfcapd 1.7.1):
#   tests/query/data/regen.sh NFCAPD_FILE
# flows.txt holds the records (every field cloudflow stores, ms times);
# *.expected hold what nfdump 1.7.1 prints for each query of queries.txt.
set -eu
f=$1
d=$(cd "$(dirname "$0")" && pwd)
nfdump -r "$f" -q -N -6 -o 'fmt:%ts|%te|%pr|%sa|%da|%sp|%dp|%pkt|%byt|%flg|%tos|%in|%out|%sas|%das|%smk|%dmk|%nh|%nhb|%ra|%svln|%dvln|%fwd|%dir|%eng' \
    | sed 's/ *| */|/g; s/^ *//; s/ *$//' > "$d/flows.txt"
i=0
while IFS= read -r q; do
    i=$((i + 1))
    # shellcheck disable=SC2086
    eval "nfdump -r \"$f\" $q" > "$d/q$i.expected"
done < "$d/queries.txt"
