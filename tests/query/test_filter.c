/*
 * tests/query/test_filter.c - the filter language: every primitive on
 * hand-built records with known answers, precedence, errors and their
 * positions, column evaluation against a reference interpreter on random
 * records and filters, block pruning, and evaluation speed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/timeutil.h"
#include "flow/flow.h"
#include "query/filter.h"
#include "store/store.h"

#define N_RECS 10
#define ALL ((1u << N_RECS) - 1)

static flow_record recs[N_RECS];

static void set_addr(uint8_t out[16], const char *text)
{
    uint8_t fam;
    assert_int_equal(flow_addr_parse(text, out, &fam), CF_OK);
}

static void rec_ip(flow_record *r, const char *src, const char *dst)
{
    uint8_t fam;
    assert_int_equal(flow_addr_parse(src, r->src_addr, &fam), CF_OK);
    assert_int_equal(flow_addr_parse(dst, r->dst_addr, &fam), CF_OK);
    r->family = fam;
}

static void rec_l4(flow_record *r, uint8_t proto, uint16_t sport, uint16_t dport, uint8_t flags)
{
    r->proto = proto, r->src_port = sport, r->dst_port = dport, r->tcp_flags = flags;
}

static void rec_cnt(flow_record *r, uint64_t pk, uint64_t by, uint64_t first, uint64_t last)
{
    r->packets = pk, r->bytes = by, r->first_ms = first, r->last_ms = last;
}

/* The records every table test runs on; see the comments for derived values
 * (duration, pps, bps, bpp). */
static void build_records(void)
{
    memset(recs, 0, sizeof(recs));
    for (int i = 0; i < N_RECS; i++)
        recs[i].sampling = 1;
    flow_record *r = recs;
    /* r0: dur 2000 pps 5 bps 20000 bpp 500 */
    rec_ip(&r[0], "10.1.2.3", "192.168.1.1");
    rec_l4(&r[0], 6, 1234, 443, 0x12);
    rec_cnt(&r[0], 10, 5000, 1000, 3000);
    r[0].src_as = 65001, r[0].dst_as = 15169, r[0].in_if = 1, r[0].out_if = 2;
    r[0].src_vlan = 10, r[0].dst_vlan = 20, r[0].src_mac = 0x001122334455, r[0].dst_mac = 0x665544332211;
    r[0].src_mask = 16, r[0].dst_mask = 24, r[0].fwd_status = 64;
    set_addr(r[0].exporter, "192.0.2.1");
    set_addr(r[0].next_hop, "10.0.0.254");
    /* r1: the reverse, a bare SYN; dur 0 */
    rec_ip(&r[1], "192.168.1.1", "10.1.2.3");
    rec_l4(&r[1], 6, 443, 1234, 0x02);
    rec_cnt(&r[1], 1, 60, 5000, 5000);
    r[1].src_as = 15169, r[1].dst_as = 65001, r[1].in_if = 2, r[1].out_if = 1;
    r[1].src_vlan = 20, r[1].dst_vlan = 10, r[1].src_mac = 0x665544332211, r[1].dst_mac = 0x001122334455;
    r[1].src_mask = 24, r[1].dst_mask = 16, r[1].direction = 1;
    set_addr(r[1].exporter, "192.0.2.1");
    /* r2: DNS, sampled; dur 10 pps 200 bps 120000 bpp 75 */
    rec_ip(&r[2], "10.2.0.5", "8.8.8.8");
    rec_l4(&r[2], 17, 53, 53, 0);
    rec_cnt(&r[2], 2, 150, 0, 10);
    r[2].tos = 0xb8, r[2].dst_as = 15169, r[2].in_if = 3, r[2].out_if = 4, r[2].sampling = 100;
    r[2].engine_type = 1, r[2].engine_id = 2;
    set_addr(r[2].exporter, "192.0.2.2");
    /* r3: ICMP echo; dur 0 bpp 84 */
    rec_ip(&r[3], "172.16.0.1", "10.1.255.255");
    rec_l4(&r[3], 1, 0, 8 * 256, 0);
    rec_cnt(&r[3], 1, 84, 100, 100);
    r[3].icmp_type = 8;
    set_addr(r[3].exporter, "192.0.2.2");
    /* r4: IPv6 bulk; dur 1000 pps 1000000 bps 12000000000 bpp 1500 */
    rec_ip(&r[4], "2001:db8::1", "2001:db8:1::2");
    rec_l4(&r[4], 6, 443, 50000, 0x19);
    rec_cnt(&r[4], 1000000, 1500000000, 0, 1000);
    r[4].src_as = 64512;
    set_addr(r[4].exporter, "2001:db8::ff");
    set_addr(r[4].bgp_next_hop, "2001:db8::fe");
    /* r5: NTP over IPv6; dur 5000 pps 1000 bps 608000 bpp 76 */
    rec_ip(&r[5], "::1", "fe80::1");
    rec_l4(&r[5], 17, 123, 123, 0);
    rec_cnt(&r[5], 5000, 380000, 0, 5000);
    /* r6: GRE between the extreme addresses; dur 3000 pps 1 bps 800 bpp 100 */
    rec_ip(&r[6], "0.0.0.0", "255.255.255.255");
    rec_l4(&r[6], 47, 0, 0, 0);
    rec_cnt(&r[6], 3, 300, 0, 3000);
    /* r7: ICMPv6 echo; dur 0 bpp 64 */
    rec_ip(&r[7], "2001:db8::5", "ff02::1");
    rec_l4(&r[7], 58, 0, 128 * 256, 0);
    rec_cnt(&r[7], 1, 64, 0, 0);
    r[7].icmp_type = 128;
    /* r8: the edges of 10.1/16 and 10.0/16, all flags; dur 7 pps 1000 bps 800000 bpp 100 */
    rec_ip(&r[8], "10.1.0.0", "10.0.255.255");
    rec_l4(&r[8], 6, 80, 8080, 0x3f);
    rec_cnt(&r[8], 7, 700, 0, 7);
    r[8].src_as = 3, r[8].dst_as = 4, r[8].in_if = 5, r[8].out_if = 5, r[8].src_vlan = 100;
    /* r9: a RST; dur 0 bpp 40 */
    rec_ip(&r[9], "11.1.2.3", "10.1.2.3");
    rec_l4(&r[9], 6, 40000, 22, 0x04);
    rec_cnt(&r[9], 1, 40, 0, 0);
}

