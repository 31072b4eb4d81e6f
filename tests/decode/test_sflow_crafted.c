/*
 * tests/decode/test_sflow_crafted.c - the sFlow v5 decoder on crafted datagrams.
 *
 * Each test builds a datagram word by word (a tiny XDR writer below) to hit
 * one rule of decode.h's "sFlow v5" block: lengths and counts that run past
 * what is there, fixed records that are too short, raw headers of every
 * layer the header parser knows or that end early, unknown samples and
 * records, interface encodings, AS paths, sequence and drop accounting, and
 * the counter sink.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/bytes.h"
#include "decode/decode.h"
#include "decode/decode_pkthdr.h"

/* ---- a datagram builder ---------------------------------------------------- */

typedef struct dg {
    uint8_t b[4096];
    size_t len;
} dg;

static void w32(dg *d, uint32_t v)
{
    assert_true(d->len + 4 <= sizeof(d->b));
    cf_put_be32(d->b + d->len, v);
    d->len += 4;
}

static void wbytes(dg *d, const uint8_t *p, size_t n)
{
    assert_true(d->len + n + 3 <= sizeof(d->b));
    memcpy(d->b + d->len, p, n);
    d->len += n;
    while (d->len % 4)
        d->b[d->len++] = 0;
}

/* Starts a length-prefixed block (sample or record): writes format and a
 * length placeholder; returns where the length goes. */
static size_t open_block(dg *d, uint32_t format)
{
    w32(d, format);
    w32(d, 0);
    return d->len - 4;
}

static void close_block(dg *d, size_t at) { cf_put_be32(d->b + at, (uint32_t)(d->len - at - 4)); }

static void header(dg *d, uint32_t seq, uint32_t n_samples)
{
    d->len = 0;
    w32(d, 5);
    w32(d, 1);
    w32(d, 0xc0000202); /* agent 192.0.2.2 */
    w32(d, 7);          /* sub-agent */
    w32(d, seq);
    w32(d, 123456);
    w32(d, n_samples);
}

/* Compact flow sample fixed part; returns the sample's length slot. */
static size_t flow_sample(dg *d, uint32_t rate, uint32_t drops, uint32_t in, uint32_t out,
                          uint32_t n_records)
{
    size_t at = open_block(d, 1);
    w32(d, 1);    /* sequence */
    w32(d, 3);    /* source id 0:3 */
    w32(d, rate);
    w32(d, 1000); /* pool */
    w32(d, drops);
    w32(d, in);
    w32(d, out);
    w32(d, n_records);
    return at;
}

static void raw_header(dg *d, uint32_t proto, uint32_t frame_len, const uint8_t *h, size_t n)
{
    size_t at = open_block(d, 1);
    w32(d, proto);
    w32(d, frame_len);
    w32(d, 4);
    w32(d, (uint32_t)n);
    wbytes(d, h, n);
    close_block(d, at);
}

/* Ethernet + IPv4 (10.0.0.1 -> 10.0.0.2) + TCP 1234 -> 80, SYN, TOS 0x20. */
static size_t eth_ipv4_tcp(uint8_t *p)
{
    static const uint8_t pkt[] = {
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x00,
        0x45, 0x20, 0x00, 0x28, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0, 0, 0, 0, 0, 0,
    };
    memcpy(p, pkt, sizeof(pkt));
    return sizeof(pkt);
}

/* ---- running the decoder --------------------------------------------------- */

typedef struct result {
    cf_err err;
    flow_record recs[8];
    size_t n;
    decode_counters counters[4];
    size_t n_counters;
} result;

static void collect(void *ctx, const flow_record *rec)
{
    result *r = ctx;
    assert_true(r->n < 8);
    r->recs[r->n++] = *rec;
}

static void collect_counters(void *ctx, const decode_counters *k)
{
    result *r = ctx;
    assert_true(r->n_counters < 4);
    r->counters[r->n_counters++] = *k;
}

