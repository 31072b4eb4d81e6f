/*
 * tests/query/test_query_bidir_rules.c - the rules of -b and -B on known
 * flows (nfdump 1.7.1's, read from its nflowcache.c and checked against the
 * binary in data/bidir): the first flow read gives a record its
 * orientation, the reverse flows are its out counters; TCP flags are ORed
 * over the flows along the orientation and the ToS is the first flow's;
 * only TCP and UDP pair up; -B turns a record client -> server by nfdump's
 * port rule; IPv6; several segments on one or two threads and in passes give
 * the same records; -A and -s are refused; the memory bound of --max-keys.
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
#define WIN UINT64_C(300000)       /* the store's segment window */

static flow_record with(flow_record r, uint8_t flags, uint8_t tos)
{
    r.tcp_flags = flags;
    r.tos = tos;
    return r;
}

static void set_v6(flow_record *r, uint8_t src_last, uint8_t dst_last)
{
    uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8};
    a[15] = src_last;
    memcpy(r->src_addr, a, 16);
    a[15] = dst_last;
    memcpy(r->dst_addr, a, 16);
    r->family = 6;
}

/* Flows over three segment windows; the reverse flows come later. */
static char *rules_store(void)
{
    flow_record r[16];
    size_t n = 0;
    /* a TCP conversation whose first flow runs server -> client */
    r[n++] = with(qt_rec(T0 + 1000, 1000, 0x0a000001, 0x0a000002, 6, 443, 50000, 5, 5000), 0x12, 8);
    r[n++] = with(qt_rec(T0 + 2000, 1000, 0x0a000002, 0x0a000001, 6, 50000, 443, 3, 300), 0x02, 0);
    r[n++] = with(qt_rec(T0 + WIN + 3000, 1000, 0x0a000001, 0x0a000002, 6, 443, 50000, 2, 2000), 0x01, 0);
    /* ICMP request and reply: not paired */
    r[n++] = qt_rec(T0 + 4000, 0, 0x0a000003, 0x0a000004, 1, 0, 0x0800, 1, 84);
    r[n++] = qt_rec(T0 + 2 * WIN + 5000, 0, 0x0a000004, 0x0a000003, 1, 0, 0, 1, 84);
    /* UDP: 53 -> 1024 first, the query later */
    r[n++] = qt_rec(T0 + 6000, 0, 0x0a000005, 0x0a000006, 17, 53, 1024, 1, 100);
    r[n++] = qt_rec(T0 + WIN + 7000, 0, 0x0a000006, 0x0a000005, 17, 1024, 53, 2, 200);
    /* -B: no rule (both >= 49152; equal ports), rule 3, rule 2 */
    r[n++] = qt_rec(T0 + 8000, 0, 0x0a000007, 0x0a000008, 6, 49152, 60000, 1, 40);
    r[n++] = qt_rec(T0 + 9000, 0, 0x0a000009, 0x0a00000a, 6, 1023, 1023, 1, 41);
    r[n++] = qt_rec(T0 + 10000, 0, 0x0a00000b, 0x0a00000c, 6, 40000, 49152, 1, 42);
    r[n++] = qt_rec(T0 + 11000, 0, 0x0a00000d, 0x0a00000e, 6, 1024, 32768, 1, 43);
    /* a flow to itself, twice: both along the orientation */
    r[n++] = qt_rec(T0 + 12000, 0, 0x0a00000f, 0x0a00000f, 17, 5000, 5000, 1, 44);
    r[n++] = qt_rec(T0 + 2 * WIN + 12000, 0, 0x0a00000f, 0x0a00000f, 17, 5000, 5000, 1, 45);
    /* IPv6: client first, then the answer */
    r[n] = qt_rec(T0 + 13000, 500, 0, 0, 6, 40001, 443, 4, 400);
    set_v6(&r[n++], 1, 2);
    r[n] = qt_rec(T0 + WIN + 14000, 500, 0, 0, 6, 443, 40001, 6, 6000);
    set_v6(&r[n++], 2, 1);
    char *dir = tu_mkdtemp("qbr");
    assert_non_null(dir);
    assert_int_equal(qt_write_store(dir, r, n, 4), 0);
    return dir;
}

/* The query's csv records cut to sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,... (first 15 columns
 * without ts, te, td), one per line. */
