/*
 * tests/decode/test_nf9_crafted.c - NetFlow v9 and IPFIX on crafted
 * messages: fields and encodings, templates (replace, withdraw, limits),
 * bad input counted by reason, sampling, data before template, sequence
 * accounting and template persistence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/bytes.h"
#include "decode/decode.h"

#define T_SECS 1700000000u
#define MAX_RECS 64

/* ---- a message builder ----------------------------------------------------- */

typedef struct msg {
    uint8_t b[4096];
    size_t n;
    size_t set_start; /* offset of the open set, or 0 */
    int ipfix;
} msg;

static void put8(msg *m, uint8_t v) { m->b[m->n++] = v; }
static void put16(msg *m, uint16_t v) { cf_put_be16(m->b + m->n, v), m->n += 2; }
static void put32(msg *m, uint32_t v) { cf_put_be32(m->b + m->n, v), m->n += 4; }
static void put64(msg *m, uint64_t v) { cf_put_be64(m->b + m->n, v), m->n += 8; }
static void putn(msg *m, const void *p, size_t n) { memcpy(m->b + m->n, p, n), m->n += n; }

static void v9_begin(msg *m, uint16_t count, uint32_t uptime, uint32_t seq, uint32_t source)
{
    memset(m, 0, sizeof(*m));
    put16(m, 9), put16(m, count), put32(m, uptime), put32(m, T_SECS), put32(m, seq), put32(m, source);
}

static void ipfix_begin(msg *m, uint32_t seq, uint32_t domain)
{
    memset(m, 0, sizeof(*m));
    m->ipfix = 1;
    put16(m, 10), put16(m, 0), put32(m, T_SECS), put32(m, seq), put32(m, domain);
}

static void set_begin(msg *m, uint16_t id)
{
    m->set_start = m->n;
    put16(m, id), put16(m, 0);
}

static void set_end(msg *m)
{
    cf_put_be16(m->b + m->set_start + 2, (uint16_t)(m->n - m->set_start));
}

static size_t msg_end(msg *m)
{
    if (m->ipfix)
        cf_put_be16(m->b + 2, (uint16_t)m->n);
    return m->n;
}

/* A field specifier; pen != 0 sets the enterprise bit (IPFIX). */
static void field(msg *m, uint16_t id, uint16_t len, uint32_t pen)
{
    put16(m, pen ? (uint16_t)(id | 0x8000u) : id), put16(m, len);
    if (pen)
        put32(m, pen);
}

/* ---- decoding -------------------------------------------------------------- */

typedef struct sink {
    flow_record recs[MAX_RECS];
    size_t n;
} sink;

static void collect(void *ctx, const flow_record *rec)
{
    sink *s = ctx;
    assert_true(s->n < MAX_RECS);
    s->recs[s->n++] = *rec;
}

static decode_exporter g_ex;

static int setup(void **state)
{
    (void)state;
    static const uint8_t addr[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 9};
    decode_exporter_init(&g_ex, addr, 2055);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    decode_exporter_free(&g_ex);
    return 0;
}

static cf_err run(msg *m, sink *s)
{
    size_t len = msg_end(m);
    if (s)
        s->n = 0;
    /* exactly len bytes on the heap, so that ASan sees any over-read */
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, m->b, len);
    cf_err err = decode_packet(&g_ex, copy, len, (uint64_t)T_SECS * 1000u, collect, s);
    free(copy);
    return err;
}

static decode_tpl_stats tstats(void)
{
    decode_tpl_stats t;
    decode_tpl_stats_snapshot(&g_ex, &t);
    return t;
}

static decode_stats stats(void)
{
    decode_stats t;
    decode_stats_snapshot(&g_ex, &t);
    return t;
}

/* ---- v9: every field ------------------------------------------------------- */

/* Template 300: a v9 record with most flow_record fields, reduced sizes. */
static void v9_full_template(msg *m)
{
    set_begin(m, 0);
    put16(m, 300), put16(m, 24);
    field(m, 8, 4, 0), field(m, 12, 4, 0), field(m, 7, 2, 0), field(m, 11, 2, 0);
    field(m, 4, 1, 0), field(m, 6, 1, 0), field(m, 5, 1, 0), field(m, 2, 4, 0);
    field(m, 1, 8, 0), field(m, 10, 2, 0), field(m, 14, 4, 0), field(m, 16, 2, 0);
    field(m, 17, 4, 0), field(m, 9, 1, 0), field(m, 13, 1, 0), field(m, 15, 4, 0);
    field(m, 18, 4, 0), field(m, 58, 2, 0), field(m, 59, 2, 0), field(m, 56, 6, 0);
    field(m, 80, 6, 0), field(m, 61, 1, 0), field(m, 22, 4, 0), field(m, 21, 4, 0);
    set_end(m);
}

