/*
 * tests/capture/test_capture_files.c - the capture module on the shared
 * captures: frame counts against expected/SUMMARY.tsv, the Linux cooked
 * (SLL) file, IPv6 transport, and datagram fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "capture/capture.h"
#include "core/bytes.h"
#include "testutil.h"

static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Reads the whole file rel; stats into *st; calls fn on each datagram. */
static void read_all(const char *rel, capture_stats *st,
                     void (*fn)(const capture_datagram *d, void *ctx), void *ctx)
{
    char path[4096], errbuf[512];
    capture *c = NULL;
    cf_err err = capture_open(tu_testdata(rel, path, sizeof(path)), &c, errbuf, sizeof(errbuf));
    if (err)
        fprintf(stderr, "%s\n", errbuf);
    assert_int_equal(err, CF_OK);
    capture_datagram d;
    uint64_t last_frame = 0;
    while ((err = capture_next(c, &d)) == CF_OK) {
        assert_true(d.frame > last_frame);
        last_frame = d.frame;
        if (fn)
            fn(&d, ctx);
    }
    assert_int_equal(err, CF_ERR_EOF);
    capture_get_stats(c, st);
    capture_close(c);
}

static uint64_t num(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    assert_true(end != s && *end == '\0');
    return v;
}

/* The SUMMARY row of file rel: frames and export packets. */
static void summary_counts(const char *rel, uint64_t *frames, uint64_t *export_packets)
{
    char path[4096];
    tu_tsv t;
    assert_int_equal(tu_tsv_load(tu_testdata("expected/SUMMARY.tsv", path, sizeof(path)), &t), 0);
    int cf = tu_tsv_col(&t, "file"), cr = tu_tsv_col(&t, "frames");
    int ce = tu_tsv_col(&t, "export_packets");
    assert_true(cf >= 0 && cr >= 0 && ce >= 0);
    int found = 0;
    for (size_t i = 1; i < t.n_rows; i++) {
        if (strcmp(t.rows[i][cf], rel) == 0) {
            *frames = num(t.rows[i][cr]);
            *export_packets = num(t.rows[i][ce]);
            found = 1;
        }
    }
    tu_tsv_free(&t);
    assert_true(found);
}

/* Every capture: frames as in SUMMARY, every frame accounted for once, and
 * one UDP datagram per export packet tshark found (the non-export frames of
 * these files are TCP). */
static void test_every_file_frames(void **state)
{
    (void)state;
    char path[4096];
    tu_tsv t;
    assert_int_equal(tu_tsv_load(tu_testdata("expected/SUMMARY.tsv", path, sizeof(path)), &t), 0);
    int cf = tu_tsv_col(&t, "file"), cr = tu_tsv_col(&t, "frames");
    int ce = tu_tsv_col(&t, "export_packets");
    assert_true(cf >= 0 && cr >= 0 && ce >= 0);
    size_t n_files = 0;
    for (size_t i = 1; i < t.n_rows; i++) {
        capture_stats st;
        read_all(t.rows[i][cf], &st, NULL, NULL);
        assert_int_equal(st.frames, num(t.rows[i][cr]));
        assert_int_equal(st.datagrams + st.not_udp + st.fragments + st.truncated, st.frames);
        assert_int_equal(st.datagrams, num(t.rows[i][ce]));
        assert_int_equal(st.truncated, 0);
        n_files++;
    }
    assert_true(n_files >= 10);
    tu_tsv_free(&t);
}

typedef struct addr_check {
    size_t n, n_v6;
    uint16_t dst_port;
} addr_check;

static void count_v6(const capture_datagram *d, void *ctx)
{
    addr_check *a = ctx;
    a->n++;
    if (memcmp(d->src_addr, v4_prefix, 12) != 0 && memcmp(d->dst_addr, v4_prefix, 12) != 0)
        a->n_v6++;
    assert_true(d->len > 0);
}

/* pmacct 112 is Linux cooked (SLL) with IPv6 transport. */
static void test_linux_sll(void **state)
{
    (void)state;
    const char *rel = "pcap/cisco/pmacct_112-IPFIXv10-CISCO-options-map-reassignment_traffic-00.pcap";
    uint64_t frames, exports;
    summary_counts(rel, &frames, &exports);
    capture_stats st;
    addr_check a = {0};
    read_all(rel, &st, count_v6, &a);
    assert_int_equal(st.frames, frames);
    assert_int_equal(st.datagrams, exports);
    assert_int_equal(a.n_v6, exports);
}

/* pmacct 104 carries IPFIX over IPv6. */
static void test_ipv6_transport(void **state)
{
    (void)state;
    const char *rel = "pcap/cisco/pmacct_104-IPFIXv10-IPv6-CISCO-sampling_option_traffic-00.pcap";
    uint64_t frames, exports;
    summary_counts(rel, &frames, &exports);
    capture_stats st;
    addr_check a = {0};
    read_all(rel, &st, count_v6, &a);
    assert_int_equal(st.frames, frames);
    assert_int_equal(st.datagrams, exports);
    assert_int_equal(a.n_v6, exports);
}

/* pmacct 401 has TCP (BGP/BMP) frames beside IPFIX: those are not UDP. */
static void test_non_udp_frames_skipped(void **state)
{
    (void)state;
    const char *rel = "pcap/cisco/pmacct_401-IPFIXv10-BMP-IPv6-CISCO-MPLS-multiple-sources_traffic-00.pcap";
    uint64_t frames, exports;
    summary_counts(rel, &frames, &exports);
    capture_stats st;
    read_all(rel, &st, NULL, NULL);
    assert_int_equal(st.frames, frames);
    assert_int_equal(st.datagrams, exports);
    assert_int_equal(st.not_udp, frames - exports);
}

/* The wrapped captures' timestamps are the v5 export times (PROVENANCE.md). */
static void check_softflowd(const capture_datagram *d, void *ctx)
{
    size_t *n = ctx;
    char txt[16];
    (*n)++;
    assert_int_equal(d->src_port, 50010);
    assert_int_equal(d->dst_port, 2055);
    snprintf(txt, sizeof(txt), "%u.%u.%u.%u", d->src_addr[12], d->src_addr[13], d->src_addr[14],
             d->src_addr[15]);
    assert_string_equal(txt, "192.0.2.10");
    assert_memory_equal(d->src_addr, v4_prefix, 12);
    assert_int_equal(d->frame, *n);
    assert_true(d->len >= 24);
    assert_int_equal(d->len, 24 + 48 * (size_t)cf_be16(d->payload + 2));
    uint32_t secs = cf_be32(d->payload + 8);
    assert_true(d->time_ms / 1000 == secs || d->time_ms / 1000 == secs + 1u);
}

static void test_datagram_fields(void **state)
{
    (void)state;
    capture_stats st;
    size_t n = 0;
    read_all("pcap/softflowd/wrapped-logstash_softflowd_v5.pcap", &st, check_softflowd, &n);
    assert_int_equal(n, 12);
    assert_int_equal(st.datagrams, 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_file_frames),
        cmocka_unit_test(test_linux_sll),
        cmocka_unit_test(test_ipv6_transport),
        cmocka_unit_test(test_non_udp_frames_skipped),
        cmocka_unit_test(test_datagram_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
