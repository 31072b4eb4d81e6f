/*
 * tests/query/test_query_series.c - the time series (--interval,
 * query_series_run): bins of known flows, the protocol split, empty bins,
 * alignment to the -t window, the filter, --spread conserving packets and
 * bytes, sums equal to the totals on random data with several threads, and
 * the CLI's formats and usage errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "qtest.h"
#include "query/query.h"
#include "query/series.h"
#include "testutil.h"

#define T0 UINT64_C(1704067200000) /* 2024-01-01 00:00:00 UTC */
#define MIN UINT64_C(60000)

static char *store_of(const flow_record *r, size_t n, uint32_t block)
{
    char *dir = tu_mkdtemp("qs");
    assert_non_null(dir);
    assert_int_equal(qt_write_store(dir, r, n, block), 0);
    return dir;
}

static cf_err series(const char *dir, uint64_t interval_ms, bool spread, uint64_t from, uint64_t to,
                     const char *filter, unsigned threads, query_series *s, query_result *res)
{
    query_options o;
    query_options_init(&o);
    o.paths[o.n_paths++] = dir;
    o.interval_ms = interval_ms;
    o.spread = spread;
    if (from)
        o.from_ms = from;
    if (to)
        o.to_ms = to;
    o.filter = filter;
    o.n_threads = threads;
    memset(s, 0, sizeof(*s));
    return query_series_run(&o, s, stderr, res);
}

static void assert_bin(const query_bin *b, uint64_t start, uint64_t flows, uint64_t packets, uint64_t bytes)
{
    assert_int_equal(b->start_ms, start);
    assert_int_equal(b->flows, flows);
    assert_int_equal(b->packets, packets);
    assert_int_equal(b->bytes, bytes);
}

/* The four protocol classes add up to the bin's totals. */
static void assert_classes_sum(const query_bin *b)
{
    uint64_t f = 0, p = 0, y = 0;
    for (int c = 0; c < 4; c++) {
        f += b->proto[c][QUERY_CNT_FLOWS];
        p += b->proto[c][QUERY_CNT_PACKETS];
        y += b->proto[c][QUERY_CNT_BYTES];
    }
    assert_int_equal(f, b->flows);
    assert_int_equal(p, b->packets);
    assert_int_equal(y, b->bytes);
}

/* tcp at 0:00:01, udp at 0:04, (nothing 0:05-0:10), icmp at 0:12, gre at 0:13 */
static char *known_store(void)
{
    flow_record r[4];
    r[0] = qt_rec(T0 + 1000, 2000, 0x0a000001, 0x0a000002, 6, 1000, 443, 10, 1000);
    r[1] = qt_rec(T0 + 4 * MIN, 30000, 0x0a000001, 0x08080808, 17, 5353, 53, 2, 200);
    r[2] = qt_rec(T0 + 12 * MIN, 0, 0x0a000003, 0x01020304, 1, 0, 0x0800, 1, 84);
    r[3] = qt_rec(T0 + 13 * MIN, 1000, 0x0a000004, 0x01020305, 47, 0, 0, 5, 5000);
    return store_of(r, 4, 2);
}

