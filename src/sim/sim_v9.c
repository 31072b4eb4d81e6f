/*
 * sim/sim_v9.c - the NetFlow v9 encoder of the simulated exporter, and the
 * template encoder it shares with IPFIX (sim_ipfix.c).
 *
 * Packet layout (v9 header 20 bytes / IPFIX header 16 bytes, see
 * decode/decode.h), then, in the first packet and every SIM_TPL_REFRESH-th:
 *   template set (v9 id 0 / IPFIX 2): template 256 (IPv4) and 257 (IPv6)
 *   options template set (v9 1 / IPFIX 3): template 258, scope
 *     v9: System (4 bytes); IPFIX: observationDomainId(149)
 *     fields v9: samplingInterval(34, 4), samplingAlgorithm(35, 1)
 *            IPFIX: samplingPacketInterval(305, 4) = 1,
 *                   samplingPacketSpace(306, 4) = interval - 1
 *   options data set 258: one record (the announced interval, >= 1)
 * and then one data set per run of records of the same family, in order:
 *
 *   template 256 (IPv4)               template 257 (IPv6)
 *   IE  SIZE                          IE  SIZE
 *    8   4 sourceIPv4Address          27  16 sourceIPv6Address
 *   12   4 destinationIPv4Address     28  16 destinationIPv6Address
 *    7   2 sourceTransportPort         7   2   (and so on as for IPv4)
 *   11   2 destinationTransportPort   11   2
 *    4   1 protocolIdentifier          4   1
 *    6   1 tcpControlBits              6   1
 *    5   1 ipClassOfService            5   1
 *    2   8 packetDeltaCount            2   8
 *    1   8 octetDeltaCount             1   8
 *   10   4 ingressInterface           10   4
 *   14   4 egressInterface            14   4
 *   16   4 bgpSourceAsNumber          16   4
 *   17   4 bgpDestinationAsNumber     17   4
 *    9   1 sourceIPv4PrefixLength     29   1 sourceIPv6PrefixLength
 *   13   1 destinationIPv4PrefixLength 30  1 destinationIPv6PrefixLength
 *   15   4 ipNextHopIPv4Address       62  16 ipNextHopIPv6Address
 *   times v9: 22/21 flowStart/EndSysUpTime (4 each);
 *         IPFIX: 152/153 flowStart/EndMilliseconds (8 each)
 *
 * With sim_encoder_options.no_templates no template or options set is ever
 * sent, only data sets.
 *
 * v9 numbers packets, IPFIX data records (options data included).  The v9
 * sysUptime is taken at the whole second of unix_secs, so that a decoder's
 * unix_secs * 1000 - (sysUptime - t) gives the flow's millisecond back.
 */
#include "sim/sim_template.h"

#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"

enum { TID_V4 = 256, TID_V6 = 257, TID_OPTS = 258 };

typedef struct tpl_state {
    sim_encoder_options opt;
    int ipfix;
    uint32_t sequence; /* v9: packets sent; IPFIX: data records sent */
    uint64_t packets;  /* packets sent */
} tpl_state;

typedef struct spec {
    uint16_t id, len;
} spec;

