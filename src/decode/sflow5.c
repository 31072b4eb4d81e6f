/*
 * decode/sflow5.c - the sFlow v5 decoder: datagrams, flow and counter samples.
 *
 * Layout, acceptance rule, the mapping of a flow sample to a flow_record and
 * the sequence/drop accounting are described in decode.h ("sFlow v5").
 *
 * A datagram is walked twice by the same code (sf_walk): the first pass
 * only validates every length, count and fixed-size record and stops at the
 * first violation (the datagram is then rejected whole); the second pass,
 * run only on a valid datagram, counts, decodes the sampled packet headers,
 * and emits the flow records and counters.  So a bad datagram emits nothing
 * and touches no state but its rejection counter.  Nothing is allocated:
 * each sample is gathered in a struct on the stack.
 */
#include "decode/decode.h"
#include "decode/decode_int.h"
#include "decode/decode_pkthdr.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/bytes.h"

/* Sample formats (enterprise 0). */
enum { SF_FLOW = 1, SF_COUNTERS = 2, SF_FLOW_EXP = 3, SF_COUNTERS_EXP = 4 };
/* Flow record formats (enterprise 0). */
enum {
    SF_REC_RAW = 1,
    SF_REC_ETH = 2,
    SF_REC_IPV4 = 3,
    SF_REC_IPV6 = 4,
    SF_REC_SWITCH = 1001,
    SF_REC_ROUTER = 1002,
    SF_REC_GATEWAY = 1003,
};
/* Counter record formats (enterprise 0). */
enum { SF_CTR_GENERIC = 1, SF_CTR_ETHERNET = 2 };
/* Raw packet header protocols. */
enum { SF_HDR_ETHERNET = 1, SF_HDR_IPV4 = 11, SF_HDR_IPV6 = 12 };

#define SF_RAW_FIXED 16     /* protocol, frame length, stripped, header length */
#define SF_ETH_LEN 24       /* length, src MAC (8), dst MAC (8), type */
#define SF_IPV4_LEN 32
#define SF_IPV6_LEN 56
#define SF_SWITCH_LEN 16
#define SF_GENERIC_LEN 88
#define SF_ETHERNET_LEN 52
#define SF_COMPACT_IF_FORMAT_SHIFT 30
#define SF_IF_VALUE_MASK 0x3fffffffu

static const char SF_PROTO[] = "sFlow v5";

/* The datagram header. */
typedef struct sf_datagram {
    uint8_t agent[16];
    uint32_t sub_agent;
    uint32_t sequence;
    uint32_t uptime_ms;
    uint32_t n_samples;
} sf_datagram;

/* A sampled IPv4/IPv6 record (formats 3 and 4). */
typedef struct sf_sampled_ip {
    uint8_t have;
    uint8_t family;
    uint8_t proto;
    uint8_t tos;
    uint8_t tcp_flags;
    uint16_t src_port;
    uint16_t dst_port;
    uint32_t length;
    uint8_t src[16];
    uint8_t dst[16];
} sf_sampled_ip;

/* Everything gathered from one flow sample. */
typedef struct sf_flow {
    uint32_t source_id; /* type << 24 | index */
    uint32_t rate;
    uint32_t drops;
    uint32_t in_if, out_if;
    uint8_t have_hdr;          /* a raw packet header record was read (the first is used) */
    uint8_t hdr_parsed;        /* ... of a header protocol we parse */
    uint32_t hdr_frame_len;
    decode_pkthdr hdr;
    sf_sampled_ip sip;         /* first sampled IPv4/IPv6 record */
    uint8_t have_eth;          /* Ethernet frame record */
    uint32_t eth_len;
    uint64_t eth_src, eth_dst;
    uint8_t have_switch;
    uint16_t src_vlan, dst_vlan;
    uint8_t have_router;
    uint8_t src_mask, dst_mask;
    uint8_t next_hop[16];
    uint8_t have_gateway;
    uint32_t src_as, dst_as;
    uint8_t bgp_next_hop[16];
} sf_flow;

/* One pass over a datagram (see the top of this file). */
typedef struct sf_pass {
    decode_exporter *ex;
    const sf_datagram *dg;
    uint64_t recv_ms;
    bool emit;               /* false: validate only */
    decode_emit_fn emit_fn;
    void *emit_ctx;
    uint8_t agent_slot;      /* sequence slot of (agent, sub-agent), second pass */
    uint64_t n_flows;        /* flow records emitted */
    decode_reason reason;    /* first failure */
    cf_err err;
    char detail[120];
} sf_pass;

