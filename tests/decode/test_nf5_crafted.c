/*
 * tests/decode/test_nf5_crafted.c - NetFlow v5 on crafted packets: every
 * field, time conversion, ICMP, sampling, bad headers under their reasons,
 * sequence accounting, and protocol recognition in decode_packet().
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

#define MAX_PKT (24 + 48 * 64)
#define MAX_RECS 64

/* Header values of a crafted packet. */
typedef struct hdr_spec {
    uint16_t version, count;
    uint32_t uptime, secs, nsecs, seq;
    uint8_t engine_type, engine_id;
    uint16_t sampling;
} hdr_spec;

static const hdr_spec default_hdr = {5, 1, 100000, 1700000000, 250000000, 0, 1, 2, 0};

/* Writes a header and n records (record i has distinct values derived from i). */
static size_t build(uint8_t *buf, const hdr_spec *h, unsigned n)
{
    cf_put_be16(buf + 0, h->version);
    cf_put_be16(buf + 2, h->count);
    cf_put_be32(buf + 4, h->uptime);
    cf_put_be32(buf + 8, h->secs);
    cf_put_be32(buf + 12, h->nsecs);
    cf_put_be32(buf + 16, h->seq);
    buf[20] = h->engine_type;
    buf[21] = h->engine_id;
    cf_put_be16(buf + 22, h->sampling);
    for (unsigned i = 0; i < n; i++) {
        uint8_t *r = buf + 24 + 48 * i;
        cf_put_be32(r + 0, 0x0a000001u + i);  /* 10.0.0.1 + i */
        cf_put_be32(r + 4, 0xc0a80001u + i);  /* 192.168.0.1 + i */
        cf_put_be32(r + 8, 0xac100001u);      /* 172.16.0.1 */
        cf_put_be16(r + 12, (uint16_t)(3 + i));
        cf_put_be16(r + 14, 0xfffe);
        cf_put_be32(r + 16, 10 + i);
        cf_put_be32(r + 20, 0xfffffff0u);
        cf_put_be32(r + 24, 90000);
        cf_put_be32(r + 28, 99000);
        cf_put_be16(r + 32, 1234);
        cf_put_be16(r + 34, 80);
        r[36] = 0xee; /* padding: ignored */
        r[37] = 0x1b;
        r[38] = 6;
        r[39] = 0xb8;
        cf_put_be16(r + 40, 64512);
        cf_put_be16(r + 42, 65001);
        r[44] = 24;
        r[45] = 16;
        r[46] = 0xee;
        r[47] = 0xee;
    }
    return 24 + 48 * (size_t)n;
}

typedef struct sink {
    flow_record recs[MAX_RECS];
    size_t n;
} sink;

static void collect(void *ctx, const flow_record *rec)
{
    sink *s = ctx;
    assert_true(s->n < MAX_RECS);
    s->recs[s->n++] = *rec;
}

static decode_exporter *new_exporter(void)
{
    decode_exporter *ex = malloc(sizeof(*ex));
    assert_non_null(ex);
    uint8_t addr[16];
    flow_addr_from_v4(addr, 0xc0000201u); /* 192.0.2.1 */
    decode_exporter_init(ex, addr, 2055);
    return ex;
}

static decode_stats stats_of(const decode_exporter *ex)
{
    decode_stats st;
    decode_stats_snapshot(ex, &st);
    return st;
}

static cf_err run(decode_exporter *ex, const uint8_t *buf, size_t len, sink *s)
{
    s->n = 0;
    return decode_packet(ex, buf, len, 42, collect, s);
}

