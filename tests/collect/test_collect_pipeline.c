/* tests/collect/test_collect_pipeline.c - the pipeline in-process: every
 * record decoded is stored or counted as dropped; the exporter table is
 * bounded; the stats file round-trips. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/pipeline.h"
#include "ctest_util.h"
#include "sim/sim.h"
#include "testutil.h"

#define T0 UINT64_C(1704067200000) /* 2024-01-01 00:00 UTC */

/* Builds n_packets v5 packets (30 flows each) of one simulated exporter and
 * hands them to p as coming from 127.0.0.1:port; returns the flows. */
static uint64_t feed_exporter(collect_pipeline *p, uint16_t port, int n_packets, uint64_t seed)
{
    sim_gen_options go;
    sim_gen_options_default(&go);
    go.seed = seed;
    sim_gen *g = NULL;
    assert_int_equal(sim_gen_open(&go, &g), CF_OK);
    sim_encoder_options eo = {.boot_ms = T0 - 86400000u};
    sim_encoder *e = NULL;
    assert_int_equal(sim_encoder_open("v5", &eo, &e), CF_OK);
    uint8_t addr[16];
    flow_addr_from_v4(addr, 0x7f000001u);
    uint64_t flows = 0;
    for (int i = 0; i < n_packets; i++) {
        flow_record recs[30];
        for (int k = 0; k < 30; k++)
            sim_gen_next(g, T0 + (uint64_t)(i * 30 + k) * 10, &recs[k]);
        uint8_t buf[SIM_MAX_PACKET];
        size_t len, used;
        assert_int_equal(sim_encoder_encode(e, recs, 30, recs[29].last_ms, buf, sizeof(buf), &len, &used), CF_OK);
        collect_pipeline_packet(p, addr, port, buf, len, T0);
        flows += used;
    }
    sim_encoder_close(e);
    sim_gen_close(g);
    return flows;
}

static collect_pipeline *open_pipeline(const char *data, uint32_t max_exporters, uint32_t queue, uint32_t batch,
                                       int block)
{
    collect_pipeline_options o;
    collect_pipeline_options_default(&o);
    o.data_dir = data;
    o.max_exporters = max_exporters;
    o.queue_size = queue;
    o.batch_records = batch;
    o.block_when_full = block;
    o.log_interval_ms = 0;
    collect_pipeline *p = NULL;
    char err[512];
    assert_int_equal(collect_pipeline_open(&o, &p, err, sizeof(err)), CF_OK);
    return p;
}

static void test_exporter_limit_and_counts(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("pipe");
    assert_non_null(dir);
    collect_pipeline *p = open_pipeline(dir, 2, 16, 1024, 0);
    uint64_t f1 = feed_exporter(p, 5001, 40, 1);
    uint64_t f2 = feed_exporter(p, 5002, 25, 2);
    uint64_t f3 = feed_exporter(p, 5003, 7, 3); /* beyond max-exporters */
    uint8_t junk[3] = {0, 5, 0};
    uint8_t addr[16];
    flow_addr_from_v4(addr, 0x7f000001u);
    collect_pipeline_packet(p, addr, 5001, junk, sizeof(junk), T0);
    collect_snapshot s;
    assert_int_equal(collect_pipeline_close(p, &s), CF_OK);
    assert_int_equal(f3, 7 * 30);
    assert_int_equal(s.totals.exporters, 2);
    assert_int_equal(s.totals.exporter_limit_drops, 7);
    assert_int_equal(s.totals.datagrams, 40 + 25 + 7 + 1);
    assert_int_equal(s.totals.records, f1 + f2);
    assert_int_equal(s.totals.store_written, f1 + f2);
    assert_int_equal(s.totals.malformed[DECODE_BAD_SHORT], 1);
    /* memory is reported: resident now, and a peak at least as high */
    assert_true(s.totals.rss_bytes > 0);
    assert_true(s.totals.rss_peak_bytes >= s.totals.rss_bytes);
    assert_int_equal(s.n_exporters, 2);
    assert_int_equal(s.exporters[0].port, 5001);
    assert_int_equal(s.exporters[0].s.records, f1);
    assert_int_equal(s.exporters[1].s.records, f2);

    /* the stats file holds the same, and reads back */
    char path[4200], err[512];
    snprintf(path, sizeof(path), "%s/stats.tsv", dir);
    collect_snapshot r;
    assert_int_equal(collect_stats_read(path, &r, err, sizeof(err)), CF_OK);
    assert_memory_equal(&r.totals, &s.totals, sizeof(r.totals));
    assert_int_equal(r.n_exporters, 2);
    assert_memory_equal(r.exporters[1].addr, s.exporters[1].addr, 16);
    assert_memory_equal(&r.exporters[1].s, &s.exporters[1].s, sizeof(decode_stats));
    collect_snapshot_free(&r);
    collect_snapshot_free(&s);

    ct_store_sum sum;
    assert_int_equal(ct_store_read(dir, &sum), 0);
    assert_int_equal(sum.errors, 0);
    assert_int_equal(sum.flows, f1 + f2);
    tu_rm_rf(dir);
    free(dir);
}