/* Records the first failure of p; returns false for `return sf_fail(...)`. */
__attribute__((format(printf, 4, 5))) static bool sf_fail(sf_pass *p, decode_reason r, cf_err err,
                                                          const char *fmt, ...)
{
    p->reason = r;
    p->err = err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->detail, sizeof(p->detail), fmt, ap);
    va_end(ap);
    return false;
}

static void sf_count(sf_pass *p, uint64_t *counter)
{
    if (p->emit)
        decode_stat_add(counter, 1);
}

/* Reads an sFlow address (type, then 0/4/16 bytes) into out (IPv4-mapped).
 * 1 ok, 0 bytes missing, -1 unknown type. */
static int sf_read_addr(cf_cursor *c, uint8_t out[16])
{
    uint32_t type;
    if (!cf_read_be32(c, &type))
        return 0;
    uint8_t a[16] = {0};
    switch (type) {
    case 0: break;
    case 1:
        a[10] = a[11] = 0xff;
        if (!cf_read_bytes(c, a + 12, 4))
            return 0;
        break;
    case 2:
        if (!cf_read_bytes(c, a, 16))
            return 0;
        break;
    default: return -1;
    }
    memcpy(out, a, 16);
    return 1;
}

/* A record shorter than its fixed layout. */
static bool sf_short_record(sf_pass *p, const char *what, size_t len, size_t need)
{
    return sf_fail(p, DECODE_BAD_RECORD, CF_ERR_MALFORMED, "%s record of %zu bytes, needs %zu", what,
                   len, need);
}

/* ---- flow records ------------------------------------------------------- */

static bool sf_rec_raw(sf_pass *p, cf_cursor r, sf_flow *f)
{
    size_t rec_len = r.left;
    uint32_t proto, frame_len, stripped, hdr_len;
    if (!cf_read_be32(&r, &proto) || !cf_read_be32(&r, &frame_len) ||
        !cf_read_be32(&r, &stripped) || !cf_read_be32(&r, &hdr_len))
        return sf_short_record(p, "raw packet header", rec_len, SF_RAW_FIXED);
    if (hdr_len > r.left)
        return sf_fail(p, DECODE_BAD_RECORD, CF_ERR_MALFORMED,
                       "raw packet header length %u > %zu bytes left in its record",
                       (unsigned)hdr_len, r.left);
    if (f->have_hdr || !p->emit)
        return true; /* only the first header is used; parsing is for the second pass */
    f->have_hdr = 1;
    f->hdr_frame_len = frame_len;
    decode_pkthdr_link link;
    switch (proto) {
    case SF_HDR_ETHERNET: link = DECODE_PKTHDR_ETHERNET; break;
    case SF_HDR_IPV4: link = DECODE_PKTHDR_IPV4; break;
    case SF_HDR_IPV6: link = DECODE_PKTHDR_IPV6; break;
    default:
        sf_count(p, &p->ex->sflow_stats.hdr_unparsed);
        return true;
    }
    decode_pkthdr_status st = decode_pkthdr_parse(link, r.p, hdr_len, &f->hdr);
    f->hdr_parsed = 1;
    if (st == DECODE_PKTHDR_TRUNCATED)
        sf_count(p, &p->ex->sflow_stats.hdr_truncated);
    else if (f->hdr.family == 0)
        sf_count(p, &p->ex->sflow_stats.hdr_unparsed);
    return true;
}

static bool sf_rec_eth(sf_pass *p, cf_cursor r, sf_flow *f)
{
    if (r.left < SF_ETH_LEN)
        return sf_short_record(p, "Ethernet frame", r.left, SF_ETH_LEN);
    if (f->have_eth)
        return true;
    f->have_eth = 1;
    f->eth_len = cf_be32(r.p);
    uint64_t src = 0, dst = 0;
    for (int i = 0; i < 6; i++) {
        src = src << 8 | r.p[4 + i];
        dst = dst << 8 | r.p[12 + i];
    }
    f->eth_src = src;
    f->eth_dst = dst;
    return true;
}

