/*
 * tests/decode/test_sflow_sim.c - the simulated sFlow encoder (sim_sflow.c)
 * decodes back to the flows it was given.
 *
 * Records from sim_gen (IPv4 and IPv6, TCP/UDP/ICMP, with MACs and VLANs
 * added) are packed by the "sflow" encoder and decoded by decode_packet();
 * each decoded record must carry the generated record's addresses, ports,
 * protocol, flags, TOS, MACs, VLANs, interfaces, masks, next hop and AS
 * numbers, packets = the sampling rate and bytes = frame length * rate with
 * the frame length documented in sim_sflow.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "decode/decode.h"
#include "sim/sim.h"

#define N_FLOWS 3000
#define RATE 1000

typedef struct sink {
    flow_record recs[16];
    size_t n;
} sink;

static void collect(void *ctx, const flow_record *rec)
{
    sink *s = ctx;
    assert_true(s->n < 16);
    s->recs[s->n++] = *rec;
}

/* The frame length sim_sflow.c announces for r (see its header comment). */
static uint64_t expected_frame_len(const flow_record *r)
{
    uint64_t min = (r->family == 4 ? 20 : 40) +
                   (r->proto == 6 ? 20 : (r->proto == 17 || r->proto == 1 || r->proto == 58) ? 8 : 0);
    uint64_t mean = r->packets ? r->bytes / r->packets : r->bytes;
    uint64_t l3 = mean < min ? min : mean > 65535 ? 65535 : mean;
    return l3 + 18;
}

static void check_same(const flow_record *want, const flow_record *got, uint8_t engine_id)
{
    assert_int_equal(got->family, want->family);
    assert_memory_equal(got->src_addr, want->src_addr, 16);
    assert_memory_equal(got->dst_addr, want->dst_addr, 16);
    assert_int_equal(got->proto, want->proto);
    assert_int_equal(got->src_port, want->src_port);
    assert_int_equal(got->dst_port, want->dst_port);
    if (want->proto == 6)
        assert_int_equal(got->tcp_flags, want->tcp_flags);
    assert_int_equal(got->tos, want->tos);
    assert_int_equal(got->src_mac, want->src_mac);
    assert_int_equal(got->dst_mac, want->dst_mac);
    assert_int_equal(got->src_vlan, want->src_vlan);
    assert_int_equal(got->dst_vlan, want->dst_vlan);
    assert_int_equal(got->in_if, want->in_if);
    assert_int_equal(got->out_if, want->out_if);
    assert_int_equal(got->src_mask, want->src_mask);
    assert_int_equal(got->dst_mask, want->dst_mask);
    assert_memory_equal(got->next_hop, want->next_hop, 16);
    assert_int_equal(got->src_as, want->src_as);
    assert_int_equal(got->dst_as, want->dst_as);
    assert_int_equal(got->packets, RATE);
    assert_int_equal(got->sampling, RATE);
    assert_int_equal(got->bytes, expected_frame_len(want) * RATE);
    assert_int_equal(got->flags, FLOW_F_SFLOW | FLOW_F_SAMPLED);
    assert_int_equal(got->obs_domain, engine_id);
    assert_int_equal(got->exporter_proto, FLOW_PROTO_SFLOW5);
    if (want->proto == 1 || want->proto == 58) {
        assert_int_equal(got->icmp_type, want->dst_port >> 8);
        assert_int_equal(got->icmp_code, want->dst_port & 0xff);
    }
}

