/*
 * tests/query/test_query_engine.c - the query engine on small stores whose
 * answers the tests compute themselves: exact output text of known
 * records, -c, -t windows with block skipping, every -s element and order,
 * -A with prefix masks, corrupt blocks, bad options, thread count.
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
#include "core/timeutil.h"
#include "query/query.h"
#include "store/segment_format.h"
#include "store/store.h"
#include "testutil.h"

#define T0 UINT64_C(1704067200000) /* 2024-01-01 00:00:00 UTC */

/* ---- a store of three known records ------------------------------------- */

static char *known_store(void)
{
    flow_record r[3];
    r[0] = qt_rec(T0 + 1500, 2250, 0x0a000001, 0xc0a80102, 6, 40000, 443, 10, 5000);
    r[0].tcp_flags = 0x1b; /* ...AP.SF */
    r[0].tos = 4;
    r[0].in_if = 3, r[0].out_if = 7, r[0].src_as = 64500, r[0].dst_as = 15169;
    r[0].src_mask = 24, r[0].dst_mask = 16;
    flow_addr_from_v4(r[0].next_hop, 0x0a0000fe);
    r[0].src_vlan = 10, r[0].dst_vlan = 20;
    r[0].src_mac = UINT64_C(0x001122334455), r[0].dst_mac = UINT64_C(0x66778899aabb);
    r[0].engine_type = 1, r[0].engine_id = 2;
    r[1] = qt_rec(T0 + 3000, 0, 0x08080808, 0x0a000001, 17, 53, 51000, 1, 1200000);
    r[2] = qt_rec(T0 + 4000, 1000, 0x0a000002, 0x01020304, 1, 0, 0x0803, 2, 168);
    char *dir = tu_mkdtemp("qk");
    assert_non_null(dir);
    assert_int_equal(qt_write_store(dir, r, 3, 64), 0);
    return dir;
}

static char *query(const char *dir, const char *args, int *rc, char **err)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "-R %s %s", dir, args);
    char *out = NULL;
    *rc = qt_query(cmd, &out, err);
    assert_non_null(out);
    return out;
}

/* The text before the "Total flows processed" timing lines. */
static void cut_timing(char *s)
{
    char *t = strstr(s, "Total flows processed:");
    if (t)
        *t = '\0';
}

static void test_line_format(void **state)
{
    (void)state;
    char *dir = known_store();
    int rc;
    char *out = query(dir, "-o line", &rc, NULL);
    assert_int_equal(rc, 0);
    cut_timing(out);
    assert_string_equal(
        out,
        "Date first seen             Duration     Proto      Src IP Addr:Port          Dst IP Addr:Port   Packets    Bytes Flows\n"
        "2024-01-01 00:00:01.500     00:00:02.250 TCP           10.0.0.1:40000 ->      192.168.1.2:443         10     5000     1\n"
        "2024-01-01 00:00:03.000     00:00:00.000 UDP            8.8.8.8:53    ->         10.0.0.1:51000        1    1.2 M     1\n"
        "2024-01-01 00:00:04.000     00:00:01.000 ICMP          10.0.0.2:0     ->          1.2.3.4:8.3          2      168     1\n"
        "Summary: total flows: 3, total bytes: 1.2 M, total packets: 13, avg bps: 2.8 M, avg pps: 3, avg bpp: 92705\n"
        "Time window: 2024-01-01 00:00:01 - 2024-01-01 00:00:05\n");
    free(out);
    out = query(dir, "-o line -N -q", &rc, NULL);
    assert_int_equal(rc, 0);
    assert_string_equal(
        out,
        "2024-01-01 00:00:01.500            2.250 6             10.0.0.1:40000 ->      192.168.1.2:443         10     5000     1\n"
        "2024-01-01 00:00:03.000            0.000 17             8.8.8.8:53    ->         10.0.0.1:51000        1  1200000     1\n"
        "2024-01-01 00:00:04.000            1.000 1             10.0.0.2:0     ->          1.2.3.4:8.3          2      168     1\n");
    free(out);
    tu_rm_rf(dir);
    free(dir);
}

static void test_csv_and_summary(void **state)
{
    (void)state;
    char *dir = known_store();
    int rc;
    char *out = query(dir, "-o csv 'proto tcp'", &rc, NULL);
    assert_int_equal(rc, 0);
    assert_string_equal(
        out,
        "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,"
        "ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr\n"
        "2024-01-01 00:00:01,2024-01-01 00:00:03,2.250,10.0.0.1,192.168.1.2,40000,443,TCP,...AP.SF,0,4,10,5000,0,0,"
        "3,7,64500,15169,24,16,0,0,10.0.0.254,0.0.0.0,10,20,00:11:22:33:44:55,66:77:88:99:aa:bb,"
        "00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,"
        "    0.000,    0.000,    0.000,127.0.0.1,1/2,0,2024-01-01 00:00:03.750\n"
        "Summary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n1,5000,10,17777,4,500\n");
    free(out);
    tu_rm_rf(dir);
    free(dir);
}