/* Sampled IPv4 (v6 = false) or IPv6 record. */
static bool sf_rec_sampled_ip(sf_pass *p, cf_cursor r, sf_flow *f, bool v6)
{
    size_t need = v6 ? SF_IPV6_LEN : SF_IPV4_LEN;
    if (r.left < need)
        return sf_short_record(p, v6 ? "sampled IPv6" : "sampled IPv4", r.left, need);
    if (f->sip.have)
        return true;
    sf_sampled_ip *s = &f->sip;
    const uint8_t *q = r.p;
    size_t alen = v6 ? 16 : 4;
    s->have = 1;
    s->family = v6 ? 6 : 4;
    s->length = cf_be32(q);
    s->proto = (uint8_t)cf_be32(q + 4);
    memset(s->src, 0, 16);
    memset(s->dst, 0, 16);
    if (v6) {
        memcpy(s->src, q + 8, 16);
        memcpy(s->dst, q + 24, 16);
    } else {
        flow_addr_from_v4(s->src, cf_be32(q + 8));
        flow_addr_from_v4(s->dst, cf_be32(q + 12));
    }
    const uint8_t *t = q + 8 + 2 * alen; /* src port, dst port, TCP flags, TOS/priority */
    s->src_port = (uint16_t)cf_be32(t);
    s->dst_port = (uint16_t)cf_be32(t + 4);
    s->tcp_flags = (uint8_t)cf_be32(t + 8);
    s->tos = (uint8_t)cf_be32(t + 12);
    return true;
}

static bool sf_rec_switch(sf_pass *p, cf_cursor r, sf_flow *f)
{
    if (r.left < SF_SWITCH_LEN)
        return sf_short_record(p, "extended switch", r.left, SF_SWITCH_LEN);
    f->have_switch = 1;
    f->src_vlan = (uint16_t)cf_be32(r.p);
    f->dst_vlan = (uint16_t)cf_be32(r.p + 8);
    return true;
}

static bool sf_rec_router(sf_pass *p, cf_cursor r, sf_flow *f)
{
    size_t rec_len = r.left;
    uint8_t nh[16];
    int a = sf_read_addr(&r, nh);
    uint32_t src_mask, dst_mask;
    if (a < 0)
        return sf_fail(p, DECODE_BAD_RECORD, CF_ERR_MALFORMED, "extended router: bad address type");
    if (a == 0 || !cf_read_be32(&r, &src_mask) || !cf_read_be32(&r, &dst_mask))
        return sf_short_record(p, "extended router", rec_len, 12);
    f->have_router = 1;
    memcpy(f->next_hop, nh, 16);
    f->src_mask = (uint8_t)(src_mask > 128 ? 0 : src_mask);
    f->dst_mask = (uint8_t)(dst_mask > 128 ? 0 : dst_mask);
    return true;
}

/* Extended gateway: the AS path is walked with every count checked against
 * the bytes left; the destination AS is its last AS. */
static bool sf_rec_gateway(sf_pass *p, cf_cursor r, sf_flow *f)
{
    size_t rec_len = r.left;
    uint8_t nh[16];
    int a = sf_read_addr(&r, nh);
    uint32_t router_as, src_as, peer_as, n_segs;
    if (a < 0)
        return sf_fail(p, DECODE_BAD_RECORD, CF_ERR_MALFORMED, "extended gateway: bad address type");
    if (a == 0 || !cf_read_be32(&r, &router_as) || !cf_read_be32(&r, &src_as) ||
        !cf_read_be32(&r, &peer_as) || !cf_read_be32(&r, &n_segs))
        return sf_short_record(p, "extended gateway", rec_len, 24);
    if (n_segs > r.left / 8)
        return sf_fail(p, DECODE_BAD_RECORD, CF_ERR_MALFORMED,
                       "extended gateway: %u path segments in %zu bytes", (unsigned)n_segs, r.left);
    uint32_t dst_as = 0;
    for (uint32_t i = 0; i < n_segs; i++) {
        uint32_t type, n_as;
        if (!cf_read_be32(&r, &type) || !cf_read_be32(&r, &n_as) || n_as > r.left / 4)
            return sf_fail(p, DECODE_BAD_RECORD, CF_ERR_MALFORMED,
                           "extended gateway: AS path segment %u runs past its record", (unsigned)i);
        if (n_as > 0)
            dst_as = cf_be32(r.p + (size_t)(n_as - 1) * 4);
        cf_skip(&r, (size_t)n_as * 4);
    }
    (void)router_as;
    (void)peer_as;
    f->have_gateway = 1;
    memcpy(f->bgp_next_hop, nh, 16);
    f->src_as = src_as;
    f->dst_as = dst_as;
    return true;
}