static char *run_csv(const char *dir, const char *args)
{
    char cmd[512], *out = NULL;
    snprintf(cmd, sizeof(cmd), "-R %s -q -o csv %s", dir, args);
    assert_int_equal(qt_query(cmd, &out, NULL), 0);
    assert_non_null(out);
    char *res = calloc(1, strlen(out) + 1), *w = res;
    assert_non_null(res);
    for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        int commas = 0;
        char *from = NULL;
        for (char *p = l; *p; p++) {
            if (*p != ',')
                continue;
            if (++commas == 3)
                from = p + 1;
            if (commas == 15) {
                *p = '\0';
                break;
            }
        }
        assert_non_null(from);
        w += sprintf(w, "%s\n", from);
    }
    free(out);
    return res;
}

static void test_first_flow_orientation_counters_flags(void **state)
{
    (void)state;
    char *dir = rules_store();
    char *got = run_csv(dir, "-b -T 1");
    const char *want = "10.0.0.1,10.0.0.2,443,50000,TCP,...A..SF,0,8,7,7000,3,300\n"
                       "10.0.0.3,10.0.0.4,0,2048,ICMP,........,0,0,1,84,0,0\n"
                       "10.0.0.5,10.0.0.6,53,1024,UDP,........,0,0,1,100,2,200\n"
                       "10.0.0.7,10.0.0.8,49152,60000,TCP,........,0,0,1,40,0,0\n"
                       "10.0.0.9,10.0.0.10,1023,1023,TCP,........,0,0,1,41,0,0\n"
                       "10.0.0.11,10.0.0.12,40000,49152,TCP,........,0,0,1,42,0,0\n"
                       "10.0.0.13,10.0.0.14,1024,32768,TCP,........,0,0,1,43,0,0\n"
                       "10.0.0.15,10.0.0.15,5000,5000,UDP,........,0,0,2,89,0,0\n"
                       "2001:db8::1,2001:db8::2,40001,443,TCP,........,0,0,4,400,6,6000\n"
                       "10.0.0.4,10.0.0.3,0,0,ICMP,........,0,0,1,84,0,0\n";
    assert_string_equal(got, want);
    free(got);
    tu_rm_rf(dir);
    free(dir);
}

static void test_guess_direction(void **state)
{
    (void)state;
    char *dir = rules_store();
    char *got = run_csv(dir, "-B -T 1");
    const char *want = "10.0.0.2,10.0.0.1,50000,443,TCP,...A..SF,0,8,3,300,7,7000\n"
                       "10.0.0.3,10.0.0.4,0,2048,ICMP,........,0,0,1,84,0,0\n"
                       "10.0.0.6,10.0.0.5,1024,53,UDP,........,0,0,2,200,1,100\n"
                       "10.0.0.7,10.0.0.8,49152,60000,TCP,........,0,0,1,40,0,0\n"
                       "10.0.0.9,10.0.0.10,1023,1023,TCP,........,0,0,1,41,0,0\n"
                       "10.0.0.12,10.0.0.11,49152,40000,TCP,........,0,0,0,0,1,42\n"
                       "10.0.0.14,10.0.0.13,32768,1024,TCP,........,0,0,0,0,1,43\n"
                       "10.0.0.15,10.0.0.15,5000,5000,UDP,........,0,0,2,89,0,0\n"
                       "2001:db8::1,2001:db8::2,40001,443,TCP,........,0,0,4,400,6,6000\n"
                       "10.0.0.4,10.0.0.3,0,0,ICMP,........,0,0,1,84,0,0\n";
    assert_string_equal(got, want);
    free(got);
    tu_rm_rf(dir);
    free(dir);
}

/* Segments on one or two threads, in one or several passes: the same text. */
static void test_threads_and_passes_agree(void **state)
{
    (void)state;
    char *dir = rules_store();
    static const char *const queries[] = {"-b -O bytes -n 4", "-B -O packets -n 3", "-b", "-B -O tstart -n 0"};
    static const char *const ways[] = {"-T 2", "-T 2 --pass-rows 1", "-T 1 --pass-rows 1"};
    for (size_t q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
        char args[256], *one = NULL;
        snprintf(args, sizeof(args), "-R %s -N -o bilong -T 1 %s", dir, queries[q]);
        assert_int_equal(qt_query(args, &one, NULL), 0);
        char *cut = strstr(one, "Sys:");
        assert_non_null(cut);
        *cut = '\0';
        for (size_t k = 0; k < sizeof(ways) / sizeof(ways[0]); k++) {
            char *other = NULL;
            snprintf(args, sizeof(args), "-R %s -N -o bilong %s %s", dir, ways[k], queries[q]);
            assert_int_equal(qt_query(args, &other, NULL), 0);
            cut = strstr(other, "Sys:");
            assert_non_null(cut);
            *cut = '\0';
            assert_string_equal(other, one);
            free(other);
        }
        free(one);
    }
    tu_rm_rf(dir);
    free(dir);
}

