/*
 * decode/decode_int.h - helpers shared by the decoders of src/decode/ only.
 *
 * The statistics of an exporter are written by the one thread that decodes
 * it and read by others through decode_stats_snapshot(); every write is a
 * relaxed atomic store so that those reads see whole values.
 */
#ifndef CF_DECODE_DECODE_INT_H
#define CF_DECODE_DECODE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "decode/decode.h"

/* *counter += n, by its single writer. */
static inline void decode_stat_add(uint64_t *counter, uint64_t n)
{
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline void decode_stat_set(uint64_t *counter, uint64_t v)
{
    __atomic_store_n(counter, v, __ATOMIC_RELAXED);
}

/* Counts one export packet of len bytes received at recv_ms. */
static inline void decode_count_packet(decode_exporter *ex, size_t len, uint64_t recv_ms)
{
    decode_stat_add(&ex->stats.packets, 1);
    decode_stat_add(&ex->stats.bytes, len);
    decode_stat_set(&ex->stats.last_seen_ms, recv_ms);
}

/* Counts a packet rejected for reason r, logs it (rate limited) with detail,
 * and returns err so that callers can write `return decode_reject(...)`. */
cf_err decode_reject(decode_exporter *ex, decode_reason r, cf_err err, const char *proto,
                     const char *detail);

/* The decoders of decode_packet_out(), one per protocol (decode.h: the
 * public decode_netflow5() etc. are these behind a row adapter). */
cf_err decode_netflow5_out(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                           const decode_out *out);
cf_err decode_netflow9_out(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                           const decode_out *out);
cf_err decode_ipfix_out(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                        const decode_out *out);
cf_err decode_sflow5_out(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                         const decode_out *out);

#endif
