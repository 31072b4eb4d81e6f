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

cf_err decode_packet_out(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                         const decode_out *out)
{
    if (len >= 4 && cf_be32(buf) == VERSION_SFLOW5)
        return decode_sflow5_out(ex, buf, len, recv_ms, out);
    if (len < 2) {
        decode_count_packet(ex, len, recv_ms);
        return decode_reject(ex, DECODE_BAD_SHORT, CF_ERR_TRUNCATED, "export",
                             "shorter than a version field");
    }
    switch (cf_be16(buf)) {
    case VERSION_NETFLOW5:
        return decode_netflow5_out(ex, buf, len, recv_ms, out);
    case VERSION_NETFLOW9:
        return decode_netflow9_out(ex, buf, len, recv_ms, out);
    case VERSION_IPFIX:
        return decode_ipfix_out(ex, buf, len, recv_ms, out);
    default:
        decode_count_packet(ex, len, recv_ms);
        return decode_reject(ex, DECODE_BAD_VERSION, CF_ERR_VERSION, "export",
                             "unknown version");
    }
}

/* ---- rows for emit-only callers ------------------------------------------ */

/* A small batch on the stack whose records go to the caller's emit, in
 * order: emitted rows flush the batch first. */
enum { ROWS_CAP = 32, ROWS_MEM = ROWS_CAP * sizeof(flow_record) + 16 * (FLOW_FIELD_MAX_ID + 1) };

typedef struct rows_adapter {
    flow_batch b;
    decode_emit_fn emit;
    void *ctx;
} rows_adapter;

static void rows_flush(rows_adapter *a)
{
    flow_record rec;
    for (uint32_t i = 0; i < a->b.n; i++) {
        flow_batch_get(&a->b, i, &rec);
        a->emit(a->ctx, &rec);
    }
    flow_batch_clear(&a->b);
}

static flow_batch *rows_room(void *ctx)
{
    rows_adapter *a = ctx;
    if (a->b.n == a->b.cap)
        rows_flush(a);
    return &a->b;
}

static void rows_emit(void *ctx, const flow_record *rec)
{
    rows_adapter *a = ctx;
    rows_flush(a);
    a->emit(a->ctx, rec);
}

typedef cf_err (*decode_out_fn)(decode_exporter *, const uint8_t *, size_t, uint64_t, const decode_out *);

static cf_err with_rows(decode_out_fn fn, decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                        decode_emit_fn emit, void *ctx)
{
    if (!emit) {
        const decode_out none = {NULL, NULL, NULL};
        return fn(ex, buf, len, recv_ms, &none);
    }
    _Alignas(16) uint8_t mem[ROWS_MEM];
    rows_adapter a = {.emit = emit, .ctx = ctx};
    cf_err e = flow_batch_init_mem(&a.b, ROWS_CAP, mem, sizeof(mem));
    if (e)
        return e; /* not reached: ROWS_MEM covers the columns */
    const decode_out out = {rows_emit, rows_room, &a};
    e = fn(ex, buf, len, recv_ms, &out);
    rows_flush(&a);
    return e;
}

cf_err decode_packet(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                     decode_emit_fn emit, void *ctx)
{
    return with_rows(decode_packet_out, ex, buf, len, recv_ms, emit, ctx);
}

cf_err decode_netflow5(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                       decode_emit_fn emit, void *ctx)
{
    return with_rows(decode_netflow5_out, ex, buf, len, recv_ms, emit, ctx);
}

cf_err decode_netflow9(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                       decode_emit_fn emit, void *ctx)
{
    return with_rows(decode_netflow9_out, ex, buf, len, recv_ms, emit, ctx);
}

cf_err decode_ipfix(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                    decode_emit_fn emit, void *ctx)
{
    return with_rows(decode_ipfix_out, ex, buf, len, recv_ms, emit, ctx);
}

cf_err decode_sflow5(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                     decode_emit_fn emit, void *ctx)
{
    return with_rows(decode_sflow5_out, ex, buf, len, recv_ms, emit, ctx);
}