static void test_bins_protocols_and_empty_bins(void **state)
{
    (void)state;
    char *dir = known_store();
    query_series s;
    query_result res;
    assert_int_equal(series(dir, 5 * MIN, false, 0, 0, NULL, 2, &s, &res), CF_OK);
    assert_int_equal(s.interval_ms, 5 * MIN);
    assert_int_equal(s.n_bins, 3);
    assert_bin(&s.bins[0], T0, 2, 12, 1200);
    assert_bin(&s.bins[1], T0 + 5 * MIN, 0, 0, 0); /* empty bin inside the data's range */
    assert_bin(&s.bins[2], T0 + 10 * MIN, 2, 6, 5084);
    assert_int_equal(s.bins[0].proto[QUERY_PROTO_TCP][QUERY_CNT_BYTES], 1000);
    assert_int_equal(s.bins[0].proto[QUERY_PROTO_UDP][QUERY_CNT_FLOWS], 1);
    assert_int_equal(s.bins[0].proto[QUERY_PROTO_UDP][QUERY_CNT_PACKETS], 2);
    assert_int_equal(s.bins[2].proto[QUERY_PROTO_ICMP][QUERY_CNT_BYTES], 84);
    assert_int_equal(s.bins[2].proto[QUERY_PROTO_OTHER][QUERY_CNT_FLOWS], 1);
    assert_int_equal(s.bins[2].proto[QUERY_PROTO_OTHER][QUERY_CNT_BYTES], 5000);
    for (size_t i = 0; i < s.n_bins; i++)
        assert_classes_sum(&s.bins[i]);
    assert_bin(&s.total, T0, 4, 18, 6284);
    assert_int_equal(res.flows, 4);
    assert_int_equal(res.bytes, 6284);
    query_series_free(&s);
    tu_rm_rf(dir);
    free(dir);
}

static void test_window_aligns_bins_and_keeps_empty_ones(void **state)
{
    (void)state;
    char *dir = known_store();
    query_series s;
    /* 0:03 .. 0:27: bins 0:00 (aligned down) .. 0:25, only the udp and icmp/gre flows inside */
    assert_int_equal(series(dir, 5 * MIN, false, T0 + 3 * MIN, T0 + 27 * MIN, NULL, 1, &s, NULL), CF_OK);
    assert_int_equal(s.n_bins, 6);
    assert_bin(&s.bins[0], T0, 1, 2, 200);
    assert_bin(&s.bins[1], T0 + 5 * MIN, 0, 0, 0);
    assert_bin(&s.bins[2], T0 + 10 * MIN, 2, 6, 5084);
    for (size_t i = 3; i < 6; i++)
        assert_bin(&s.bins[i], T0 + (5 * i) * MIN, 0, 0, 0);
    query_series_free(&s);
    /* a window without any flow: its bins, all zero */
    assert_int_equal(series(dir, 10 * MIN, false, T0 + 60 * MIN, T0 + 90 * MIN, NULL, 1, &s, NULL), CF_OK);
    assert_int_equal(s.n_bins, 3);
    assert_bin(&s.bins[0], T0 + 60 * MIN, 0, 0, 0);
    assert_bin(&s.bins[2], T0 + 80 * MIN, 0, 0, 0);
    query_series_free(&s);
    tu_rm_rf(dir);
    free(dir);
}

static void test_filter_applies(void **state)
{
    (void)state;
    char *dir = known_store();
    query_series s;
    assert_int_equal(series(dir, 5 * MIN, false, 0, 0, "proto icmp or proto 47", 2, &s, NULL), CF_OK);
    assert_int_equal(s.n_bins, 1); /* the data's range is that of the matching flows */
    assert_bin(&s.bins[0], T0 + 10 * MIN, 2, 6, 5084);
    query_series_free(&s);
    assert_int_equal(series(dir, 5 * MIN, false, 0, 0, "proto icmp and proto udp", 2, &s, NULL), CF_OK);
    assert_int_equal(s.n_bins, 0);
    assert_null(s.bins);
    query_series_free(&s);
    assert_int_equal(series(dir, 5 * MIN, false, 0, 0, "proto nonsense", 2, &s, NULL), CF_ERR_USAGE);
    tu_rm_rf(dir);
    free(dir);
}