static void test_every_field(void **state)
{
    (void)state;
    uint8_t buf[MAX_PKT];
    sink s;
    decode_exporter *ex = new_exporter();
    size_t len = build(buf, &default_hdr, 1);
    assert_int_equal(run(ex, buf, len, &s), CF_OK);
    assert_int_equal(s.n, 1);
    const flow_record *r = &s.recs[0];
    char txt[64];
    flow_addr_format(r->src_addr, txt, sizeof(txt));
    assert_string_equal(txt, "10.0.0.1");
    flow_addr_format(r->dst_addr, txt, sizeof(txt));
    assert_string_equal(txt, "192.168.0.1");
    flow_addr_format(r->next_hop, txt, sizeof(txt));
    assert_string_equal(txt, "172.16.0.1");
    flow_addr_format(r->exporter, txt, sizeof(txt));
    assert_string_equal(txt, "192.0.2.1");
    assert_true(flow_addr_is_zero(r->bgp_next_hop));
    assert_int_equal(r->family, 4);
    assert_int_equal(r->in_if, 3);
    assert_int_equal(r->out_if, 0xfffe);
    assert_int_equal(r->packets, 10);
    assert_int_equal(r->bytes, 0xfffffff0u);
    /* export 1700000000.250 s, uptime 100000: First 90000 is 10 s before. */
    assert_int_equal(r->first_ms, 1700000000250ull - 10000);
    assert_int_equal(r->last_ms, 1700000000250ull - 1000);
    assert_int_equal(r->src_port, 1234);
    assert_int_equal(r->dst_port, 80);
    assert_int_equal(r->tcp_flags, 0x1b);
    assert_int_equal(r->proto, 6);
    assert_int_equal(r->tos, 0xb8);
    assert_int_equal(r->src_as, 64512);
    assert_int_equal(r->dst_as, 65001);
    assert_int_equal(r->src_mask, 24);
    assert_int_equal(r->dst_mask, 16);
    assert_int_equal(r->icmp_type, 0);
    assert_int_equal(r->icmp_code, 0);
    assert_int_equal(r->engine_type, 1);
    assert_int_equal(r->engine_id, 2);
    assert_int_equal(r->sampling, 1);
    assert_int_equal(r->flags, 0);
    assert_int_equal(r->exporter_proto, FLOW_PROTO_NETFLOW5);
    decode_stats st = stats_of(ex);
    assert_int_equal(st.packets, 1);
    assert_int_equal(st.bytes, len);
    assert_int_equal(st.records, 1);
    assert_int_equal(st.last_seen_ms, 42);
    assert_int_equal(st.sampling, 1);
    free(ex);
}

static void test_times_wrap_around_uptime(void **state)
{
    (void)state;
    uint8_t buf[MAX_PKT];
    sink s;
    decode_exporter *ex = new_exporter();
    hdr_spec h = default_hdr;
    h.uptime = 3381;
    size_t len = build(buf, &h, 1);
    cf_put_be32(buf + 24 + 24, 0xffffffffu); /* 1 ms before boot (softflowd) */
    cf_put_be32(buf + 24 + 28, 0xffffff00u); /* long before a wrap */
    assert_int_equal(run(ex, buf, len, &s), CF_OK);
    assert_int_equal(s.recs[0].first_ms, 1700000000250ull - 3382);
    assert_int_equal(s.recs[0].last_ms, 1700000000250ull - 3381 - 256);
    /* Uptime just after a wrap, First just before it. */
    h.uptime = 100;
    len = build(buf, &h, 1);
    cf_put_be32(buf + 24 + 24, 0xffffff00u);
    cf_put_be32(buf + 24 + 28, 50);
    assert_int_equal(run(ex, buf, len, &s), CF_OK);
    assert_int_equal(s.recs[0].first_ms, 1700000000250ull - 356);
    assert_int_equal(s.recs[0].last_ms, 1700000000250ull - 50);
    /* A nonsense export time of 0 cannot go before the epoch. */
    h.secs = 0;
    h.nsecs = 0;
    len = build(buf, &h, 1);
    assert_int_equal(run(ex, buf, len, &s), CF_OK);
    assert_int_equal(s.recs[0].first_ms, 0);
    free(ex);
}