/* A sample's record count is never trusted: each record takes at least its
 * 8-byte header, so more than c->left / 8 of them cannot be there. */
static bool sf_records_fit(sf_pass *p, const cf_cursor *c, uint32_t n_records, const char *what)
{
    if (n_records <= c->left / 8)
        return true;
    return sf_fail(p, DECODE_BAD_COUNT, CF_ERR_TRUNCATED, "%u %s records in %zu bytes", (unsigned)n_records, what,
                   c->left);
}

/* Reads record i of a sample from c: its format and, in r, its body. */
static bool sf_next_record(sf_pass *p, cf_cursor *c, uint32_t i, const char *what, uint32_t *format, cf_cursor *r)
{
    uint32_t len;
    if (!cf_read_be32(c, format) || !cf_read_be32(c, &len) || !cf_sub(c, len, r))
        return sf_fail(p, DECODE_BAD_LENGTH, CF_ERR_TRUNCATED, "%s record %u runs past its sample", what,
                       (unsigned)i);
    return true;
}

/* Reads n_records records of a flow sample from c into f. */
static bool sf_flow_records(sf_pass *p, cf_cursor c, uint32_t n_records, sf_flow *f)
{
    if (!sf_records_fit(p, &c, n_records, "flow"))
        return false;
    for (uint32_t i = 0; i < n_records; i++) {
        uint32_t format = 0;
        cf_cursor r = {0};
        if (!sf_next_record(p, &c, i, "flow", &format, &r))
            return false;
        bool ok = true;
        switch (format >> 12 == 0 ? format : 0) {
        case SF_REC_RAW: ok = sf_rec_raw(p, r, f); break;
        case SF_REC_ETH: ok = sf_rec_eth(p, r, f); break;
        case SF_REC_IPV4: ok = sf_rec_sampled_ip(p, r, f, false); break;
        case SF_REC_IPV6: ok = sf_rec_sampled_ip(p, r, f, true); break;
        case SF_REC_SWITCH: ok = sf_rec_switch(p, r, f); break;
        case SF_REC_ROUTER: ok = sf_rec_router(p, r, f); break;
        case SF_REC_GATEWAY: ok = sf_rec_gateway(p, r, f); break;
        default: sf_count(p, &p->ex->sflow_stats.unknown_records); break;
        }
        if (!ok)
            return false;
    }
    return true;
}

/* ---- flow samples -> flow records --------------------------------------- */

