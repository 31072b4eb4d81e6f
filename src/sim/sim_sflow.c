/*
 * sim/sim_sflow.c - the sFlow v5 encoder of the simulated exporter.
 *
 * Each flow_record becomes one flow sample, as if the agent had sampled
 * one packet of that flow: a raw packet header (Ethernet + IPv4/IPv6 +
 * TCP/UDP/ICMP built from the record), an extended switch, an extended
 * router and an extended gateway record.  The decoder thus gets back the
 * record's addresses, ports, protocol, TCP flags, TOS, MACs, VLANs,
 * interfaces, masks, next hop and AS numbers, with packets = the sampling
 * rate and bytes = frame length * rate, where
 *     frame length = clamp(bytes / packets, minimum headers, 65535) + 18
 * (the record's mean IP packet size, plus the Ethernet header and FCS).
 *
 * Datagram (all 32-bit big-endian words unless noted; see decode.h):
 *   OFFSET SIZE MEANING
 *    0      4   version 5
 *    4      4   agent address type 1 (IPv4)
 *    8      4   agent address 192.0.2.1
 *   12      4   sub-agent id = engine_id
 *   16      4   datagram sequence number (1, 2, ...)
 *   20      4   uptime, ms since boot_ms
 *   24      4   number of samples
 *   28      ..  samples: format 1 (flow sample), length, then sequence,
 *               source id (0:in_if), rate, pool, drops 0, input, output,
 *               4 records: 1 raw header, 1001 switch, 1002 router, 1003 gateway
 *
 * The sampling rate is sim_encoder_options.sampling_interval, or
 * SIM_SFLOW_DEFAULT_RATE when that is 0.
 */
#include "sim/sim.h"

#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"

#define SIM_SFLOW_DEFAULT_RATE 1000
#define SF_HEADER_LEN 28
#define SF_MAX_SAMPLE_LEN 264 /* 40 + raw header 100 + switch 24 + router 36 + gateway 64 */
#define SF_MAX_RECORDS ((SIM_MAX_PACKET - SF_HEADER_LEN) / SF_MAX_SAMPLE_LEN)
#define SF_AGENT 0xc0000201u  /* 192.0.2.1 */
#define SF_ETH_FCS_LEN 18     /* Ethernet header 14 + FCS 4 */
#define SF_MAX_IF 0x3fffffffu /* the compact interface form has 30 bits */

typedef struct sf_state {
    sim_encoder_options opt;
    uint32_t rate;
    uint32_t datagram_seq; /* datagrams sent so far */
    uint32_t sample_seq;   /* samples sent so far */
} sf_state;

/* A writer over the caller's buffer; the encoder checks the size first. */
typedef struct sf_out {
    uint8_t *p;
    size_t len;
} sf_out;

static void put32(sf_out *o, uint32_t v)
{
    cf_put_be32(o->p + o->len, v);
    o->len += 4;
}

static void put_bytes(sf_out *o, const void *b, size_t n)
{
    memcpy(o->p + o->len, b, n);
    o->len += n;
}

static cf_err sf_open(const sim_encoder_options *o, void **state)
{
    sf_state *s = calloc(1, sizeof(*s));
    if (!s)
        return CF_ERR_NOMEM;
    s->opt = *o;
    s->rate = o->sampling_interval ? o->sampling_interval : SIM_SFLOW_DEFAULT_RATE;
    *state = s;
    return CF_OK;
}

static size_t sf_max_records(const void *state)
{
    (void)state;
    return SF_MAX_RECORDS;
}

static bool sf_representable(const flow_record *r)
{
    bool v4 = r->family == 4 && flow_addr_is_v4(r->src_addr) && flow_addr_is_v4(r->dst_addr);
    return (v4 || r->family == 6) && r->in_if <= SF_MAX_IF && r->out_if <= SF_MAX_IF &&
           r->src_vlan < 4096 && r->dst_vlan < 4096 && r->src_mask <= 128 && r->dst_mask <= 128;
}

/* An sFlow address: type 0 (zero), 1 (IPv4-mapped) or 2. */
static void put_addr(sf_out *o, const uint8_t a[16])
{
    if (flow_addr_is_zero(a)) {
        put32(o, 0);
    } else if (flow_addr_is_v4(a)) {
        put32(o, 1);
        put_bytes(o, a + 12, 4);
    } else {
        put32(o, 2);
        put_bytes(o, a, 16);
    }
}

/* Writes the sampled packet's headers at h (room for 76 bytes); returns
 * their length, and the IP packet length in *ip_len. */