static decode_exporter *new_exporter(result *r)
{
    static decode_exporter ex;
    uint8_t addr[16] = {0};
    flow_addr_from_v4(addr, 0xc0000201);
    decode_exporter_init(&ex, addr, 6343);
    decode_set_counter_sink(&ex, collect_counters, r);
    return &ex;
}

/* Decodes d (a heap copy of exactly its length) with ex into r. */
static void run(decode_exporter *ex, const dg *d, result *r)
{
    uint8_t *copy = malloc(d->len ? d->len : 1);
    assert_non_null(copy);
    memcpy(copy, d->b, d->len);
    r->n = r->n_counters = 0;
    r->err = decode_packet(ex, copy, d->len, 1700000000123ull, collect, r);
    free(copy);
}

static void assert_rejected(decode_exporter *ex, const result *r, decode_reason reason, cf_err err)
{
    assert_int_equal(r->err, err);
    assert_int_equal(r->n, 0);
    assert_int_equal(r->n_counters, 0);
    decode_stats st;
    decode_stats_snapshot(ex, &st);
    assert_int_equal(st.malformed[reason], 1);
    assert_int_equal(st.records, 0);
    decode_sflow_stats ss;
    decode_sflow_stats_snapshot(ex, &ss);
    assert_int_equal(ss.datagrams + ss.flow_samples + ss.counter_samples, 0);
}

/* ---- rejected datagrams ---------------------------------------------------- */

static void test_sample_length_past_datagram(void **state)
{
    (void)state;
    result r;
    decode_exporter *ex = new_exporter(&r);
    dg d;
    header(&d, 1, 1);
    size_t at = flow_sample(&d, 10, 0, 1, 2, 0);
    close_block(&d, at);
    cf_put_be32(d.b + at, 0x7ffffff0); /* far beyond the datagram */
    run(ex, &d, &r);
    assert_rejected(ex, &r, DECODE_BAD_LENGTH, CF_ERR_TRUNCATED);
}

static void test_huge_sample_count(void **state)
{
    (void)state;
    result r;
    decode_exporter *ex = new_exporter(&r);
    dg d;
    header(&d, 1, 0xffffffffu);
    size_t at = flow_sample(&d, 10, 0, 1, 2, 0);
    close_block(&d, at);
    run(ex, &d, &r);
    assert_rejected(ex, &r, DECODE_BAD_COUNT, CF_ERR_TRUNCATED);
}

static void test_huge_record_count(void **state)
{
    (void)state;
    result r;
    decode_exporter *ex = new_exporter(&r);
    dg d;
    header(&d, 1, 1);
    size_t at = flow_sample(&d, 10, 0, 1, 2, 0x40000000u);
    uint8_t pkt[64];
    raw_header(&d, 1, 60, pkt, eth_ipv4_tcp(pkt));
    close_block(&d, at);
    run(ex, &d, &r);
    assert_rejected(ex, &r, DECODE_BAD_COUNT, CF_ERR_TRUNCATED);
}

static void test_header_length_larger_than_record(void **state)
{
    (void)state;
    result r;
    decode_exporter *ex = new_exporter(&r);
    dg d;
    header(&d, 1, 1);
    size_t at = flow_sample(&d, 10, 0, 1, 2, 1);
    uint8_t pkt[64];
    size_t n = eth_ipv4_tcp(pkt);
    size_t rec_at = d.len;
    raw_header(&d, 1, 60, pkt, n);
    cf_put_be32(d.b + rec_at + 8 + 12, (uint32_t)n + 200); /* header length */
    close_block(&d, at);
    run(ex, &d, &r);
    assert_rejected(ex, &r, DECODE_BAD_RECORD, CF_ERR_MALFORMED);
}

static void test_short_fixed_records_rejected(void **state)
{
    (void)state;
    static const uint32_t formats[] = {2, 3, 4, 1001, 1002, 1003};
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        result r;
        decode_exporter *ex = new_exporter(&r);
        dg d;
        header(&d, 1, 1);
        size_t at = flow_sample(&d, 10, 0, 1, 2, 1);
        size_t rec = open_block(&d, formats[i]);
        w32(&d, 1); /* one word: shorter than any of them (an IPv4 address type for 1002/1003) */
        close_block(&d, rec);
        close_block(&d, at);
        run(ex, &d, &r);
        assert_rejected(ex, &r, DECODE_BAD_RECORD, CF_ERR_MALFORMED);
    }
}