static void test_json_and_info(void **state)
{
    (void)state;
    char *dir = known_store();
    int rc;
    char *out = query(dir, "-o ndjson 'proto icmp'", &rc, NULL);
    assert_int_equal(rc, 0);
    assert_string_equal(
        out, "{\"type\":\"FLOW\",\"sampled\":0,\"export_sysid\":0,\"first\":\"2024-01-01T00:00:04.000\","
             "\"last\":\"2024-01-01T00:00:05.000\",\"received\":\"2024-01-01T00:00:05.000\",\"in_packets\":2,"
             "\"in_bytes\":168,\"proto\":1,\"icmp_type\":8,\"icmp_code\":3,\"src_tos\":0,"
             "\"src4_addr\":\"10.0.0.2\",\"dst4_addr\":\"1.2.3.4\",\"input_snmp\":0,\"output_snmp\":0,"
             "\"src_mask\":0,\"dst_mask\":0,\"src_net\":\"0.0.0.0\",\"dst_net\":\"0.0.0.0\",\"fwd_status\":0,"
             "\"direction\":0,\"dst_tos\":0,\"src_as\":0,\"dst_as\":0,\"ip4_router\":\"127.0.0.1\","
             "\"label\":\"<none>\"}\n");
    free(out);
    out = query(dir, "-o json 'proto udp or proto icmp'", &rc, NULL);
    assert_int_equal(rc, 0);
    assert_true(strncmp(out, "[\n{\n\t\"type\" : \"FLOW\",\n", 22) == 0);
    assert_non_null(strstr(out, "\"label\" : \"<none>\"\n},\n{\n\t\"type\""));
    assert_non_null(strstr(out, "\"label\" : \"<none>\"\n}]\n"));
    assert_null(strstr(out, "Summary"));
    free(out);
    out = query(dir, "-I", &rc, NULL);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "Ident: none\nFlows: 3\nFlows_tcp: 1\nFlows_udp: 1\nFlows_icmp: 1\nFlows_other: 0\n"
                             "Packets: 13\nPackets_tcp: 10\nPackets_udp: 1\nPackets_icmp: 2\nPackets_other: 0\n"
                             "Bytes: 1205168\nBytes_tcp: 5000\nBytes_udp: 1200000\nBytes_icmp: 168\n"
                             "Bytes_other: 0\nFirst: 1704067201\nLast: 1704067205\nmsec_first: 500\n"
                             "msec_last: 0\nSequence failures: 0\n");
    free(out);
    out = query(dir, "-q -o 'fmt:%sa|%da|%pr|%sp|%dp|%flg|%tos|%sas|%das|%in|%out|%nh|%svln|%ismc|%odmc|%eng|%sn'",
                &rc, NULL);
    assert_int_equal(rc, 0);
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    assert_string_equal(out, "        10.0.0.1|     192.168.1.2|TCP  | 40000|   443|...AP.SF|  4| 64500| 15169|     3|"
                             "     7|      10.0.0.254|   10|00:11:22:33:44:55|66:77:88:99:aa:bb|    1/2|"
                             "        10.0.0.0/24");
    free(out);
    tu_rm_rf(dir);
    free(dir);
}

/* ---- generated data ------------------------------------------------------ */

static uint64_t lcg(uint64_t *s)
{
    *s = *s * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return *s >> 33;
}

static flow_record *gen(size_t n, uint64_t seed)
{
    flow_record *r = calloc(n, sizeof(*r));
    assert_non_null(r);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        uint64_t first = T0 + i * 360; /* one hour for 10000 flows */
        r[i] = qt_rec(first, lcg(&s) % 20000, 0x0a000000 | (uint32_t)(lcg(&s) % 50), 0xc0000000 | (uint32_t)(lcg(&s) % 700) << 4,
                      (uint8_t)(lcg(&s) % 3 == 0 ? 17 : 6), (uint16_t)(1024 + lcg(&s) % 40), (uint16_t)(lcg(&s) % 25),
                      1 + lcg(&s) % 100, 40 + lcg(&s) % 150000);
        r[i].src_as = (uint32_t)(lcg(&s) % 9);
        r[i].dst_as = (uint32_t)(lcg(&s) % 7);
        r[i].in_if = (uint32_t)(lcg(&s) % 5);
        r[i].out_if = (uint32_t)(lcg(&s) % 6);
        r[i].src_mask = (uint8_t)(16 + lcg(&s) % 9);
        r[i].dst_mask = (uint8_t)(16 + lcg(&s) % 9);
        r[i].src_vlan = (uint16_t)(lcg(&s) % 4);
        r[i].dst_vlan = (uint16_t)(lcg(&s) % 3);
        r[i].tos = (uint8_t)(lcg(&s) % 4 * 8);
        r[i].tcp_flags = (uint8_t)(lcg(&s) % 64);
        flow_addr_from_v4(r[i].next_hop, 0x0aff0000 | (uint32_t)(lcg(&s) % 6));
        flow_addr_from_v4(r[i].bgp_next_hop, 0x0afe0000 | (uint32_t)(lcg(&s) % 3));
        flow_addr_from_v4(r[i].exporter, 0x7f000000 | (uint32_t)(lcg(&s) % 4));
        r[i].src_mac = lcg(&s) % 5;
        r[i].dst_mac = lcg(&s) % 3;
        r[i].direction = (uint8_t)(lcg(&s) % 2);
        for (int l = 0; l < 10; l++)
            r[i].mpls[l] = (uint32_t)(lcg(&s) % (3 + l)) * 16u + (uint32_t)(lcg(&s) % 2) * 2u + (l == 9);
        flow_addr_from_v4(r[i].nat_src_addr, 0xc0a80000 | (uint32_t)(lcg(&s) % 5));
        flow_addr_from_v4(r[i].nat_dst_addr, 0xc0a90000 | (uint32_t)(lcg(&s) % 4));
        r[i].nat_src_port = (uint16_t)(1000 + lcg(&s) % 6);
        r[i].nat_dst_port = (uint16_t)(2000 + lcg(&s) % 7);
    }
    return r;
}