static void v9_full_record(msg *m, uint32_t src)
{
    put32(m, src), put32(m, 0xc0a80102u), put16(m, 1234), put16(m, 443);
    put8(m, 6), put8(m, 0x1b), put8(m, 0xb8), put32(m, 10);
    put64(m, 5000000000ull), put16(m, 3), put32(m, 70000), put16(m, 64512);
    put32(m, 4200000000u), put8(m, 24), put8(m, 16), put32(m, 0xac100001u);
    put32(m, 0xac100002u), put16(m, 100), put16(m, 200);
    putn(m, "\x00\x11\x22\x33\x44\x55", 6), putn(m, "\x66\x77\x88\x99\xaa\xbb", 6);
    put8(m, 1), put32(m, 90000), put32(m, 99000);
}

static void test_v9_every_field(void **state)
{
    (void)state;
    msg m;
    sink s;
    v9_begin(&m, 3, 100000, 0, 77);
    v9_full_template(&m);
    set_begin(&m, 300);
    v9_full_record(&m, 0x0a000001u);
    v9_full_record(&m, 0x0a000002u);
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(s.n, 2);
    const flow_record *r = &s.recs[0];
    char buf[64];
    flow_addr_format(r->src_addr, buf, sizeof(buf));
    assert_string_equal(buf, "10.0.0.1");
    flow_addr_format(r->dst_addr, buf, sizeof(buf));
    assert_string_equal(buf, "192.168.1.2");
    flow_addr_format(s.recs[1].src_addr, buf, sizeof(buf));
    assert_string_equal(buf, "10.0.0.2");
    assert_int_equal(r->family, 4);
    assert_int_equal(r->src_port, 1234);
    assert_int_equal(r->dst_port, 443);
    assert_int_equal(r->proto, 6);
    assert_int_equal(r->tcp_flags, 0x1b);
    assert_int_equal(r->tos, 0xb8);
    assert_int_equal(r->packets, 10);
    assert_int_equal(r->bytes, 5000000000ull);
    assert_int_equal(r->in_if, 3);
    assert_int_equal(r->out_if, 70000);
    assert_int_equal(r->src_as, 64512);
    assert_int_equal(r->dst_as, 4200000000u);
    assert_int_equal(r->src_mask, 24);
    assert_int_equal(r->dst_mask, 16);
    flow_addr_format(r->next_hop, buf, sizeof(buf));
    assert_string_equal(buf, "172.16.0.1");
    flow_addr_format(r->bgp_next_hop, buf, sizeof(buf));
    assert_string_equal(buf, "172.16.0.2");
    assert_int_equal(r->src_vlan, 100);
    assert_int_equal(r->dst_vlan, 200);
    assert_int_equal(r->src_mac, 0x001122334455ull);
    assert_int_equal(r->dst_mac, 0x66778899aabbull);
    assert_int_equal(r->direction, 1);
    /* export 1700000000.000, uptime 100 s: first 10 s, last 1 s before */
    assert_int_equal(r->first_ms, (uint64_t)T_SECS * 1000u - 10000u);
    assert_int_equal(r->last_ms, (uint64_t)T_SECS * 1000u - 1000u);
    assert_int_equal(r->obs_domain, 77);
    assert_int_equal(r->exporter_proto, FLOW_PROTO_NETFLOW9);
    assert_int_equal(r->exporter[15], 9);
    /* no sampling announced: rate 1, flagged unknown and counted */
    assert_int_equal(r->sampling, 1);
    assert_true(r->flags & FLOW_F_SAMPLING_UNKNOWN);
    assert_int_equal(tstats().sampling_unknown, 2);
    assert_int_equal(stats().records, 2);
    assert_int_equal(decode_template_count(&g_ex), 1);
}

/* ---- IPFIX: encodings ------------------------------------------------------ */