static void test_icmp_type_code(void **state)
{
    (void)state;
    uint8_t buf[MAX_PKT];
    sink s;
    decode_exporter *ex = new_exporter();
    size_t len = build(buf, &default_hdr, 1);
    buf[24 + 38] = 1;
    cf_put_be16(buf + 24 + 32, 0);
    cf_put_be16(buf + 24 + 34, 0x0303); /* destination port unreachable */
    assert_int_equal(run(ex, buf, len, &s), CF_OK);
    assert_int_equal(s.recs[0].proto, 1);
    assert_int_equal(s.recs[0].dst_port, 0x0303);
    assert_int_equal(s.recs[0].icmp_type, 3);
    assert_int_equal(s.recs[0].icmp_code, 3);
    free(ex);
}

static void test_sampling_scales_counters(void **state)
{
    (void)state;
    uint8_t buf[MAX_PKT];
    sink s;
    decode_exporter *ex = new_exporter();
    hdr_spec h = default_hdr;
    h.sampling = 0x4000 | 100; /* mode 1, interval 100 */
    h.count = 2;
    size_t len = build(buf, &h, 2);
    assert_int_equal(run(ex, buf, len, &s), CF_OK);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.recs[1].packets, 11 * 100);
    assert_int_equal(s.recs[1].bytes, 0xfffffff0ull * 100);
    assert_int_equal(s.recs[1].sampling, 100);
    assert_true(s.recs[1].flags & FLOW_F_SAMPLED);
    assert_int_equal(stats_of(ex).sampling, 100);
    /* Interval 1, and mode bits without an interval: unscaled. */
    h.count = 1;
    const uint16_t unsampled[] = {1, 0x4000, 0x8001};
    for (size_t i = 0; i < 3; i++) {
        h.sampling = unsampled[i];
        len = build(buf, &h, 1);
        assert_int_equal(run(ex, buf, len, &s), CF_OK);
        assert_int_equal(s.recs[0].packets, 10);
        assert_int_equal(s.recs[0].sampling, 1);
        assert_int_equal(s.recs[0].flags & FLOW_F_SAMPLED, 0);
        assert_int_equal(stats_of(ex).sampling, 1);
    }
    /* The largest interval, 14 bits. */
    h.sampling = 0xffff;
    len = build(buf, &h, 1);
    assert_int_equal(run(ex, buf, len, &s), CF_OK);
    assert_int_equal(s.recs[0].sampling, 0x3fff);
    assert_int_equal(s.recs[0].packets, 10 * 0x3fff);
    free(ex);
}

/* buf rejected with err under reason, nothing emitted, sequence untouched. */
static void expect_reject(const uint8_t *buf, size_t len, cf_err err, decode_reason reason)
{
    sink s;
    decode_exporter *ex = new_exporter();
    assert_int_equal(run(ex, buf, len, &s), err);
    assert_int_equal(s.n, 0);
    decode_stats st = stats_of(ex);
    assert_int_equal(st.packets, 1);
    assert_int_equal(st.bytes, len);
    assert_int_equal(st.records, 0);
    for (int r = 0; r < DECODE_N_REASONS; r++)
        assert_int_equal(st.malformed[r], r == (int)reason ? 1 : 0);
    assert_int_equal(ex->n_v5_seq, 0);
    free(ex);
}

static void test_count_zero(void **state)
{
    (void)state;
    uint8_t buf[MAX_PKT];
    hdr_spec h = default_hdr;
    h.count = 0;
    expect_reject(buf, build(buf, &h, 0), CF_ERR_MALFORMED, DECODE_BAD_COUNT);
    expect_reject(buf, build(buf, &h, 2), CF_ERR_MALFORMED, DECODE_BAD_COUNT);
}

static void test_count_beyond_packet(void **state)
{
    (void)state;
    uint8_t buf[MAX_PKT];
    hdr_spec h = default_hdr;
    h.count = 5;
    expect_reject(buf, build(buf, &h, 4), CF_ERR_TRUNCATED, DECODE_BAD_COUNT);
    h.count = 30;
    expect_reject(buf, build(buf, &h, 30) - 1, CF_ERR_TRUNCATED, DECODE_BAD_COUNT);
}