/* Columns of n records, as the store reader hands them out. */
typedef struct columns {
    const void *cols[FLOW_FIELD_MAX_ID + 1];
    void *owned[FLOW_FIELD_MAX_ID + 1];
} columns;

static void columns_build(columns *c, const flow_record *r, size_t n)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        uint8_t *col = malloc(n * f->width + 1);
        assert_non_null(col);
        for (size_t k = 0; k < n; k++)
            memcpy(col + k * f->width, (const uint8_t *)&r[k] + f->offset, f->width);
        c->owned[f->id] = col;
        c->cols[f->id] = col;
    }
}

static void columns_free(columns *c)
{
    for (int i = 0; i <= FLOW_FIELD_MAX_ID; i++)
        free(c->owned[i]);
}

/* The records (as a bit mask) text matches, both per record and over
 * columns; both must agree. */
static unsigned matches(const char *text)
{
    query_filter *f = NULL;
    query_filter_error err;
    cf_err e = query_filter_compile(text, &f, &err);
    if (e)
        fail_msg("'%s' does not compile: %s (at %zu)", text, err.msg, err.pos);
    unsigned by_rec = 0, by_col = 0;
    for (int i = 0; i < N_RECS; i++)
        if (query_filter_match(f, &recs[i]))
            by_rec |= 1u << i;
    columns c;
    columns_build(&c, recs, N_RECS);
    uint8_t sel[N_RECS];
    size_t n = query_filter_eval(f, c.cols, N_RECS, sel);
    for (int i = 0; i < N_RECS; i++)
        if (sel[i])
            by_col |= 1u << i;
    columns_free(&c);
    assert_int_equal(n, (size_t)__builtin_popcount(by_col));
    if (by_rec != by_col)
        fail_msg("'%s': record match 0x%x, column eval 0x%x", text, by_rec, by_col);
    query_filter_free(f);
    return by_col;
}

typedef struct fcase {
    const char *text;
    unsigned expect;
} fcase;

static void run_cases(const fcase *cases, size_t n, int negate)
{
    for (size_t i = 0; i < n; i++) {
        unsigned got = matches(cases[i].text);
        if (got != cases[i].expect)
            fail_msg("'%s': expected 0x%x, got 0x%x", cases[i].text, cases[i].expect, got);
        if (!negate)
            continue;
        char neg[512];
        snprintf(neg, sizeof(neg), "not (%s\n)", cases[i].text); /* \n ends a comment */
        got = matches(neg);
        if (got != (~cases[i].expect & ALL))
            fail_msg("'%s': expected 0x%x, got 0x%x", neg, ~cases[i].expect & ALL, got);
    }
}

static int setup(void **state)
{
    (void)state;
    build_records();
    return 0;
}

static void test_addresses(void **state)
{
    (void)state;
    static const fcase cases[] = {
        {"any", ALL},
        {"ipv4", 0x34F},
        {"inet", 0x34F},
        {"ipv6", 0xB0},
        {"inet6", 0xB0},
        {"host 10.1.2.3", 0x203},
        {"ip 10.1.2.3", 0x203},
        {"src ip 10.1.2.3", 0x1},
        {"dst host 10.1.2.3", 0x202},
        {"ip 2001:db8::1", 0x10},
        {"ip ::ffff:10.1.2.3", 0x203},
        {"src net 10.1.0.0/16", 0x101},
        {"net 10.1/16", 0x30B},
        {"net 10.1.2.3/16", 0x30B},
        {"dst net 10.0.0.0 255.255.0.0", 0x100},
        {"net 10.0.0.0/8", 0x30F},
        {"src net 0.0.0.0/0", 0x34F},
        {"dst net 255.255.255.255/32", 0x40},
        {"src net 10.1.2.3/32", 0x1},
        {"net 2001:db8::/32", 0x90},
        {"dst net 2001:db8:1::/48", 0x10},
        {"net ::/0", ALL},
        {"src net ::1/128", 0x20},
        {"src ip in [10.1.2.3 192.168.1.1, ::1]", 0x23},
        {"dst ip in [10.0.0.0/8 ff02::/16]", 0x38A},
        {"ip in [0.0.0.0/0]", 0x34F},
        {"net in [10.1/16, 2001:db8:1::/48]", 0x31B},
        {"router ip 192.0.2.1", 0x3},
        {"exporter 192.0.2.2", 0xC},
        {"exporter 2001:db8::ff", 0x10},
        {"next ip 10.0.0.254", 0x1},
        {"bgp next ip 2001:db8::fe", 0x10},
        {"bgpnext ip 2001:db8::fe", 0x10},
        {"src_addr 10.0.0.0/8", 0x105},
        {"mac 00:11:22:33:44:55", 0x3},
        {"in src mac 00:11:22:33:44:55", 0x1},
        {"out dst mac 00:11:22:33:44:55", 0x2},
        {"dst mac 66:55:44:33:22:11", 0x1},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 1);
}