static size_t sf_packet_headers(const flow_record *r, uint8_t *h, uint32_t *ip_len)
{
    memset(h, 0, 76);
    for (int i = 0; i < 6; i++) {
        h[i] = (uint8_t)(r->dst_mac >> (40 - 8 * i));
        h[6 + i] = (uint8_t)(r->src_mac >> (40 - 8 * i));
    }
    size_t ip_hdr = r->family == 4 ? 20 : 40;
    size_t l4 = r->proto == 6 ? 20 : (r->proto == 17 || r->proto == 1 || r->proto == 58) ? 8 : 0;
    uint64_t mean = r->packets ? r->bytes / r->packets : r->bytes;
    uint32_t len = mean < ip_hdr + l4 ? (uint32_t)(ip_hdr + l4) : mean > 65535 ? 65535 : (uint32_t)mean;
    uint8_t *ip = h + 14, *t = ip + ip_hdr;
    if (r->family == 4) {
        cf_put_be16(h + 12, 0x0800);
        ip[0] = 0x45;
        ip[1] = r->tos;
        cf_put_be16(ip + 2, (uint16_t)len);
        ip[8] = 64;
        ip[9] = r->proto;
        memcpy(ip + 12, r->src_addr + 12, 4);
        memcpy(ip + 16, r->dst_addr + 12, 4);
    } else {
        cf_put_be16(h + 12, 0x86dd);
        cf_put_be32(ip, 6u << 28 | (uint32_t)r->tos << 20);
        cf_put_be16(ip + 4, (uint16_t)(len - 40));
        ip[6] = r->proto;
        ip[7] = 64;
        memcpy(ip + 8, r->src_addr, 16);
        memcpy(ip + 24, r->dst_addr, 16);
    }
    if (r->proto == 6 || r->proto == 17) {
        cf_put_be16(t, r->src_port);
        cf_put_be16(t + 2, r->dst_port);
        if (r->proto == 6) {
            t[12] = 5 << 4;
            t[13] = r->tcp_flags;
        } else {
            cf_put_be16(t + 4, (uint16_t)(len - ip_hdr));
        }
    } else if (r->proto == 1 || r->proto == 58) {
        t[0] = (uint8_t)(r->dst_port >> 8);
        t[1] = (uint8_t)r->dst_port;
    }
    *ip_len = len;
    return 14 + ip_hdr + l4;
}

/* One flow sample for r at o (room for SF_MAX_SAMPLE_LEN bytes checked by the caller). */
static void sf_put_sample(sf_state *s, sf_out *o, const flow_record *r)
{
    uint8_t hdr[76];
    uint32_t ip_len;
    size_t hdr_len = sf_packet_headers(r, hdr, &ip_len);
    size_t hdr_padded = (hdr_len + 3) & ~(size_t)3;
    put32(o, 1); /* enterprise 0, flow sample */
    size_t len_at = o->len;
    put32(o, 0); /* sample length, set below */
    s->sample_seq++;
    put32(o, s->sample_seq);
    put32(o, r->in_if & 0xffffff);
    put32(o, s->rate);
    put32(o, s->sample_seq * s->rate); /* sample pool */
    put32(o, 0);                        /* drops */
    put32(o, r->in_if);
    put32(o, r->out_if);
    put32(o, 4); /* records */
    put32(o, 1); /* raw packet header */
    put32(o, (uint32_t)(16 + hdr_padded));
    put32(o, 1); /* Ethernet */
    put32(o, ip_len + SF_ETH_FCS_LEN);
    put32(o, 4); /* stripped: the FCS */
    put32(o, (uint32_t)hdr_len);
    memset(o->p + o->len, 0, hdr_padded);
    memcpy(o->p + o->len, hdr, hdr_len);
    o->len += hdr_padded;
    put32(o, 1001); /* extended switch */
    put32(o, 16);
    put32(o, r->src_vlan);
    put32(o, 0);
    put32(o, r->dst_vlan);
    put32(o, 0);
    put32(o, 1002); /* extended router */
    size_t rlen_at = o->len;
    put32(o, 0);
    put_addr(o, r->next_hop);
    put32(o, r->src_mask);
    put32(o, r->dst_mask);
    cf_put_be32(o->p + rlen_at, (uint32_t)(o->len - rlen_at - 4));
    put32(o, 1003); /* extended gateway */
    size_t glen_at = o->len;
    put32(o, 0);
    put_addr(o, r->bgp_next_hop);
    put32(o, r->src_as); /* router's AS: the simulation has none of its own */
    put32(o, r->src_as);
    put32(o, 0); /* src peer AS */
    put32(o, r->dst_as ? 1 : 0);
    if (r->dst_as) {
        put32(o, 2); /* AS_SEQUENCE */
        put32(o, 1);
        put32(o, r->dst_as);
    }
    put32(o, 0); /* communities */
    put32(o, 0); /* local pref */
    cf_put_be32(o->p + glen_at, (uint32_t)(o->len - glen_at - 4));
    cf_put_be32(o->p + len_at, (uint32_t)(o->len - len_at - 4));
}

static cf_err sf_encode(void *state, const flow_record *recs, size_t n, uint64_t export_ms,
                        uint8_t *buf, size_t cap, size_t *len, size_t *n_used)
{
    sf_state *s = state;
    size_t k = n < SF_MAX_RECORDS ? n : SF_MAX_RECORDS;
    if (k == 0 || export_ms < s->opt.boot_ms || export_ms - s->opt.boot_ms > UINT32_MAX)
        return CF_ERR_RANGE;
    if (cap < SF_HEADER_LEN + k * SF_MAX_SAMPLE_LEN)
        return CF_ERR_FULL;
    for (size_t i = 0; i < k; i++)
        if (!sf_representable(&recs[i]))
            return CF_ERR_RANGE;
    sf_out o = {buf, 0};
    s->datagram_seq++;
    put32(&o, 5);
    put32(&o, 1);
    put32(&o, SF_AGENT);
    put32(&o, s->opt.engine_id);
    put32(&o, s->datagram_seq);
    put32(&o, (uint32_t)(export_ms - s->opt.boot_ms));
    put32(&o, (uint32_t)k);
    for (size_t i = 0; i < k; i++)
        sf_put_sample(s, &o, &recs[i]);
    *len = o.len;
    *n_used = k;
    return CF_OK;
}

static void sf_close(void *state) { free(state); }

const sim_encoder_ops sim_encoder_sflow = {
    .name = "sflow",
    .open = sf_open,
    .max_records = sf_max_records,
    .encode = sf_encode,
    .close = sf_close,
};