static const spec v4_fields[] = {{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {6, 1}, {5, 1}, {2, 8}, {1, 8},
                                 {10, 4}, {14, 4}, {16, 4}, {17, 4}, {9, 1}, {13, 1}, {15, 4}};
static const spec v6_fields[] = {{27, 16}, {28, 16}, {7, 2}, {11, 2}, {4, 1}, {6, 1}, {5, 1}, {2, 8}, {1, 8},
                                 {10, 4}, {14, 4}, {16, 4}, {17, 4}, {29, 1}, {30, 1}, {62, 16}};
#define N_KEY_FIELDS (sizeof(v4_fields) / sizeof(v4_fields[0]))

cf_err sim_tpl_open(const sim_encoder_options *o, int ipfix, void **state)
{
    tpl_state *s = calloc(1, sizeof(*s));
    if (!s)
        return CF_ERR_NOMEM;
    s->opt = *o;
    s->ipfix = ipfix;
    *state = s;
    return CF_OK;
}

size_t sim_tpl_max_records(const void *state)
{
    (void)state;
    return SIM_TPL_MAX_RECORDS;
}

void sim_tpl_close(void *state) { free(state); }

/* A byte writer that never passes cap. */
typedef struct wr {
    uint8_t *p;
    size_t n, cap;
    int full;
} wr;

static uint8_t *room(wr *w, size_t k)
{
    if (w->full || w->cap - w->n < k) {
        w->full = 1;
        return NULL;
    }
    uint8_t *at = w->p + w->n;
    w->n += k;
    return at;
}
static void w8(wr *w, uint8_t v)
{
    uint8_t *p = room(w, 1);
    if (p)
        *p = v;
}
static void w16(wr *w, uint16_t v)
{
    uint8_t *p = room(w, 2);
    if (p)
        cf_put_be16(p, v);
}
static void w32(wr *w, uint32_t v)
{
    uint8_t *p = room(w, 4);
    if (p)
        cf_put_be32(p, v);
}
static void w64(wr *w, uint64_t v)
{
    uint8_t *p = room(w, 8);
    if (p)
        cf_put_be64(p, v);
}
static void wbytes(wr *w, const uint8_t *src, size_t k)
{
    uint8_t *p = room(w, k);
    if (p)
        memcpy(p, src, k);
}

/* Opens a set; returns its offset for set_close. */
static size_t set_open(wr *w, uint16_t id)
{
    size_t at = w->n;
    w16(w, id);
    w16(w, 0);
    return at;
}
static void set_close(wr *w, size_t at)
{
    while (!w->full && (w->n - at) % 4) /* pad to 32 bits */
        w8(w, 0);
    if (!w->full)
        cf_put_be16(w->p + at + 2, (uint16_t)(w->n - at));
}

static void put_template(wr *w, const tpl_state *s, uint16_t tid, const spec *f)
{
    w16(w, tid);
    w16(w, (uint16_t)(N_KEY_FIELDS + 2));
    for (size_t i = 0; i < N_KEY_FIELDS; i++)
        w16(w, f[i].id), w16(w, f[i].len);
    w16(w, s->ipfix ? 152 : 22), w16(w, s->ipfix ? 8 : 4);
    w16(w, s->ipfix ? 153 : 21), w16(w, s->ipfix ? 8 : 4);
}

/* Templates, options template and options data; returns records written. */
static uint32_t put_templates(wr *w, const tpl_state *s)
{
    size_t at = set_open(w, s->ipfix ? 2 : 0);
    put_template(w, s, TID_V4, v4_fields);
    put_template(w, s, TID_V6, v6_fields);
    set_close(w, at);
    at = set_open(w, s->ipfix ? 3 : 1);
    w16(w, TID_OPTS);
    if (s->ipfix) {
        w16(w, 3), w16(w, 1);
        w16(w, 149), w16(w, 4), w16(w, 305), w16(w, 4), w16(w, 306), w16(w, 4);
    } else {
        w16(w, 4), w16(w, 8);
        w16(w, 1), w16(w, 4), w16(w, 34), w16(w, 4), w16(w, 35), w16(w, 1);
    }
    set_close(w, at);
    uint32_t interval = s->opt.sampling_interval > 1 ? s->opt.sampling_interval : 1;
    at = set_open(w, TID_OPTS);
    if (s->ipfix) {
        w32(w, s->opt.engine_id), w32(w, 1), w32(w, interval - 1);
    } else {
        w32(w, 0), w32(w, interval), w8(w, interval > 1 ? 2 : 0);
    }
    set_close(w, at);
    return 4; /* 2 templates, 1 options template, 1 options record (v9 count) */
}

static bool representable(const tpl_state *s, const flow_record *r, uint64_t export_ms)
{
    bool v4 = r->family == 4;
    if (r->family != 4 && r->family != 6)
        return false;
    if (v4 != flow_addr_is_v4(r->src_addr) || v4 != flow_addr_is_v4(r->dst_addr))
        return false;
    if (!flow_addr_is_zero(r->next_hop) && v4 != flow_addr_is_v4(r->next_hop))
        return false;
    if (r->first_ms > r->last_ms)
        return false;
    if (s->ipfix)
        return true;
    /* v9: times as 32-bit uptimes, within 24 days of the export time */
    uint64_t boot = s->opt.boot_ms;
    return r->first_ms >= boot && r->last_ms - boot <= UINT32_MAX &&
           (export_ms > r->first_ms ? export_ms - r->first_ms : r->first_ms - export_ms) < INT32_MAX &&
           (export_ms > r->last_ms ? export_ms - r->last_ms : r->last_ms - export_ms) < INT32_MAX;
}

static void put_record(wr *w, const tpl_state *s, const flow_record *r)
{
    bool v4 = r->family == 4;
    if (v4) {
        w32(w, flow_addr_v4(r->src_addr)), w32(w, flow_addr_v4(r->dst_addr));
    } else {
        wbytes(w, r->src_addr, 16), wbytes(w, r->dst_addr, 16);
    }
    w16(w, r->src_port), w16(w, r->dst_port);
    w8(w, r->proto), w8(w, r->tcp_flags), w8(w, r->tos);
    w64(w, r->packets), w64(w, r->bytes);
    w32(w, r->in_if), w32(w, r->out_if), w32(w, r->src_as), w32(w, r->dst_as);
    w8(w, r->src_mask), w8(w, r->dst_mask);
    if (v4)
        w32(w, flow_addr_is_zero(r->next_hop) ? 0 : flow_addr_v4(r->next_hop));
    else
        wbytes(w, r->next_hop, 16);
    if (s->ipfix) {
        w64(w, r->first_ms), w64(w, r->last_ms);
    } else {
        w32(w, (uint32_t)(r->first_ms - s->opt.boot_ms)), w32(w, (uint32_t)(r->last_ms - s->opt.boot_ms));
    }
}

cf_err sim_tpl_encode(void *state, const flow_record *recs, size_t n, uint64_t export_ms, uint8_t *buf,
                      size_t cap, size_t *len, size_t *n_used)
{
    tpl_state *s = state;
    size_t k = n < SIM_TPL_MAX_RECORDS ? n : SIM_TPL_MAX_RECORDS;
    uint64_t export_s_ms = export_ms / 1000u * 1000u;
    if (k == 0 || export_s_ms < s->opt.boot_ms || export_s_ms - s->opt.boot_ms > UINT32_MAX)
        return CF_ERR_RANGE;
    for (size_t i = 0; i < k; i++)
        if (!representable(s, &recs[i], export_s_ms))
            return CF_ERR_RANGE;
    wr w = {buf, 0, cap, 0};
    uint32_t seq_records = 0, count = 0;
    if (s->ipfix) {
        w16(&w, 10), w16(&w, 0), w32(&w, (uint32_t)(export_ms / 1000u)), w32(&w, s->sequence),
            w32(&w, s->opt.engine_id);
    } else {
        w16(&w, 9), w16(&w, 0), w32(&w, (uint32_t)(export_s_ms - s->opt.boot_ms));
        w32(&w, (uint32_t)(export_ms / 1000u)), w32(&w, s->sequence), w32(&w, s->opt.engine_id);
    }
    if (!s->opt.no_templates && s->packets % SIM_TPL_REFRESH == 0) {
        count += put_templates(&w, s);
        seq_records += 1; /* the options record */
    }
    for (size_t i = 0; i < k;) {
        int fam = recs[i].family;
        size_t at = set_open(&w, fam == 4 ? TID_V4 : TID_V6);
        for (; i < k && recs[i].family == fam; i++)
            put_record(&w, s, &recs[i]);
        set_close(&w, at);
    }
    if (w.full)
        return CF_ERR_FULL;
    count += (uint32_t)k;
    seq_records += (uint32_t)k;
    cf_put_be16(buf + 2, s->ipfix ? (uint16_t)w.n : (uint16_t)count);
    s->sequence += s->ipfix ? seq_records : 1;
    s->packets++;
    *len = w.n;
    *n_used = k;
    return CF_OK;
}

static cf_err v9_open(const sim_encoder_options *o, void **state) { return sim_tpl_open(o, 0, state); }

const sim_encoder_ops sim_encoder_v9 = {
    .name = "v9",
    .open = v9_open,
    .max_records = sim_tpl_max_records,
    .encode = sim_tpl_encode,
    .close = sim_tpl_close,
};