static void test_ipfix_varlen_enterprise_reverse_times(void **state)
{
    (void)state;
    msg m;
    sink s;
    ipfix_begin(&m, 0, 5);
    set_begin(&m, 2);
    put16(&m, 400), put16(&m, 9);
    field(&m, 27, 16, 0), field(&m, 28, 16, 0), field(&m, 82, 0xffff, 0); /* interfaceName, varlen */
    field(&m, 1, 4, 0), field(&m, 1, 4, 29305);                          /* reverse octets */
    field(&m, 100, 0xffff, 6871), field(&m, 154, 8, 0), field(&m, 157, 8, 0);
    field(&m, 2, 2, 0);
    set_end(&m);
    set_begin(&m, 400);
    uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8};
    a6[15] = 1;
    putn(&m, a6, 16);
    a6[15] = 2;
    putn(&m, a6, 16);
    put8(&m, 3), putn(&m, "et0", 3);                 /* 1-byte length form */
    put32(&m, 1000), put32(&m, 2000);
    put8(&m, 255), put16(&m, 300);                   /* 3-byte length form */
    for (int i = 0; i < 300; i++)
        put8(&m, (uint8_t)i);
    /* NTP: 1700000000 s + 2208988800, fraction 0.5 s */
    put32(&m, T_SECS + 2208988800u - 5), put32(&m, 0x80000000u);
    put32(&m, T_SECS + 2208988800u - 1), put32(&m, 0x40000000u);
    put16(&m, 7);
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(s.n, 1);
    const flow_record *r = &s.recs[0];
    assert_int_equal(r->family, 6);
    assert_int_equal(r->src_addr[15], 1);
    assert_int_equal(r->dst_addr[15], 2);
    assert_int_equal(r->bytes, 1000); /* the forward counter */
    assert_int_equal(r->packets, 7);
    assert_int_equal(r->first_ms, (uint64_t)(T_SECS - 5) * 1000u + 500u);
    assert_int_equal(r->last_ms, (uint64_t)(T_SECS - 1) * 1000u + 250u);
    assert_int_equal(r->exporter_proto, FLOW_PROTO_IPFIX);
    decode_tpl_stats t = tstats();
    assert_int_equal(t.enterprise_fields, 1);
    assert_int_equal(t.biflow_records, 1);
}

/* MPLS label stack, NAT addresses and ports, firewall event, application id
 * (IPFIX), and the same NAT/event elements in their Cisco NSEL v9 form. */
static void test_mpls_nat_event_application(void **state)
{
    (void)state;
    msg m;
    sink s;
    ipfix_begin(&m, 0, 6);
    set_begin(&m, 2);
    put16(&m, 401), put16(&m, 11);
    field(&m, 8, 4, 0), field(&m, 12, 4, 0), field(&m, 70, 3, 0), field(&m, 71, 3, 0);
    field(&m, 225, 4, 0), field(&m, 226, 4, 0), field(&m, 227, 2, 0), field(&m, 228, 2, 0);
    field(&m, 233, 1, 0), field(&m, 95, 0xffff, 0), field(&m, 2, 4, 0);
    set_end(&m);
    set_begin(&m, 401);
    put32(&m, 0x0a000001), put32(&m, 0x0a000002);
    put8(&m, 0x01), put16(&m, 0x2340);        /* label 0x1234, exp 0, not bottom */
    put8(&m, 0x00), put16(&m, 0x1001);        /* label 0x100, bottom of stack */
    put32(&m, 0xc6336401), put32(&m, 0xcb007102);
    put16(&m, 40000), put16(&m, 443);
    put8(&m, 2);                              /* flow deleted */
    put8(&m, 4), put8(&m, 13), putn(&m, "\x00\x01\x50", 3); /* varlen 4: engine 13, selector 0x150 */
    put32(&m, 9);
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(s.n, 1);
    const flow_record *r = &s.recs[0];
    assert_int_equal(r->mpls[0], 0x012340);
    assert_int_equal(r->mpls[1], 0x001001);
    assert_int_equal(r->mpls[2], 0);
    assert_true(flow_addr_is_v4(r->nat_src_addr));
    assert_int_equal(flow_addr_v4(r->nat_src_addr), 0xc6336401);
    assert_int_equal(flow_addr_v4(r->nat_dst_addr), 0xcb007102);
    assert_int_equal(r->nat_src_port, 40000);
    assert_int_equal(r->nat_dst_port, 443);
    assert_int_equal(r->fw_event, 2);
    assert_int_equal(r->app_id, (13u << 24) | 0x150);
    assert_int_equal(r->packets, 9);

    /* NSEL in NetFlow v9: xlate addresses 40001/40002, ports 40003/40004, event 40005 */
    v9_begin(&m, 2, 100000, 0, 7);
    set_begin(&m, 0);
    put16(&m, 300), put16(&m, 6);
    field(&m, 8, 4, 0), field(&m, 40001, 4, 0), field(&m, 40002, 4, 0);
    field(&m, 40003, 2, 0), field(&m, 40004, 2, 0), field(&m, 40005, 1, 0);
    set_end(&m);
    set_begin(&m, 300);
    put32(&m, 0x0a000003), put32(&m, 0xc6336402), put32(&m, 0xcb007103);
    put16(&m, 1024), put16(&m, 80), put8(&m, 3);
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(s.n, 1);
    r = &s.recs[0];
    assert_int_equal(flow_addr_v4(r->nat_src_addr), 0xc6336402);
    assert_int_equal(flow_addr_v4(r->nat_dst_addr), 0xcb007103);
    assert_int_equal(r->nat_src_port, 1024);
    assert_int_equal(r->nat_dst_port, 80);
    assert_int_equal(r->fw_event, 3);
}