/* Fills rec from the sample f of datagram p->dg (decode.h gives the rules). */
static void sf_build_record(const sf_pass *p, const sf_flow *f, flow_record *rec)
{
    memset(rec, 0, sizeof(*rec));
    const decode_pkthdr *h = &f->hdr;
    const decode_config *cfg = &p->ex->cfg;
    uint32_t rate = cfg->sampling_override ? cfg->sampling_override
                    : f->rate               ? f->rate
                    : cfg->sampling_default ? cfg->sampling_default
                                            : 1;
    uint32_t frame_len = f->have_hdr ? f->hdr_frame_len
                         : f->sip.have ? f->sip.length
                         : f->eth_len;
    rec->first_ms = rec->last_ms = p->recv_ms;
    rec->received_ms = p->recv_ms;
    rec->packets = rate;
    rec->bytes = (uint64_t)frame_len * rate;
    rec->sampling = rate;
    rec->flags = FLOW_F_SFLOW;
    if (rate > 1)
        rec->flags |= FLOW_F_SAMPLED;
    if (f->rate == 0 && !cfg->sampling_override && !cfg->sampling_default)
        rec->flags |= FLOW_F_SAMPLING_UNKNOWN;
    rec->in_if = f->in_if;
    rec->out_if = f->out_if;
    rec->obs_domain = p->dg->sub_agent;
    memcpy(rec->exporter, p->ex->addr, 16);
    rec->exporter_proto = FLOW_PROTO_SFLOW5;
    if (f->hdr_parsed && h->family) {
        rec->family = h->family;
        memcpy(rec->src_addr, h->src_addr, 16);
        memcpy(rec->dst_addr, h->dst_addr, 16);
        rec->proto = h->proto;
        rec->tos = h->tos;
        rec->src_port = h->src_port;
        rec->dst_port = h->dst_port;
        rec->tcp_flags = h->tcp_flags;
        rec->icmp_type = h->icmp_type;
        rec->icmp_code = h->icmp_code;
    } else if (f->sip.have) {
        rec->family = f->sip.family;
        memcpy(rec->src_addr, f->sip.src, 16);
        memcpy(rec->dst_addr, f->sip.dst, 16);
        rec->proto = f->sip.proto;
        rec->tos = f->sip.tos;
        rec->src_port = f->sip.src_port;
        rec->dst_port = f->sip.dst_port;
        rec->tcp_flags = f->sip.tcp_flags;
        if (rec->proto == 1 || rec->proto == 58) {
            rec->icmp_type = (uint8_t)(rec->dst_port >> 8);
            rec->icmp_code = (uint8_t)rec->dst_port;
        }
    }
    rec->src_mac = f->hdr_parsed && (h->src_mac || h->dst_mac) ? h->src_mac : f->eth_src;
    rec->dst_mac = f->hdr_parsed && (h->src_mac || h->dst_mac) ? h->dst_mac : f->eth_dst;
    rec->src_vlan = f->have_switch ? f->src_vlan : h->vlan;
    rec->dst_vlan = f->have_switch ? f->dst_vlan : h->vlan;
    if (f->have_router) {
        memcpy(rec->next_hop, f->next_hop, 16);
        rec->src_mask = f->src_mask;
        rec->dst_mask = f->dst_mask;
    }
    if (f->have_gateway) {
        memcpy(rec->bgp_next_hop, f->bgp_next_hop, 16);
        rec->src_as = f->src_as;
        rec->dst_as = f->dst_as;
    }
}

/* Adds the increase of source_id's drops counter to sflow_stats.drops. */
static void sf_account_drops(sf_pass *p, uint32_t source_id, uint32_t drops)
{
    decode_sflow_state *s = &p->ex->sflow;
    for (size_t i = 0; i < s->n_drops; i++) {
        decode_sflow_drops *d = &s->drops[i];
        if (d->source_id != source_id || d->agent_slot != p->agent_slot)
            continue;
        if (drops > d->drops)
            decode_stat_add(&p->ex->sflow_stats.drops, drops - d->drops);
        d->drops = drops;
        return;
    }
    size_t i = s->n_drops < DECODE_SFLOW_MAX_SOURCES ? s->n_drops++ : DECODE_SFLOW_MAX_SOURCES - 1;
    s->drops[i].source_id = source_id;
    s->drops[i].agent_slot = p->agent_slot;
    s->drops[i].drops = drops;
}

/* Reads an interface of an expanded sample (format, value) in the
 * compact form's meaning (decode.h). */
static uint32_t sf_expanded_if(uint32_t format, uint32_t value)
{
    if (format == 0)
        return value;
    return (format << SF_COMPACT_IF_FORMAT_SHIFT) | (value & SF_IF_VALUE_MASK);
}

/* A flow sample (expanded or compact) in c. */
static bool sf_flow_sample(sf_pass *p, cf_cursor c, bool expanded)
{
    sf_flow f;
    memset(&f, 0, sizeof(f));
    size_t len = c.left;
    uint32_t seq, n_records, pool;
    bool ok;
    if (expanded) {
        uint32_t type, index, in_fmt, in_val, out_fmt, out_val;
        ok = cf_read_be32(&c, &seq) && cf_read_be32(&c, &type) && cf_read_be32(&c, &index) &&
             cf_read_be32(&c, &f.rate) && cf_read_be32(&c, &pool) && cf_read_be32(&c, &f.drops) &&
             cf_read_be32(&c, &in_fmt) && cf_read_be32(&c, &in_val) &&
             cf_read_be32(&c, &out_fmt) && cf_read_be32(&c, &out_val) &&
             cf_read_be32(&c, &n_records);
        if (ok) {
            f.source_id = type << 24 | (index & 0xffffff);
            f.in_if = sf_expanded_if(in_fmt, in_val);
            f.out_if = sf_expanded_if(out_fmt, out_val);
        }
    } else {
        ok = cf_read_be32(&c, &seq) && cf_read_be32(&c, &f.source_id) &&
             cf_read_be32(&c, &f.rate) && cf_read_be32(&c, &pool) && cf_read_be32(&c, &f.drops) &&
             cf_read_be32(&c, &f.in_if) && cf_read_be32(&c, &f.out_if) &&
             cf_read_be32(&c, &n_records);
    }
    if (!ok)
        return sf_short_record(p, expanded ? "expanded flow sample" : "flow sample", len,
                               expanded ? 44 : 32);
    if (!sf_flow_records(p, c, n_records, &f))
        return false;
    if (!p->emit)
        return true;
    decode_stat_add(&p->ex->sflow_stats.flow_samples, 1);
    decode_stat_set(&p->ex->stats.sampling, f.rate ? f.rate : 1);
    sf_account_drops(p, f.source_id, f.drops);
    flow_record rec;
    sf_build_record(p, &f, &rec);
    if (p->emit_fn)
        p->emit_fn(p->emit_ctx, &rec);
    p->n_flows++;
    return true;
}