#define N_GEN 10000

static void test_limit_and_window(void **state)
{
    (void)state;
    flow_record *r = gen(N_GEN, 7);
    char *dir = tu_mkdtemp("qw");
    assert_int_equal(qt_write_store(dir, r, N_GEN, 100), 0);
    int rc;
    char *out = query(dir, "-q -c 5 -o csv", &rc, NULL);
    assert_int_equal(rc, 0);
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 5);
    assert_true(strncmp(out, "2024-01-01 00:00:00,", 20) == 0); /* file order: the first record first */
    free(out);

    /* -t: flows with first >= from and last <= to; blocks outside are skipped */
    query_options o;
    query_options_init(&o);
    o.paths[o.n_paths++] = dir;
    o.format = QUERY_OUT_NULL;
    o.quiet = true;
    assert_int_equal(cf_time_parse_window("2024/01/01.00:20:00-2024/01/01.00:30:00", &o.from_ms, &o.to_ms), CF_OK);
    FILE *devnull = fopen("/dev/null", "w");
    query_result res;
    assert_int_equal(query_run(&o, devnull, stderr, &res), CF_OK);
    uint64_t want = 0, want_bytes = 0;
    for (size_t i = 0; i < N_GEN; i++)
        if (r[i].first_ms >= o.from_ms && r[i].last_ms <= o.to_ms)
            want++, want_bytes += r[i].bytes;
    assert_true(want > 0);
    assert_int_equal(res.flows, want);
    assert_int_equal(res.bytes, want_bytes);
    assert_true(res.blocks_skipped > 0 || res.n_segments < 12);
    assert_true(res.processed < N_GEN);
    /* the same window as a filter-free brute force over all blocks, through a filter that
     * cannot skip anything: counts agree */
    query_options o2 = o;
    o2.filter = "bytes > 0";
    o2.from_ms = 0, o2.to_ms = UINT64_MAX;
    assert_int_equal(query_run(&o2, devnull, stderr, &res), CF_OK);
    assert_int_equal(res.flows, N_GEN);
    assert_int_equal(res.blocks_skipped, 0);
    fclose(devnull);
    tu_rm_rf(dir);
    free(dir);
    free(r);
}