static void test_spread_conserves_packets_and_bytes(void **state)
{
    (void)state;
    flow_record r[2];
    /* 0:04 .. 0:11 (7 minutes): 1 min in bin 0:00, 5 in 0:05, 1 in 0:10 */
    r[0] = qt_rec(T0 + 4 * MIN, 7 * MIN, 0x0a000001, 0x0a000002, 6, 1000, 443, 7, 700);
    /* 0:09:59 .. 0:10:01: 1 s in each of two bins; 3 bytes do not halve evenly */
    r[1] = qt_rec(T0 + 10 * MIN - 1000, 2000, 0x0a000001, 0x0a000002, 17, 1000, 53, 1, 3);
    char *dir = store_of(r, 2, 64);
    query_series s;
    query_result res;
    assert_int_equal(series(dir, 5 * MIN, true, 0, 0, NULL, 1, &s, &res), CF_OK);
    assert_true(s.spread);
    assert_int_equal(s.n_bins, 3);
    assert_bin(&s.bins[0], T0, 1, 1, 100);
    assert_bin(&s.bins[1], T0 + 5 * MIN, 1, 5 + 0, 500 + 1);
    assert_bin(&s.bins[2], T0 + 10 * MIN, 0, 1 + 1, 100 + 2);
    assert_int_equal(s.total.flows, res.flows);
    assert_int_equal(s.total.packets, res.packets);
    assert_int_equal(s.total.bytes, res.bytes);
    for (size_t i = 0; i < s.n_bins; i++)
        assert_classes_sum(&s.bins[i]);
    query_series_free(&s);
    /* without --spread everything is in the first bin of each flow */
    assert_int_equal(series(dir, 5 * MIN, false, 0, 0, NULL, 1, &s, NULL), CF_OK);
    assert_int_equal(s.n_bins, 2);
    assert_bin(&s.bins[0], T0, 1, 7, 700);
    assert_bin(&s.bins[1], T0 + 5 * MIN, 1, 1, 3);
    query_series_free(&s);
    tu_rm_rf(dir);
    free(dir);
}

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void test_random_data_sums_equal_totals(void **state)
{
    (void)state;
    enum { N = 6000, BINS = 25 };
    static const uint8_t protos[5] = {6, 17, 1, 58, 50};
    flow_record *r = calloc(N, sizeof(*r));
    assert_non_null(r);
    uint64_t x = 88172645463325252ull, want[BINS][4][3] = {{{0}}};
    for (size_t i = 0; i < N; i++) { /* sorted by time as a collector stores them */
        uint64_t first = T0 + (uint64_t)i * (2 * 60 * MIN / N), dur = rnd(&x) % (20 * MIN);
        uint8_t pr = protos[rnd(&x) % 5];
        r[i] = qt_rec(first, dur, (uint32_t)rnd(&x), (uint32_t)rnd(&x), pr, 1, 2, 1 + rnd(&x) % 1000,
                      40 + rnd(&x) % 1000000);
        int c = pr == 6 ? 0 : pr == 17 ? 1 : pr == 1 || pr == 58 ? 2 : 3;
        size_t k = (first - T0) / (5 * MIN);
        want[k][c][0]++;
        want[k][c][1] += r[i].packets;
        want[k][c][2] += r[i].bytes;
    }
    char *dir = store_of(r, N, 256);
    for (unsigned threads = 1; threads <= 2; threads++) {
        query_series s;
        query_result res;
        assert_int_equal(series(dir, 5 * MIN, false, 0, 0, NULL, threads, &s, &res), CF_OK);
        assert_int_equal(s.n_bins, 24);
        for (size_t k = 0; k < s.n_bins; k++) {
            assert_int_equal(s.bins[k].start_ms, T0 + k * 5 * MIN);
            for (int c = 0; c < 4; c++)
                for (int j = 0; j < 3; j++)
                    assert_int_equal(s.bins[k].proto[c][j], want[k][c][j]);
            assert_classes_sum(&s.bins[k]);
        }
        assert_int_equal(s.total.flows, N);
        assert_int_equal(s.total.packets, res.packets);
        assert_int_equal(s.total.bytes, res.bytes);
        query_series_free(&s);
        /* spread: more bins (flows run up to 20 min past their start), the same sums */
        assert_int_equal(series(dir, 5 * MIN, true, 0, 0, NULL, threads, &s, &res), CF_OK);
        assert_true(s.n_bins > 24 && s.n_bins <= 29);
        uint64_t f = 0, p = 0, b = 0;
        for (size_t k = 0; k < s.n_bins; k++) {
            f += s.bins[k].flows, p += s.bins[k].packets, b += s.bins[k].bytes;
            assert_classes_sum(&s.bins[k]);
        }
        assert_int_equal(f, N);
        assert_int_equal(p, res.packets);
        assert_int_equal(b, res.bytes);
        query_series_free(&s);
    }
    tu_rm_rf(dir);
    free(dir);
    free(r);
}

