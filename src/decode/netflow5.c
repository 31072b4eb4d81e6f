/*
 * decode/netflow5.c - the NetFlow v5 decoder.
 *
 * Layout, acceptance rule, time conversion and sequence accounting are
 * described in decode.h.  The packet is validated first (header, count
 * against length); only then are its records read, converted and emitted,
 * so a bad packet emits nothing and leaves the sequence state alone.
 */
#include "decode/decode.h"
#include "decode/decode_int.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/bytes.h"
#include "core/clones.h"

/* Header fields after validation. */
typedef struct v5_header {
    uint16_t count;
    uint32_t sys_uptime;
    uint32_t unix_secs;
    uint32_t unix_nsecs;
    uint32_t sequence;
    uint8_t engine_type;
    uint8_t engine_id;
    uint32_t sampling; /* interval applied to the counters, >= 1 */
    uint64_t export_ms;
} v5_header;

#define V5_SAMPLING_INTERVAL_MASK 0x3fffu

/* Reads and checks the header of buf (len bytes) into *out.  On failure the
 * packet is counted under its reason, the error returned, *out untouched. */
static cf_err v5_parse_header(decode_exporter *ex, const uint8_t *buf, size_t len, v5_header *out)
{
    char detail[96];
    v5_header hdr;
    v5_header *h = &hdr;
    cf_cursor c = cf_cursor_make(buf, len);
    uint16_t version, sampling;
    if (!cf_read_be16(&c, &version) || !cf_read_be16(&c, &h->count) ||
        !cf_read_be32(&c, &h->sys_uptime) || !cf_read_be32(&c, &h->unix_secs) ||
        !cf_read_be32(&c, &h->unix_nsecs) || !cf_read_be32(&c, &h->sequence) ||
        !cf_read_u8(&c, &h->engine_type) || !cf_read_u8(&c, &h->engine_id) ||
        !cf_read_be16(&c, &sampling)) {
        snprintf(detail, sizeof(detail), "%zu bytes, header needs %d", len, DECODE_V5_HEADER_LEN);
        return decode_reject(ex, DECODE_BAD_SHORT, CF_ERR_TRUNCATED, "NetFlow v5", detail);
    }
    if (version != 5)
        return decode_reject(ex, DECODE_BAD_VERSION, CF_ERR_VERSION, "NetFlow v5", "not version 5");
    if (h->count == 0)
        return decode_reject(ex, DECODE_BAD_COUNT, CF_ERR_MALFORMED, "NetFlow v5", "count 0");
    size_t need = (size_t)h->count * DECODE_V5_RECORD_LEN;
    if (h->count > DECODE_V5_MAX_COUNT && c.left != need) {
        snprintf(detail, sizeof(detail), "count %u > %d and %zu record bytes", (unsigned)h->count,
                 DECODE_V5_MAX_COUNT, c.left);
        return decode_reject(ex, DECODE_BAD_COUNT, CF_ERR_MALFORMED, "NetFlow v5", detail);
    }
    if (c.left < need) {
        snprintf(detail, sizeof(detail), "count %u needs %zu record bytes, has %zu",
                 (unsigned)h->count, need, c.left);
        return decode_reject(ex, DECODE_BAD_COUNT, CF_ERR_TRUNCATED, "NetFlow v5", detail);
    }
    uint16_t interval = sampling & V5_SAMPLING_INTERVAL_MASK;
    h->sampling = interval > 1 ? interval : 1;
    /* configured per exporter: an override always; a default when the
     * header announces nothing (the whole sampling field is 0) */
    if (ex->cfg.sampling_override)
        h->sampling = ex->cfg.sampling_override;
    else if (sampling == 0 && ex->cfg.sampling_default)
        h->sampling = ex->cfg.sampling_default;
    h->export_ms = (uint64_t)h->unix_secs * 1000u + h->unix_nsecs / 1000000u;
    *out = hdr;
    return CF_OK;
}

/* Absolute ms of a sysUptime-relative time t (see decode.h). */
static uint64_t v5_abs_ms(const v5_header *h, uint32_t t)
{
    uint32_t ago = h->sys_uptime - t; /* modulo 2^32 */
    return h->export_ms >= ago ? h->export_ms - ago : 0;
}

/* The members that are the same for every record of the packet; the rest
 * stays zero (members a v5 record has no value for). */
static void v5_packet_members(const decode_exporter *ex, const v5_header *h, flow_record *rec)
{
    memset(rec, 0, sizeof(*rec));
    rec->family = 4;
    flow_addr_from_v4(rec->src_addr, 0); /* the IPv4-mapped prefixes; the last 4 bytes per record */
    flow_addr_from_v4(rec->dst_addr, 0);
    flow_addr_from_v4(rec->next_hop, 0);
    memcpy(rec->exporter, ex->addr, 16);
    rec->sampling = h->sampling;
    rec->flags = h->sampling > 1 ? FLOW_F_SAMPLED : 0;
    rec->engine_type = h->engine_type;
    rec->engine_id = h->engine_id;
    rec->exporter_proto = FLOW_PROTO_NETFLOW5;
}