/* Key of element e in record r, as the test computes it (value, up to 2 per record). */
static int elem_keys(query_elem e, const flow_record *r, uint8_t keys[2][16])
{
    memset(keys, 0, 32);
    uint64_t v[2] = {0, 0};
    int n = 1, addr = 0;
    switch (e) {
    case QUERY_EL_SRCIP: memcpy(keys[0], r->src_addr, 16); addr = 1; break;
    case QUERY_EL_DSTIP: memcpy(keys[0], r->dst_addr, 16); addr = 1; break;
    case QUERY_EL_IP: memcpy(keys[0], r->src_addr, 16); memcpy(keys[1], r->dst_addr, 16); n = 2; addr = 1; break;
    case QUERY_EL_NHIP: memcpy(keys[0], r->next_hop, 16); addr = 1; break;
    case QUERY_EL_NHBIP: memcpy(keys[0], r->bgp_next_hop, 16); addr = 1; break;
    case QUERY_EL_ROUTER: case QUERY_EL_EXPORTER: memcpy(keys[0], r->exporter, 16); addr = 1; break;
    case QUERY_EL_SRCPORT: v[0] = r->src_port; break;
    case QUERY_EL_DSTPORT: v[0] = r->dst_port; break;
    case QUERY_EL_PORT: v[0] = r->src_port, v[1] = r->dst_port, n = 2; break;
    case QUERY_EL_PROTO: v[0] = r->proto; break;
    case QUERY_EL_SRCAS: v[0] = r->src_as; break;
    case QUERY_EL_DSTAS: v[0] = r->dst_as; break;
    case QUERY_EL_AS: v[0] = r->src_as, v[1] = r->dst_as, n = 2; break;
    case QUERY_EL_INIF: v[0] = r->in_if; break;
    case QUERY_EL_OUTIF: v[0] = r->out_if; break;
    case QUERY_EL_IF: v[0] = r->in_if, v[1] = r->out_if, n = 2; break;
    case QUERY_EL_SRCMASK: v[0] = r->src_mask; break;
    case QUERY_EL_DSTMASK: v[0] = r->dst_mask; break;
    case QUERY_EL_MASK: v[0] = r->src_mask, v[1] = r->dst_mask, n = 2; break;
    case QUERY_EL_SRCVLAN: v[0] = r->src_vlan; break;
    case QUERY_EL_DSTVLAN: v[0] = r->dst_vlan; break;
    case QUERY_EL_VLAN: v[0] = r->src_vlan, v[1] = r->dst_vlan, n = 2; break;
    case QUERY_EL_TOS: v[0] = r->tos; break;
    case QUERY_EL_FLAGS: v[0] = r->tcp_flags; break;
    case QUERY_EL_SRCMAC: v[0] = r->src_mac, v[1] = 0, n = 2; break; /* + the out src MAC, not stored */
    case QUERY_EL_DSTMAC: v[0] = r->dst_mac, v[1] = 0, n = 2; break;
    case QUERY_EL_DIR: v[0] = r->direction; break;
    case QUERY_EL_XSRCIP: memcpy(keys[0], r->nat_src_addr, 16); addr = 1; break;
    case QUERY_EL_XDSTIP: memcpy(keys[0], r->nat_dst_addr, 16); addr = 1; break;
    case QUERY_EL_XSRCPORT: v[0] = r->nat_src_port; break;
    case QUERY_EL_XDSTPORT: v[0] = r->nat_dst_port; break;
    default:
        if (e >= QUERY_EL_MPLS1 && e <= QUERY_EL_MPLS10) {
            v[0] = r->mpls[e - QUERY_EL_MPLS1];
            break;
        }
        fail();
    }
    if (!addr)
        for (int i = 0; i < n; i++)
            memcpy(keys[i], &v[i], 8);
    return n;
}

/* Parses the value column of a -s row back into a key. */
static void value_key(query_elem e, const char *v, uint8_t key[16])
{
    memset(key, 0, 16);
    switch (e) {
    case QUERY_EL_SRCIP: case QUERY_EL_DSTIP: case QUERY_EL_IP: case QUERY_EL_NHIP: case QUERY_EL_NHBIP:
    case QUERY_EL_ROUTER: case QUERY_EL_EXPORTER: case QUERY_EL_XSRCIP: case QUERY_EL_XDSTIP:
        assert_int_equal(flow_addr_parse(v, key, NULL), CF_OK);
        return;
    case QUERY_EL_SRCMAC: case QUERY_EL_DSTMAC: {
        unsigned b[6];
        assert_int_equal(sscanf(v, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]), 6);
        uint64_t m = 0;
        for (int i = 0; i < 6; i++)
            m = m << 8 | b[i];
        memcpy(key, &m, 8);
        return;
    }
    case QUERY_EL_FLAGS: {
        uint64_t f = 0;
        for (int i = 0; i < 8; i++)
            if (v[i] != '.')
                f |= 0x80u >> i;
        memcpy(key, &f, 8);
        return;
    }
    default: {
        if (e >= QUERY_EL_MPLS1 && e <= QUERY_EL_MPLS10) { /* label-exp-bos */
            unsigned long long lab, exp, bos;
            assert_int_equal(sscanf(v, "%llu-%llu-%llu", &lab, &exp, &bos), 3);
            uint64_t m = lab << 4 | exp << 1 | bos;
            memcpy(key, &m, 8);
            return;
        }
        uint64_t x = strtoull(v, NULL, 10);
        memcpy(key, &x, 8);
        return;
    }
    }
}

typedef struct agg_row {
    uint8_t key[16];
    uint64_t flows, packets, bytes, first, last;
} agg_row;

static uint64_t order_value(const agg_row *a, query_order o)
{
    uint64_t d = a->last - a->first;
    switch (o) {
    case QUERY_ORDER_FLOWS: return a->flows;
    case QUERY_ORDER_PACKETS: return a->packets;
    case QUERY_ORDER_BYTES: return a->bytes;
    case QUERY_ORDER_PPS: return d ? (uint64_t)((double)a->packets * 1000.0 / (double)d) : 0;
    case QUERY_ORDER_BPS: return d ? (uint64_t)((double)a->bytes * 8000.0 / (double)d) : 0;
    case QUERY_ORDER_BPP: return a->packets ? a->bytes / a->packets : 0;
    default: fail();
    }
    return 0;
}