/* softflowd's IPFIX: flowStart/EndSysUpTime from before systemInitTime, sent
 * as negative 32-bit offsets (e.g. 0xfffffc18 = -1000 ms). */
static void test_ipfix_negative_uptime_offsets(void **state)
{
    (void)state;
    msg m;
    sink s;
    ipfix_begin(&m, 0, 8);
    set_begin(&m, 2);
    put16(&m, 402), put16(&m, 5);
    field(&m, 8, 4, 0), field(&m, 160, 8, 0), field(&m, 22, 4, 0), field(&m, 21, 4, 0);
    field(&m, 2, 4, 0);
    set_end(&m);
    set_begin(&m, 402);
    uint64_t init_ms = (uint64_t)(T_SECS - 10) * 1000u;
    put32(&m, 0x0a000001), put64(&m, init_ms);
    put32(&m, 0xfffffc18u), put32(&m, 0xfffffe0cu); /* -1000 ms, -500 ms */
    put32(&m, 1);
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.recs[0].first_ms, init_ms - 1000);
    assert_int_equal(s.recs[0].last_ms, init_ms - 500);
}

/* One IPFIX record through a one-field-plus-counters template with the
 * time elements given; returns the record. */
static flow_record ipfix_times(uint16_t tid, const uint16_t *ids, const uint16_t *lens,
                               const uint64_t *vals, size_t n)
{
    msg m;
    sink s;
    ipfix_begin(&m, 0, 6);
    set_begin(&m, 2);
    put16(&m, tid), put16(&m, (uint16_t)(n + 1));
    field(&m, 2, 4, 0);
    for (size_t i = 0; i < n; i++)
        field(&m, ids[i], lens[i], 0);
    set_end(&m);
    set_begin(&m, tid);
    put32(&m, 1);
    for (size_t i = 0; i < n; i++) {
        if (lens[i] == 8)
            put64(&m, vals[i]);
        else
            put32(&m, (uint32_t)vals[i]);
    }
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(s.n, 1);
    return s.recs[0];
}

