#!/bin/sh
# Regenerates the nfdump 1.7.1 references of test_query_tags: each capture of
# tags.txt is sent to nfcapd on loopback (replay.py), and nfdump prints the
# capture's format: the header line, then the records sorted (cloudflow and
# nfcapd may order records differently).
#   tests/query/data/tags/regen.sh [TESTDATA]
set -eu
d=$(cd "$(dirname "$0")" && pwd)
testdata=${1:-$d/../../../../../shared/testdata}
port=39556
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
while IFS="$(printf '\t')" read -r cap fmt; do
    name=$(basename "$cap")
    mkdir -p "$tmp/$name"
    nfcapd -w "$tmp/$name" -p $port -t 3600 >/dev/null 2>&1 &
    pid=$!
    sleep 1
    python3 "$d/replay.py" $port "$testdata/pcap/$cap.pcap"
    sleep 1
    kill -TERM $pid
    wait $pid || true
    f=$(ls "$tmp/$name"/nfcapd.* | head -1)
    { nfdump -r "$f" -o "fmt:$fmt" -c 1 | head -1; nfdump -r "$f" -q -o "fmt:$fmt" | sort; } > "$d/$name.expected"
done < "$d/tags.txt"