static void test_bad_address_type_rejected(void **state)
{
    (void)state;
    result r;
    decode_exporter *ex = new_exporter(&r);
    dg d;
    header(&d, 1, 0);
    cf_put_be32(d.b + 4, 9); /* agent address type 9 */
    run(ex, &d, &r);
    assert_rejected(ex, &r, DECODE_BAD_RECORD, CF_ERR_MALFORMED);
}

static void test_as_path_longer_than_record(void **state)
{
    (void)state;
    result r;
    decode_exporter *ex = new_exporter(&r);
    dg d;
    header(&d, 1, 1);
    size_t at = flow_sample(&d, 10, 0, 1, 2, 1);
    size_t rec = open_block(&d, 1003);
    w32(&d, 1);
    w32(&d, 0x0a000001);
    w32(&d, 65000);
    w32(&d, 64500);
    w32(&d, 64501);
    w32(&d, 1);          /* one segment */
    w32(&d, 2);          /* AS_SEQUENCE */
    w32(&d, 100000000);  /* of 10^8 AS numbers */
    w32(&d, 64999);
    close_block(&d, rec);
    close_block(&d, at);
    run(ex, &d, &r);
    assert_rejected(ex, &r, DECODE_BAD_RECORD, CF_ERR_MALFORMED);
}

static void test_wrong_version(void **state)
{
    (void)state;
    result r;
    decode_exporter *ex = new_exporter(&r);
    dg d;
    header(&d, 1, 0);
    run(ex, &d, &r);
    assert_int_equal(r.err, CF_OK); /* version 5 with no samples is a valid, empty datagram */
    assert_int_equal(decode_sflow5(ex, (const uint8_t *)"\0\0\0\4\0\0\0\1", 8, 0, NULL, NULL),
                     CF_ERR_VERSION);
}

/* ---- accepted datagrams ------------------------------------------------- */