static void test_full_queue_drops_are_counted(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("pipe-q");
    assert_non_null(dir);
    /* one-record batches through a one-slot queue: the producer outruns the writer */
    collect_pipeline *p = open_pipeline(dir, 4, 1, 1, 0);
    uint64_t flows = feed_exporter(p, 6000, 400, 9);
    collect_snapshot s;
    assert_int_equal(collect_pipeline_close(p, &s), CF_OK);
    assert_int_equal(s.totals.records, flows);
    assert_int_equal(s.totals.queue_drop_records, s.totals.queue_drop_batches);
    assert_int_equal(s.totals.store_written + s.totals.queue_drop_records, flows);
    ct_store_sum sum;
    assert_int_equal(ct_store_read(dir, &sum), 0);
    assert_int_equal(sum.flows, s.totals.store_written);
    fprintf(stderr, "one-slot queue: %llu of %llu records dropped and counted\n",
            (unsigned long long)s.totals.queue_drop_records, (unsigned long long)flows);
    collect_snapshot_free(&s);
    tu_rm_rf(dir);
    free(dir);
}

static void test_blocking_queue_loses_nothing(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("pipe-b");
    assert_non_null(dir);
    collect_pipeline *p = open_pipeline(dir, 4, 1, 1, 1);
    uint64_t flows = feed_exporter(p, 6001, 200, 10);
    collect_snapshot s;
    assert_int_equal(collect_pipeline_close(p, &s), CF_OK);
    assert_int_equal(s.totals.queue_drop_records, 0);
    assert_int_equal(s.totals.store_written, flows);
    collect_snapshot_free(&s);
    tu_rm_rf(dir);
    free(dir);
}

static void test_bad_options_and_dirs(void **state)
{
    (void)state;
    collect_pipeline_options o;
    collect_pipeline_options_default(&o);
    collect_pipeline *p = NULL;
    char err[512];
    o.data_dir = "/proc/cloudflow-cannot-create";
    assert_int_equal(collect_pipeline_open(&o, &p, err, sizeof(err)), CF_ERR_IO);
    assert_null(p);
    assert_non_null(strstr(err, "/proc/cloudflow-cannot-create"));
    o.data_dir = "/tmp";
    o.queue_size = 0;
    assert_int_equal(collect_pipeline_open(&o, &p, err, sizeof(err)), CF_ERR_RANGE);
    assert_null(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exporter_limit_and_counts),
        cmocka_unit_test(test_full_queue_drops_are_counted),
        cmocka_unit_test(test_blocking_queue_loses_nothing),
        cmocka_unit_test(test_bad_options_and_dirs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
