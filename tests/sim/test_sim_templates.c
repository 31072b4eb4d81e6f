/* tests/sim/test_sim_templates.c - the NetFlow v9 and IPFIX encoders of the
 * simulated exporter: their packets decode to exactly the generated records
 * (IPv4 and IPv6 mixed, templates resent, sequence numbers without loss),
 * the announced sampling interval is applied, and what they cannot carry is
 * refused. */
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
#define N_PACKETS 120

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

static const char *first_difference(const flow_record *a, const flow_record *b)
{
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        if (memcmp((const char *)a + f->offset, (const char *)b + f->offset, f->width) != 0)
            return f->name;
    }
    return NULL;
}

/* Generates, encodes and decodes N_PACKETS packets of proto; checks every
 * record against the generated one. */
static void round_trip(const char *proto, uint16_t sampling)
{
    sim_gen_options go;
    sim_gen_options_default(&go);
    go.seed = 11;
    go.v6_pct = 30;
    sim_gen *g = NULL;
    assert_int_equal(sim_gen_open(&go, &g), CF_OK);
    sim_encoder_options eo = {.engine_id = 7, .boot_ms = T0 - 86400000u, .sampling_interval = sampling};
    sim_encoder *e = NULL;
    assert_int_equal(sim_encoder_open(proto, &eo, &e), CF_OK);
    size_t max = sim_encoder_max_records(e);
    assert_true(max >= 1);
    flow_record *gen = calloc(N_PACKETS * max, sizeof(flow_record));
    collected got = {calloc(N_PACKETS * max, sizeof(flow_record)), 0, N_PACKETS * max};
    uint8_t *pkt = malloc(SIM_MAX_PACKET);
    assert_true(gen && got.recs && pkt);
    decode_exporter ex;
    uint8_t exporter[16];
    flow_addr_from_v4(exporter, 0xC0000201u);
    decode_exporter_init(&ex, exporter, 9999);
    size_t n_gen = 0;
    for (size_t i = 0; i < N_PACKETS; i++) {
        for (size_t k = 0; k < max; k++)
            sim_gen_next(g, T0 + (uint64_t)(n_gen + k) * 41 + 333, &gen[n_gen + k]);
        size_t len = 0, used = 0;
        uint64_t export_ms = gen[n_gen + max - 1].last_ms + 7;
        assert_int_equal(sim_encoder_encode(e, &gen[n_gen], max, export_ms, pkt, SIM_MAX_PACKET, &len, &used),
                         CF_OK);
        assert_int_equal(used, max);
        assert_true(len <= SIM_MAX_PACKET);
        assert_int_equal(decode_packet(&ex, pkt, len, export_ms, collect_rec, &got), CF_OK);
        n_gen += max;
    }
    assert_int_equal(got.n, n_gen);
    decode_stats st;
    decode_stats_snapshot(&ex, &st);
    assert_int_equal(st.lost, 0);
    assert_int_equal(st.seq_resets, 0);
    decode_tpl_stats ts;
    decode_tpl_stats_snapshot(&ex, &ts);
    assert_true(ts.templates_refreshed > 0); /* templates were resent */
    assert_int_equal(ts.sampling_unknown, 0);
    size_t n_v6 = 0;
    uint32_t rate = sampling > 1 ? sampling : 1;
    for (size_t i = 0; i < got.n; i++) {
        flow_record want = gen[i];
        n_v6 += want.family == 6;
        memcpy(want.exporter, exporter, 16);
        want.exporter_proto = strcmp(proto, "v9") == 0 ? FLOW_PROTO_NETFLOW9 : FLOW_PROTO_IPFIX;
        want.obs_domain = 7;
        want.sampling = rate;
        want.packets *= rate;
        want.bytes *= rate;
        want.flags = rate > 1 ? FLOW_F_SAMPLED : 0;
        want.received_ms = gen[i / max * max + max - 1].last_ms + 7; /* its packet's (decoded at export_ms) */
        if (want.proto == 1 || want.proto == 58) {
            want.icmp_type = (uint8_t)(want.dst_port >> 8);
            want.icmp_code = (uint8_t)want.dst_port;
        }
        const char *diff = first_difference(&want, &got.recs[i]);
        if (diff)
            fail_msg("%s record %zu differs in field %s", proto, i, diff);
    }
    assert_true(n_v6 > 0 && n_v6 < got.n);
    decode_exporter_free(&ex);
    sim_encoder_close(e);
    sim_gen_close(g);
    free(gen);
    free(got.recs);
    free(pkt);
}

static void test_v9_decodes_to_generated_records(void **state)
{
    (void)state;
    round_trip("v9", 0);
}

static void test_ipfix_decodes_to_generated_records(void **state)
{
    (void)state;
    round_trip("ipfix", 0);
}

static void test_sampling_interval_is_announced(void **state)
{
    (void)state;
    round_trip("v9", 100);
    round_trip("ipfix", 1000);
}

static void test_refuses_what_it_cannot_carry(void **state)
{
    (void)state;
    const char *protos[] = {"v9", "ipfix"};
    for (size_t p = 0; p < 2; p++) {
        sim_encoder_options eo = {.boot_ms = T0 - 1000};
        sim_encoder *e = NULL;
        assert_int_equal(sim_encoder_open(protos[p], &eo, &e), CF_OK);
        flow_record r = {0};
        r.family = 4;
        flow_addr_from_v4(r.src_addr, 0x0a000001u);
        flow_addr_from_v4(r.dst_addr, 0x0a000002u);
        r.first_ms = r.last_ms = T0;
        uint8_t buf[SIM_MAX_PACKET];
        size_t len, used;
        assert_int_equal(sim_encoder_encode(e, &r, 1, T0, buf, 40, &len, &used), CF_ERR_FULL);
        flow_record bad = r;
        bad.family = 6; /* IPv4-mapped addresses in an IPv6 record */
        assert_int_equal(sim_encoder_encode(e, &bad, 1, T0, buf, sizeof(buf), &len, &used), CF_ERR_RANGE);
        assert_int_equal(sim_encoder_encode(e, &r, 1, T0, buf, sizeof(buf), &len, &used), CF_OK);
        assert_int_equal(used, 1);
        sim_encoder_close(e);
    }
}

int main(void)
{
    cf_log_set_level(CF_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v9_decodes_to_generated_records),
        cmocka_unit_test(test_ipfix_decodes_to_generated_records),
        cmocka_unit_test(test_sampling_interval_is_announced),
        cmocka_unit_test(test_refuses_what_it_cannot_carry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
