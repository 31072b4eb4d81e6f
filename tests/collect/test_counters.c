/* tests/collect/test_counters.c - the interface counter store: round trip,
 * torn tail, damaged records, rates (wraps, resets), and `cloudflow
 * counters` on a real sFlow capture and on a damaged file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/counters.h"
#include "testutil.h"

#define DAY_MS UINT64_C(86400000)
#define T0 (UINT64_C(1700000000000) / DAY_MS * DAY_MS + 3600000) /* 01:00 UTC of some day */

static counters_record sample(uint64_t t, uint32_t uptime, uint32_t ifi, uint64_t in_oct, uint64_t out_oct,
                              uint64_t in_pk, uint64_t out_pk)
{
    counters_record r;
    memset(&r, 0, sizeof(r));
    r.time_ms = t;
    r.agent[10] = r.agent[11] = 0xff;
    r.agent[12] = 192, r.agent[13] = 0, r.agent[14] = 2, r.agent[15] = 1;
    memcpy(r.exporter, r.agent, 16);
    r.uptime_ms = uptime;
    r.if_index = ifi;
    r.if_type = 6;
    r.if_speed = 1000000000;
    r.if_status = 3;
    r.flags = COUNTERS_F_GENERIC;
    r.in_octets = in_oct, r.out_octets = out_oct, r.in_packets = in_pk, r.out_packets = out_pk;
    return r;
}

