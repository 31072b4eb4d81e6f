/* tests/sim/test_sim.c - the simulated exporter: determinism, a realistic
 * skew, and v5 packets that decode to exactly the generated records. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"
#include "sim/sim.h"

#define T0 UINT64_C(1704067200000) /* 2024-01-01 00:00 UTC */
#define N_PACKETS 200

/* Encodes N_PACKETS full v5 packets from seed into one buffer (lengths in lens). */
static uint8_t *make_packets(uint64_t seed, size_t lens[N_PACKETS], flow_record *recs_out)
{
    sim_gen_options go;
    sim_gen_options_default(&go);
    go.seed = seed;
    sim_gen *g = NULL;
    assert_int_equal(sim_gen_open(&go, &g), CF_OK);
    sim_encoder_options eo = {.engine_type = 1, .engine_id = 7, .boot_ms = T0 - 86400000u};
    sim_encoder *e = NULL;
    assert_int_equal(sim_encoder_open("v5", &eo, &e), CF_OK);
    assert_int_equal(sim_encoder_max_records(e), 30);
    uint8_t *all = calloc(N_PACKETS, SIM_MAX_PACKET);
    assert_non_null(all);
    for (int i = 0; i < N_PACKETS; i++) {
        flow_record recs[30];
        for (int k = 0; k < 30; k++)
            sim_gen_next(g, T0 + (uint64_t)(i * 30 + k) * 37, &recs[k]);
        size_t used = 0;
        assert_int_equal(sim_encoder_encode(e, recs, 30, recs[29].last_ms + 5, all + (size_t)i * SIM_MAX_PACKET,
                                            SIM_MAX_PACKET, &lens[i], &used),
                         CF_OK);
        assert_int_equal(used, 30);
        assert_int_equal(lens[i], 24 + 30 * 48);
        if (recs_out)
            memcpy(recs_out + i * 30, recs, sizeof(recs));
    }
    sim_encoder_close(e);
    sim_gen_close(g);
    return all;
}

static void test_same_seed_same_packets(void **state)
{
    (void)state;
    size_t la[N_PACKETS], lb[N_PACKETS], lc[N_PACKETS];
    uint8_t *a = make_packets(42, la, NULL), *b = make_packets(42, lb, NULL), *c = make_packets(43, lc, NULL);
    assert_memory_equal(la, lb, sizeof(la));
    assert_memory_equal(a, b, (size_t)N_PACKETS * SIM_MAX_PACKET);
    assert_memory_not_equal(a + 24, c + 24, 48); /* another seed, other flows */
    free(a);
    free(b);
    free(c);
}

typedef struct collected {
    flow_record *recs;
    size_t n, cap;
} collected;

static void collect_rec(void *ctx, const flow_record *rec)
{
    collected *c = ctx;
    assert_true(c->n < c->cap);
    c->recs[c->n++] = *rec;
}

/* Names the first field where a and b differ (for a readable failure). */
static const char *first_difference(const flow_record *a, const flow_record *b)
{
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        if (memcmp((const char *)a + f->offset, (const char *)b + f->offset, f->width) != 0)
            return f->name;
    }
    return NULL;
}

static void test_v5_decodes_to_generated_records(void **state)
{
    (void)state;
    size_t lens[N_PACKETS];
    flow_record *gen = calloc((size_t)N_PACKETS * 30, sizeof(flow_record));
    assert_non_null(gen);
    uint8_t *pk = make_packets(5, lens, gen);
    collected got = {calloc((size_t)N_PACKETS * 30, sizeof(flow_record)), 0, (size_t)N_PACKETS * 30};
    assert_non_null(got.recs);
    decode_exporter ex;
    uint8_t exporter[16];
    flow_addr_from_v4(exporter, 0xC0000201u);
    decode_exporter_init(&ex, exporter, 9999);
    for (int i = 0; i < N_PACKETS; i++)
        assert_int_equal(decode_packet(&ex, pk + (size_t)i * SIM_MAX_PACKET, lens[i], T0, collect_rec, &got), CF_OK);
    assert_int_equal(got.n, (size_t)N_PACKETS * 30);
    assert_int_equal(ex.stats.lost, 0); /* sequence numbers advance by the record count */
    for (size_t i = 0; i < got.n; i++) {
        flow_record want = gen[i];
        /* what the decoder adds from the packet and its source */
        memcpy(want.exporter, exporter, 16);
        want.exporter_proto = FLOW_PROTO_NETFLOW5;
        want.engine_type = 1;
        want.engine_id = 7;
        want.sampling = 1;
        want.received_ms = T0;
        const char *diff = first_difference(&want, &got.recs[i]);
        if (diff)
            fail_msg("record %zu differs in field %s", i, diff);
    }
    free(got.recs);
    free(gen);
    free(pk);
}