/* The columns a v5 record has values for (ICMP type and code besides,
 * when a record is ICMP). */
#define V5_VARY                                                                                               \
    (FLOW_BATCH_BIT(FLOW_FIELD_SRC_ADDR) | FLOW_BATCH_BIT(FLOW_FIELD_DST_ADDR) |                              \
     FLOW_BATCH_BIT(FLOW_FIELD_NEXT_HOP) | FLOW_BATCH_BIT(FLOW_FIELD_IN_IF) | FLOW_BATCH_BIT(FLOW_FIELD_OUT_IF) | \
     FLOW_BATCH_BIT(FLOW_FIELD_PACKETS) | FLOW_BATCH_BIT(FLOW_FIELD_BYTES) | FLOW_BATCH_BIT(FLOW_FIELD_FIRST) |  \
     FLOW_BATCH_BIT(FLOW_FIELD_LAST) | FLOW_BATCH_BIT(FLOW_FIELD_SRC_PORT) | FLOW_BATCH_BIT(FLOW_FIELD_DST_PORT) | \
     FLOW_BATCH_BIT(FLOW_FIELD_TCP_FLAGS) | FLOW_BATCH_BIT(FLOW_FIELD_PROTO) | FLOW_BATCH_BIT(FLOW_FIELD_TOS) |   \
     FLOW_BATCH_BIT(FLOW_FIELD_SRC_AS) | FLOW_BATCH_BIT(FLOW_FIELD_DST_AS) |                                   \
     FLOW_BATCH_BIT(FLOW_FIELD_SRC_MASK) | FLOW_BATCH_BIT(FLOW_FIELD_DST_MASK))

static inline uint8_t *col_at(flow_batch *b, flow_field_id id, uint32_t row, unsigned w)
{
    return b->cols[id] + (size_t)row * w;
}

/* An IPv4 address of each record (offset off) as mapped addresses. */
static void v5_addr_col(uint8_t *d, const uint8_t *r, size_t m, size_t off)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    for (size_t i = 0; i < m; i++) {
        memcpy(d + 16 * i, mapped, 12);
        memcpy(d + 16 * i + 12, r + DECODE_V5_RECORD_LEN * i + off, 4); /* network order, as flow_addr_from_v4 */
    }
}

static void v5_u8_col(uint8_t *d, const uint8_t *r, size_t m, size_t off)
{
    for (size_t i = 0; i < m; i++)
        d[i] = r[DECODE_V5_RECORD_LEN * i + off];
}

static void v5_u16_col(uint8_t *d, const uint8_t *r, size_t m, size_t off)
{
    for (size_t i = 0; i < m; i++) {
        uint16_t v = cf_be16(r + DECODE_V5_RECORD_LEN * i + off);
        memcpy(d + 2 * i, &v, 2);
    }
}

/* A 16-bit value widened to a 32-bit column (interfaces, AS numbers). */
static void v5_u16_u32_col(uint8_t *d, const uint8_t *r, size_t m, size_t off)
{
    for (size_t i = 0; i < m; i++) {
        uint32_t v = cf_be16(r + DECODE_V5_RECORD_LEN * i + off);
        memcpy(d + 4 * i, &v, 4);
    }
}

/* A counter times the sampling interval. */
static void v5_count_col(uint8_t *d, const uint8_t *r, size_t m, size_t off, uint32_t sampling)
{
    for (size_t i = 0; i < m; i++) {
        uint64_t v = (uint64_t)cf_be32(r + DECODE_V5_RECORD_LEN * i + off) * sampling;
        memcpy(d + 8 * i, &v, 8);
    }
}

static void v5_time_col(uint8_t *d, const uint8_t *r, size_t m, size_t off, const v5_header *h)
{
    for (size_t i = 0; i < m; i++) {
        uint64_t v = v5_abs_ms(h, cf_be32(r + DECODE_V5_RECORD_LEN * i + off));
        memcpy(d + 8 * i, &v, 8);
    }
}

/* Writes the m 48-byte records at r (offsets as in decode.h) into rows
 * row .. row + m of b, whose run flow_batch_run() prepared with V5_VARY. */