static void test_ports_protocols(void **state)
{
    (void)state;
    static const fcase cases[] = {
        {"proto tcp", 0x313},
        {"proto TCP", 0x313},
        {"proto 6", 0x313},
        {"proto udp", 0x24},
        {"proto gre", 0x40},
        {"proto 47", 0x40},
        {"proto icmp", 0x8},
        {"proto icmp6", 0x80},
        {"proto ipv6-icmp", 0x80},
        {"port 443", 0x13},
        {"dst port 443", 0x1},
        {"src port 443", 0x12},
        {"port in [53 123]", 0x24},
        {"dst port in [443,22, 8080]", 0x301},
        {"dst port > 1023", 0x19A},
        {"src port lt 100", 0x1CC},
        {"port >= 1k", 0x39B},
        {"port == 443", 0x13},
        {"port = 443", 0x13},
        {"port eq 443", 0x13},
        {"port 0x1bb", 0x13},
        {"icmp-type 8", 0x8},
        {"icmp-type 128", 0x80},
        {"icmp-code 0", 0x88},
        {"tos 0xb8", 0x4},
        {"tos 184", 0x4},
        {"src tos > 0", 0x4},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 1);
}

static void test_flags(void **state)
{
    (void)state;
    /* nfdump's semantics: all given flags set; under `not`, any of them */
    static const fcase cases[] = {
        {"flags S", 0x103},
        {"flags SA", 0x101},
        {"flags AS", 0x101},
        {"flags X", 0x100},
        {"flags R", 0x300},
        {"flags 18", 0x1},
        {"flags S and not flags AFRPU", 0x2},
        {"not flags SA", 0x2EC},
        {"not not flags SA", 0x101},
        {"not flags 18", ALL & ~0x1u},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 0);
}

static void test_counters(void **state)
{
    (void)state;
    static const fcase cases[] = {
        {"packets > 1k", 0x30},
        {"packets 1", 0x28A},
        {"packets le 1", 0x28A},
        {"packets ge 1M", 0x10},
        {"packets gt 999999", 0x10},
        {"bytes >= 1M", 0x10},
        {"bytes > 1g", 0x10},
        {"bytes > 1G", 0x10},
        {"bytes > 1t", 0},
        {"bytes < 100", 0x28A},
        {"in bytes < 100", 0x28A},
        {"flows 1", ALL},
        {"flows > 1", 0},
        {"duration > 1000", 0x61},
        {"duration 0", 0x28A},
        {"pps > 100", 0x134},
        {"pps 0", 0x28A},
        {"bps > 500k", 0x130},
        {"bps 20000", 0x1},
        {"bpp > 99", 0x151},
        {"bpp 100", 0x140},
        {"as 15169", 0x7},
        {"src as 65001", 0x1},
        {"dst as in [15169 4]", 0x105},
        {"as > 64000", 0x13},
        {"src mask 16", 0x1},
        {"mask 24", 0x3},
        {"in if 1", 0x1},
        {"out if 1", 0x2},
        {"if 5", 0x100},
        {"if 2", 0x3},
        {"vlan 10", 0x3},
        {"src vlan 100", 0x100},
        {"dst vlan 20", 0x1},
        {"engine-type 1", 0x4},
        {"engine-id > 0", 0x4},
        {"sampling > 1", 0x4},
        {"sampling 1", 0x3FB},
        {"flowdir egress", 0x2},
        {"flowdir 0", 0x3FD},
        {"direction 1", 0x2},
        {"fwd_status 64", 0x1},
        {"observation domain id 0", ALL},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 1);
}

static void test_precedence(void **state)
{
    (void)state;
    static const fcase cases[] = {
        {"port 443 or port 53 and proto tcp", 0x13},
        {"(port 443 or port 53) and proto udp", 0x4},
        {"not port 443 and proto tcp", 0x300},
        {"not (port 443 and proto tcp)", 0x3EC},
        {"! port 443", 0x3EC},
        {"!port 443", 0x3EC},
        {"not not port 443", 0x13},
        {"proto tcp and not port 443 or proto udp", 0x324},
        {"((port 443))", 0x13},
        {"PORT 443 AND Proto TCP", 0x13},
        {"Port 443 Or NOT ipv4", 0xB3},
        {"port 443 # https\n or port 53", 0x17},
        {"any and port 53", 0x4},
        {"any or port 53", ALL},
        {"packets>5", 0x131},
    };
    run_cases(cases, sizeof(cases) / sizeof(cases[0]), 1);
    /* an empty filter has no negation */
    static const fcase empty[] = {{"# only a comment", ALL}, {"", ALL}, {"   \n\t ", ALL}};
    run_cases(empty, sizeof(empty) / sizeof(empty[0]), 0);
}