/* ---- counter samples ---------------------------------------------------- */

static void sf_ctr_generic(const uint8_t *q, decode_counters *k)
{
    k->has_generic = 1;
    k->if_index = cf_be32(q);
    k->if_type = cf_be32(q + 4);
    k->if_speed = cf_be64(q + 8);
    k->if_direction = cf_be32(q + 16);
    k->if_status = cf_be32(q + 20);
    k->in_octets = cf_be64(q + 24);
    k->in_packets = (uint64_t)cf_be32(q + 32) + cf_be32(q + 36) + cf_be32(q + 40);
    k->in_discards = cf_be32(q + 44);
    k->in_errors = cf_be32(q + 48);
    k->in_unknown_protos = cf_be32(q + 52);
    k->out_octets = cf_be64(q + 56);
    k->out_packets = (uint64_t)cf_be32(q + 64) + cf_be32(q + 68) + cf_be32(q + 72);
    k->out_discards = cf_be32(q + 76);
    k->out_errors = cf_be32(q + 80);
    k->promiscuous = cf_be32(q + 84);
}

static void sf_ctr_ethernet(const uint8_t *q, decode_counters *k)
{
    uint32_t *dst[] = {
        &k->eth_alignment_errors,    &k->eth_fcs_errors,           &k->eth_single_collisions,
        &k->eth_multiple_collisions, &k->eth_sqe_test_errors,      &k->eth_deferred_transmissions,
        &k->eth_late_collisions,     &k->eth_excessive_collisions, &k->eth_internal_mac_tx_errors,
        &k->eth_carrier_sense_errors, &k->eth_frame_too_longs,     &k->eth_internal_mac_rx_errors,
        &k->eth_symbol_errors,
    };
    k->has_ethernet = 1;
    for (size_t i = 0; i < sizeof(dst) / sizeof(dst[0]); i++)
        *dst[i] = cf_be32(q + 4 * i);
}

/* The records of a counter sample. */
static bool sf_counter_records(sf_pass *p, cf_cursor c, uint32_t n_records, decode_counters *k)
{
    if (!sf_records_fit(p, &c, n_records, "counter"))
        return false;
    for (uint32_t i = 0; i < n_records; i++) {
        uint32_t format = 0;
        cf_cursor r = {0};
        if (!sf_next_record(p, &c, i, "counter", &format, &r))
            return false;
        if (format == SF_CTR_GENERIC) {
            if (r.left < SF_GENERIC_LEN)
                return sf_short_record(p, "generic interface counters", r.left, SF_GENERIC_LEN);
            if (!k->has_generic)
                sf_ctr_generic(r.p, k);
        } else if (format == SF_CTR_ETHERNET) {
            if (r.left < SF_ETHERNET_LEN)
                return sf_short_record(p, "Ethernet counters", r.left, SF_ETHERNET_LEN);
            if (!k->has_ethernet)
                sf_ctr_ethernet(r.p, k);
        } else {
            sf_count(p, &p->ex->sflow_stats.unknown_records);
        }
    }
    return true;
}

