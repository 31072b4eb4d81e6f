/*
 * tests/capture/test_capture_crafted.c - the capture module on crafted
 * frames written with libpcap: every link type, VLAN tags, IPv4 options,
 * IPv6 extension headers, fragments, non-UDP, bad lengths, snap-length cuts,
 * and files that cannot be opened or are cut short.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <pcap/pcap.h>

#include "capture/capture.h"
#include "core/bytes.h"
#include "testutil.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

#define FRAME_MAX 2048

typedef struct frame {
    uint8_t b[FRAME_MAX];
    size_t len;     /* bytes on the wire */
    size_t caplen;  /* bytes captured (0: all) */
} frame;

static const uint8_t payload[] = "export packet";
#define PAYLOAD_LEN (sizeof(payload) - 1)

static void put(frame *f, const void *p, size_t n)
{
    assert_true(f->len + n <= FRAME_MAX);
    if (n)
        memcpy(f->b + f->len, p, n);
    f->len += n;
}

static void put16(frame *f, uint16_t v)
{
    uint8_t b[2];
    cf_put_be16(b, v);
    put(f, b, 2);
}

static void eth(frame *f, uint16_t type)
{
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
    put(f, macs, 12);
    put16(f, type);
}

/* IPv4 header with n_opt_words of options, protocol proto, frag field. */
static void ipv4(frame *f, uint8_t proto, size_t l4_len, unsigned n_opt_words, uint16_t frag)
{
    uint8_t h[60] = {0};
    size_t hl = 20 + 4 * (size_t)n_opt_words;
    h[0] = (uint8_t)(0x40 | (hl / 4));
    cf_put_be16(h + 2, (uint16_t)(hl + l4_len));
    cf_put_be16(h + 6, frag);
    h[8] = 64;
    h[9] = proto;
    cf_put_be32(h + 12, 0xc0000201u); /* 192.0.2.1 */
    cf_put_be32(h + 16, 0xc6336401u); /* 198.51.100.1 */
    for (size_t i = 20; i < hl; i++)
        h[i] = 1; /* NOP options */
    put(f, h, hl);
}

static void ipv6(frame *f, uint8_t next, size_t payload_len)
{
    uint8_t h[40] = {0x60};
    cf_put_be16(h + 4, (uint16_t)payload_len);
    h[6] = next;
    h[7] = 64;
    h[8] = 0x20, h[9] = 0x01, h[10] = 0x0d, h[11] = 0xb8, h[23] = 1; /* 2001:db8::1 */
    h[24] = 0x20, h[25] = 0x01, h[26] = 0x0d, h[27] = 0xb8, h[39] = 2;
    put(f, h, 40);
}

/* An IPv6 extension header of (hdr_ext_len + 1) * 8 bytes. */
static void ext6(frame *f, uint8_t next, uint8_t hdr_ext_len)
{
    uint8_t h[64] = {next, hdr_ext_len};
    put(f, h, ((size_t)hdr_ext_len + 1) * 8);
}

static void udp(frame *f, uint16_t udp_len)
{
    put16(f, 50001);
    put16(f, 2055);
    put16(f, udp_len);
    put16(f, 0);
    put(f, payload, PAYLOAD_LEN);
}

#define UDP_LEN (8 + PAYLOAD_LEN)

/* Writes frames to a fresh pcap of link type dlt; returns its malloc'ed path. */
static char *write_pcap(const char *dir, const char *name, int dlt, const frame *frames, size_t n)
{
    char *path = malloc(4096);
    assert_non_null(path);
    snprintf(path, 4096, "%s/%s", dir, name);
    pcap_t *p = pcap_open_dead(dlt, 65535);
    assert_non_null(p);
    pcap_dumper_t *dump = pcap_dump_open(p, path);
    assert_non_null(dump);
    for (size_t i = 0; i < n; i++) {
        struct pcap_pkthdr h = {0};
        h.ts.tv_sec = 1700000000 + (time_t)i;
        h.ts.tv_usec = 123456;
        h.len = (bpf_u_int32)frames[i].len;
        h.caplen = (bpf_u_int32)(frames[i].caplen ? frames[i].caplen : frames[i].len);
        pcap_dump((u_char *)dump, &h, frames[i].b);
    }
    pcap_dump_close(dump);
    pcap_close(p);
    return path;
}

