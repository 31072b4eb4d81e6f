/*
 * tests/query/test_query_record.c - `-s record/ORDER` (nfdump's top N
 * aggregated flows): the exact table of known flows, aggregation by the
 * 5-tuple or by -A's keys, several orders (each once, flows before packets
 * before bytes, as nfdump 1.7.1), -q, and the same rows as `-a -O ORDER`.
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
#include "testutil.h"

#define T0 UINT64_C(1704067200000) /* 2024-01-01 00:00:00 UTC */

/* Two flows of one 5-tuple (small), one big flow, one ICMP flow. */
static char *record_store(void)
{
    flow_record r[4];
    r[0] = qt_rec(T0 + 1000, 1000, 0x0a000001, 0x0a000002, 6, 1000, 443, 3, 300);
    r[1] = qt_rec(T0 + 5000, 2000, 0x0a000001, 0x0a000002, 6, 1000, 443, 4, 400);
    r[2] = qt_rec(T0 + 2000, 1000, 0x0a000003, 0x08080808, 17, 5353, 53, 5, 5000);
    r[3] = qt_rec(T0 + 3000, 0, 0x0a000003, 0x01020304, 1, 0, 0x0800, 1, 84);
    char *dir = tu_mkdtemp("qr");
    assert_non_null(dir);
    assert_int_equal(qt_write_store(dir, r, 4, 2), 0);
    return dir;
}

static char *run(const char *dir, const char *args)
{
    char cmd[512], *out = NULL;
    snprintf(cmd, sizeof(cmd), "-R %s %s", dir, args);
    assert_int_equal(qt_query(cmd, &out, NULL), 0);
    assert_non_null(out);
    char *t = strstr(out, "Summary:");
    if (t)
        *t = '\0';
    return out;
}

#define HDR "Date first seen             Duration     Proto      Src IP Addr:Port          Dst IP Addr:Port   Packets    Bytes Flows\n"
#define ROW_TCP "2024-01-01 00:00:01.000     00:00:06.000 TCP           10.0.0.1:1000  ->         10.0.0.2:443          7      700     2\n"
#define ROW_UDP "2024-01-01 00:00:02.000     00:00:01.000 UDP           10.0.0.3:5353  ->          8.8.8.8:53           5     5000     1\n"
#define ROW_ICMP "2024-01-01 00:00:03.000     00:00:00.000 ICMP          10.0.0.3:0     ->          1.2.3.4:8.0          1       84     1\n"

static void test_record_table(void **state)
{
    (void)state;
    char *dir = record_store();
    char *out = run(dir, "-s record/bytes -n 2");
    assert_string_equal(out, "Top 2 flows ordered by bytes:\n" HDR ROW_UDP ROW_TCP);
    free(out);
    /* the default order is flows; -n defaults to 10; ties by key (protocol first) */
    out = run(dir, "-s record");
    assert_string_equal(out, "Top 10 flows ordered by flows:\n" HDR ROW_TCP ROW_ICMP ROW_UDP);
    free(out);
    out = run(dir, "-q -s record/packets -n 1");
    assert_string_equal(out, ROW_TCP);
    free(out);
    tu_rm_rf(dir);
    free(dir);
}

static void test_several_orders_once_each_in_nfdump_order(void **state)
{
    (void)state;
    char *dir = record_store();
    char *out = run(dir, "-s record/bytes/flows -s record/bytes -n 1 -s dstport/bytes");
    assert_string_equal(out, "Top 1 flows ordered by flows:\n" HDR ROW_TCP "Top 1 flows ordered by bytes:\n" HDR ROW_UDP
                             "Top 1 Dst Port ordered by bytes:\n"
                             "Date first seen                 Duration Proto          Dst Port    Flows(%)     "
                             "Packets(%)       Bytes(%)         pps      bps   bpp\n"
                             "2024-01-01 00:00:02.000     00:00:01.000 any                  53        1(25.0)        "
                             "5(38.5)     5000(86.4)        5    40000  1000\n\n");
    free(out);
    tu_rm_rf(dir);
    free(dir);
}

static void test_record_by_aggregation_keys(void **state)
{
    (void)state;
    char *dir = record_store();
    /* -A srcip: the line format with the other fields empty, as nfdump prints it */
    char *out = run(dir, "-A srcip -s record/bytes -n 2");
    assert_string_equal(
        out, "Top 2 flows ordered by bytes:\n" HDR
             "2024-01-01 00:00:02.000     00:00:01.000 0             10.0.0.3:0     ->          0.0.0.0:0            6     5084     2\n"
             "2024-01-01 00:00:01.000     00:00:06.000 0             10.0.0.1:0     ->          0.0.0.0:0            7      700     2\n");
    free(out);
    tu_rm_rf(dir);
    free(dir);
}

static void test_same_rows_as_aggregated_listing(void **state)
{
    (void)state;
    char *dir = record_store();
    static const char *const orders[] = {"flows", "packets", "bytes", "pps", "bps", "bpp"};
    for (size_t i = 0; i < 6; i++) {
        char a[128], b[128];
        snprintf(a, sizeof(a), "-q -T 2 -s record/%s -n 3", orders[i]);
        snprintf(b, sizeof(b), "-q -T 2 -a -O %s -n 3", orders[i]);
        char *x = run(dir, a), *y = run(dir, b);
        assert_string_equal(x, y);
        free(x);
        free(y);
    }
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_table),
        cmocka_unit_test(test_several_orders_once_each_in_nfdump_order),
        cmocka_unit_test(test_record_by_aggregation_keys),
        cmocka_unit_test(test_same_rows_as_aggregated_listing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
