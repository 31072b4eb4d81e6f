/*
 * sim/sim_v5.c - the NetFlow v5 encoder of the simulated exporter.
 *
 * Packet layout (Cisco NetFlow v5), big endian:
 *
 *   header, 24 bytes
 *   OFFSET SIZE MEANING
 *        0    2 version = 5
 *        2    2 count: records in this packet, 1..30
 *        4    4 sysUptime: ms since the exporter booted, at export time
 *        8    4 unix_secs: export time, seconds since the epoch
 *       12    4 unix_nsecs: residual nanoseconds of the export time
 *       16    4 flow_sequence: records exported by this engine before this packet
 *       20    1 engine_type
 *       21    1 engine_id
 *       22    2 sampling: mode (top 2 bits) and interval (low 14 bits)
 *
 *   record, 48 bytes, count times
 *        0    4 srcaddr          24    4 first (sysUptime of the first packet)
 *        4    4 dstaddr          28    4 last (sysUptime of the last packet)
 *        8    4 nexthop          32    2 srcport
 *       12    2 input ifIndex    34    2 dstport
 *       14    2 output ifIndex   36    1 pad
 *       16    4 dPkts            37    1 tcp_flags
 *       20    4 dOctets          38    1 prot
 *                                39    1 tos
 *       40    2 src_as           44    1 src_mask
 *       42    2 dst_as           45    1 dst_mask
 *                                46    2 pad
 *
 * The export time is encoded with millisecond precision (unix_nsecs a
 * multiple of 10^6) so that a decoder computing first = export - (uptime -
 * first_uptime) gets the generated millisecond back exactly.
 */
#include "sim/sim.h"

#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"

#define V5_HEADER_LEN 24
#define V5_RECORD_LEN 48
#define V5_MAX_RECORDS 30
#define V5_MAX_UPTIME_MS UINT32_MAX

typedef struct v5_state {
    sim_encoder_options opt;
    uint32_t sequence; /* flows sent so far (flow_sequence of the next packet) */
} v5_state;

static cf_err v5_open(const sim_encoder_options *o, void **state)
{
    v5_state *s = calloc(1, sizeof(*s));
    if (!s)
        return CF_ERR_NOMEM;
    s->opt = *o;
    *state = s;
    return CF_OK;
}

static size_t v5_max_records(const void *state)
{
    (void)state;
    return V5_MAX_RECORDS;
}

/* True when t can be written as a 32-bit uptime relative to boot_ms. */
static bool v5_uptime_ok(uint64_t t, uint64_t boot_ms) { return t >= boot_ms && t - boot_ms <= V5_MAX_UPTIME_MS; }

static bool v5_representable(const flow_record *r, uint64_t boot_ms)
{
    return r->family == 4 && flow_addr_is_v4(r->src_addr) && flow_addr_is_v4(r->dst_addr) &&
           (flow_addr_is_zero(r->next_hop) || flow_addr_is_v4(r->next_hop)) && r->in_if <= UINT16_MAX &&
           r->out_if <= UINT16_MAX && r->src_as <= UINT16_MAX && r->dst_as <= UINT16_MAX &&
           r->packets <= UINT32_MAX && r->bytes <= UINT32_MAX && r->first_ms <= r->last_ms &&
           v5_uptime_ok(r->first_ms, boot_ms) && v5_uptime_ok(r->last_ms, boot_ms);
}

static void v5_put_record(uint8_t *p, const flow_record *r, uint64_t boot_ms)
{
    cf_put_be32(p + 0, flow_addr_v4(r->src_addr));
    cf_put_be32(p + 4, flow_addr_v4(r->dst_addr));
    cf_put_be32(p + 8, flow_addr_is_zero(r->next_hop) ? 0 : flow_addr_v4(r->next_hop));
    cf_put_be16(p + 12, (uint16_t)r->in_if);
    cf_put_be16(p + 14, (uint16_t)r->out_if);
    cf_put_be32(p + 16, (uint32_t)r->packets);
    cf_put_be32(p + 20, (uint32_t)r->bytes);
    cf_put_be32(p + 24, (uint32_t)(r->first_ms - boot_ms));
    cf_put_be32(p + 28, (uint32_t)(r->last_ms - boot_ms));
    cf_put_be16(p + 32, r->src_port);
    cf_put_be16(p + 34, r->dst_port);
    p[36] = 0;
    p[37] = r->tcp_flags;
    p[38] = r->proto;
    p[39] = r->tos;
    cf_put_be16(p + 40, (uint16_t)r->src_as);
    cf_put_be16(p + 42, (uint16_t)r->dst_as);
    p[44] = r->src_mask;
    p[45] = r->dst_mask;
    cf_put_be16(p + 46, 0);
}

static cf_err v5_encode(void *state, const flow_record *recs, size_t n, uint64_t export_ms, uint8_t *buf,
                        size_t cap, size_t *len, size_t *n_used)
{
    v5_state *s = state;
    size_t k = n < V5_MAX_RECORDS ? n : V5_MAX_RECORDS;
    if (k == 0 || !v5_uptime_ok(export_ms, s->opt.boot_ms))
        return CF_ERR_RANGE;
    size_t need = V5_HEADER_LEN + k * V5_RECORD_LEN;
    if (cap < need)
        return CF_ERR_FULL;
    for (size_t i = 0; i < k; i++)
        if (!v5_representable(&recs[i], s->opt.boot_ms))
            return CF_ERR_RANGE;
    cf_put_be16(buf + 0, 5);
    cf_put_be16(buf + 2, (uint16_t)k);
    cf_put_be32(buf + 4, (uint32_t)(export_ms - s->opt.boot_ms));
    cf_put_be32(buf + 8, (uint32_t)(export_ms / 1000));
    cf_put_be32(buf + 12, (uint32_t)(export_ms % 1000) * 1000000u);
    cf_put_be32(buf + 16, s->sequence);
    buf[20] = s->opt.engine_type;
    buf[21] = s->opt.engine_id;
    cf_put_be16(buf + 22, (uint16_t)(s->opt.sampling_interval & 0x3FFF));
    for (size_t i = 0; i < k; i++)
        v5_put_record(buf + V5_HEADER_LEN + i * V5_RECORD_LEN, &recs[i], s->opt.boot_ms);
    s->sequence += (uint32_t)k;
    *len = need;
    *n_used = k;
    return CF_OK;
}

static void v5_close(void *state) { free(state); }

const sim_encoder_ops sim_encoder_v5 = {
    .name = "v5",
    .open = v5_open,
    .max_records = v5_max_records,
    .encode = v5_encode,
    .close = v5_close,
};