static bool sf_counter_sample(sf_pass *p, cf_cursor c, bool expanded)
{
    decode_counters k;
    memset(&k, 0, sizeof(k));
    size_t len = c.left;
    uint32_t n_records, source_id = 0;
    bool ok = cf_read_be32(&c, &k.sample_seq);
    if (expanded)
        ok = ok && cf_read_be32(&c, &k.source_type) && cf_read_be32(&c, &k.source_index);
    else if ((ok = ok && cf_read_be32(&c, &source_id))) {
        k.source_type = source_id >> 24;
        k.source_index = source_id & 0xffffff;
    }
    if (!ok || !cf_read_be32(&c, &n_records))
        return sf_short_record(p, expanded ? "expanded counter sample" : "counter sample", len,
                               expanded ? 16 : 12);
    if (!sf_counter_records(p, c, n_records, &k))
        return false;
    if (!p->emit)
        return true;
    decode_exporter *ex = p->ex;
    decode_stat_add(&ex->sflow_stats.counter_samples, 1);
    if (!k.has_generic && !k.has_ethernet)
        return true;
    k.time_ms = p->recv_ms;
    memcpy(k.exporter, ex->addr, 16);
    memcpy(k.agent, p->dg->agent, 16);
    k.sub_agent = p->dg->sub_agent;
    k.uptime_ms = p->dg->uptime_ms;
    decode_stat_add(&ex->sflow_stats.counters_emitted, 1);
    if (ex->sflow.counter_fn)
        ex->sflow.counter_fn(ex->sflow.counter_ctx, &k);
    return true;
}

/* ---- datagrams ---------------------------------------------------------- */

/* Walks the samples of the datagram whose samples start at c. */
static bool sf_walk(sf_pass *p, cf_cursor c)
{
    uint32_t n = p->dg->n_samples;
    if (n > c.left / 8)
        return sf_fail(p, DECODE_BAD_COUNT, CF_ERR_TRUNCATED, "%u samples in %zu bytes",
                       (unsigned)n, c.left);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t format, len;
        cf_cursor s;
        cf_read_be32(&c, &format);
        if (!cf_read_be32(&c, &len) || !cf_sub(&c, len, &s))
            return sf_fail(p, DECODE_BAD_LENGTH, CF_ERR_TRUNCATED,
                           "sample %u of %u: length runs past the datagram", (unsigned)i + 1,
                           (unsigned)n);
        bool ok = true;
        switch (format >> 12 == 0 ? format : 0) {
        case SF_FLOW: ok = sf_flow_sample(p, s, false); break;
        case SF_FLOW_EXP: ok = sf_flow_sample(p, s, true); break;
        case SF_COUNTERS: ok = sf_counter_sample(p, s, false); break;
        case SF_COUNTERS_EXP: ok = sf_counter_sample(p, s, true); break;
        default: sf_count(p, &p->ex->sflow_stats.unknown_samples); break;
        }
        if (!ok)
            return false;
    }
    return true;
}

/* Reads the datagram header into *dg and the cursor over the samples into
 * *rest; on failure counts and returns the rejection. */
static cf_err sf_parse_header(decode_exporter *ex, const uint8_t *buf, size_t len, sf_datagram *dg,
                              cf_cursor *rest)
{
    char detail[96];
    cf_cursor c = cf_cursor_make(buf, len);
    uint32_t version;
    if (!cf_read_be32(&c, &version))
        return decode_reject(ex, DECODE_BAD_SHORT, CF_ERR_TRUNCATED, SF_PROTO, "no version");
    if (version != 5)
        return decode_reject(ex, DECODE_BAD_VERSION, CF_ERR_VERSION, SF_PROTO, "not version 5");
    int a = sf_read_addr(&c, dg->agent);
    if (a < 0)
        return decode_reject(ex, DECODE_BAD_RECORD, CF_ERR_MALFORMED, SF_PROTO,
                             "unknown agent address type");
    if (a == 0 || !cf_read_be32(&c, &dg->sub_agent) || !cf_read_be32(&c, &dg->sequence) ||
        !cf_read_be32(&c, &dg->uptime_ms) || !cf_read_be32(&c, &dg->n_samples)) {
        snprintf(detail, sizeof(detail), "%zu bytes, shorter than the datagram header", len);
        return decode_reject(ex, DECODE_BAD_SHORT, CF_ERR_TRUNCATED, SF_PROTO, detail);
    }
    *rest = c;
    return CF_OK;
}