/* Brute force: every distinct key of element e with its counters. */
static size_t brute(query_elem e, const flow_record *r, size_t n, agg_row *rows)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t k[2][16];
        int nk = elem_keys(e, &r[i], k);
        for (int j = 0; j < nk; j++) {
            size_t x;
            for (x = 0; x < m; x++)
                if (memcmp(rows[x].key, k[j], 16) == 0)
                    break;
            if (x == m) {
                memset(&rows[m], 0, sizeof(rows[m]));
                memcpy(rows[m].key, k[j], 16);
                rows[m].first = UINT64_MAX;
                m++;
            }
            rows[x].flows++;
            rows[x].packets += r[i].packets;
            rows[x].bytes += r[i].bytes;
            if (r[i].first_ms < rows[x].first)
                rows[x].first = r[i].first_ms;
            if (r[i].last_ms > rows[x].last)
                rows[x].last = r[i].last_ms;
        }
    }
    return m;
}

static int cmp_u64_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void test_every_stat_element_and_order(void **state)
{
    (void)state;
    const size_t n = 3000;
    flow_record *r = gen(n, 11);
    char *dir = tu_mkdtemp("qs");
    assert_int_equal(qt_write_store(dir, r, n, 256), 0);
    agg_row *rows = calloc(2 * n, sizeof(*rows));
    static const char *const orders[] = {"flows", "packets", "bytes", "pps", "bps", "bpp"};
    for (unsigned e = 0; e < QUERY_EL_RECORD; e++) { /* every element table (record: test_query_record) */
        query_elem el[1];
        query_order od[1];
        size_t k;
        const char *names[] = {"srcip", "dstip", "ip", "srcport", "dstport", "port", "proto", "srcas", "dstas",
                               "as", "inif", "outif", "if", "srcmask", "dstmask", "mask", "srcvlan", "dstvlan",
                               "vlan", "tos", "flags", "nhip", "nhbip", "router", "srcmac", "dstmac", "exporter",
                               "dir", "mpls1", "mpls2", "mpls3", "mpls4", "mpls5", "mpls6", "mpls7", "mpls8",
                               "mpls9", "mpls10", "xsrcip", "xdstip", "xsrcport", "xdstport"};
        assert_int_equal(query_stat_parse(names[e], el, od, 1, &k), CF_OK);
        assert_int_equal(el[0], (query_elem)e);
        size_t m = brute((query_elem)e, r, n, rows);
        for (unsigned o = 0; o < 6; o++) {
            char args[128];
            snprintf(args, sizeof(args), "-q -N -n 5 -s %s/%s", names[e], orders[o]);
            int rc;
            char *out = query(dir, args, &rc, NULL);
            assert_int_equal(rc, 0);
            uint64_t want[2 * 3000], got[5];
            for (size_t i = 0; i < m; i++)
                want[i] = order_value(&rows[i], (query_order)o);
            qsort(want, m, sizeof(want[0]), cmp_u64_desc);
            size_t n_rows = 0;
            for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                for (char *p = l; *p; p++)
                    if (*p == '(' || *p == ')')
                        *p = ' ';
                char f[14][48];
                int nf = sscanf(l, "%47s %47s %47s %47s %47s %47s %47s %47s %47s %47s %47s %47s %47s %47s", f[0],
                                f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12], f[13]);
                assert_int_equal(nf, 14);
                uint8_t key[16];
                value_key((query_elem)e, f[4], key);
                size_t x;
                for (x = 0; x < m; x++)
                    if (memcmp(rows[x].key, key, 16) == 0)
                        break;
                assert_true(x < m);
                assert_int_equal(strtoull(f[5], NULL, 10), rows[x].flows);
                assert_int_equal(strtoull(f[7], NULL, 10), rows[x].packets);
                assert_int_equal(strtoull(f[9], NULL, 10), rows[x].bytes);
                assert_true(n_rows < 5);
                got[n_rows++] = order_value(&rows[x], (query_order)o);
            }
            assert_int_equal(n_rows, m < 5 ? m : 5);
            for (size_t i = 0; i < n_rows; i++)
                assert_int_equal(got[i], want[i]);
            free(out);
        }
    }
    free(rows);
    tu_rm_rf(dir);
    free(dir);
    free(r);
}