static void test_count_above_30(void **state)
{
    (void)state;
    uint8_t buf[MAX_PKT];
    sink s;
    hdr_spec h = default_hdr;
    /* More than 30 with a length that does not match exactly: garbled. */
    h.count = 31;
    expect_reject(buf, build(buf, &h, 30), CF_ERR_MALFORMED, DECODE_BAD_COUNT);
    expect_reject(buf, build(buf, &h, 32), CF_ERR_MALFORMED, DECODE_BAD_COUNT);
    h.count = 55582; /* logstash's netflow5_test_invalid01: 30 records of room */
    expect_reject(buf, build(buf, &h, 30), CF_ERR_MALFORMED, DECODE_BAD_COUNT);
    /* More than 30 in exactly as many records: accepted. */
    h.count = 40;
    decode_exporter *ex = new_exporter();
    assert_int_equal(run(ex, buf, build(buf, &h, 40), &s), CF_OK);
    assert_int_equal(s.n, 40);
    assert_int_equal(s.recs[39].packets, 10 + 39);
    free(ex);
}

static void test_trailing_bytes_ignored(void **state)
{
    (void)state;
    uint8_t buf[MAX_PKT];
    sink s;
    hdr_spec h = default_hdr;
    h.count = 2;
    size_t len = build(buf, &h, 3); /* one record more than announced */
    decode_exporter *ex = new_exporter();
    assert_int_equal(run(ex, buf, len + 5, &s), CF_OK);
    assert_int_equal(s.n, 2);
    assert_int_equal(stats_of(ex).records, 2);
    free(ex);
}

static void test_short_header(void **state)
{
    (void)state;
    uint8_t buf[MAX_PKT];
    build(buf, &default_hdr, 1);
    expect_reject(buf, 0, CF_ERR_TRUNCATED, DECODE_BAD_SHORT);
    expect_reject(buf, 1, CF_ERR_TRUNCATED, DECODE_BAD_SHORT);
    expect_reject(buf, 2, CF_ERR_TRUNCATED, DECODE_BAD_SHORT);
    expect_reject(buf, 23, CF_ERR_TRUNCATED, DECODE_BAD_SHORT);
    expect_reject(buf, 24, CF_ERR_TRUNCATED, DECODE_BAD_COUNT);
}

static void test_every_truncation_of_a_full_packet(void **state)
{
    (void)state;
    uint8_t buf[MAX_PKT];
    hdr_spec h = default_hdr;
    h.count = 30;
    size_t len = build(buf, &h, 30);
    decode_exporter *ex = new_exporter();
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *exact = malloc(cut ? cut : 1);
        assert_non_null(exact);
        memcpy(exact, buf, cut);
        sink s;
        assert_int_not_equal(run(ex, exact, cut, &s), CF_OK);
        assert_int_equal(s.n, 0);
        free(exact);
    }
    decode_stats st = stats_of(ex);
    assert_int_equal(st.packets, len);
    assert_int_equal(st.malformed[DECODE_BAD_SHORT] + st.malformed[DECODE_BAD_COUNT], len);
    assert_int_equal(st.records, 0);
    free(ex);
}

static void test_versions_not_decoded(void **state)
{
    (void)state;
    uint8_t buf[MAX_PKT];
    hdr_spec h = default_hdr;
    /* 9 and 10 are decoded (NetFlow v9, IPFIX): see test_nf9_crafted.c */
    const uint16_t versions[] = {1, 6, 7, 8, 0xffff};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        h.version = versions[i];
        expect_reject(buf, build(buf, &h, 1), CF_ERR_VERSION, DECODE_BAD_VERSION);
    }
    /* sFlow v5 (32-bit version 5, starting with a 16-bit 0) goes to the sFlow
     * decoder: this 12-byte datagram is too short for its header. */
    static const uint8_t sflow[] = {0, 0, 0, 5, 0, 0, 0, 1, 10, 0, 0, 1};
    expect_reject(sflow, sizeof(sflow), CF_ERR_TRUNCATED, DECODE_BAD_SHORT);
    /* A 16-bit 0 that is not sFlow, long or short. */
    static const uint8_t zero[] = {0, 0, 0, 4, 0};
    expect_reject(zero, sizeof(zero), CF_ERR_VERSION, DECODE_BAD_VERSION);
    expect_reject(zero, 3, CF_ERR_VERSION, DECODE_BAD_VERSION);
}