static void test_sflow_encoder_round_trip(void **state)
{
    (void)state;
    sim_gen_options go;
    sim_gen_options_default(&go);
    go.seed = 7;
    go.v6_pct = 30;
    sim_gen *g = NULL;
    assert_int_equal(sim_gen_open(&go, &g), CF_OK);
    const uint64_t boot = 1700000000000ull;
    sim_encoder_options eo = {.engine_id = 3, .boot_ms = boot, .sampling_interval = RATE};
    sim_encoder *e = NULL;
    assert_int_equal(sim_encoder_open("sflow", &eo, &e), CF_OK);
    size_t max = sim_encoder_max_records(e);
    assert_true(max >= 1 && max <= 16);
    decode_exporter ex;
    uint8_t addr[16] = {0};
    decode_exporter_init(&ex, addr, 6343);
    flow_record recs[16];
    size_t done = 0, n_v6 = 0, n_packets = 0, protos[256] = {0};
    uint64_t t = boot + 700000;
    while (done < N_FLOWS) {
        for (size_t i = 0; i < max; i++) {
            sim_gen_next(g, t += 3, &recs[i]);
            recs[i].src_mac = 0x020000000000ull | (done + i);
            recs[i].dst_mac = 0x0a0000000000ull | (uint64_t)recs[i].in_if;
            recs[i].src_vlan = (uint16_t)((done + i) % 4095);
            recs[i].dst_vlan = (uint16_t)((done + i + 7) % 4095);
        }
        uint8_t buf[SIM_MAX_PACKET];
        size_t len = 0, used = 0;
        assert_int_equal(sim_encoder_encode(e, recs, max, t, buf, sizeof(buf), &len, &used), CF_OK);
        assert_int_equal(used, max);
        assert_true(len <= SIM_MAX_PACKET);
        sink s = {.n = 0};
        assert_int_equal(decode_packet(&ex, buf, len, t, collect, &s), CF_OK);
        assert_int_equal(s.n, used);
        for (size_t i = 0; i < used; i++) {
            check_same(&recs[i], &s.recs[i], eo.engine_id);
            assert_int_equal(s.recs[i].first_ms, t);
            n_v6 += recs[i].family == 6;
            protos[recs[i].proto]++;
        }
        done += used;
        n_packets++;
    }
    decode_stats st;
    decode_stats_snapshot(&ex, &st);
    assert_int_equal(st.records, done);
    assert_int_equal(st.lost + st.seq_resets, 0); /* datagram sequence numbers run 1, 2, ... */
    assert_int_equal(st.packets, n_packets);
    assert_true(n_v6 > 0 && n_v6 < done);
    assert_true(protos[6] > 0 && protos[17] > 0);
    sim_encoder_close(e);
    sim_gen_close(g);
}

/* A lost datagram shows as stats.lost. */
static void test_sflow_encoder_sequence_gap_counted(void **state)
{
    (void)state;
    sim_gen_options go;
    sim_gen_options_default(&go);
    sim_gen *g = NULL;
    assert_int_equal(sim_gen_open(&go, &g), CF_OK);
    const uint64_t boot = 1700000000000ull;
    sim_encoder_options eo = {.boot_ms = boot};
    sim_encoder *e = NULL;
    assert_int_equal(sim_encoder_open("sflow", &eo, &e), CF_OK);
    decode_exporter ex;
    uint8_t addr[16] = {0};
    decode_exporter_init(&ex, addr, 6343);
    flow_record rec;
    uint64_t t = boot + 700000;
    for (int i = 0; i < 5; i++) {
        sim_gen_next(g, t, &rec);
        uint8_t buf[SIM_MAX_PACKET];
        size_t len, used;
        assert_int_equal(sim_encoder_encode(e, &rec, 1, t, buf, sizeof(buf), &len, &used), CF_OK);
        if (i == 2)
            continue; /* "lost" on the way */
        sink s = {.n = 0};
        assert_int_equal(decode_packet(&ex, buf, len, t, collect, &s), CF_OK);
        assert_int_equal(s.recs[0].sampling, 1000); /* the default rate */
    }
    decode_stats st;
    decode_stats_snapshot(&ex, &st);
    assert_int_equal(st.lost, 1);
    assert_int_equal(st.seq_resets, 0);
    sim_encoder_close(e);
    sim_gen_close(g);
}

int main(void)
{
    cf_log_set_level(CF_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sflow_encoder_round_trip),
        cmocka_unit_test(test_sflow_encoder_sequence_gap_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