static void test_aggregate_with_masks(void **state)
{
    (void)state;
    const size_t n = 2000;
    flow_record *r = gen(n, 5);
    char *dir = tu_mkdtemp("qa");
    assert_int_equal(qt_write_store(dir, r, n, 200), 0);
    int rc;
    char *out = query(dir, "-q -N -A dstip4/20,proto -O bytes -n 0", &rc, NULL);
    assert_int_equal(rc, 0);
    size_t rows = 0;
    uint64_t prev = UINT64_MAX, sum_flows = 0;
    for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char d[16], t[16], dur[16], ip[64], pr[16];
        unsigned long long pk, by, bps, bpp, fl;
        assert_int_equal(sscanf(l, "%15s %15s %15s %63s %15s %llu %llu %llu %llu %llu", d, t, dur, ip, pr, &pk, &by,
                                &bps, &bpp, &fl),
                         10);
        uint8_t a[16];
        assert_int_equal(flow_addr_parse(ip, a, NULL), CF_OK);
        assert_int_equal(flow_addr_v4(a) & 0xfff, 0); /* masked to /20 */
        uint64_t w_pk = 0, w_by = 0, w_fl = 0;
        for (size_t i = 0; i < n; i++)
            if ((flow_addr_v4(r[i].dst_addr) & 0xfffff000u) == flow_addr_v4(a) && r[i].proto == (uint8_t)atoi(pr))
                w_pk += r[i].packets, w_by += r[i].bytes, w_fl++;
        assert_int_equal(pk, w_pk);
        assert_int_equal(by, w_by);
        assert_int_equal(fl, w_fl);
        assert_true(by <= prev);
        prev = by;
        sum_flows += fl;
        rows++;
    }
    assert_true(rows > 2);
    assert_int_equal(sum_flows, n);
    free(out);
    tu_rm_rf(dir);
    free(dir);
    free(r);
}

static void test_threads_keep_file_order(void **state)
{
    (void)state;
    flow_record *r = gen(N_GEN, 3);
    char *dir = tu_mkdtemp("qt");
    assert_int_equal(qt_write_store(dir, r, N_GEN, 500), 0);
    int rc1, rc2;
    char *a = query(dir, "-q -o csv -T 1", &rc1, NULL);
    char *b = query(dir, "-q -o csv -T 2", &rc2, NULL);
    assert_int_equal(rc1, 0);
    assert_int_equal(rc2, 0);
    assert_string_equal(a, b);
    size_t lines = 0;
    for (char *p = a; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, N_GEN);
    free(a);
    free(b);
    char *s1 = query(dir, "-q -N -s srcip/bytes -s dstport -n 20 -T 1", &rc1, NULL);
    char *s2 = query(dir, "-q -N -s srcip/bytes -s dstport -n 20 -T 2", &rc2, NULL);
    assert_string_equal(s1, s2);
    free(s1);
    free(s2);
    tu_rm_rf(dir);
    free(dir);
    free(r);
}

/* Lines of s (a malloc'ed copy of its first n lines; n = 0: all). */
static char *first_lines(const char *s, size_t n)
{
    const char *e = s;
    for (size_t i = 0; *e && (n == 0 || i < n); i++) {
        const char *nl = strchr(e, '\n');
        e = nl ? nl + 1 : e + strlen(e);
    }
    char *c = strndup(s, (size_t)(e - s));
    assert_non_null(c);
    return c;
}

/* IPv4 keys go to compact tables, the others (IPv6, a pair with one IPv6
 * address) to the general ones; -A top N may read the data in several
 * passes.  Every way must give the same rows, equal to the head of the
 * full listing, and the counts must add up. */