/* Outcome of each frame: 'U' datagram, 'N' not UDP, 'F' fragment, 'T' truncated. */
static void expect_outcomes(const char *path, const char *outcomes, capture_datagram *first_dgram)
{
    char errbuf[512];
    capture *c = NULL;
    assert_int_equal(capture_open(path, &c, errbuf, sizeof(errbuf)), CF_OK);
    capture_stats want = {0};
    size_t n = strlen(outcomes);
    uint64_t next_frame = 1;
    int got_first = 0;
    for (size_t i = 0; i < n; i++) {
        want.frames++;
        switch (outcomes[i]) {
        case 'N': want.not_udp++; break;
        case 'F': want.fragments++; break;
        case 'T': want.truncated++; break;
        default: break;
        }
        if (outcomes[i] != 'U')
            continue;
        want.datagrams++;
        capture_datagram d;
        assert_int_equal(capture_next(c, &d), CF_OK);
        assert_int_equal(d.frame, i + 1);
        assert_true(d.frame >= next_frame);
        next_frame = d.frame + 1;
        assert_int_equal(d.len, PAYLOAD_LEN);
        assert_memory_equal(d.payload, payload, PAYLOAD_LEN);
        assert_int_equal(d.src_port, 50001);
        assert_int_equal(d.dst_port, 2055);
        assert_int_equal(d.time_ms, (1700000000ull + i) * 1000 + 123);
        if (!got_first && first_dgram) {
            *first_dgram = d;
            got_first = 1;
        }
    }
    capture_datagram d;
    assert_int_equal(capture_next(c, &d), CF_ERR_EOF);
    capture_stats st;
    capture_get_stats(c, &st);
    assert_int_equal(st.frames, want.frames);
    assert_int_equal(st.datagrams, want.datagrams);
    assert_int_equal(st.not_udp, want.not_udp);
    assert_int_equal(st.fragments, want.fragments);
    assert_int_equal(st.truncated, want.truncated);
    capture_close(c);
}

static int setup(void **state)
{
    *state = tu_mkdtemp("capture");
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    tu_rm_rf(*state);
    free(*state);
    return 0;
}

