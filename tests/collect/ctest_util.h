/*
 * tests/collect/ctest_util.h - helpers of the collector tests: free ports,
 * running `cloudflow collect` as a child process, reading a store back.
 *
 * Not thread safe; every helper is bounded in time.
 */
#ifndef CF_TESTS_CTEST_UTIL_H
#define CF_TESTS_CTEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A UDP port free right now on 127.0.0.1 (family 4) or ::1 (family 6); 0 on failure. */
uint16_t ct_free_port(int family);

/* True when ::1 can be bound (IPv6 available on loopback). */
bool ct_have_ipv6(void);

/* Starts CF_BINARY with argv (argv[0] = "collect", ..., NULL) with stdout and
 * stderr to log_path.  Returns the pid or -1. */
pid_t ct_spawn(const char *const *argv, const char *log_path);

/* Waits until the file at path contains needle (up to timeout_ms). */
bool ct_wait_for(const char *path, const char *needle, int timeout_ms);

/* Sends sig to pid and waits (up to timeout_ms) for it to exit; returns its
 * exit status, 128+signal when killed, -1 on timeout (then it is killed). */
int ct_stop(pid_t pid, int sig, int timeout_ms);

/* What `cloudflow send` reported. */
typedef struct ct_sent {
    uint64_t flows, packets, rec_packets, rec_bytes, send_errors;
} ct_sent;

/* Runs `cloudflow send --to TO ARGS...`; 0 when it exited 0 and its line parsed. */
int ct_send(const char *to, const char *extra_args, ct_sent *out);

/* Totals of every record readable from the segments under dir. */
typedef struct ct_store_sum {
    uint64_t flows, packets, bytes;
    uint64_t segments;          /* segment files */
    uint64_t unsealed;          /* without trailer */
    uint64_t torn;              /* stopped at a partial block */
    uint64_t errors;            /* open / block / column errors */
} ct_store_sum;

/* Reads every segment under dir with the store reader. */
int ct_store_read(const char *dir, ct_store_sum *out);

/* Value of counter in scope of DIR/stats.tsv; UINT64_MAX when missing. */
uint64_t ct_stat(const char *data_dir, const char *scope, const char *counter);

#endif