static void test_cli_formats_and_usage(void **state)
{
    (void)state;
    char *dir = known_store();
    char cmd[512], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof(cmd), "-R %s --interval 5m -o csv", dir);
    assert_int_equal(qt_query(cmd, &out, NULL), 0);
    assert_string_equal(
        out,
        "ts,ts_ms,flows,packets,bytes,tcp_flows,tcp_packets,tcp_bytes,udp_flows,udp_packets,udp_bytes,"
        "icmp_flows,icmp_packets,icmp_bytes,other_flows,other_packets,other_bytes\n"
        "2024-01-01 00:00:00,1704067200000,2,12,1200,1,10,1000,1,2,200,0,0,0,0,0,0\n"
        "2024-01-01 00:05:00,1704067500000,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0\n"
        "2024-01-01 00:10:00,1704067800000,2,6,5084,0,0,0,0,0,0,1,1,84,1,5,5000\n");
    free(out);
    snprintf(cmd, sizeof(cmd), "-R %s --interval 10m -o json 'proto udp'", dir);
    assert_int_equal(qt_query(cmd, &out, NULL), 0);
    assert_string_equal(out, "[\n{\"ts\":\"2024-01-01T00:00:00.000Z\",\"ts_ms\":1704067200000,\"interval_ms\":600000,"
                             "\"flows\":1,\"packets\":2,\"bytes\":200,\"tcp\":{\"flows\":0,\"packets\":0,\"bytes\":0},"
                             "\"udp\":{\"flows\":1,\"packets\":2,\"bytes\":200},\"icmp\":{\"flows\":0,\"packets\":0,"
                             "\"bytes\":0},\"other\":{\"flows\":0,\"packets\":0,\"bytes\":0}}\n]\n");
    free(out);
    snprintf(cmd, sizeof(cmd), "-R %s --interval 300 -N", dir);
    assert_int_equal(qt_query(cmd, &out, NULL), 0);
    assert_non_null(strstr(out, "Time series: 3 bins of 5m (UTC), flows by first seen\n"));
    assert_non_null(strstr(out, "\n2024-01-01 00:05:00        0        0        0 |"));
    assert_non_null(strstr(out, "Summary: total flows: 4, total bytes: 6284,"));
    free(out);
    snprintf(cmd, sizeof(cmd), "-R %s --spread", dir);
    assert_int_equal(qt_query(cmd, NULL, &err), 2);
    assert_non_null(strstr(err, "--spread needs --interval"));
    free(err);
    snprintf(cmd, sizeof(cmd), "-R %s --interval 5m -s srcip", dir);
    assert_int_equal(qt_query(cmd, NULL, &err), 2);
    free(err);
    snprintf(cmd, sizeof(cmd), "-R %s --interval 0", dir);
    assert_int_equal(qt_query(cmd, NULL, &err), 2);
    free(err);
    snprintf(cmd, sizeof(cmd), "-R %s --interval 1s -t 2020/01/01-2024/01/01", dir);
    assert_int_equal(qt_query(cmd, NULL, &err), 2);
    assert_non_null(strstr(err, "more than"));
    free(err);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bins_protocols_and_empty_bins),
        cmocka_unit_test(test_window_aligns_bins_and_keeps_empty_ones),
        cmocka_unit_test(test_filter_applies),
        cmocka_unit_test(test_spread_conserves_packets_and_bytes),
        cmocka_unit_test(test_random_data_sums_equal_totals),
        cmocka_unit_test(test_cli_formats_and_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