static void test_ethernet_ipv4(void **state)
{
    frame f[14];
    memset(f, 0, sizeof(f));
    eth(&f[0], 0x0800), ipv4(&f[0], 17, UDP_LEN, 0, 0x4000), udp(&f[0], UDP_LEN); /* DF */
    eth(&f[1], 0x8100), put16(&f[1], 10), put16(&f[1], 0x88a8), put16(&f[1], 20),
        put16(&f[1], 0x0800), ipv4(&f[1], 17, UDP_LEN, 0, 0), udp(&f[1], UDP_LEN);
    eth(&f[2], 0x0800), ipv4(&f[2], 17, UDP_LEN, 10, 0), udp(&f[2], UDP_LEN); /* 40 option bytes */
    eth(&f[3], 0x0800), ipv4(&f[3], 6, 20, 0, 0), put(&f[3], payload, 13), put(&f[3], "1234567", 7);
    eth(&f[4], 0x0806), put(&f[4], payload, PAYLOAD_LEN); /* ARP */
    eth(&f[5], 0x0800), ipv4(&f[5], 17, UDP_LEN, 0, 0x2000), udp(&f[5], UDP_LEN); /* MF */
    eth(&f[6], 0x0800), ipv4(&f[6], 17, UDP_LEN, 0, 0x0010), udp(&f[6], UDP_LEN); /* offset */
    eth(&f[7], 0x0800), ipv4(&f[7], 17, UDP_LEN, 0, 0), udp(&f[7], UDP_LEN);
    f[7].b[14] = 0x44; /* IHL 4 */
    eth(&f[8], 0x0800), ipv4(&f[8], 17, UDP_LEN + 1, 0, 0), udp(&f[8], UDP_LEN); /* total > frame */
    eth(&f[9], 0x0800), ipv4(&f[9], 17, UDP_LEN, 0, 0), udp(&f[9], UDP_LEN + 1); /* UDP > IP */
    eth(&f[10], 0x0800), ipv4(&f[10], 17, UDP_LEN, 0, 0), udp(&f[10], 7); /* UDP < 8 */
    eth(&f[11], 0x0800), ipv4(&f[11], 17, UDP_LEN, 0, 0), udp(&f[11], UDP_LEN);
    put(&f[11], "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20); /* Ethernet padding */
    eth(&f[12], 0x0800), ipv4(&f[12], 17, UDP_LEN, 0, 0), udp(&f[12], UDP_LEN);
    f[12].caplen = f[12].len - 3; /* cut by the snap length */
    put(&f[13], payload, 10); /* shorter than an Ethernet header */
    char *path = write_pcap(*state, "eth4.pcap", DLT_EN10MB, f, 14);
    capture_datagram d;
    expect_outcomes(path, "UUUNNFFTTTTUTT", &d);
    static const uint8_t src[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    static const uint8_t dst[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 1};
    assert_memory_equal(d.src_addr, src, 16);
    assert_memory_equal(d.dst_addr, dst, 16);
    free(path);
}

static void test_ethernet_ipv6(void **state)
{
    frame f[7];
    memset(f, 0, sizeof(f));
    eth(&f[0], 0x86dd), ipv6(&f[0], 17, UDP_LEN), udp(&f[0], UDP_LEN);
    /* hop-by-hop (8) -> routing (24) -> destination options (16) -> UDP */
    eth(&f[1], 0x86dd), ipv6(&f[1], 0, 8 + 24 + 16 + UDP_LEN), ext6(&f[1], 43, 0),
        ext6(&f[1], 60, 2), ext6(&f[1], 17, 1), udp(&f[1], UDP_LEN);
    eth(&f[2], 0x86dd), ipv6(&f[2], 44, 8 + UDP_LEN), ext6(&f[2], 17, 0), udp(&f[2], UDP_LEN);
    eth(&f[3], 0x86dd), ipv6(&f[3], 58, 8), put(&f[3], payload, 8); /* ICMPv6 */
    /* a hop-by-hop header announcing 328 bytes in a payload of 8 + UDP */
    eth(&f[4], 0x86dd), ipv6(&f[4], 0, 8 + UDP_LEN), put(&f[4], "\x11\x28\0\0\0\0\0\0", 8),
        udp(&f[4], UDP_LEN);
    eth(&f[5], 0x86dd), ipv6(&f[5], 17, UDP_LEN + 4), udp(&f[5], UDP_LEN); /* length > frame */
    eth(&f[6], 0x86dd), ipv6(&f[6], 17, 0), udp(&f[6], UDP_LEN); /* jumbogram */
    char *path = write_pcap(*state, "eth6.pcap", DLT_EN10MB, f, 7);
    capture_datagram d;
    expect_outcomes(path, "UUFNTTT", &d);
    assert_int_equal(d.src_addr[0], 0x20);
    assert_int_equal(d.src_addr[15], 1);
    assert_int_equal(d.dst_addr[15], 2);
    free(path);
}

/* One IPv4 and one IPv6 datagram after a link header of each type. */
static void link_case(void **state, const char *name, int dlt, const uint8_t *h4, const uint8_t *h6,
                      size_t hlen)
{
    frame f[3];
    memset(f, 0, sizeof(f));
    put(&f[0], h4, hlen), ipv4(&f[0], 17, UDP_LEN, 0, 0), udp(&f[0], UDP_LEN);
    put(&f[1], h6, hlen), ipv6(&f[1], 17, UDP_LEN), udp(&f[1], UDP_LEN);
    put(&f[2], h4, hlen > 0 ? hlen - 1 : 0); /* a cut link header (or an empty frame) */
    char *path = write_pcap(*state, name, dlt, f, 3);
    expect_outcomes(path, "UUT", NULL);
    free(path);
}

static void test_link_types(void **state)
{
    uint8_t sll4[16] = {0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00};
    uint8_t sll6[16] = {0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x86, 0xdd};
    link_case(state, "sll.pcap", DLT_LINUX_SLL, sll4, sll6, 16);
    uint8_t sll2_4[20] = {0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0};
    uint8_t sll2_6[20] = {0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0};
    link_case(state, "sll2.pcap", DLT_LINUX_SLL2, sll2_4, sll2_6, 20);
    uint8_t null_le4[4] = {2, 0, 0, 0}, null_le6[4] = {30, 0, 0, 0};
    link_case(state, "null-le.pcap", DLT_NULL, null_le4, null_le6, 4);
    uint8_t null_be4[4] = {0, 0, 0, 2}, null_be6[4] = {0, 0, 0, 24};
    link_case(state, "null-be.pcap", DLT_NULL, null_be4, null_be6, 4);
    uint8_t loop4[4] = {0, 0, 0, 2}, loop6[4] = {0, 0, 0, 28};
    link_case(state, "loop.pcap", DLT_LOOP, loop4, loop6, 4);
    link_case(state, "raw.pcap", DLT_RAW, NULL, NULL, 0);
}

static void test_unknown_network_types(void **state)
{
    frame f[2];
    memset(f, 0, sizeof(f));
    uint8_t null_other[4] = {7, 0, 0, 0};
    put(&f[0], null_other, 4), ipv4(&f[0], 17, UDP_LEN, 0, 0), udp(&f[0], UDP_LEN);
    put(&f[1], null_other, 4);
    char *path = write_pcap(*state, "null-other.pcap", DLT_NULL, f, 2);
    expect_outcomes(path, "NN", NULL);
    free(path);
    memset(f, 0, sizeof(f));
    put(&f[0], "\x50", 1), put(&f[0], payload, PAYLOAD_LEN); /* IP version 5 */
    ipv4(&f[1], 17, UDP_LEN, 0, 0), udp(&f[1], UDP_LEN);
    path = write_pcap(*state, "raw-other.pcap", DLT_RAW, f, 2);
    expect_outcomes(path, "NU", NULL);
    free(path);
}

static void test_open_errors(void **state)
{
    char path[4096], errbuf[256];
    capture *c = (capture *)&path; /* must stay untouched */
    capture *keep = c;
    snprintf(path, sizeof(path), "%s/missing.pcap", (char *)*state);
    assert_int_equal(capture_open(path, &c, errbuf, sizeof(errbuf)), CF_ERR_IO);
    assert_ptr_equal(c, keep);
    assert_non_null(strstr(errbuf, "missing.pcap"));
    snprintf(path, sizeof(path), "%s/text.pcap", (char *)*state);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not a capture file at all\n", f);
    fclose(f);
    assert_int_equal(capture_open(path, &c, errbuf, sizeof(errbuf)), CF_ERR_MALFORMED);
    assert_ptr_equal(c, keep);
    frame fr = {.len = 0};
    put(&fr, payload, PAYLOAD_LEN);
    char *wifi = write_pcap(*state, "wifi.pcap", 105 /* DLT_IEEE802_11 */, &fr, 1);
    assert_int_equal(capture_open(wifi, &c, errbuf, sizeof(errbuf)), CF_ERR_MALFORMED);
    assert_ptr_equal(c, keep);
    assert_non_null(strstr(errbuf, "link type"));
    free(wifi);
}

static void test_file_cut_short(void **state)
{
    frame f[2];
    memset(f, 0, sizeof(f));
    for (int i = 0; i < 2; i++)
        eth(&f[i], 0x0800), ipv4(&f[i], 17, UDP_LEN, 0, 0), udp(&f[i], UDP_LEN);
    char *path = write_pcap(*state, "cut.pcap", DLT_EN10MB, f, 2);
    size_t len;
    char *bytes = tu_read_file(path, &len);
    assert_non_null(bytes);
    FILE *out = fopen(path, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(bytes, 1, len - 10, out), len - 10); /* the last frame loses 10 */
    fclose(out);
    free(bytes);
    char errbuf[256];
    capture *c = NULL;
    assert_int_equal(capture_open(path, &c, errbuf, sizeof(errbuf)), CF_OK);
    capture_datagram d;
    assert_int_equal(capture_next(c, &d), CF_OK);
    assert_int_equal(d.frame, 1);
    assert_int_equal(capture_next(c, &d), CF_ERR_CORRUPT);
    capture_close(c);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ethernet_ipv4, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ethernet_ipv6, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_network_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_cut_short, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