static void test_compact_keys_and_passes(void **state)
{
    (void)state;
    const size_t n = 3000;
    flow_record *r = gen(n, 9);
    for (size_t i = 0; i < n; i += 7) { /* every 7th flow IPv6 on one side or both */
        uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (uint8_t)(i % 5)};
        memcpy(i % 2 ? r[i].src_addr : r[i].dst_addr, a6, 16);
        if (i % 3 == 0)
            memcpy(r[i].dst_addr, a6, 16);
        r[i].family = 6;
    }
    char *dir = tu_mkdtemp("qc");
    assert_int_equal(qt_write_store(dir, r, n, 256), 0);
    int rc;
    char *all = query(dir, "-q -N -A srcip,dstip -O bytes -n 0 -T 1", &rc, NULL);
    assert_int_equal(rc, 0);
    char *want = first_lines(all, 25);
    const char *ways[] = {"-T 1", "-T 2", "-T 1 --pass-rows 100", "-T 2 --pass-rows 100", "-T 2 --pass-rows 1"};
    for (size_t k = 0; k < sizeof(ways) / sizeof(ways[0]); k++) {
        char args[128];
        snprintf(args, sizeof(args), "-q -N -A srcip,dstip -O bytes -n 25 %s", ways[k]);
        char *got = query(dir, args, &rc, NULL);
        assert_int_equal(rc, 0);
        assert_string_equal(got, want);
        free(got);
    }
    uint64_t sum = 0;
    for (char *save = NULL, *l = strtok_r(all, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        sum += strtoull(strrchr(l, ' ') + 1, NULL, 10); /* the Flows column */
    assert_int_equal(sum, n);
    char *s1 = query(dir, "-q -N -s srcip/bytes -s ip/flows -n 0 -T 1", &rc, NULL);
    char *s2 = query(dir, "-q -N -s srcip/bytes -s ip/flows -n 0 -T 2", &rc, NULL);
    assert_string_equal(s1, s2);
    assert_non_null(strstr(s1, " 2001:db8::3 ")); /* IPv6 keys are listed with the IPv4 ones */
    free(s1);
    free(s2);
    free(want);
    free(all);
    tu_rm_rf(dir);
    free(dir);
    free(r);
}

/* Blocks whose addresses are all IPv4 are decoded as 32-bit addresses and
 * the filter's other columns only at the rows it kept: the answers must not
 * depend on the block layout (IPv4-only blocks, blocks where one side has an
 * IPv6 address, mixed blocks) nor on the number of threads. */
static void test_ipv4_blocks_and_selected_rows(void **state)
{
    (void)state;
    const size_t n = 4096;
    flow_record *r = gen(n, 11);
    uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = 2048; i < n; i += 5) {
        a6[15] = (uint8_t)(i % 7);
        if (i < 2560) /* one side only: dst, then src */
            memcpy(i < 2304 ? r[i].dst_addr : r[i].src_addr, a6, 16);
        else if (i % 2)
            memcpy(r[i].src_addr, a6, 16), memcpy(r[i].dst_addr, a6, 16);
        r[i].family = 6;
    }
    char *dir_a = tu_mkdtemp("qv4a"), *dir_b = tu_mkdtemp("qv4b");
    assert_int_equal(qt_write_store(dir_a, r, n, 128), 0);
    assert_int_equal(qt_write_store(dir_b, r, n, 4096), 0);
    const char *qs[] = {
        "-s srcip/bytes -s ip/flows -n 0",
        "-A srcip,dstip -O bytes -n 0",
        "-A dstip -O flows -n 0",
        "'src net 10.0.0.0/26' -s dstip/bytes -n 0",
        "'dst port 7 and src net 10.0.0.0/27' -s dstip/bytes -s srcport/flows -n 0",
        "'host 10.0.0.3 or net 2001:db8::/32' -A srcip,dstip -O packets -n 0",
        "'dst net 192.0.0.0/20 and not src host 10.0.0.1' -A srcip,dstip -O bytes -n 30",
        "'src ip in [10.0.0.1 10.0.0.2 2001:db8::3]' -s ip/bytes -n 0",
    };
    for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
        char *want = NULL;
        for (int v = 0; v < 4; v++) {
            char args[512];
            snprintf(args, sizeof(args), "-q -N %s -T %d", qs[k], v % 2 + 1);
            int rc;
            char *got = query(v < 2 ? dir_a : dir_b, args, &rc, NULL);
            assert_int_equal(rc, 0); /* -q: no timing lines */
            if (!want) {
                want = got;
                assert_true(strlen(want) > 0);
                continue;
            }
            if (strcmp(got, want) != 0)
                print_error("%s (%d): differs\n", qs[k], v);
            assert_string_equal(got, want);
            free(got);
        }
        free(want);
    }
    tu_rm_rf(dir_a);
    tu_rm_rf(dir_b);
    free(dir_a);
    free(dir_b);
    free(r);
}

static void test_corrupt_block_is_reported(void **state)
{
    (void)state;
    const size_t n = 1000;
    flow_record *r = calloc(n, sizeof(*r));
    for (size_t i = 0; i < n; i++)
        r[i] = qt_rec(T0 + i * 100, 10, 0x0a000000 + (uint32_t)i, 0x0b000000 + (uint32_t)i * 7, 6, 1000, 80, 1 + i % 7, 100 + i);
    char *dir = tu_mkdtemp("qc");
    assert_int_equal(qt_write_store(dir, r, n, 100), 0);
    store_segment *segs = NULL;
    size_t n_segs = 0;
    assert_int_equal(store_list(dir, 0, UINT64_MAX, &segs, &n_segs), CF_OK);
    assert_true(n_segs >= 1);
    /* flip bytes in the middle of the first segment: one block fails its checksum */
    FILE *f = fopen(segs[0].path, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long at = size / 2;
    fseek(f, at, SEEK_SET);
    unsigned char buf[8];
    assert_int_equal(fread(buf, 1, 8, f), 8);
    for (int i = 0; i < 8; i++)
        buf[i] ^= 0x5a;
    fseek(f, at, SEEK_SET);
    fwrite(buf, 1, 8, f);
    fclose(f);
    int rc;
    char *err = NULL;
    char *out = query(dir, "-o null -N", &rc, &err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, segs[0].path));
    assert_non_null(strstr(err, "block"));
    unsigned long long flows = 0;
    assert_int_equal(sscanf(out, "Summary: total flows: %llu", &flows), 1);
    assert_true(flows > 0 && flows < n); /* the other blocks were read */
    free(out);
    free(err);
    store_segments_free(segs, n_segs);
    tu_rm_rf(dir);
    free(dir);
    free(r);
}