static void test_full_sample_fields(void **state)
{
    (void)state;
    result r;
    decode_exporter *ex = new_exporter(&r);
    dg d;
    header(&d, 1, 1);
    size_t at = flow_sample(&d, 512, 0, 5, 0x40000003u, 4);
    uint8_t pkt[64];
    raw_header(&d, 1, 1514, pkt, eth_ipv4_tcp(pkt));
    size_t rec = open_block(&d, 1001);
    w32(&d, 100);
    w32(&d, 0);
    w32(&d, 200);
    w32(&d, 0);
    close_block(&d, rec);
    rec = open_block(&d, 1002);
    w32(&d, 1);
    w32(&d, 0x0a0000fe);
    w32(&d, 24);
    w32(&d, 16);
    close_block(&d, rec);
    rec = open_block(&d, 1003);
    w32(&d, 2);
    uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    wbytes(&d, v6, 16);
    w32(&d, 65000); /* router AS */
    w32(&d, 64500); /* src AS */
    w32(&d, 64501); /* src peer AS */
    w32(&d, 2);     /* segments */
    w32(&d, 2);
    w32(&d, 2);
    w32(&d, 65001);
    w32(&d, 65002);
    w32(&d, 1);
    w32(&d, 1);
    w32(&d, 65003);
    w32(&d, 1); /* communities */
    w32(&d, 0xfde80001);
    w32(&d, 100); /* local pref */
    close_block(&d, rec);
    close_block(&d, at);
    run(ex, &d, &r);
    assert_int_equal(r.err, CF_OK);
    assert_int_equal(r.n, 1);
    const flow_record *f = &r.recs[0];
    assert_int_equal(f->family, 4);
    assert_int_equal(flow_addr_v4(f->src_addr), 0x0a000001);
    assert_int_equal(flow_addr_v4(f->dst_addr), 0x0a000002);
    assert_int_equal(f->proto, 6);
    assert_int_equal(f->src_port, 1234);
    assert_int_equal(f->dst_port, 80);
    assert_int_equal(f->tcp_flags, 0x02);
    assert_int_equal(f->tos, 0x20);
    assert_int_equal(f->src_mac, 0x66778899aabbull);
    assert_int_equal(f->dst_mac, 0x001122334455ull);
    assert_int_equal(f->packets, 512);
    assert_int_equal(f->bytes, 1514ull * 512);
    assert_int_equal(f->sampling, 512);
    assert_int_equal(f->flags, FLOW_F_SFLOW | FLOW_F_SAMPLED);
    assert_int_equal(f->in_if, 5);
    assert_int_equal(f->out_if, 0x40000003u); /* discarded, reason 3, as sent */
    assert_int_equal(f->src_vlan, 100);
    assert_int_equal(f->dst_vlan, 200);
    assert_int_equal(flow_addr_v4(f->next_hop), 0x0a0000fe);
    assert_int_equal(f->src_mask, 24);
    assert_int_equal(f->dst_mask, 16);
    assert_memory_equal(f->bgp_next_hop, v6, 16);
    assert_int_equal(f->src_as, 64500);
    assert_int_equal(f->dst_as, 65003);
    assert_int_equal(f->obs_domain, 7);
    assert_int_equal(f->first_ms, 1700000000123ull);
    assert_int_equal(f->last_ms, 1700000000123ull);
    assert_int_equal(f->exporter_proto, FLOW_PROTO_SFLOW5);
    uint8_t agent[16];
    uint32_t sub;
    decode_sflow_last_agent(ex, agent, &sub);
    assert_int_equal(flow_addr_v4(agent), 0xc0000202);
    assert_int_equal(sub, 7);
}

static void test_unknown_samples_and_records_skipped(void **state)
{
    (void)state;
    result r;
    decode_exporter *ex = new_exporter(&r);
    dg d;
    header(&d, 1, 3);
    size_t s = open_block(&d, 4413 << 12 | 5); /* enterprise 4413 sample */
    w32(&d, 1);
    w32(&d, 2);
    close_block(&d, s);
    s = open_block(&d, 99); /* standard format 99 */
    close_block(&d, s);
    size_t at = flow_sample(&d, 1, 0, 1, 2, 3);
    size_t rec = open_block(&d, 0x1234 << 12 | 1); /* enterprise record */
    w32(&d, 0);
    close_block(&d, rec);
    rec = open_block(&d, 2000); /* unknown standard record */
    close_block(&d, rec);
    uint8_t pkt[64];
    raw_header(&d, 1, 64, pkt, eth_ipv4_tcp(pkt));
    close_block(&d, at);
    run(ex, &d, &r);
    assert_int_equal(r.err, CF_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.recs[0].dst_port, 80);
    assert_int_equal(r.recs[0].flags, FLOW_F_SFLOW); /* rate 1: not sampled */
    decode_sflow_stats ss;
    decode_sflow_stats_snapshot(ex, &ss);
    assert_int_equal(ss.unknown_samples, 2);
    assert_int_equal(ss.unknown_records, 2);
    assert_int_equal(ss.flow_samples, 1);
}