static void test_ipfix_time_encodings(void **state)
{
    (void)state;
    const uint64_t base = (uint64_t)T_SECS * 1000u;
    flow_record r;
    r = ipfix_times(500, (uint16_t[]){150, 151}, (uint16_t[]){4, 4},
                    (uint64_t[]){T_SECS - 9, T_SECS - 2}, 2);
    assert_int_equal(r.first_ms, base - 9000), assert_int_equal(r.last_ms, base - 2000);
    r = ipfix_times(501, (uint16_t[]){152, 153}, (uint16_t[]){8, 8},
                    (uint64_t[]){base - 1234, base - 12}, 2);
    assert_int_equal(r.first_ms, base - 1234), assert_int_equal(r.last_ms, base - 12);
    r = ipfix_times(502, (uint16_t[]){158, 159}, (uint16_t[]){4, 4}, (uint64_t[]){3000000, 500000}, 2);
    assert_int_equal(r.first_ms, base - 3000), assert_int_equal(r.last_ms, base - 500);
    r = ipfix_times(503, (uint16_t[]){160, 22, 21}, (uint16_t[]){8, 4, 4},
                    (uint64_t[]){base - 100000, 40000, 90000}, 3);
    assert_int_equal(r.first_ms, base - 60000), assert_int_equal(r.last_ms, base - 10000);
    r = ipfix_times(504, (uint16_t[]){323}, (uint16_t[]){8}, (uint64_t[]){base - 77}, 1);
    assert_int_equal(r.first_ms, base - 77), assert_int_equal(r.last_ms, base - 77);
    r = ipfix_times(505, (uint16_t[]){152}, (uint16_t[]){8}, (uint64_t[]){base - 5}, 1);
    assert_int_equal(r.first_ms, base - 5), assert_int_equal(r.last_ms, base - 5);
    /* no time at all: the export time */
    r = ipfix_times(506, (uint16_t[]){7}, (uint16_t[]){4}, (uint64_t[]){80}, 1);
    assert_int_equal(r.first_ms, base), assert_int_equal(r.last_ms, base);
}

/* ---- templates ------------------------------------------------------------- */

static void one_field_template(msg *m, uint16_t id, uint16_t ie, uint16_t len)
{
    set_begin(m, m->ipfix ? 2 : 0);
    put16(m, id), put16(m, 1);
    field(m, ie, len, 0);
    set_end(m);
}

static void test_template_replace_refresh_withdraw(void **state)
{
    (void)state;
    msg m;
    sink s;
    ipfix_begin(&m, 0, 1);
    one_field_template(&m, 600, 7, 2);
    one_field_template(&m, 601, 7, 2);
    one_field_template(&m, 600, 7, 2); /* same: refreshed */
    one_field_template(&m, 600, 11, 2); /* different: replaced */
    set_begin(&m, 600);
    put16(&m, 53);
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.recs[0].dst_port, 53);
    assert_int_equal(s.recs[0].src_port, 0);
    decode_tpl_stats t = tstats();
    assert_int_equal(t.templates_added, 2);
    assert_int_equal(t.templates_refreshed, 1);
    assert_int_equal(t.templates_replaced, 1);
    assert_int_equal(decode_template_count(&g_ex), 2);
    /* a refresh in a later message takes the installed template's plan:
     * its data still decodes as the replaced template says */
    ipfix_begin(&m, 1, 1);
    one_field_template(&m, 600, 11, 2);
    set_begin(&m, 600);
    put16(&m, 443);
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.recs[0].dst_port, 443);
    assert_int_equal(s.recs[0].src_port, 0);
    assert_int_equal(tstats().templates_refreshed, 2);
    /* a two-field template under the same id is compiled anew */
    ipfix_begin(&m, 1, 1);
    set_begin(&m, 2);
    put16(&m, 600), put16(&m, 2);
    field(&m, 7, 2, 0);
    field(&m, 11, 2, 0);
    set_end(&m);
    set_begin(&m, 600);
    put16(&m, 1234), put16(&m, 80);
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.recs[0].src_port, 1234);
    assert_int_equal(s.recs[0].dst_port, 80);
    assert_int_equal(tstats().templates_replaced, 2);
    /* withdraw 600: its data is then unknown (kept pending) */
    ipfix_begin(&m, 1, 1);
    set_begin(&m, 2);
    put16(&m, 600), put16(&m, 0);
    set_end(&m);
    set_begin(&m, 600);
    put16(&m, 53);
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(s.n, 0);
    assert_int_equal(tstats().templates_withdrawn, 1);
    assert_int_equal(tstats().unknown_template, 1);
    assert_int_equal(decode_template_count(&g_ex), 1);
    /* withdraw all (id 2) of domain 1 */
    ipfix_begin(&m, 1, 1);
    set_begin(&m, 2);
    put16(&m, 2), put16(&m, 0);
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(decode_template_count(&g_ex), 0);
    assert_int_equal(tstats().templates_withdrawn, 2);
}