static void test_netflow5_entry_checks_version(void **state)
{
    (void)state;
    uint8_t buf[MAX_PKT];
    hdr_spec h = default_hdr;
    h.version = 9;
    size_t len = build(buf, &h, 1);
    decode_exporter *ex = new_exporter();
    sink s = {.n = 0};
    assert_int_equal(decode_netflow5(ex, buf, len, 1, collect, &s), CF_ERR_VERSION);
    assert_int_equal(s.n, 0);
    assert_int_equal(stats_of(ex).malformed[DECODE_BAD_VERSION], 1);
    assert_int_equal(stats_of(ex).packets, 1);
    h.version = 5;
    len = build(buf, &h, 1);
    assert_int_equal(decode_netflow5(ex, buf, len, 1, NULL, NULL), CF_OK);
    assert_int_equal(stats_of(ex).records, 1);
    assert_int_equal(stats_of(ex).packets, 2);
    free(ex);
}

/* Sends a packet of engine (type, id) with sequence seq and count records. */
static void send_seq(decode_exporter *ex, uint8_t type, uint8_t id, uint32_t seq, uint16_t count)
{
    uint8_t buf[MAX_PKT];
    hdr_spec h = default_hdr;
    h.engine_type = type;
    h.engine_id = id;
    h.seq = seq;
    h.count = count;
    sink s;
    assert_int_equal(run(ex, buf, build(buf, &h, count), &s), CF_OK);
}

static void test_sequence_loss(void **state)
{
    (void)state;
    decode_exporter *ex = new_exporter();
    send_seq(ex, 0, 0, 1000, 2); /* first packet: sets the expectation */
    send_seq(ex, 0, 0, 1002, 3);
    assert_int_equal(stats_of(ex).lost, 0);
    send_seq(ex, 0, 0, 1010, 1); /* 1005..1009 missing */
    assert_int_equal(stats_of(ex).lost, 5);
    send_seq(ex, 0, 0, 1011, 30);
    assert_int_equal(stats_of(ex).lost, 5);
    send_seq(ex, 0, 0, 1041 + DECODE_SEQ_MAX_GAP, 1); /* the largest gap still loss */
    assert_int_equal(stats_of(ex).lost, 5 + DECODE_SEQ_MAX_GAP);
    assert_int_equal(stats_of(ex).seq_resets, 0);
    free(ex);
}

static void test_sequence_resets(void **state)
{
    (void)state;
    decode_exporter *ex = new_exporter();
    send_seq(ex, 0, 0, 5000, 10);
    send_seq(ex, 0, 0, 0, 10); /* restart: backwards */
    assert_int_equal(stats_of(ex).seq_resets, 1);
    send_seq(ex, 0, 0, 10, 1); /* continues from the restart */
    send_seq(ex, 0, 0, 11 + DECODE_SEQ_MAX_GAP + 1, 1); /* too far ahead to be loss */
    assert_int_equal(stats_of(ex).seq_resets, 2);
    send_seq(ex, 0, 0, 12 + DECODE_SEQ_MAX_GAP + 1, 1);
    send_seq(ex, 0, 0, 12 + DECODE_SEQ_MAX_GAP, 1); /* one behind */
    assert_int_equal(stats_of(ex).seq_resets, 3);
    assert_int_equal(stats_of(ex).lost, 0);
    free(ex);
}