/* A flipped byte in the bytes column of block 0: a query that decodes the
 * column names file and block 0 and exits 1; the other blocks are counted. */
static void test_corrupt_column_is_reported_when_decoded(void **state)
{
    (void)state;
    const size_t n = 1000;
    flow_record *r = calloc(n, sizeof(*r));
    for (size_t i = 0; i < n; i++)
        r[i] = qt_rec(T0 + i * 100, 10, 0x0a000000 + (uint32_t)i, 0x0b000000 + (uint32_t)i * 7, 6, 1000, 80,
                      1 + i % 7, 100 + i * 13);
    char *dir = tu_mkdtemp("qcc");
    assert_int_equal(qt_write_store(dir, r, n, 100), 0);
    store_segment *segs = NULL;
    size_t n_segs = 0;
    assert_int_equal(store_list(dir, 0, UINT64_MAX, &segs, &n_segs), CF_OK);
    assert_true(n_segs >= 1);
    size_t len = 0;
    uint8_t *bytes = (uint8_t *)tu_read_file(segs[0].path, &len);
    assert_non_null(bytes);
    const uint8_t *blk = bytes + STORE_FILE_HEADER_LEN;
    uint32_t n_cols = store_le32(blk + 8);
    size_t off = STORE_FILE_HEADER_LEN + STORE_BLOCK_FIXED_LEN + (size_t)n_cols * STORE_DIR_ENTRY_LEN + 8;
    store_col_entry e = {0};
    bool found = false;
    for (uint32_t i = 0; i < n_cols && !found; i++) {
        store_col_entry_get(blk + STORE_BLOCK_FIXED_LEN + (size_t)i * STORE_DIR_ENTRY_LEN, &e);
        if (e.field_id == FLOW_FIELD_BYTES && e.stored_len > 0)
            found = true;
        else
            off += e.stored_len;
    }
    assert_true(found);
    assert_true(off + e.stored_len <= len);
    bytes[off + e.stored_len / 2] ^= 0x10;
    FILE *f = fopen(segs[0].path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    fclose(f);
    int rc;
    char *err = NULL;
    char *out = query(dir, "-s srcip/bytes -n 5 -N", &rc, &err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, segs[0].path));
    assert_non_null(strstr(err, "block 0:"));
    unsigned long long flows = 0;
    const char *sum = strstr(out, "Summary: total flows: ");
    assert_non_null(sum);
    assert_int_equal(sscanf(sum, "Summary: total flows: %llu", &flows), 1);
    assert_true(flows > 0 && flows < n);
    free(out);
    free(err);
    /* with a filter the bytes column is decoded only for blocks where a row matched */
    out = query(dir, "'proto tcp' -s srcip/bytes -n 5 -N", &rc, &err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "block 0:"));
    free(out);
    free(err);
    free(bytes);
    store_segments_free(segs, n_segs);
    tu_rm_rf(dir);
    free(dir);
    free(r);
}

static void test_bad_usage_exits_2(void **state)
{
    (void)state;
    char *dir = known_store();
    static const char *const bad[] = {"-o nosuch", "-s nosuch", "-s srcip/nosuch", "-A srcip4/40", "-n x",
                                      "-O sideways", "-t yesterday", "--no-such-option", "'proto tcp and'",
                                      "-O bytes"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc;
        char *err = NULL;
        char *out = query(dir, bad[i], &rc, &err);
        if (rc != 2)
            fprintf(stderr, "args %s: exit %d\n", bad[i], rc);
        assert_int_equal(rc, 2);
        assert_true(strlen(err) > 0);
        free(out);
        free(err);
    }
    char *err = NULL;
    char *out = NULL;
    assert_int_equal(qt_query("-o line", &out, &err), 2); /* no input */
    free(out);
    free(err);
    out = err = NULL;
    assert_int_equal(qt_query("-R /nonexistent/cloudflow-data", &out, &err), 2); /* input that is not there */
    assert_non_null(strstr(err, "/nonexistent/cloudflow-data: no such file or directory"));
    free(out);
    free(err);
    int rc;
    out = query(dir, "'proto tcp and and'", &rc, &err);
    assert_int_equal(rc, 2);
    assert_non_null(strchr(err, '^')); /* the caret under the error */
    free(out);
    free(err);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_format),
        cmocka_unit_test(test_csv_and_summary),
        cmocka_unit_test(test_json_and_info),
        cmocka_unit_test(test_limit_and_window),
        cmocka_unit_test(test_every_stat_element_and_order),
        cmocka_unit_test(test_aggregate_with_masks),
        cmocka_unit_test(test_threads_keep_file_order),
        cmocka_unit_test(test_compact_keys_and_passes),
        cmocka_unit_test(test_ipv4_blocks_and_selected_rows),
        cmocka_unit_test(test_corrupt_block_is_reported),
        cmocka_unit_test(test_corrupt_column_is_reported_when_decoded),
        cmocka_unit_test(test_bad_usage_exits_2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