static void test_template_flood_and_field_limit(void **state)
{
    (void)state;
    decode_config cfg = {0};
    cfg.max_templates = 10;
    cfg.max_fields = 4;
    decode_exporter_set_config(&g_ex, &cfg);
    msg m;
    sink s;
    for (uint16_t round = 0; round < 4; round++) {
        v9_begin(&m, 10, 1000, round, 0);
        set_begin(&m, 0);
        for (uint16_t i = 0; i < 10; i++) {
            put16(&m, (uint16_t)(256 + round * 10 + i)), put16(&m, 1);
            field(&m, 7, 2, 0);
        }
        set_end(&m);
        assert_int_equal(run(&m, &s), CF_OK);
    }
    assert_int_equal(decode_template_count(&g_ex), 10);
    assert_int_equal(tstats().refused_full, 30);
    v9_begin(&m, 1, 1000, 9, 0);
    set_begin(&m, 0);
    put16(&m, 256), put16(&m, 5);
    for (int i = 0; i < 5; i++)
        field(&m, 7, 2, 0);
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(tstats().refused_fields, 1);
}

/* ---- bad input, counted by reason ------------------------------------------ */

static void expect_bad(msg *m, cf_err want, decode_reason reason)
{
    decode_stats before = stats();
    sink s;
    assert_int_equal(run(m, &s), want);
    assert_int_equal(s.n, 0);
    decode_stats after = stats();
    assert_int_equal(after.malformed[reason], before.malformed[reason] + 1);
}

static void test_bad_templates_and_sets(void **state)
{
    (void)state;
    msg m;
    /* template id < 256 */
    ipfix_begin(&m, 0, 1);
    one_field_template(&m, 255, 7, 2);
    expect_bad(&m, CF_ERR_MALFORMED, DECODE_BAD_RECORD);
    assert_int_equal(tstats().bad_template_id, 1);
    /* field count that does not fit the set */
    ipfix_begin(&m, 0, 1);
    set_begin(&m, 2);
    put16(&m, 700), put16(&m, 50);
    field(&m, 7, 2, 0);
    set_end(&m);
    expect_bad(&m, CF_ERR_TRUNCATED, DECODE_BAD_RECORD);
    /* v9 options template with a scope length that does not fit */
    v9_begin(&m, 1, 0, 0, 0);
    set_begin(&m, 1);
    put16(&m, 700), put16(&m, 400), put16(&m, 4);
    field(&m, 34, 4, 0);
    set_end(&m);
    expect_bad(&m, CF_ERR_TRUNCATED, DECODE_BAD_RECORD);
    /* only zero-length fields: records would be empty */
    ipfix_begin(&m, 0, 1);
    one_field_template(&m, 701, 7, 0);
    expect_bad(&m, CF_ERR_MALFORMED, DECODE_BAD_RECORD);
    assert_true(tstats().bad_template >= 3);
    /* set length past the message, and < 4 */
    ipfix_begin(&m, 0, 1);
    set_begin(&m, 300);
    put16(&m, 1);
    set_end(&m);
    cf_put_be16(m.b + m.set_start + 2, 200);
    expect_bad(&m, CF_ERR_TRUNCATED, DECODE_BAD_LENGTH);
    ipfix_begin(&m, 0, 1);
    put16(&m, 300), put16(&m, 2);
    expect_bad(&m, CF_ERR_MALFORMED, DECODE_BAD_LENGTH);
    /* IPFIX length past the datagram */
    ipfix_begin(&m, 0, 1);
    msg_end(&m);
    m.ipfix = 0;
    cf_put_be16(m.b + 2, 100);
    expect_bad(&m, CF_ERR_TRUNCATED, DECODE_BAD_LENGTH);
    /* v9 count larger than the records present */
    v9_begin(&m, 5, 0, 0, 0);
    one_field_template(&m, 702, 7, 2);
    expect_bad(&m, CF_ERR_TRUNCATED, DECODE_BAD_COUNT);
    assert_int_equal(decode_template_count(&g_ex), 0); /* nothing applied */
}

static void test_huge_variable_length(void **state)
{
    (void)state;
    msg m;
    sink s;
    ipfix_begin(&m, 0, 1);
    set_begin(&m, 2);
    put16(&m, 710), put16(&m, 2);
    field(&m, 7, 2, 0), field(&m, 82, 0xffff, 0);
    set_end(&m);
    set_begin(&m, 710);
    put16(&m, 80), put8(&m, 255), put16(&m, 60000), putn(&m, "abc", 3);
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK); /* the message is framed right */
    assert_int_equal(s.n, 0);
    assert_int_equal(tstats().bad_data_sets, 1);
}

