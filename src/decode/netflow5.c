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

/* Fills the per-record members of rec from the 48-byte record r (offsets
 * as in decode.h; the caller took r from a cursor that held all 48 bytes).
 * rec holds v5_packet_members(): every member set here is set for every
 * record. */
static inline void v5_read_record(const v5_header *h, const uint8_t *r, flow_record *rec)
{
    memcpy(rec->src_addr + 12, r + 0, 4); /* network order, as flow_addr_from_v4 writes it */
    memcpy(rec->dst_addr + 12, r + 4, 4);
    memcpy(rec->next_hop + 12, r + 8, 4);
    rec->in_if = cf_be16(r + 12);
    rec->out_if = cf_be16(r + 14);
    rec->packets = (uint64_t)cf_be32(r + 16) * h->sampling;
    rec->bytes = (uint64_t)cf_be32(r + 20) * h->sampling;
    rec->first_ms = v5_abs_ms(h, cf_be32(r + 24));
    rec->last_ms = v5_abs_ms(h, cf_be32(r + 28));
    rec->src_port = cf_be16(r + 32);
    rec->dst_port = cf_be16(r + 34);
    rec->tcp_flags = r[37];
    rec->proto = r[38];
    rec->tos = r[39];
    rec->src_as = cf_be16(r + 40);
    rec->dst_as = cf_be16(r + 42);
    rec->src_mask = r[44];
    rec->dst_mask = r[45];
    bool icmp = rec->proto == 1;
    rec->icmp_type = icmp ? (uint8_t)(rec->dst_port >> 8) : 0;
    rec->icmp_code = icmp ? (uint8_t)rec->dst_port : 0;
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

cf_err decode_netflow5(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                       decode_emit_fn emit, void *ctx)
{
    decode_count_packet(ex, len, recv_ms);
    v5_header h = {0};
    cf_err err = v5_parse_header(ex, buf, len, &h);
    if (err)
        return err;
    v5_account_sequence(ex, &h);
    decode_stat_set(&ex->stats.sampling, h.sampling);
    cf_cursor c = cf_cursor_make(buf + DECODE_V5_HEADER_LEN, len - DECODE_V5_HEADER_LEN);
    flow_record rec;
    v5_packet_members(ex, &h, &rec);
    for (unsigned i = 0; i < h.count; i++) {
        cf_cursor r;
        if (!cf_sub(&c, DECODE_V5_RECORD_LEN, &r))
            break; /* not reached: v5_parse_header checked the length */
        v5_read_record(&h, r.p, &rec);
        if (emit)
            emit(ctx, &rec);
    }
    decode_stat_add(&ex->stats.records, h.count);
    return CF_OK;
}