static void test_truncated_inner_headers_counted(void **state)
{
    (void)state;
    result r;
    decode_exporter *ex = new_exporter(&r);
    uint8_t pkt[64];
    size_t n = eth_ipv4_tcp(pkt);
    dg d;
    header(&d, 1, 3);
    size_t at = flow_sample(&d, 1, 0, 1, 2, 1);
    raw_header(&d, 1, 64, pkt, 40); /* IPv4 complete, TCP cut after 6 bytes */
    close_block(&d, at);
    at = flow_sample(&d, 1, 0, 1, 2, 1);
    raw_header(&d, 1, 64, pkt, 20); /* cut inside the IPv4 header */
    close_block(&d, at);
    at = flow_sample(&d, 1, 0, 1, 2, 1);
    raw_header(&d, 99, 64, pkt, n); /* a header protocol we do not parse */
    close_block(&d, at);
    run(ex, &d, &r);
    assert_int_equal(r.err, CF_OK);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.recs[0].family, 4);
    assert_int_equal(flow_addr_v4(r.recs[0].dst_addr), 0x0a000002);
    assert_int_equal(r.recs[0].src_port, 0);
    assert_int_equal(r.recs[1].family, 0);
    assert_int_equal(r.recs[1].src_mac, 0x66778899aabbull);
    assert_int_equal(r.recs[2].family, 0);
    assert_int_equal(r.recs[2].bytes, 64);
    decode_sflow_stats ss;
    decode_sflow_stats_snapshot(ex, &ss);
    assert_int_equal(ss.hdr_truncated, 2);
    assert_int_equal(ss.hdr_unparsed, 1);
}

static void test_sampled_ipv6_record_and_expanded_interfaces(void **state)
{
    (void)state;
    result r;
    decode_exporter *ex = new_exporter(&r);
    dg d;
    header(&d, 1, 1);
    size_t at = open_block(&d, 3); /* expanded flow sample */
    w32(&d, 9);
    w32(&d, 0);
    w32(&d, 70000000); /* source index beyond 24 bits */
    w32(&d, 100);
    w32(&d, 5000);
    w32(&d, 0);
    w32(&d, 0);
    w32(&d, 0x7fffffff); /* input ifIndex beyond 30 bits */
    w32(&d, 2);
    w32(&d, 4); /* output: 4 interfaces */
    w32(&d, 1);
    size_t rec = open_block(&d, 4);
    w32(&d, 1280);
    w32(&d, 17);
    uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, b[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
    wbytes(&d, a, 16);
    wbytes(&d, b, 16);
    w32(&d, 53);
    w32(&d, 40000);
    w32(&d, 0);
    w32(&d, 0xb8);
    close_block(&d, rec);
    close_block(&d, at);
    run(ex, &d, &r);
    assert_int_equal(r.err, CF_OK);
    assert_int_equal(r.n, 1);
    const flow_record *f = &r.recs[0];
    assert_int_equal(f->family, 6);
    assert_memory_equal(f->src_addr, a, 16);
    assert_memory_equal(f->dst_addr, b, 16);
    assert_int_equal(f->proto, 17);
    assert_int_equal(f->src_port, 53);
    assert_int_equal(f->dst_port, 40000);
    assert_int_equal(f->tos, 0xb8);
    assert_int_equal(f->bytes, 1280 * 100);
    assert_int_equal(f->in_if, 0x7fffffff);
    assert_int_equal(f->out_if, 0x80000004u);
}

static void test_counter_sample_to_sink(void **state)
{
    (void)state;
    result r;
    decode_exporter *ex = new_exporter(&r);
    dg d;
    header(&d, 1, 2);
    size_t at = open_block(&d, 2);
    w32(&d, 77);          /* sequence */
    w32(&d, 0 << 24 | 12); /* source 0:12 */
    w32(&d, 2);
    size_t rec = open_block(&d, 1);
    uint32_t generic[22] = {12, 6, 0, 1000000000, 1, 3, 0, 5000, 10, 20, 30, 1, 2, 3,
                            0, 6000, 40, 50, 60, 4, 5, 2};
    for (size_t i = 0; i < 22; i++)
        w32(&d, generic[i]);
    close_block(&d, rec);
    rec = open_block(&d, 2);
    for (uint32_t i = 1; i <= 13; i++)
        w32(&d, i * 100);
    close_block(&d, rec);
    close_block(&d, at);
    at = open_block(&d, 4); /* expanded counters without records we decode */
    w32(&d, 1);
    w32(&d, 0);
    w32(&d, 13);
    w32(&d, 1);
    rec = open_block(&d, 1005); /* unknown counter record */
    w32(&d, 0);
    close_block(&d, rec);
    close_block(&d, at);
    run(ex, &d, &r);
    assert_int_equal(r.err, CF_OK);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.n_counters, 1);
    const decode_counters *k = &r.counters[0];
    assert_int_equal(flow_addr_v4(k->agent), 0xc0000202);
    assert_int_equal(k->sub_agent, 7);
    assert_int_equal(k->uptime_ms, 123456);
    assert_int_equal(k->sample_seq, 77);
    assert_int_equal(k->source_index, 12);
    assert_int_equal(k->if_index, 12);
    assert_int_equal(k->if_type, 6);
    assert_int_equal(k->if_speed, 1000000000ull);
    assert_int_equal(k->if_direction, 1);
    assert_int_equal(k->if_status, 3);
    assert_int_equal(k->in_octets, 5000);
    assert_int_equal(k->in_packets, 60);
    assert_int_equal(k->in_discards, 1);
    assert_int_equal(k->in_errors, 2);
    assert_int_equal(k->in_unknown_protos, 3);
    assert_int_equal(k->out_octets, 6000);
    assert_int_equal(k->out_packets, 150);
    assert_int_equal(k->out_discards, 4);
    assert_int_equal(k->out_errors, 5);
    assert_int_equal(k->promiscuous, 2);
    assert_int_equal(k->eth_alignment_errors, 100);
    assert_int_equal(k->eth_symbol_errors, 1300);
    assert_int_equal(k->time_ms, 1700000000123ull);
    decode_sflow_stats ss;
    decode_sflow_stats_snapshot(ex, &ss);
    assert_int_equal(ss.counter_samples, 2);
    assert_int_equal(ss.counters_emitted, 1);
    assert_int_equal(ss.unknown_records, 1);
}