/* ---- sampling -------------------------------------------------------------- */

static void test_v9_sampling_from_options(void **state)
{
    (void)state;
    msg m;
    sink s;
    v9_begin(&m, 5, 1000, 0, 3);
    set_begin(&m, 1); /* options template 800: scope system; sampler id, interval */
    put16(&m, 800), put16(&m, 4), put16(&m, 8);
    field(&m, 1, 4, 0), field(&m, 48, 1, 0), field(&m, 34, 4, 0);
    put16(&m, 0);
    set_end(&m);
    set_begin(&m, 800);
    put32(&m, 0), put8(&m, 1), put32(&m, 100);
    put32(&m, 0), put8(&m, 2), put32(&m, 1000);
    put16(&m, 0);
    set_end(&m);
    set_begin(&m, 0);
    put16(&m, 801), put16(&m, 2);
    field(&m, 2, 4, 0), field(&m, 48, 1, 0);
    set_end(&m);
    set_begin(&m, 801);
    put32(&m, 3), put8(&m, 2);
    put32(&m, 3), put8(&m, 1);
    put32(&m, 3), put8(&m, 9); /* unknown sampler id, no default */
    set_end(&m);
    msg_end(&m);
    cf_put_be16(m.b + 2, 7);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.recs[0].sampling, 1000);
    assert_int_equal(s.recs[0].packets, 3000);
    assert_true(s.recs[0].flags & FLOW_F_SAMPLED);
    assert_int_equal(s.recs[1].sampling, 100);
    assert_int_equal(s.recs[2].sampling, 1);
    assert_true(s.recs[2].flags & FLOW_F_SAMPLING_UNKNOWN);
    assert_int_equal(tstats().options_records, 2);
    assert_int_equal(tstats().sampling_unknown, 1);
}

static void test_ipfix_sampling_packet_interval(void **state)
{
    (void)state;
    msg m;
    sink s;
    ipfix_begin(&m, 0, 4);
    set_begin(&m, 3);
    put16(&m, 810), put16(&m, 3), put16(&m, 1);
    field(&m, 302, 4, 0), field(&m, 305, 4, 0), field(&m, 306, 4, 0);
    set_end(&m);
    set_begin(&m, 810);
    put32(&m, 7), put32(&m, 1), put32(&m, 511);
    set_end(&m);
    one_field_template(&m, 811, 1, 4);
    set_begin(&m, 811);
    put32(&m, 100);
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.recs[0].sampling, 512); /* only entry of the domain */
    assert_int_equal(s.recs[0].bytes, 51200);
    /* a rate in the record itself wins */
    ipfix_begin(&m, 2, 4);
    set_begin(&m, 2);
    put16(&m, 812), put16(&m, 2);
    field(&m, 1, 4, 0), field(&m, 34, 2, 0);
    set_end(&m);
    set_begin(&m, 812);
    put32(&m, 100), put16(&m, 10);
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(s.recs[0].sampling, 10);
    assert_int_equal(s.recs[0].bytes, 1000);
}

/* ---- data before template, sequence ------------------------------------------ */

static void data_only(msg *m, uint32_t seq, uint16_t tid, uint16_t port)
{
    ipfix_begin(m, seq, 2);
    set_begin(m, tid);
    put16(m, port);
    set_end(m);
}

static void test_data_before_template(void **state)
{
    (void)state;
    msg m;
    sink s;
    data_only(&m, 0, 900, 1);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(s.n, 0);
    ipfix_begin(&m, 1, 2);
    one_field_template(&m, 900, 7, 2);
    set_begin(&m, 900);
    put16(&m, 2);
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.recs[0].src_port, 1); /* the kept set first */
    assert_int_equal(s.recs[1].src_port, 2);
    assert_int_equal(tstats().pending_decoded, 1);
}