CF_CLONES static void v5_write_records(const v5_header *h, const uint8_t *r, size_t m, flow_batch *b, uint32_t row)
{
    v5_addr_col(col_at(b, FLOW_FIELD_SRC_ADDR, row, 16), r, m, 0);
    v5_addr_col(col_at(b, FLOW_FIELD_DST_ADDR, row, 16), r, m, 4);
    v5_addr_col(col_at(b, FLOW_FIELD_NEXT_HOP, row, 16), r, m, 8);
    v5_u16_u32_col(col_at(b, FLOW_FIELD_IN_IF, row, 4), r, m, 12);
    v5_u16_u32_col(col_at(b, FLOW_FIELD_OUT_IF, row, 4), r, m, 14);
    v5_count_col(col_at(b, FLOW_FIELD_PACKETS, row, 8), r, m, 16, h->sampling);
    v5_count_col(col_at(b, FLOW_FIELD_BYTES, row, 8), r, m, 20, h->sampling);
    v5_time_col(col_at(b, FLOW_FIELD_FIRST, row, 8), r, m, 24, h);
    v5_time_col(col_at(b, FLOW_FIELD_LAST, row, 8), r, m, 28, h);
    v5_u16_col(col_at(b, FLOW_FIELD_SRC_PORT, row, 2), r, m, 32);
    v5_u16_col(col_at(b, FLOW_FIELD_DST_PORT, row, 2), r, m, 34);
    v5_u8_col(col_at(b, FLOW_FIELD_TCP_FLAGS, row, 1), r, m, 37);
    v5_u8_col(col_at(b, FLOW_FIELD_PROTO, row, 1), r, m, 38);
    v5_u8_col(col_at(b, FLOW_FIELD_TOS, row, 1), r, m, 39);
    v5_u16_u32_col(col_at(b, FLOW_FIELD_SRC_AS, row, 4), r, m, 40);
    v5_u16_u32_col(col_at(b, FLOW_FIELD_DST_AS, row, 4), r, m, 42);
    v5_u8_col(col_at(b, FLOW_FIELD_SRC_MASK, row, 1), r, m, 44);
    v5_u8_col(col_at(b, FLOW_FIELD_DST_MASK, row, 1), r, m, 45);
    /* ICMP type and code from the destination port, as nfdump */
    bool icmp = false;
    for (size_t i = 0; i < m; i++)
        icmp |= r[DECODE_V5_RECORD_LEN * i + 38] == 1;
    if (!icmp)
        return; /* the packet record's zeros */
    flow_batch_vary(b, FLOW_BATCH_BIT(FLOW_FIELD_ICMP_TYPE) | FLOW_BATCH_BIT(FLOW_FIELD_ICMP_CODE));
    uint8_t *type = col_at(b, FLOW_FIELD_ICMP_TYPE, row, 1), *code = col_at(b, FLOW_FIELD_ICMP_CODE, row, 1);
    for (size_t i = 0; i < m; i++) {
        const uint8_t *x = r + DECODE_V5_RECORD_LEN * i;
        bool is = x[38] == 1;
        type[i] = is ? x[34] : 0;
        code[i] = is ? x[35] : 0;
    }
}

/* The sequence slot of the header's engine (created when new). */
static decode_v5_seq *v5_seq_slot(decode_exporter *ex, const v5_header *h)
{
    uint16_t engine = (uint16_t)(h->engine_type << 8 | h->engine_id);
    for (size_t i = 0; i < ex->n_v5_seq; i++)
        if (ex->v5_seq[i].engine == engine)
            return &ex->v5_seq[i];
    size_t i = ex->n_v5_seq < DECODE_V5_MAX_ENGINES ? ex->n_v5_seq++ : DECODE_V5_MAX_ENGINES - 1;
    ex->v5_seq[i].engine = engine;
    ex->v5_seq[i].valid = 0;
    ex->v5_seq[i].next = 0;
    return &ex->v5_seq[i];
}

/* Sequence accounting of a valid packet (rule in decode.h). */
static void v5_account_sequence(decode_exporter *ex, const v5_header *h)
{
    decode_v5_seq *s = v5_seq_slot(ex, h);
    if (s->valid) {
        uint32_t ahead = h->sequence - s->next; /* modulo 2^32 */
        if (ahead != 0 && ahead <= DECODE_SEQ_MAX_GAP)
            decode_stat_add(&ex->stats.lost, ahead);
        else if (ahead != 0)
            decode_stat_add(&ex->stats.seq_resets, 1);
    }
    s->next = h->sequence + h->count;
    s->valid = 1;
}

cf_err decode_netflow5_out(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                           const decode_out *out)
{
    decode_count_packet(ex, len, recv_ms);
    v5_header h = {0};
    cf_err err = v5_parse_header(ex, buf, len, &h);
    if (err)
        return err;
    v5_account_sequence(ex, &h);
    decode_stat_set(&ex->stats.sampling, h.sampling);
    decode_stat_add(&ex->stats.records, h.count);
    if (!out->room)
        return CF_OK; /* records only counted */
    flow_record c;
    v5_packet_members(ex, &h, &c);
    c.received_ms = recv_ms;
    const uint8_t *r = buf + DECODE_V5_HEADER_LEN; /* v5_parse_header checked count * 48 bytes */
    for (size_t done = 0; done < h.count;) {
        flow_batch *b = out->room(out->ctx);
        size_t m = h.count - done;
        if (m > b->cap - b->n)
            m = b->cap - b->n;
        uint32_t row = flow_batch_run(b, &c, V5_VARY, m);
        v5_write_records(&h, r + done * DECODE_V5_RECORD_LEN, m, b, row);
        b->n += (uint32_t)m;
        done += m;
    }
    return CF_OK;
}