static void test_sequence_and_drops(void **state)
{
    (void)state;
    result r;
    decode_exporter *ex = new_exporter(&r);
    static const uint32_t seqs[] = {100, 101, 104, 50, 51};
    static const uint32_t drops[] = {5, 12, 12, 20, 3};
    for (size_t i = 0; i < 5; i++) {
        dg d;
        header(&d, seqs[i], 1);
        size_t at = flow_sample(&d, 10, drops[i], 1, 2, 0);
        close_block(&d, at);
        run(ex, &d, &r);
        assert_int_equal(r.err, CF_OK);
        assert_int_equal(r.n, 1);
    }
    decode_stats st;
    decode_stats_snapshot(ex, &st);
    assert_int_equal(st.lost, 2);       /* 102 and 103 */
    assert_int_equal(st.seq_resets, 1); /* 104 -> 50 */
    decode_sflow_stats ss;
    decode_sflow_stats_snapshot(ex, &ss);
    assert_int_equal(ss.drops, 7 + 8); /* 5->12, 12->20; 20->3 restarts the baseline */
}

/* ---- the packet header parser --------------------------------------------- */

static void test_pkthdr_qinq_mpls_ipv6_ext(void **state)
{
    (void)state;
    uint8_t p[128] = {0};
    size_t n = 12;
    static const uint8_t tags[] = {0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x20, 0xc8, 0x88, 0x47,
                                   0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40};
    memcpy(p + n, tags, sizeof(tags)); /* QinQ 100 / 200, MPLS labels 16 and 32 (BoS) */
    n += sizeof(tags);
    uint8_t *ip6 = p + n;
    ip6[0] = 0x60;
    ip6[6] = 0;  /* hop-by-hop */
    ip6[7] = 64;
    ip6[8] = 0x20, ip6[9] = 0x01, ip6[23] = 1;
    ip6[24] = 0x20, ip6[25] = 0x01, ip6[39] = 2;
    n += 40;
    p[n] = 44, p[n + 1] = 0; /* hop-by-hop (8 bytes) -> fragment */
    n += 8;
    p[n] = 6;                /* fragment header, offset 0 -> TCP */
    n += 8;
    cf_put_be16(p + n, 443), cf_put_be16(p + n + 2, 50000), p[n + 13] = 0x12;
    n += 20;
    decode_pkthdr h;
    assert_int_equal(decode_pkthdr_parse(DECODE_PKTHDR_ETHERNET, p, n, &h), DECODE_PKTHDR_OK);
    assert_int_equal(h.n_tags, 2);
    assert_int_equal(h.vlan, 100);
    assert_int_equal(h.inner_vlan, 200);
    assert_int_equal(h.n_labels, 2);
    assert_int_equal(h.mpls_label, 16);
    assert_int_equal(h.family, 6);
    assert_int_equal(h.proto, 6);
    assert_int_equal(h.src_port, 443);
    assert_int_equal(h.dst_port, 50000);
    assert_int_equal(h.tcp_flags, 0x12);
    assert_int_equal(h.src_addr[15], 1);
    /* Every cut before the 14 TCP bytes that hold ports and flags stops
     * cleanly, never claiming ports it did not read. */
    for (size_t cut = 0; cut < n - 6; cut++) {
        assert_int_equal(decode_pkthdr_parse(DECODE_PKTHDR_ETHERNET, p, cut, &h),
                         DECODE_PKTHDR_TRUNCATED);
        assert_int_equal(h.has_l4, 0);
    }
    /* A non-first fragment has no ports. */
    cf_put_be16(p + n - 20 - 8 + 2, 0x0100);
    assert_int_equal(decode_pkthdr_parse(DECODE_PKTHDR_ETHERNET, p, n, &h), DECODE_PKTHDR_OK);
    assert_int_equal(h.fragment, 1);
    assert_int_equal(h.src_port, 0);
}