/* Path of the day file of T0 under source dir src. */
static void day_file(const char *src, char *buf, size_t len)
{
    time_t t = (time_t)(T0 / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, len, "%s/counters/%04d/%02d/%02d/ctr-%04d%02d%02d.dat", src, tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

static void write_samples(const char *src, const counters_record *recs, size_t n)
{
    counters_writer *w = NULL;
    assert_int_equal(counters_writer_open(src, &w), CF_OK);
    assert_int_equal(counters_writer_append(w, recs, n), CF_OK);
    counters_writer_stats st;
    counters_writer_get_stats(w, &st);
    assert_int_equal(st.records_written, n);
    assert_int_equal(counters_writer_close(w), CF_OK);
}

static void test_roundtrip_and_listing(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("ctr-rt");
    assert_non_null(dir);
    counters_record in[3] = {sample(T0, 1000, 1, 10, 20, 1, 2), sample(T0 + 30000, 31000, 1, 110, 220, 3, 4),
                             sample(T0 + DAY_MS, 86401000, 2, 5, 6, 7, 8)};
    in[1].in_errors = 7, in[1].out_discards = 9, in[1].sub_agent = 3, in[1].sample_seq = 42;
    write_samples(dir, in, 3);
    char **paths = NULL;
    size_t n = 0;
    assert_int_equal(counters_list(dir, 0, UINT64_MAX, &paths, &n), CF_OK);
    assert_int_equal(n, 2); /* two days */
    counters_reader *r = NULL;
    assert_int_equal(counters_reader_open(paths[0], &r), CF_OK);
    assert_int_equal(counters_reader_day(r), T0 / DAY_MS);
    counters_record out;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(counters_reader_next(r, &out), CF_OK);
        assert_memory_equal(&out, &in[i], sizeof(out) - 0);
    }
    assert_int_equal(counters_reader_next(r, &out), CF_ERR_EOF);
    assert_false(counters_reader_torn(r));
    counters_reader_close(r);
    counters_paths_free(paths, n);
    /* a window of the second day only */
    assert_int_equal(counters_list(dir, T0 + DAY_MS, UINT64_MAX, &paths, &n), CF_OK);
    assert_int_equal(n, 1);
    counters_paths_free(paths, n);
    tu_rm_rf(dir);
    free(dir);
}

static void test_torn_tail_ignored_then_cut(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("ctr-torn");
    assert_non_null(dir);
    counters_record a = sample(T0, 1000, 1, 10, 20, 1, 2), b = sample(T0 + 1000, 2000, 1, 11, 21, 2, 3);
    write_samples(dir, &a, 1);
    char path[4300];
    day_file(dir, path, sizeof(path));
    /* a crash in the middle of the next record */
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    uint8_t part[50];
    memset(part, 0xab, sizeof(part));
    assert_int_equal(write(fd, part, sizeof(part)), (ssize_t)sizeof(part));
    close(fd);
    counters_reader *r = NULL;
    counters_record out;
    assert_int_equal(counters_reader_open(path, &r), CF_OK);
    assert_int_equal(counters_reader_next(r, &out), CF_OK);
    assert_int_equal(counters_reader_next(r, &out), CF_ERR_EOF);
    assert_true(counters_reader_torn(r));
    counters_reader_close(r);
    /* the next writer cuts the tail and appends after the whole record */
    write_samples(dir, &b, 1);
    assert_int_equal(counters_reader_open(path, &r), CF_OK);
    assert_int_equal(counters_reader_next(r, &out), CF_OK);
    assert_int_equal(counters_reader_next(r, &out), CF_OK);
    assert_int_equal(out.in_octets, 11);
    assert_int_equal(counters_reader_next(r, &out), CF_ERR_EOF);
    assert_false(counters_reader_torn(r));
    counters_reader_close(r);
    tu_rm_rf(dir);
    free(dir);
}

static void test_damaged_record_skipped_with_offset(void **state)
{
    (void)state;
    uint8_t buf[COUNTERS_HEADER_LEN + 3 * COUNTERS_RECORD_LEN];
    counters_header_encode((uint32_t)(T0 / DAY_MS), buf);
    for (int i = 0; i < 3; i++) {
        counters_record r = sample(T0 + (uint64_t)i * 1000, 1000 + (uint32_t)i * 1000, 1, (uint64_t)i, 0, 0, 0);
        counters_record_encode(&r, buf + COUNTERS_HEADER_LEN + i * COUNTERS_RECORD_LEN);
    }
    buf[COUNTERS_HEADER_LEN + COUNTERS_RECORD_LEN + 85] ^= 1; /* one bit of record 1 */
    counters_reader *r = NULL;
    counters_record out;
    assert_int_equal(counters_reader_open_mem(buf, sizeof(buf), &r), CF_OK);
    assert_int_equal(counters_reader_next(r, &out), CF_OK);
    assert_int_equal(counters_reader_next(r, &out), CF_ERR_CORRUPT);
    assert_int_equal(counters_reader_offset(r), COUNTERS_HEADER_LEN + COUNTERS_RECORD_LEN);
    assert_int_equal(counters_reader_next(r, &out), CF_OK);
    assert_int_equal(out.in_octets, 2);
    assert_int_equal(counters_reader_next(r, &out), CF_ERR_EOF);
    counters_reader_close(r);
    /* every truncation of the header is refused cleanly */
    for (size_t len = 0; len < COUNTERS_HEADER_LEN; len++)
        assert_int_equal(counters_reader_open_mem(buf, len, &r), CF_ERR_CORRUPT);
    buf[5] = 9; /* version 9 (CRC fixed up by re-encoding the rest) */
    assert_int_equal(counters_reader_open_mem(buf, sizeof(buf), &r), CF_ERR_CORRUPT);
}

static void test_rates(void **state)
{
    (void)state;
    counters_rate rt;
    /* 30 s apart by uptime: 3.75 MB in -> 1 Mbit/s; 300 packets -> 10 pps */
    counters_record a = sample(T0, 100000, 1, 1000000, 2000000, 1000, 5000);
    counters_record b = sample(T0 + 30500, 130000, 1, 1000000 + 3750000, 2000000 + 7500000, 1300, 5600);
    b.in_errors = 4;
    assert_int_equal(counters_rate_compute(&a, &b, &rt), COUNTERS_RATE_OK);
    assert_int_equal(rt.interval_ms, 30000);
    assert_true(rt.in_bps > 999999.0 && rt.in_bps < 1000001.0);
    assert_true(rt.out_bps > 1999999.0 && rt.out_bps < 2000001.0);
    assert_true(rt.in_pps > 9.999 && rt.in_pps < 10.001);
    assert_true(rt.out_pps > 19.999 && rt.out_pps < 20.001);
    assert_int_equal(rt.in_errors, 4);

    /* 32-bit packet counter wraps: 0xffffff00 -> 0x100 is 512 packets */
    counters_record c = sample(T0, 1000, 1, 0, 0, 0xffffff00u, 0);
    counters_record d = sample(T0 + 1000, 2000, 1, 0, 0, 0x100, 0);
    assert_int_equal(counters_rate_compute(&c, &d, &rt), COUNTERS_RATE_OK);
    assert_true(rt.in_pps > 511.9 && rt.in_pps < 512.1);

    /* 32-bit octet counter wraps, plausible for the speed: 1000 bytes in 1 s */
    counters_record e = sample(T0, 1000, 1, 0xfffffe0cu, 0, 0, 0);
    counters_record f = sample(T0 + 1000, 2000, 1, 1000 - 500, 0, 0, 0);
    assert_int_equal(counters_rate_compute(&e, &f, &rt), COUNTERS_RATE_OK);
    assert_true(rt.in_bps > 7999.0 && rt.in_bps < 8001.0);

    /* a wrap that would exceed twice the interface speed is a reset */
    counters_record g = sample(T0, 1000, 1, 100, 0, 0, 0);
    counters_record h = sample(T0 + 1000, 2000, 1, 50, 0, 0, 0);
    g.if_speed = h.if_speed = 10000000; /* 10 Mbit/s; a wrap gives ~34 Gbit/s */
    assert_int_equal(counters_rate_compute(&g, &h, &rt), COUNTERS_RATE_RESET);

    /* a 64-bit octet counter going back is a reset */
    counters_record i = sample(T0, 1000, 1, UINT64_C(1) << 40, 0, 0, 0);
    counters_record j = sample(T0 + 1000, 2000, 1, 5, 0, 0, 0);
    assert_int_equal(counters_rate_compute(&i, &j, &rt), COUNTERS_RATE_RESET);
    assert_true(rt.in_bps == 0.0);

    /* the agent restarted: uptime went back */
    counters_record k = sample(T0 + 60000, 500, 1, 9000000, 0, 0, 0);
    assert_int_equal(counters_rate_compute(&b, &k, &rt), COUNTERS_RATE_RESET);

    /* no uptime progress: receive times are used; none either: no rate */
    counters_record l = sample(T0, 0, 1, 0, 0, 0, 0), m = sample(T0 + 2000, 0, 1, 2000, 0, 0, 0);
    assert_int_equal(counters_rate_compute(&l, &m, &rt), COUNTERS_RATE_OK);
    assert_true(rt.in_bps > 7999.0 && rt.in_bps < 8001.0);
    assert_int_equal(counters_rate_compute(&l, &l, &rt), COUNTERS_RATE_NO_TIME);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_import_sflow_capture_then_counters_csv(void **state)
{
    (void)state;
    char pcap[4096];
    tu_testdata("pcap/alcatel-lucent/ndpi_sflow.pcap", pcap, sizeof(pcap));
    char *dir = tu_mkdtemp("ctr-import");
    assert_non_null(dir);
    char cmd[9000], *out = NULL;
    snprintf(cmd, sizeof(cmd), "'%s' import '%s' --data '%s/data'", tu_binary(), pcap, dir);
    assert_int_equal(tu_run(cmd, NULL), 0);
    snprintf(cmd, sizeof(cmd), "'%s' counters -R '%s/data' -o csv", tu_binary(), dir);
    assert_int_equal(tu_run(cmd, &out), 0);
    assert_non_null(out);
    assert_int_equal(strncmp(out, "time,agent,sub_agent,exporter,if_index,", 39), 0);
    assert_int_equal(count_lines(out), 1 + 8); /* header + the 8 counter samples */
    free(out);
    /* one interface of them, and a window that holds nothing */
    snprintf(cmd, sizeof(cmd), "'%s' counters -R '%s/data' -o csv -t 2001/01/01-2001/01/02", tu_binary(), dir);
    assert_int_equal(tu_run(cmd, &out), 0);
    assert_int_equal(count_lines(out), 1);
    free(out);
    tu_rm_rf(dir);
    free(dir);
}

static void test_counters_cli_rates_and_damage(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("ctr-cli");
    assert_non_null(dir);
    char src[4200];
    snprintf(src, sizeof(src), "%s/data/default", dir);
    counters_record in[3] = {sample(T0, 100000, 7, 0, 0, 0, 0), sample(T0 + 30000, 130000, 7, 3750000, 0, 300, 0),
                             sample(T0 + 60000, 160000, 7, 7500000, 0, 600, 0)};
    write_samples(src, in, 3);
    char cmd[9000], *out = NULL, path[4300];
    snprintf(cmd, sizeof(cmd), "'%s' counters -R '%s/data' -o csv --if 7 --agent 192.0.2.1", tu_binary(), dir);
    assert_int_equal(tu_run(cmd, &out), 0);
    assert_int_equal(count_lines(out), 4);
    assert_non_null(strstr(out, ",30.000,1000000,0,10.000,0.000,"));
    assert_non_null(strstr(out, ",first\n"));
    free(out);
    /* damage the second record: reported with file and offset, exit 1 */
    day_file(src, path, sizeof(path));
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t x = 0x55;
    assert_int_equal(pwrite(fd, &x, 1, COUNTERS_HEADER_LEN + COUNTERS_RECORD_LEN + 90), 1);
    close(fd);
    snprintf(cmd, sizeof(cmd), "'%s' counters -R '%s/data' -o csv 2>&1", tu_binary(), dir);
    assert_int_equal(tu_run(cmd, &out), 1);
    char want[4400];
    snprintf(want, sizeof(want), "%s: offset %d: damaged record", path, COUNTERS_HEADER_LEN + COUNTERS_RECORD_LEN);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, ",first\n")); /* the good records are still printed */
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' counters -R '%s/nothing' 2>/dev/null", tu_binary(), dir);
    assert_int_equal(tu_run(cmd, NULL), 2);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_listing),
        cmocka_unit_test(test_torn_tail_ignored_then_cut),
        cmocka_unit_test(test_damaged_record_skipped_with_offset),
        cmocka_unit_test(test_rates),
        cmocka_unit_test(test_import_sflow_capture_then_counters_csv),
        cmocka_unit_test(test_counters_cli_rates_and_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