/* The sequence slot of (agent, sub-agent), created when new; accounts the
 * datagram's sequence number (decode.h) and returns the slot index. */
static uint8_t sf_account_sequence(decode_exporter *ex, const sf_datagram *dg)
{
    decode_sflow_state *s = &ex->sflow;
    size_t i;
    for (i = 0; i < s->n_seq; i++)
        if (s->seq[i].sub_agent == dg->sub_agent && memcmp(s->seq[i].agent, dg->agent, 16) == 0)
            break;
    if (i == s->n_seq) {
        i = s->n_seq < DECODE_SFLOW_MAX_AGENTS ? s->n_seq++ : DECODE_SFLOW_MAX_AGENTS - 1;
        memcpy(s->seq[i].agent, dg->agent, 16);
        s->seq[i].sub_agent = dg->sub_agent;
        s->seq[i].valid = 0;
        for (size_t d = 0; d < s->n_drops; d++) /* drop baselines of a previous owner */
            if (s->drops[d].agent_slot == i)
                s->drops[d].source_id = UINT32_MAX, s->drops[d].agent_slot = UINT8_MAX;
    }
    decode_sflow_seq *q = &s->seq[i];
    if (q->valid) {
        uint32_t ahead = dg->sequence - q->next; /* modulo 2^32 */
        if (ahead != 0 && ahead <= DECODE_SEQ_MAX_GAP)
            decode_stat_add(&ex->stats.lost, ahead);
        else if (ahead != 0)
            decode_stat_add(&ex->stats.seq_resets, 1);
    }
    q->next = dg->sequence + 1;
    q->valid = 1;
    return (uint8_t)i;
}

cf_err decode_sflow5_out(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                         const decode_out *out)
{
    decode_count_packet(ex, len, recv_ms);
    sf_datagram dg;
    cf_cursor samples;
    cf_err err = sf_parse_header(ex, buf, len, &dg, &samples);
    if (err)
        return err;
    sf_pass p = {.ex = ex, .dg = &dg, .recv_ms = recv_ms, .emit_fn = out->emit, .emit_ctx = out->ctx};
    if (!sf_walk(&p, samples))
        return decode_reject(ex, p.reason, p.err, SF_PROTO, p.detail);
    p.emit = true;
    p.agent_slot = sf_account_sequence(ex, &dg);
    memcpy(ex->sflow.last_agent, dg.agent, 16);
    ex->sflow.last_sub_agent = dg.sub_agent;
    decode_stat_add(&ex->sflow_stats.datagrams, 1);
    sf_walk(&p, samples); /* cannot fail: the first pass validated the same bytes */
    decode_stat_add(&ex->stats.records, p.n_flows);
    return CF_OK;
}

void decode_set_counter_sink(decode_exporter *ex, decode_counter_fn fn, void *ctx)
{
    ex->sflow.counter_fn = fn;
    ex->sflow.counter_ctx = fn ? ctx : NULL;
}

void decode_sflow_stats_snapshot(const decode_exporter *ex, decode_sflow_stats *out)
{
    const decode_sflow_stats *s = &ex->sflow_stats;
    out->datagrams = __atomic_load_n(&s->datagrams, __ATOMIC_RELAXED);
    out->flow_samples = __atomic_load_n(&s->flow_samples, __ATOMIC_RELAXED);
    out->counter_samples = __atomic_load_n(&s->counter_samples, __ATOMIC_RELAXED);
    out->counters_emitted = __atomic_load_n(&s->counters_emitted, __ATOMIC_RELAXED);
    out->drops = __atomic_load_n(&s->drops, __ATOMIC_RELAXED);
    out->unknown_samples = __atomic_load_n(&s->unknown_samples, __ATOMIC_RELAXED);
    out->unknown_records = __atomic_load_n(&s->unknown_records, __ATOMIC_RELAXED);
    out->hdr_truncated = __atomic_load_n(&s->hdr_truncated, __ATOMIC_RELAXED);
    out->hdr_unparsed = __atomic_load_n(&s->hdr_unparsed, __ATOMIC_RELAXED);
}

void decode_sflow_last_agent(const decode_exporter *ex, uint8_t agent[16], uint32_t *sub_agent)
{
    memcpy(agent, ex->sflow.last_agent, 16);
    *sub_agent = ex->sflow.last_sub_agent;
}