static void test_pkthdr_icmp_and_ipv4_options(void **state)
{
    (void)state;
    uint8_t p[40] = {0x46, 0, 0, 36, 0, 0, 0, 0, 64, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
    p[24] = 3, p[25] = 13; /* after 4 option bytes: ICMP unreachable, admin prohibited */
    decode_pkthdr h;
    assert_int_equal(decode_pkthdr_parse(DECODE_PKTHDR_IPV4, p, 32, &h), DECODE_PKTHDR_OK);
    assert_int_equal(h.proto, 1);
    assert_int_equal(h.icmp_type, 3);
    assert_int_equal(h.icmp_code, 13);
    assert_int_equal(h.dst_port, 3 * 256 + 13);
    assert_int_equal(flow_addr_v4(h.src_addr), 0x01020304);
    assert_int_equal(decode_pkthdr_parse(DECODE_PKTHDR_IPV4, p, 25, &h), DECODE_PKTHDR_TRUNCATED);
    assert_int_equal(h.family, 4);
    assert_int_equal(h.has_l4, 0);
    p[0] = 0x65; /* an IPv6 nibble where IPv4 is expected */
    assert_int_equal(decode_pkthdr_parse(DECODE_PKTHDR_IPV4, p, 32, &h), DECODE_PKTHDR_UNSUPPORTED);
    assert_int_equal(h.family, 0);
}

int main(void)
{
    cf_log_set_level(CF_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_length_past_datagram),
        cmocka_unit_test(test_huge_sample_count),
        cmocka_unit_test(test_huge_record_count),
        cmocka_unit_test(test_header_length_larger_than_record),
        cmocka_unit_test(test_short_fixed_records_rejected),
        cmocka_unit_test(test_bad_address_type_rejected),
        cmocka_unit_test(test_as_path_longer_than_record),
        cmocka_unit_test(test_wrong_version),
        cmocka_unit_test(test_full_sample_fields),
        cmocka_unit_test(test_unknown_samples_and_records_skipped),
        cmocka_unit_test(test_truncated_inner_headers_counted),
        cmocka_unit_test(test_sampled_ipv6_record_and_expanded_interfaces),
        cmocka_unit_test(test_counter_sample_to_sink),
        cmocka_unit_test(test_sequence_and_drops),
        cmocka_unit_test(test_pkthdr_qinq_mpls_ipv6_ext),
        cmocka_unit_test(test_pkthdr_icmp_and_ipv4_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