static void test_pending_expiry_and_overflow(void **state)
{
    (void)state;
    decode_config cfg = {0};
    cfg.pending_max_bytes = 3;
    cfg.pending_max_ms = 1000;
    decode_exporter_set_config(&g_ex, &cfg);
    msg m;
    sink s;
    data_only(&m, 0, 901, 1);
    assert_int_equal(run(&m, &s), CF_OK);
    data_only(&m, 0, 902, 1); /* 2 + 2 bytes > 3: the oldest goes */
    assert_int_equal(run(&m, &s), CF_OK);
    data_only(&m, 0, 903, 1);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(tstats().pending_overflow, 2);
    /* an hour later the last one has expired */
    ipfix_begin(&m, 0, 2);
    one_field_template(&m, 903, 7, 2);
    size_t len = msg_end(&m);
    assert_int_equal(decode_packet(&g_ex, m.b, len, (uint64_t)T_SECS * 1000u + 3600000u, collect, &s), CF_OK);
    assert_int_equal(tstats().pending_expired, 1);
    assert_int_equal(tstats().pending_decoded, 0);
}

static void test_sequence_accounting(void **state)
{
    (void)state;
    msg m;
    sink s;
    ipfix_begin(&m, 100, 1);
    one_field_template(&m, 950, 7, 2);
    set_begin(&m, 950);
    put16(&m, 1), put16(&m, 2), put16(&m, 3);
    set_end(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    data_only(&m, 103, 950, 4);
    cf_put_be32(m.b + 12, 1);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(stats().lost, 0);
    data_only(&m, 110, 950, 4); /* expected 104: 6 records lost */
    cf_put_be32(m.b + 12, 1);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(stats().lost, 6);
    /* v9 counts packets */
    v9_begin(&m, 1, 0, 7, 1);
    one_field_template(&m, 951, 7, 2);
    assert_int_equal(run(&m, &s), CF_OK);
    v9_begin(&m, 1, 0, 10, 1);
    one_field_template(&m, 951, 7, 2);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(stats().lost, 8); /* 8 and 9 missing */
    v9_begin(&m, 1, 0, 5, 1);
    one_field_template(&m, 951, 7, 2);
    assert_int_equal(run(&m, &s), CF_OK);
    assert_int_equal(stats().seq_resets, 1);
}

/* ---- persistence ------------------------------------------------------------ */

static void test_templates_save_load(void **state)
{
    (void)state;
    msg m;
    sink s;
    v9_begin(&m, 1, 100000, 0, 77);
    v9_full_template(&m);
    assert_int_equal(run(&m, &s), CF_OK);
    ipfix_begin(&m, 0, 3);
    one_field_template(&m, 960, 7, 2);
    assert_int_equal(run(&m, &s), CF_OK);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(decode_templates_save(&g_ex, &buf, &len), CF_OK);
    decode_exporter other;
    decode_exporter_init(&other, g_ex.addr, g_ex.port);
    /* every cut and every flipped byte is refused, leaving other empty */
    for (size_t cut = 0; cut < len; cut++)
        assert_int_not_equal(decode_templates_load(&other, buf, cut), CF_OK);
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 0x5a;
        assert_int_not_equal(decode_templates_load(&other, buf, len), CF_OK);
        buf[i] ^= 0x5a;
    }
    assert_int_equal(decode_template_count(&other), 0);
    assert_int_equal(decode_templates_load(&other, buf, len), CF_OK);
    assert_int_equal(decode_template_count(&other), 2);
    free(buf);
    /* the loaded exporter decodes data at once */
    v9_begin(&m, 1, 100000, 0, 77);
    set_begin(&m, 300);
    v9_full_record(&m, 0x0a000009u);
    set_end(&m);
    size_t n = msg_end(&m);
    s.n = 0;
    assert_int_equal(decode_packet(&other, m.b, n, 0, collect, &s), CF_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.recs[0].src_addr[15], 9);
    assert_int_equal(s.recs[0].bytes, 5000000000ull);
    decode_exporter_free(&other);
    decode_exporter_free(&other); /* twice is safe */
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    cf_log_set_level(CF_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        T(test_v9_every_field),
        T(test_ipfix_varlen_enterprise_reverse_times),
        T(test_ipfix_time_encodings),
        T(test_template_replace_refresh_withdraw),
        T(test_template_flood_and_field_limit),
        T(test_bad_templates_and_sets),
        T(test_huge_variable_length),
        T(test_v9_sampling_from_options),
        T(test_ipfix_sampling_packet_interval),
        T(test_data_before_template),
        T(test_pending_expiry_and_overflow),
        T(test_sequence_accounting),
        T(test_templates_save_load),
        T(test_mpls_nat_event_application),
        T(test_ipfix_negative_uptime_offsets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