static void test_formats(void **state)
{
    (void)state;
    char *dir = rules_store();
    char cmd[512], *out = NULL;
    snprintf(cmd, sizeof(cmd), "-R %s -B -O bytes -n 1", dir);
    assert_int_equal(qt_query(cmd, &out, NULL), 0);
    assert_non_null(strstr(out, "Date first seen             Duration     Proto      Src IP Addr:Port           "
                                "Dst IP Addr:Port   Out Pkt   In Pkt Out Byte  In Byte Flows\n"
                                "2024-01-01 00:00:01.000     00:05:03.000 TCP           10.0.0.2:50000 <->   "
                                "      10.0.0.1:443          7        3     7000      300     3\n"
                                "Summary: total flows: 15, total bytes: 14423, total packets: 31,"));
    free(out);
    /* -o long: nfdump's long with the in counters; the flags along the orientation */
    snprintf(cmd, sizeof(cmd), "-R %s -b -O bytes -n 1 -q -o long", dir);
    assert_int_equal(qt_query(cmd, &out, NULL), 0);
    assert_string_equal(out, "2024-01-01 00:00:01.000     00:05:03.000 TCP           10.0.0.1:443   ->         "
                             "10.0.0.2:50000 ...A..SF   8        7     7000     3\n");
    free(out);
    /* json: in_packets / in_bytes of the orientation */
    snprintf(cmd, sizeof(cmd), "-R %s -b -O bytes -n 1 -q -o ndjson", dir);
    assert_int_equal(qt_query(cmd, &out, NULL), 0);
    assert_non_null(strstr(out, "\"in_packets\":7,\"in_bytes\":7000,\"proto\":6,\"tcp_flags\":\"...A..SF\","
                                "\"src_port\":443,\"dst_port\":50000,\"src_tos\":8,\"src4_addr\":\"10.0.0.1\""));
    free(out);
    /* the formats also without -b: out counters 0 */
    snprintf(cmd, sizeof(cmd), "-R %s -a -O bytes -n 1 -q -o biline", dir);
    assert_int_equal(qt_query(cmd, &out, NULL), 0);
    assert_string_equal(out, "2024-01-01 00:00:01.000     00:05:03.000 TCP           10.0.0.1:443   <->         "
                             "10.0.0.2:50000        0        7        0     7000     2\n");
    free(out);
    tu_rm_rf(dir);
    free(dir);
}

static void test_refused_combinations(void **state)
{
    (void)state;
    char *dir = rules_store();
    static const char *const bad[] = {"-b -A srcip", "-B -s srcip", "-b -s record/bytes", "-b --interval 5m"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char cmd[512], *out = NULL, *err = NULL;
        snprintf(cmd, sizeof(cmd), "-R %s %s", dir, bad[i]);
        assert_int_equal(qt_query(cmd, &out, &err), 2);
        assert_non_null(err);
        assert_non_null(strstr(err, "cloudflow query:"));
        free(out);
        free(err);
    }
    tu_rm_rf(dir);
    free(dir);
}

/* --max-keys bounds the table: the keys seen later are counted as untracked (exit 1). */
static void test_max_keys(void **state)
{
    (void)state;
    char *dir = rules_store();
    char cmd[512], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof(cmd), "-R %s -b -T 1 --max-keys 2 -q -N", dir);
    assert_int_equal(qt_query(cmd, &out, &err), 1);
    assert_non_null(strstr(err, "reached its limit of 2 keys"));
    size_t lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2);
    free(out);
    free(err);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_flow_orientation_counters_flags),
        cmocka_unit_test(test_guess_direction),
        cmocka_unit_test(test_threads_and_passes_agree),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_refused_combinations),
        cmocka_unit_test(test_max_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