static void test_traffic_is_skewed_like_real_traffic(void **state)
{
    (void)state;
    enum { N = 20000 };
    sim_gen_options go;
    sim_gen_options_default(&go);
    go.seed = 3;
    sim_gen *g = NULL;
    assert_int_equal(sim_gen_open(&go, &g), CF_OK);
    uint32_t *inside = calloc(N, sizeof(uint32_t));
    assert_non_null(inside);
    size_t n_https = 0, n_out = 0, n_scan = 0, n_eph_client = 0, n_inside = 0;
    for (int i = 0; i < N; i++) {
        flow_record r;
        sim_gen_next(g, T0 + (uint64_t)i, &r);
        assert_int_equal(r.family, 4);
        assert_true(r.packets >= 1 && r.bytes >= r.packets * 40);
        assert_true(r.first_ms <= r.last_ms && r.last_ms - r.first_ms <= 600000);
        uint32_t src = flow_addr_v4(r.src_addr), dst = flow_addr_v4(r.dst_addr);
        bool src_in = (src & 0xFFF00000u) == 0x0A000000u, dst_in = (dst & 0xFFF00000u) == 0x0A000000u;
        assert_true(src_in != dst_in); /* one side inside 10.0.0.0/12, the other in public space */
        uint32_t in_host = src_in ? src : dst;
        inside[n_inside++] = in_host;
        if (src_in)
            n_out++;
        if (r.dst_port == 443 || r.src_port == 443)
            n_https++;
        if (r.tcp_flags == 0x02 && r.packets == 1 && !src_in && r.src_port >= 1024 && r.src_as != 0 &&
            r.bytes == 40)
            n_scan++;
        if (src_in && r.src_port >= 32768 && r.src_port < 61000)
            n_eph_client++;
    }
    /* about half of the flows go client -> server, 443 dominates, a few scans */
    assert_true(n_out > N * 40 / 100 && n_out < N * 55 / 100);
    assert_true(n_https > N * 25 / 100);
    assert_true(n_scan > N * 1 / 100 && n_scan < N * 6 / 100);
    assert_true(n_eph_client > N * 35 / 100);
    /* Zipf: among the hosts of the first 50 flows, the most popular one has
     * far more than its share (uniform over 200000 hosts: ~0.1 flows) */
    size_t best = 0;
    for (size_t k = 0; k < 50; k++) {
        size_t c = 0;
        for (size_t i = 0; i < n_inside; i++)
            c += inside[i] == inside[k];
        if (c > best)
            best = c;
    }
    assert_true(best > N / 100);
    free(inside);
    sim_gen_close(g);
}

static void test_v5_encoder_refuses_what_it_cannot_carry(void **state)
{
    (void)state;
    sim_encoder_options eo = {.boot_ms = T0 - 1000};
    sim_encoder *e = NULL;
    assert_int_equal(sim_encoder_open("v9000", &eo, &e), CF_ERR_USAGE);
    assert_null(e);
    assert_int_equal(sim_encoder_open("v5", &eo, &e), CF_OK);
    flow_record r;
    memset(&r, 0, sizeof(r));
    flow_set_v4(&r, 0x0A000001u, 0x08080808u);
    r.first_ms = r.last_ms = T0;
    r.packets = 1;
    r.bytes = 40;
    uint8_t buf[SIM_MAX_PACKET];
    size_t len = 0, used = 0;
    assert_int_equal(sim_encoder_encode(e, &r, 1, T0, buf, 50, &len, &used), CF_ERR_FULL);
    flow_record v6 = r;
    v6.family = 6;
    v6.src_addr[0] = 0x20;
    assert_int_equal(sim_encoder_encode(e, &v6, 1, T0, buf, sizeof(buf), &len, &used), CF_ERR_RANGE);
    flow_record big = r;
    big.bytes = UINT64_C(1) << 33;
    assert_int_equal(sim_encoder_encode(e, &big, 1, T0, buf, sizeof(buf), &len, &used), CF_ERR_RANGE);
    assert_int_equal(used, 0);
    /* the sequence number counts records: 0, then 1 after one record */
    assert_int_equal(sim_encoder_encode(e, &r, 1, T0, buf, sizeof(buf), &len, &used), CF_OK);
    assert_int_equal(buf[16] | buf[17] | buf[18] | buf[19], 0);
    assert_int_equal(sim_encoder_encode(e, &r, 1, T0, buf, sizeof(buf), &len, &used), CF_OK);
    assert_int_equal(buf[19], 1);
    sim_encoder_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_packets),
        cmocka_unit_test(test_v5_decodes_to_generated_records),
        cmocka_unit_test(test_traffic_is_skewed_like_real_traffic),
        cmocka_unit_test(test_v5_encoder_refuses_what_it_cannot_carry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