static void test_is_any_and_fields(void **state)
{
    (void)state;
    static const struct { const char *text; int any; uint64_t fields; } cases[] = {
        {"", 1, 0},
        {"any", 1, 0},
        {"flows 1", 1, 0},
        {"port 80 or any", 1, 0},
        {"not any", 0, 0},
        {"port 80", 0, STORE_FIELD_BIT(FLOW_FIELD_SRC_PORT) | STORE_FIELD_BIT(FLOW_FIELD_DST_PORT)},
        {"duration > 5", 0, STORE_FIELD_BIT(FLOW_FIELD_FIRST) | STORE_FIELD_BIT(FLOW_FIELD_LAST)},
        {"bpp > 5", 0, STORE_FIELD_BIT(FLOW_FIELD_PACKETS) | STORE_FIELD_BIT(FLOW_FIELD_BYTES)},
        {"pps > 5", 0, STORE_FIELD_BIT(FLOW_FIELD_FIRST) | STORE_FIELD_BIT(FLOW_FIELD_LAST) |
                           STORE_FIELD_BIT(FLOW_FIELD_PACKETS)},
        {"flags S", 0, STORE_FIELD_BIT(FLOW_FIELD_TCP_FLAGS) | STORE_FIELD_BIT(FLOW_FIELD_PROTO)},
        {"src net 10/8", 0, STORE_FIELD_BIT(FLOW_FIELD_SRC_ADDR)},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        query_filter *f;
        assert_int_equal(query_filter_compile(cases[i].text, &f, NULL), CF_OK);
        if (!query_filter_is_any(f) != !cases[i].any || query_filter_fields(f) != cases[i].fields)
            fail_msg("'%s': any %d fields 0x%llx", cases[i].text, query_filter_is_any(f),
                     (unsigned long long)query_filter_fields(f));
        query_filter_free(f);
    }
}

typedef struct ecase {
    const char *text;
    size_t pos;
    const char *msg; /* a part of the message */
} ecase;