static void test_sequence_wraps(void **state)
{
    (void)state;
    decode_exporter *ex = new_exporter();
    send_seq(ex, 0, 0, 0xfffffffeu, 4);
    send_seq(ex, 0, 0, 2, 1);
    send_seq(ex, 0, 0, 0xfffffffeu - 1, 1); /* behind again */
    send_seq(ex, 0, 0, 0xfffffffeu, 1);
    send_seq(ex, 0, 0, 3, 1); /* 0xffffffff, 0, 1, 2 missing */
    decode_stats st = stats_of(ex);
    assert_int_equal(st.lost, 4);
    assert_int_equal(st.seq_resets, 1);
    free(ex);
}

static void test_sequence_per_engine(void **state)
{
    (void)state;
    decode_exporter *ex = new_exporter();
    send_seq(ex, 0, 1, 100, 2);
    send_seq(ex, 0, 2, 7000, 2);
    send_seq(ex, 1, 1, 0, 2);
    send_seq(ex, 0, 1, 102, 2);
    send_seq(ex, 0, 2, 7002, 2);
    send_seq(ex, 1, 1, 3, 2); /* one lost in engine (1, 1) */
    assert_int_equal(stats_of(ex).lost, 1);
    assert_int_equal(stats_of(ex).seq_resets, 0);
    assert_int_equal(ex->n_v5_seq, 3);
    /* A malformed packet of engine (0, 1) does not move its expectation. */
    uint8_t buf[MAX_PKT];
    hdr_spec h = default_hdr;
    h.engine_type = 0;
    h.engine_id = 1;
    h.seq = 500;
    h.count = 3;
    sink s;
    assert_int_not_equal(run(ex, buf, build(buf, &h, 2), &s), CF_OK);
    send_seq(ex, 0, 1, 104, 1);
    assert_int_equal(stats_of(ex).lost, 1);
    assert_int_equal(stats_of(ex).seq_resets, 0);
    free(ex);
}

static void test_sequence_many_engines(void **state)
{
    (void)state;
    decode_exporter *ex = new_exporter();
    /* More engines than slots: no crash, the tracked ones stay right. */
    for (unsigned round = 0; round < 3; round++)
        for (unsigned e = 0; e < DECODE_V5_MAX_ENGINES + 4; e++)
            send_seq(ex, 0, (uint8_t)e, round * 10, 10);
    assert_int_equal(ex->n_v5_seq, DECODE_V5_MAX_ENGINES);
    decode_stats st = stats_of(ex);
    assert_int_equal(st.lost, 0);
    assert_int_equal(st.seq_resets, 0);
    assert_int_equal(st.records, 3 * (DECODE_V5_MAX_ENGINES + 4) * 10);
    free(ex);
}

static void test_reason_names(void **state)
{
    (void)state;
    assert_string_equal(decode_reason_name(DECODE_BAD_SHORT), "short");
    assert_string_equal(decode_reason_name(DECODE_BAD_VERSION), "version");
    assert_string_equal(decode_reason_name(DECODE_BAD_COUNT), "count");
    assert_string_equal(decode_reason_name(DECODE_BAD_LENGTH), "length");
    assert_string_equal(decode_reason_name(DECODE_BAD_RECORD), "record");
    assert_string_equal(decode_reason_name(DECODE_N_REASONS), "unknown");
}

int main(void)
{
    cf_log_set_level(CF_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_times_wrap_around_uptime),
        cmocka_unit_test(test_icmp_type_code),
        cmocka_unit_test(test_sampling_scales_counters),
        cmocka_unit_test(test_count_zero),
        cmocka_unit_test(test_count_beyond_packet),
        cmocka_unit_test(test_count_above_30),
        cmocka_unit_test(test_trailing_bytes_ignored),
        cmocka_unit_test(test_short_header),
        cmocka_unit_test(test_every_truncation_of_a_full_packet),
        cmocka_unit_test(test_versions_not_decoded),
        cmocka_unit_test(test_netflow5_entry_checks_version),
        cmocka_unit_test(test_sequence_loss),
        cmocka_unit_test(test_sequence_resets),
        cmocka_unit_test(test_sequence_wraps),
        cmocka_unit_test(test_sequence_per_engine),
        cmocka_unit_test(test_sequence_many_engines),
        cmocka_unit_test(test_reason_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
