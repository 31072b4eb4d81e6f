/*
 * decode/decode.c - protocol recognition and per-exporter state.
 *
 * decode_packet() looks at the version field and hands the packet to the
 * decoder of its protocol (netflow5.c, ...).  Each protocol decoder counts
 * the packets it is given; this file counts those it cannot dispatch.
 */
#include "decode/decode.h"
#include "decode/decode_int.h"

#include <string.h>

#include "core/bytes.h"

static const char *const reason_names[DECODE_N_REASONS] = {
    [DECODE_BAD_SHORT] = "short",
    [DECODE_BAD_VERSION] = "version",
    [DECODE_BAD_COUNT] = "count",
    [DECODE_BAD_LENGTH] = "length",
    [DECODE_BAD_RECORD] = "record",
};

const char *decode_reason_name(decode_reason r)
{
    if ((unsigned)r >= DECODE_N_REASONS)
        return "unknown";
    return reason_names[r];
}

void decode_exporter_init(decode_exporter *ex, const uint8_t addr[16], uint16_t port)
{
    memset(ex, 0, sizeof(*ex));
    memcpy(ex->addr, addr, 16);
    ex->port = port;
}

void decode_stats_snapshot(const decode_exporter *ex, decode_stats *out)
{
    const decode_stats *s = &ex->stats;
    out->packets = __atomic_load_n(&s->packets, __ATOMIC_RELAXED);
    out->bytes = __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
    out->records = __atomic_load_n(&s->records, __ATOMIC_RELAXED);
    out->lost = __atomic_load_n(&s->lost, __ATOMIC_RELAXED);
    out->seq_resets = __atomic_load_n(&s->seq_resets, __ATOMIC_RELAXED);
    for (size_t i = 0; i < DECODE_N_REASONS; i++)
        out->malformed[i] = __atomic_load_n(&s->malformed[i], __ATOMIC_RELAXED);
    out->last_seen_ms = __atomic_load_n(&s->last_seen_ms, __ATOMIC_RELAXED);
    out->sampling = __atomic_load_n(&s->sampling, __ATOMIC_RELAXED);
}

cf_err decode_reject(decode_exporter *ex, decode_reason r, cf_err err, const char *proto,
                     const char *detail)
{
    decode_stat_add(&ex->stats.malformed[r], 1);
    char addr[48];
    flow_addr_format(ex->addr, addr, sizeof(addr));
    cf_log_limited(&ex->log_rl, CF_LOG_WARN, "exporter %s port %u: bad %s packet (%s): %s", addr,
                   (unsigned)ex->port, proto, decode_reason_name(r), detail);
    return err;
}

/* Versions recognised; see decode.h. */
enum {
    VERSION_NETFLOW5 = 5,
    VERSION_NETFLOW9 = 9,
    VERSION_IPFIX = 10,
    VERSION_SFLOW5 = 5, /* as a 32-bit field */
};

cf_err decode_packet(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                     decode_emit_fn emit, void *ctx)
{
    if (len >= 4 && cf_be32(buf) == VERSION_SFLOW5)
        return decode_sflow5(ex, buf, len, recv_ms, emit, ctx);
    if (len < 2) {
        decode_count_packet(ex, len, recv_ms);
        return decode_reject(ex, DECODE_BAD_SHORT, CF_ERR_TRUNCATED, "export",
                             "shorter than a version field");
    }
    switch (cf_be16(buf)) {
    case VERSION_NETFLOW5:
        return decode_netflow5(ex, buf, len, recv_ms, emit, ctx);
    case VERSION_NETFLOW9:
        return decode_netflow9(ex, buf, len, recv_ms, emit, ctx);
    case VERSION_IPFIX:
        return decode_ipfix(ex, buf, len, recv_ms, emit, ctx);
    default:
        decode_count_packet(ex, len, recv_ms);
        return decode_reject(ex, DECODE_BAD_VERSION, CF_ERR_VERSION, "export",
                             "unknown version");
    }
}