static void test_errors(void **state)
{
    (void)state;
    static char deep[200];
    memset(deep, '(', 70);
    strcpy(deep + 70, "port 80");
    const ecase cases[] = {
        {"xyz 5", 0, "unknown keyword 'xyz'"},
        {"port", 4, "expected a port number after 'port', found end of filter"},
        {"port foo", 5, "expected a port number after 'port', found 'foo'"},
        {"src port > foo", 11, "found 'foo'"},
        {"ip 300.1.1.1", 3, "expected an IP address after 'ip', found '300.1.1.1'"},
        {"ip foo.example", 3, "host names are not resolved"},
        {"ip 10.0.0.0/8", 3, "use 'net' for a prefix"},
        {"net 10.0.0.0/33", 13, "bad prefix length '33'"},
        {"net 2001:db8::/129", 15, "expected 0..128"},
        {"net 10.0.0.0/x", 13, "bad prefix length 'x'"},
        {"net 1.2.3.4.5/8", 4, "expected an IP address or prefix"},
        {"(port 80", 8, "expected ')' to close the '(' at offset 0, found end of filter"},
        {"port 80)", 7, "unbalanced ')'"},
        {"((port 80) or (port 81)", 23, "expected ')'"},
        {"port 80 port 81", 8, "expected 'and', 'or' or the end of the filter, found 'port'"},
        {"port 80 and", 11, "expected a filter primitive"},
        {"and port 80", 0, "expected a filter primitive"},
        {"port 70000", 5, "70000 is out of range for a port number (0..65535)"},
        {"as 4294967296", 3, "out of range"},
        {"bytes > 99999999999999999999", 8, "out of range"},
        {"bytes > 20000000T", 8, "out of range"},
        {"tos 256", 4, "out of range"},
        {"proto 256", 6, "out of range"},
        {"proto foo", 6, "unknown protocol 'foo'"},
        {"port in [80,,443]", 12, "after ','"},
        {"port in []", 9, "found ']'"},
        {"port in [80", 11, "expected ',' or ']'"},
        {"port in 80", 8, "expected '['"},
        {"ip in [1.2.3.4 foo]", 15, "host names are not resolved"},
        {"flags Z", 6, "unknown TCP flag 'Z'"},
        {"mac 00:11:22", 4, "expected a MAC address"},
        {"prev as 5", 0, "not stored by cloudflow"},
        {"next as 5", 0, "not stored by cloudflow"},
        {"dst tos 1", 0, "not stored by cloudflow"},
        {"out bytes 1", 0, "not stored by cloudflow"},
        {"mpls label1 5", 0, "not stored by cloudflow yet"},
        {"geo DE", 0, "not stored by cloudflow"},
        {"src foo", 4, "expected ip, host, net, port, as, mask, vlan, mac or tos after 'src'"},
        {"port 80 @", 8, "found '@'"},
        {deep, 64, "nested too deeply"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        query_filter *f = (query_filter *)&cases[i]; /* must stay untouched */
        query_filter_error err;
        memset(&err, 0, sizeof(err));
        cf_err e = query_filter_compile(cases[i].text, &f, &err);
        if (e != CF_ERR_USAGE)
            fail_msg("'%s' compiled (%d)", cases[i].text, e);
        assert_ptr_equal(f, &cases[i]);
        if (err.pos != cases[i].pos || !strstr(err.msg, cases[i].msg))
            fail_msg("'%s': error at %zu '%s'; expected at %zu '%s'", cases[i].text, err.pos, err.msg,
                     cases[i].pos, cases[i].msg);
    }
}

static void test_error_format(void **state)
{
    (void)state;
    const char *text = "dst port foo";
    query_filter *f;
    query_filter_error err;
    assert_int_equal(query_filter_compile(text, &f, &err), CF_ERR_USAGE);
    char buf[512];
    query_filter_error_format(text, &err, buf, sizeof(buf));
    assert_string_equal(buf, "dst port foo\n         ^\nexpected a port number after 'port', found 'foo'");

    const char *multi = "port 80 # web\nand\tbogus 1\nor port 53";
    assert_int_equal(query_filter_compile(multi, &f, &err), CF_ERR_USAGE);
    query_filter_error_format(multi, &err, buf, sizeof(buf));
    assert_string_equal(buf, "and\tbogus 1\n   \t^\nline 2: unknown keyword 'bogus': expected a filter "
                             "primitive such as port, ip, net, proto, as, flags, packets, bytes (see "
                             "docs/FILTER.md)");
    /* a short buffer is cut, still terminated */
    char small[8];
    query_filter_error_format(text, &err, small, sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

/* ---- random filters against a reference interpreter ------------------------- */

typedef enum { R_AND, R_OR, R_NOT, R_PORT, R_PROTO, R_NET, R_PACKETS, R_BYTES, R_DURATION, R_BPP,
               R_PORT_IN, R_AS, R_FAMILY, R_ANY, R_VLAN, R_KINDS } rkind;

typedef struct rnode {
    rkind kind;
    int dir;          /* 0 either, 1 src, 2 dst */
    int cmp;          /* 0 = 1 < 2 > 3 <= 4 >= */
    uint64_t val;
    uint64_t list[3];
    uint8_t mask[16], net[16];
    struct rnode *kid[3];
    int n_kids;
} rnode;

static const char *const cmp_text[] = {"=", "<", ">", "<=", ">="};
static const char *const dir_text[] = {"", "src ", "dst "};
static const uint16_t port_pool[] = {22, 53, 80, 443, 8080, 0, 65535};
static const uint64_t count_pool[] = {0, 1, 2, 10, 1000, 1500, 1000000};
static const char *const v4_pool[] = {"10.1.0.1", "10.1.1.2", "10.2.0.1", "192.168.0.1", "0.0.0.0"};
static const char *const v6_pool[] = {"2001:db8::1", "2001:db8::2", "2001:db8:1::1", "::1"};
static const struct { const char *text; int v6; unsigned bits; const char *addr; } net_pool[] = {
    {"10.1.0.0/16", 0, 16, "10.1.0.0"}, {"10.1.1.0/24", 0, 24, "10.1.1.0"}, {"10.0.0.0/8", 0, 8, "10.0.0.0"},
    {"0.0.0.0/0", 0, 0, "0.0.0.0"},     {"2001:db8::/32", 1, 32, "2001:db8::"},
    {"2001:db8:1::/48", 1, 48, "2001:db8:1::"}, {"::1/128", 1, 128, "::1"},
};

static int cmp_ok(int cmp, uint64_t a, uint64_t b)
{
    switch (cmp) {
    case 1: return a < b;
    case 2: return a > b;
    case 3: return a <= b;
    case 4: return a >= b;
    default: return a == b;
    }
}

static int addr_in(const uint8_t a[16], const rnode *n)
{
    for (int i = 0; i < 16; i++)
        if ((a[i] & n->mask[i]) != n->net[i])
            return 0;
    return 1;
}

static int both(int dir, int s, int d) { return dir == 1 ? s : dir == 2 ? d : (s || d); }

static int ref_eval(const rnode *n, const flow_record *r)
{
    uint64_t dur = r->last_ms >= r->first_ms ? r->last_ms - r->first_ms : 0;
    switch (n->kind) {
    case R_AND: for (int i = 0; i < n->n_kids; i++) if (!ref_eval(n->kid[i], r)) return 0; return 1;
    case R_OR: for (int i = 0; i < n->n_kids; i++) if (ref_eval(n->kid[i], r)) return 1; return 0;
    case R_NOT: return !ref_eval(n->kid[0], r);
    case R_PORT: return both(n->dir, cmp_ok(n->cmp, r->src_port, n->val), cmp_ok(n->cmp, r->dst_port, n->val));
    case R_PROTO: return r->proto == n->val;
    case R_NET: return both(n->dir, addr_in(r->src_addr, n), addr_in(r->dst_addr, n));
    case R_PACKETS: return cmp_ok(n->cmp, r->packets, n->val);
    case R_BYTES: return cmp_ok(n->cmp, r->bytes, n->val);
    case R_DURATION: return cmp_ok(n->cmp, dur, n->val);
    case R_BPP: return cmp_ok(n->cmp, r->packets ? r->bytes / r->packets : 0, n->val);
    case R_PORT_IN: {
        int s = 0, d = 0;
        for (int i = 0; i < 3; i++)
            s |= r->src_port == n->list[i], d |= r->dst_port == n->list[i];
        return both(n->dir, s, d);
    }
    case R_AS: return both(n->dir, cmp_ok(n->cmp, r->src_as, n->val), cmp_ok(n->cmp, r->dst_as, n->val));
    case R_FAMILY: return r->family == n->val;
    case R_VLAN: return both(n->dir, r->src_vlan == n->val, r->dst_vlan == n->val);
    default: return 1;
    }
}

static rnode *rnode_new(rkind kind)
{
    rnode *n = calloc(1, sizeof(*n));
    assert_non_null(n);
    n->kind = kind;
    return n;
}

static rnode *random_filter(int depth)
{
    int k = rand() % (depth > 0 ? R_KINDS : R_KINDS - 3) + (depth > 0 ? 0 : 3);
    rnode *n = rnode_new((rkind)k);
    n->dir = rand() % 3;
    n->cmp = rand() % 5;
    switch (n->kind) {
    case R_AND:
    case R_OR:
        n->n_kids = 2 + rand() % 2;
        for (int i = 0; i < n->n_kids; i++)
            n->kid[i] = random_filter(depth - 1);
        break;
    case R_NOT: n->n_kids = 1, n->kid[0] = random_filter(depth - 1); break;
    case R_PORT: n->val = port_pool[rand() % 7]; break;
    case R_PROTO: n->val = (uint64_t[]){1, 6, 17}[rand() % 3]; break;
    case R_NET: {
        int i = rand() % 7;
        uint8_t fam;
        assert_int_equal(flow_addr_parse(net_pool[i].addr, n->net, &fam), CF_OK);
        unsigned bits = net_pool[i].bits + (net_pool[i].v6 ? 0 : 96);
        for (unsigned b = 0; b < 128; b++)
            if (b < bits)
                n->mask[b / 8] |= (uint8_t)(0x80 >> (b % 8));
        n->val = (uint64_t)i;
        break;
    }
    case R_PORT_IN:
        for (int i = 0; i < 3; i++)
            n->list[i] = port_pool[rand() % 7];
        break;
    case R_FAMILY: n->val = rand() % 2 ? 4 : 6; break;
    case R_VLAN: n->val = (uint64_t)(rand() % 3); break;
    case R_AS: n->val = (uint64_t[]){0, 1, 2, 65000, 4294967295u}[rand() % 5]; break;
    default: n->val = count_pool[rand() % 7]; break;
    }
    return n;
}

static void render(const rnode *n, char *buf, size_t len)
{
    size_t o = strlen(buf);
    const char *d = dir_text[n->dir], *c = cmp_text[n->cmp];
    switch (n->kind) {
    case R_AND:
    case R_OR:
        for (int i = 0; i < n->n_kids; i++) {
            snprintf(buf + strlen(buf), len - strlen(buf), "%s(", i ? (n->kind == R_AND ? " and " : " or ") : "");
            render(n->kid[i], buf, len);
            snprintf(buf + strlen(buf), len - strlen(buf), ")");
        }
        return;
    case R_NOT:
        snprintf(buf + o, len - o, "not (");
        render(n->kid[0], buf, len);
        snprintf(buf + strlen(buf), len - strlen(buf), ")");
        return;
    case R_PORT: snprintf(buf + o, len - o, "%sport %s %llu", d, c, (unsigned long long)n->val); return;
    case R_PROTO: snprintf(buf + o, len - o, "proto %s", n->val == 6 ? "tcp" : n->val == 17 ? "udp" : "1"); return;
    case R_NET: snprintf(buf + o, len - o, "%snet %s", d, net_pool[n->val].text); return;
    case R_PACKETS: snprintf(buf + o, len - o, "packets %s %llu", c, (unsigned long long)n->val); return;
    case R_BYTES: snprintf(buf + o, len - o, "bytes %s %llu", c, (unsigned long long)n->val); return;
    case R_DURATION: snprintf(buf + o, len - o, "duration %s %llu", c, (unsigned long long)n->val); return;
    case R_BPP: snprintf(buf + o, len - o, "bpp %s %llu", c, (unsigned long long)n->val); return;
    case R_PORT_IN:
        snprintf(buf + o, len - o, "%sport in [%llu, %llu %llu]", d, (unsigned long long)n->list[0],
                 (unsigned long long)n->list[1], (unsigned long long)n->list[2]);
        return;
    case R_AS: snprintf(buf + o, len - o, "%sas %s %llu", d, c, (unsigned long long)n->val); return;
    case R_FAMILY: snprintf(buf + o, len - o, "%s", n->val == 4 ? "ipv4" : "ipv6"); return;
    case R_VLAN: snprintf(buf + o, len - o, "%svlan %llu", d, (unsigned long long)n->val); return;
    default: snprintf(buf + o, len - o, "any"); return;
    }
}

static void rnode_free(rnode *n)
{
    for (int i = 0; i < n->n_kids; i++)
        rnode_free(n->kid[i]);
    free(n);
}

static void random_record(flow_record *r)
{
    memset(r, 0, sizeof(*r));
    if (rand() % 2) {
        rec_ip(r, v4_pool[rand() % 5], v4_pool[rand() % 5]);
    } else {
        rec_ip(r, v6_pool[rand() % 4], v6_pool[rand() % 4]);
    }
    rec_l4(r, (uint8_t[]){1, 6, 17}[rand() % 3], port_pool[rand() % 7], port_pool[rand() % 7],
           (uint8_t)rand());
    uint64_t first = (uint64_t)(rand() % 100000);
    rec_cnt(r, count_pool[rand() % 7], count_pool[rand() % 7], first, first + count_pool[rand() % 7]);
    r->src_as = (uint32_t[]){0, 1, 2, 65000, 4294967295u}[rand() % 5];
    r->dst_as = (uint32_t[]){0, 1, 2, 65000, 4294967295u}[rand() % 5];
    r->src_vlan = (uint16_t)(rand() % 3), r->dst_vlan = (uint16_t)(rand() % 3);
    r->sampling = 1;
}

#define RAND_ROWS 3000

static void test_random_against_reference(void **state)
{
    (void)state;
    srand(12345);
    flow_record *rows = malloc(RAND_ROWS * sizeof(*rows));
    uint8_t *sel = malloc(RAND_ROWS);
    assert_non_null(rows);
    assert_non_null(sel);
    for (int i = 0; i < RAND_ROWS; i++)
        random_record(&rows[i]);
    columns c;
    columns_build(&c, rows, RAND_ROWS);
    size_t some = 0;
    for (int t = 0; t < 400; t++) {
        rnode *rf = random_filter(t % 5);
        char text[8192] = "";
        render(rf, text, sizeof(text));
        query_filter *f;
        query_filter_error err;
        if (query_filter_compile(text, &f, &err))
            fail_msg("'%s' does not compile: %s", text, err.msg);
        size_t n = query_filter_eval(f, c.cols, RAND_ROWS, sel), want = 0;
        for (int i = 0; i < RAND_ROWS; i++) {
            int ref = ref_eval(rf, &rows[i]);
            want += (size_t)ref;
            if (sel[i] != ref || query_filter_match(f, &rows[i]) != ref)
                fail_msg("'%s' row %d: eval %d match %d reference %d", text, i, sel[i],
                         query_filter_match(f, &rows[i]), ref);
        }
        assert_int_equal(n, want);
        some += n > 0 && n < RAND_ROWS;
        query_filter_free(f);
        rnode_free(rf);
    }
    assert_true(some > 100); /* the filters are not all trivial */
    columns_free(&c);
    free(rows);
    free(sel);
}

/* ---- block pruning ------------------------------------------------------------ */

static void block_minmax(const flow_record *r, size_t n, uint64_t *min, uint64_t *max, _Bool *has)
{
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        has[f->id] = f->type != FLOW_T_ADDR;
        if (!has[f->id])
            continue;
        min[f->id] = UINT64_MAX, max[f->id] = 0;
        for (size_t k = 0; k < n; k++) {
            uint64_t v = flow_get_uint(&r[k], f);
            if (v < min[f->id])
                min[f->id] = v;
            if (v > max[f->id])
                max[f->id] = v;
        }
    }
}

static void test_may_match_property(void **state)
{
    (void)state;
    srand(777);
    flow_record blk[16];
    uint64_t min[FLOW_FIELD_MAX_ID + 1], max[FLOW_FIELD_MAX_ID + 1];
    _Bool has[FLOW_FIELD_MAX_ID + 1] = {0};
    size_t pruned = 0;
    for (int t = 0; t < 300; t++) {
        rnode *rf = random_filter(t % 4);
        char text[8192] = "";
        render(rf, text, sizeof(text));
        query_filter *f;
        assert_int_equal(query_filter_compile(text, &f, NULL), CF_OK);
        for (int b = 0; b < 40; b++) {
            size_t n = 1 + (size_t)(rand() % 16);
            for (size_t i = 0; i < n; i++)
                random_record(&blk[i]);
            block_minmax(blk, n, min, max, has);
            int any = 0;
            for (size_t i = 0; i < n; i++)
                any |= query_filter_match(f, &blk[i]);
            int may = query_filter_may_match(f, min, max, has);
            if (any && !may)
                fail_msg("'%s' pruned a block holding a match", text);
            pruned += !may;
        }
        query_filter_free(f);
        rnode_free(rf);
    }
    assert_true(pruned > 0);
}

static void test_may_match_prunes(void **state)
{
    (void)state;
    uint64_t min[FLOW_FIELD_MAX_ID + 1] = {0}, max[FLOW_FIELD_MAX_ID + 1] = {0};
    _Bool has[FLOW_FIELD_MAX_ID + 1] = {0};
    has[FLOW_FIELD_PACKETS] = has[FLOW_FIELD_DST_PORT] = has[FLOW_FIELD_SRC_PORT] = 1;
    min[FLOW_FIELD_PACKETS] = 1, max[FLOW_FIELD_PACKETS] = 50;
    min[FLOW_FIELD_DST_PORT] = 1000, max[FLOW_FIELD_DST_PORT] = 2000;
    min[FLOW_FIELD_SRC_PORT] = 80, max[FLOW_FIELD_SRC_PORT] = 80;
    static const struct { const char *text; int may; } cases[] = {
        {"packets > 100", 0},
        {"packets > 10", 1},
        {"packets < 1", 0},
        {"not packets < 100", 0},
        {"dst port in [80 443 3000]", 0},
        {"dst port in [80 1500]", 1},
        {"dst port 443 and packets > 10", 0},
        {"dst port 443 or packets > 10", 1},
        {"dst port 443 or packets > 60", 0},
        {"not src port 80", 0},
        {"src port 80 and not dst port 443", 1},
        {"src net 10.0.0.0/8 and packets > 100", 0},
        {"src net 10.0.0.0/8", 1},
        {"bytes > 100", 1}, /* no min/max for bytes */
        {"duration > 100", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        query_filter *f;
        assert_int_equal(query_filter_compile(cases[i].text, &f, NULL), CF_OK);
        if (query_filter_may_match(f, min, max, has) != cases[i].may)
            fail_msg("'%s': may_match %d", cases[i].text, !cases[i].may);
        query_filter_free(f);
    }
}

/* ---- deep nesting, long lists and chunking ----------------------------------- */

static void test_deep_and_long(void **state)
{
    (void)state;
    char text[4096] = "";
    for (int i = 0; i < 40; i++)
        strcat(text, i % 2 ? "not (" : "(port 443 or ");
    strcat(text, "port 443");
    for (int i = 0; i < 40; i++)
        strcat(text, ")");
    /* 60 levels; from the inside Y = not Y, then Y = port 443 or Y: period 4,
     * so after 40 steps Y is port 443 again */
    assert_int_equal(matches(text), 0x13);

    char *list = malloc(200000);
    assert_non_null(list);
    strcpy(list, "src ip in [");
    for (int i = 0; i < 5000; i++)
        snprintf(list + strlen(list), 64, "10.%d.%d.%d%s", i / 65536, (i / 256) % 256, i % 256, i % 3 ? " " : ", ");
    strcat(list, "2001:db8::/32 192.168.0.0/16]");
    assert_int_equal(matches(list), 0x92); /* r1 192.168.1.1, r4 2001:db8::1, r7 2001:db8::5 */
    free(list);

    char chain[8192] = "port 1";
    for (int i = 2; i < 600; i++)
        snprintf(chain + strlen(chain), sizeof(chain) - strlen(chain), " or port %d", i);
    assert_int_equal(matches(chain), 0x337); /* every record with a port in 1..599 */
}

/* ---- speed ---------------------------------------------------------------------- */

static void test_eval_speed(void **state)
{
    (void)state;
    const size_t n = 65536;
    flow_record *rows = calloc(n, sizeof(*rows));
    uint8_t *sel = malloc(n);
    assert_non_null(rows);
    assert_non_null(sel);
    srand(99);
    size_t want = 0;
    for (size_t i = 0; i < n; i++) {
        flow_set_v4(&rows[i], 0x0a000000u | ((uint32_t)rand() & 0x03ffffu), 0xc0a80001u);
        rows[i].dst_port = rand() % 4 ? 443 : (uint16_t)rand();
        want += rows[i].dst_port == 443 && (flow_addr_v4(rows[i].src_addr) >> 16) == 0x0a01;
    }
    columns c;
    columns_build(&c, rows, n);
    const char *filters[] = {"dst port 443 and src net 10.1.0.0/16", "src net 10.1.0.0/16 and dst port 443"};
    for (int k = 0; k < 2; k++) {
        query_filter *f;
        assert_int_equal(query_filter_compile(filters[k], &f, NULL), CF_OK);
        int reps = 300;
        uint64_t t0 = cf_time_mono_ns();
        size_t got = 0;
        for (int r = 0; r < reps; r++)
            got = query_filter_eval(f, c.cols, n, sel);
        uint64_t ns = cf_time_mono_ns() - t0;
        assert_int_equal(got, want);
        printf("# '%s' over %zu rows: %.0f Mrows/s\n", filters[k], n,
               (double)n * reps / ((double)ns / 1e9) / 1e6);
        query_filter_free(f);
    }
    columns_free(&c);
    free(rows);
    free(sel);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_addresses, setup),
        cmocka_unit_test_setup(test_ports_protocols, setup),
        cmocka_unit_test_setup(test_flags, setup),
        cmocka_unit_test_setup(test_counters, setup),
        cmocka_unit_test_setup(test_precedence, setup),
        cmocka_unit_test(test_is_any_and_fields),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_format),
        cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_may_match_property),
        cmocka_unit_test(test_may_match_prunes),
        cmocka_unit_test_setup(test_deep_and_long, setup),
        cmocka_unit_test(test_eval_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
