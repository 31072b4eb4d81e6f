# tests/e2e/lib.sh - helpers for the end-to-end tests (sourced).
# Every process a test starts is registered and killed on exit; every wait is bounded.
set -u
CF=${CF_BINARY:?CF_BINARY must name the cloudflow program}
E2E_PIDS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cf-e2e-XXXXXX")
e2e_cleanup() {
    for p in "${E2E_PIDS[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null; done
    [ -n "${E2E_KEEP:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap e2e_cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# A UDP port nothing listens on, chosen at random in 20000-59999.
free_udp_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 40000))
        ss -Huln "sport = :$p" | grep -q . || { echo "$p"; return 0; }
    done
    fail "no free UDP port found"
}
# wait_udp_listen PORT: until something listens on UDP PORT (at most 10 s).
wait_udp_listen() {
    for _ in $(seq 100); do ss -Huln "sport = :$1" | grep -q . && return 0; sleep 0.1; done
    fail "nothing listens on UDP port $1"
}
# is_running PID: true while PID exists and is not a zombie.
is_running() {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ $st != Z* ]]
}
# stop_pid PID: SIGTERM, then wait at most 20 s for it to exit; returns its status.
stop_pid() {
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 200); do is_running "$1" || break; sleep 0.1; done
    is_running "$1" && fail "process $1 did not stop within 20 s of SIGTERM"
    wait "$1" 2>/dev/null
}

# start_collectors [nfcapd|sfcapd]: nfdump's collector on port_nf repeating
# every packet (-R) to `cloudflow collect` on port_cf; data in $WORK/nf and
# $WORK/cf.
start_collectors() {
    local peer=${1:-nfcapd}
    port_nf=$(free_udp_port); port_cf=$(free_udp_port)
    mkdir -p "$WORK/nf" "$WORK/cf"

    "$CF" collect --listen 127.0.0.1:"$port_cf" --data "$WORK/cf" >"$WORK/cf.log" 2>&1 &
    cf_pid=$!; E2E_PIDS+=("$cf_pid")
    "$peer" -p "$port_nf" -b 127.0.0.1 -w "$WORK/nf" -t 3600 -R 127.0.0.1/"$port_cf" >"$WORK/nfcapd.log" 2>&1 &
    nf_pid=$!; E2E_PIDS+=("$nf_pid")
    wait_udp_listen "$port_cf"; wait_udp_listen "$port_nf"
}

# compare_with_nfdump WHAT FROM TO N_FLOWS [TIMES]: stops both collectors,
# then the flows `cloudflow query` lists must be those `nfdump` lists, csv
# column by column, and lie within [FROM, TO] (epoch seconds).  TIMES=relative
# leaves the time columns out of the comparison with nfdump (see below).
compare_with_nfdump() {
    local what=$1 t_from=$2 t_to=$3 n_expected=$4 times=${5:-absolute}
    sleep 1   # let the last datagrams through both collectors
    stop_pid "$nf_pid" || fail "nfdump's collector exited with an error"
    stop_pid "$cf_pid" || fail "cloudflow collect exited with status $? (log: $(tail -5 "$WORK/cf.log"))"

    # Same flows, same fields: all columns but the exporter id nfcapd numbers per
    # file (exid) and the receive time (tr), the last two.  With sysUptime-
    # relative times (softflowd v9 and IPFIX), nfdump 1.7.1 gets them wrong by
    # 2^32 ms (it reads the offsets as unsigned; for IPFIX it also swaps start
    # and end): there the times (ts, te, td) are checked against the capture
    # instead (below).
    local cols=1-46 n_nf n_cf from to bad sum_nf sum_cf
    [ "$times" = relative ] && cols=4-46
    # ICMP ports: cloudflow keeps nfdump's NetFlow convention everywhere (src
    # port 0, dst port type*256+code, as the exporters send it).  nfdump 1.7.1
    # itself shows v9 ICMP dst ports as 0 and, from sfcapd, the type as src
    # port: ICMP ports are compared as "-" and cloudflow's are checked below.
    local dp_col=7
    [ "$cols" = 1-46 ] || dp_col=4
    local icmp_dash='BEGIN{FS=OFS=","} $(dp_col+1)=="ICMP"{$dp_col="-"; $(dp_col-1)="-"} {print}'
    nfdump -R "$WORK/nf" -q -o csv -N | cut -d, -f$cols | awk -v dp_col=$dp_col "$icmp_dash" | LC_ALL=C sort >"$WORK/nf.csv"
    "$CF" query -R "$WORK/cf" -q -o csv -N | cut -d, -f$cols | awk -v dp_col=$dp_col "$icmp_dash" | LC_ALL=C sort >"$WORK/cf.csv" \
        || fail "cloudflow query failed"
    # mkpcap's ICMP packets are echo requests: type 8, code 0.
    bad=$("$CF" query -R "$WORK/cf" -q -o csv -N | awk -F, '$8=="ICMP" && ($6!=0 || $7!=2048) {n++} END {print n+0}')
    [ "$bad" -eq 0 ] || fail "$bad ICMP flows without src port 0 and dst port 2048 (type 8 * 256 + code 0)"
    n_nf=$(wc -l <"$WORK/nf.csv"); n_cf=$(wc -l <"$WORK/cf.csv")
    # N_FLOWS "min:K": the exporter may lose some (pmacct's core-to-plugin pipe).
    if [ "${n_expected#min:}" != "$n_expected" ]; then
        [ "$n_nf" -ge "${n_expected#min:}" ] || fail "nfdump shows $n_nf flows, expected at least ${n_expected#min:}"
    else
        [ "$n_nf" -eq "$n_expected" ] || fail "nfdump shows $n_nf flows, the exporter should have exported $n_expected"
    fi
    if ! diff -u "$WORK/nf.csv" "$WORK/cf.csv" >"$WORK/diff.txt"; then
        head -20 "$WORK/diff.txt" >&2
        fail "cloudflow and nfdump disagree ($n_cf vs $n_nf flows)"
    fi
    # Every flow lies within the given span, with first <= last.
    from=$(date -u -d "@$t_from" '+%Y-%m-%d %H:%M:%S'); to=$(date -u -d "@$t_to" '+%Y-%m-%d %H:%M:%S')
    bad=$("$CF" query -R "$WORK/cf" -q -o csv -N | awk -F, -v from="$from" -v to="$to" \
        '$1 < from || $2 > to || $1 > $2 {n++} END {print n+0}')
    [ "$bad" -eq 0 ] || fail "$bad flows have times outside [$from, $to] or first > last"
    # The summaries agree too.
    sum_nf=$(nfdump -R "$WORK/nf" -I | grep -E '^(Flows|Packets|Bytes):')
    sum_cf=$("$CF" query -R "$WORK/cf" -I | grep -E '^(Flows|Packets|Bytes):')
    [ "$sum_nf" = "$sum_cf" ] || fail "summary differs: nfdump [$sum_nf] cloudflow [$sum_cf]"
    echo "ok: $what: $n_cf flows agree with nfdump (columns $cols) and lie within [$from, $to]"
}
