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
