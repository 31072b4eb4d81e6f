/*
 * tests/decode/test_nf9_paths.c - the record decoders of NetFlow v9 / IPFIX
 * agree: the fast plan (template_fast.c), the compiled ops (read_fixed) and
 * the field-by-field reference (read_record) give the same flow_record,
 * field by field, and the same statistics, for the same input.
 *
 * Three exporters decode every message, one per path (decode_tpl_state.
 * test_path: NORMAL, NO_FAST, FIELDS); after each message their return
 * codes, emitted records and counters must be equal.  Inputs: every NetFlow
 * v9 and IPFIX capture of the shared testdata (with its companion files);
 * crafted templates for reduced-size integers, IPv6, every time encoding,
 * values that change from record to record (stale values would show), the
 * sampler of each record; and random templates over every element the
 * decoder knows, in valid and invalid lengths.
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
#include "decode/decode.h"
#include "decode/template.h"
#include "testutil.h"

#define T_SECS 1700000000u
#define N_PATHS 3
static const uint8_t paths[N_PATHS] = {TPL_PATH_NORMAL, TPL_PATH_NO_FAST, TPL_PATH_FIELDS};
static const char *const path_names[N_PATHS] = {"normal", "no-fast", "fields"};

/* ---- three exporters, one per path ------------------------------------------ */

typedef struct sink {
    flow_record *recs;
    size_t n, cap;
} sink;

static void collect(void *ctx, const flow_record *rec)
{
    sink *s = ctx;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->recs = realloc(s->recs, s->cap * sizeof(*s->recs));
        assert_non_null(s->recs);
    }
    s->recs[s->n++] = *rec;
}

typedef struct trio {
    decode_exporter ex[N_PATHS];
    sink got[N_PATHS];
    size_t records;      /* records compared */
} trio;

static void trio_init(trio *t, const uint8_t addr[16], uint16_t port, const decode_config *cfg)
{
    memset(t, 0, sizeof(*t));
    for (int i = 0; i < N_PATHS; i++) {
        decode_exporter_init(&t->ex[i], addr, port);
        if (cfg)
            decode_exporter_set_config(&t->ex[i], cfg);
        struct decode_tpl_state *st;
        assert_int_equal(tpl_state(&t->ex[i], &st), CF_OK);
        st->test_path = paths[i];
    }
}

static void trio_free(trio *t)
{
    for (int i = 0; i < N_PATHS; i++) {
        decode_exporter_free(&t->ex[i]);
        free(t->got[i].recs);
    }
}

/* Records a and b are equal, named field by field, then byte by byte. */
static void compare_records(const flow_record *a, const flow_record *b, const char *what, size_t k)
{
    for (size_t f = 0; f < flow_n_fields; f++) {
        const flow_field *fd = &flow_fields[f];
        const uint8_t *pa = (const uint8_t *)a + fd->offset, *pb = (const uint8_t *)b + fd->offset;
        if (memcmp(pa, pb, fd->width) != 0) {
            fprintf(stderr, "%s: record %zu: field %s differs\n", what, k, fd->name);
            fail();
        }
    }
    assert_memory_equal(a, b, sizeof(*a));
}

static void compare_stats(const trio *t, int i)
{
    decode_stats s0, si;
    decode_tpl_stats t0, ti;
    decode_stats_snapshot(&t->ex[0], &s0);
    decode_stats_snapshot(&t->ex[i], &si);
    decode_tpl_stats_snapshot(&t->ex[0], &t0);
    decode_tpl_stats_snapshot(&t->ex[i], &ti);
    assert_memory_equal(&s0, &si, sizeof(s0));
    assert_memory_equal(&t0, &ti, sizeof(t0));
}

/* Decodes one message (copied to exactly len heap bytes, so that ASan sees
 * any over-read) through the three paths and compares them. */
static cf_err trio_decode(trio *t, const uint8_t *buf, size_t len, uint64_t recv_ms)
{
    cf_err err[N_PATHS];
    for (int i = 0; i < N_PATHS; i++) {
        uint8_t *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, buf, len);
        t->got[i].n = 0;
        err[i] = decode_packet(&t->ex[i], copy, len, recv_ms, collect, &t->got[i]);
        free(copy);
    }
    for (int i = 1; i < N_PATHS; i++) {
        char what[64];
        snprintf(what, sizeof(what), "normal vs %s", path_names[i]);
        assert_int_equal(err[0], err[i]);
        assert_int_equal(t->got[0].n, t->got[i].n);
        for (size_t k = 0; k < t->got[0].n; k++)
            compare_records(&t->got[0].recs[k], &t->got[i].recs[k], what, k);
        compare_stats(t, i);
    }
    t->records += t->got[0].n;
    return err[0];
}

/* Whether template id of (proto, domain) has a fast plan in the normal exporter. */
static bool is_fast(const trio *t, uint8_t proto, uint32_t domain, uint16_t id)
{
    const tpl *p = tpl_find(&t->ex[0], proto, domain, id);
    assert_non_null(p);
    return p->fast != 0;
}

/* ---- a message builder -------------------------------------------------------- */

typedef struct msg {
    uint8_t b[8192];
    size_t n;
    size_t set_start;
    int ipfix;
} msg;

static void put8(msg *m, uint8_t v) { m->b[m->n++] = v; }
static void put16(msg *m, uint16_t v) { cf_put_be16(m->b + m->n, v), m->n += 2; }
static void put32(msg *m, uint32_t v) { cf_put_be32(m->b + m->n, v), m->n += 4; }
static void putv(msg *m, uint64_t v, size_t len)
{
    for (size_t i = 0; i < len; i++)
        put8(m, (uint8_t)(len - 1 - i < 8 ? v >> (8 * (len - 1 - i)) : 0));
}

static void msg_begin(msg *m, int ipfix, uint32_t uptime, uint32_t domain)
{
    memset(m, 0, sizeof(*m));
    m->ipfix = ipfix;
    if (ipfix) {
        put16(m, 10), put16(m, 0), put32(m, T_SECS), put32(m, 0), put32(m, domain);
    } else {
        put16(m, 9), put16(m, 0), put32(m, uptime), put32(m, T_SECS), put32(m, 0), put32(m, domain);
    }
}

static void set_begin(msg *m, uint16_t id)
{
    m->set_start = m->n;
    put16(m, id), put16(m, 0);
}

static void set_end(msg *m) { cf_put_be16(m->b + m->set_start + 2, (uint16_t)(m->n - m->set_start)); }

static size_t msg_end(msg *m)
{
    if (m->ipfix)
        cf_put_be16(m->b + 2, (uint16_t)m->n);
    return m->n;
}

typedef struct spec {
    uint16_t id, len;
    uint32_t pen;
} spec;

/* A template set with one template (id, fields). */
static void put_template(msg *m, uint16_t id, const spec *f, size_t n)
{
    set_begin(m, m->ipfix ? 2 : 0);
    put16(m, id), put16(m, (uint16_t)n);
    for (size_t i = 0; i < n; i++) {
        put16(m, f[i].pen ? (uint16_t)(f[i].id | 0x8000u) : f[i].id), put16(m, f[i].len);
        if (f[i].pen)
            put32(m, f[i].pen);
    }
    set_end(m);
}

/* ---- deterministic random values ------------------------------------------------ */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t rnd_below(uint32_t n) { return (uint32_t)(rnd() % n); }

/* A value for element id of len bytes, biased towards what makes the
 * decoder choose: zero, ICMP protocols, small sampler ids. */
static void put_value(msg *m, uint16_t id, uint16_t len, uint32_t pen)
{
    uint32_t dice = rnd_below(8);
    if (!pen && id == 4) {
        static const uint8_t protos[] = {1, 58, 6, 17, 0, 1};
        putv(m, protos[rnd_below(sizeof(protos))], len);
    } else if (!pen && (id == 48 || id == 302)) {
        putv(m, rnd_below(4), len);
    } else if (!pen && id == 89 && dice < 4) {
        putv(m, dice < 2 ? 0x40000001u : rnd_below(256), len);
    } else if (dice == 0) {
        putv(m, 0, len);
    } else {
        for (size_t i = 0; i < len; i++)
            put8(m, (uint8_t)rnd());
    }
}

/* A data set of template id with n records of random values. */
static void put_data(msg *m, uint16_t id, const spec *f, size_t n_fields, size_t n_records, bool pad)
{
    set_begin(m, id);
    for (size_t r = 0; r < n_records; r++)
        for (size_t i = 0; i < n_fields; i++)
            put_value(m, f[i].id, f[i].len, f[i].pen);
    if (pad)
        while ((m->n - m->set_start) % 4)
            put8(m, 0);
    set_end(m);
}

/* Sampler announcements (options template 300 and its data): rate 10 for
 * sampler 1, 100 for sampler 2, and (with no_id) 7 for records without one. */
static void put_samplers(trio *t, int ipfix, uint32_t domain, bool no_id)
{
    msg m;
    msg_begin(&m, ipfix, 100000, domain);
    set_begin(&m, ipfix ? 3 : 1);
    if (ipfix) {
        put16(&m, 300), put16(&m, 3), put16(&m, 1);
        put16(&m, 149), put16(&m, 4), put16(&m, 48), put16(&m, 2), put16(&m, 34), put16(&m, 4);
    } else {
        put16(&m, 300), put16(&m, 4), put16(&m, 8);
        put16(&m, 1), put16(&m, 4), put16(&m, 48), put16(&m, 2), put16(&m, 34), put16(&m, 4);
    }
    set_end(&m);
    set_begin(&m, 300);
    put32(&m, domain), put16(&m, 1), put32(&m, 10);
    put32(&m, domain), put16(&m, 2), put32(&m, 100);
    set_end(&m);
    if (no_id) { /* options template 301: the interval alone */
        set_begin(&m, ipfix ? 3 : 1);
        if (ipfix)
            put16(&m, 301), put16(&m, 2), put16(&m, 1), put16(&m, 149), put16(&m, 4), put16(&m, 34), put16(&m, 4);
        else
            put16(&m, 301), put16(&m, 4), put16(&m, 4), put16(&m, 1), put16(&m, 4), put16(&m, 34), put16(&m, 4);
        set_end(&m);
        set_begin(&m, 301);
        put32(&m, domain), put32(&m, 7);
        set_end(&m);
    }
    assert_int_equal(trio_decode(t, m.b, msg_end(&m), (uint64_t)T_SECS * 1000u), CF_OK);
}

static const uint8_t g_addr[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 9};

/* Template 256 with fields f in its own message, then n_sets data sets of
 * n_records random records each; all compared.  Returns whether the normal
 * exporter gave the template a fast plan. */
static bool run_template(trio *t, int ipfix, const spec *f, size_t n, size_t n_records, uint32_t uptime)
{
    msg m;
    msg_begin(&m, ipfix, uptime, 5);
    put_template(&m, 256, f, n);
    assert_int_equal(trio_decode(t, m.b, msg_end(&m), (uint64_t)T_SECS * 1000u), CF_OK);
    for (int k = 0; k < 3; k++) {
        msg_begin(&m, ipfix, uptime, 5);
        put_data(&m, 256, f, n, n_records, !ipfix);
        assert_int_equal(trio_decode(t, m.b, msg_end(&m), (uint64_t)T_SECS * 1000u + 500u), CF_OK);
        assert_int_equal(t->got[0].n, n_records);
    }
    return is_fast(t, ipfix ? TPL_PROTO_IPFIX : TPL_PROTO_V9, 5, 256);
}

/* One template through fresh exporters; expect_fast: 1 fast, 0 general, -1 either. */
static void check_template(int ipfix, const spec *f, size_t n, int expect_fast)
{
    trio t;
    trio_init(&t, g_addr, 2055, NULL);
    bool fast = run_template(&t, ipfix, f, n, 9, 0xfffff000u);
    if (expect_fast >= 0 && fast != (expect_fast != 0)) {
        fprintf(stderr, "%s template of %zu fields, first %u/%u: fast %d, expected %d\n", ipfix ? "IPFIX" : "v9", n,
                f[0].id, f[0].len, fast, expect_fast);
        fail();
    }
    trio_free(&t);
}

/* ---- crafted templates ------------------------------------------------------------ */

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The shared benchmark's templates (nfgen) and reduced / odd sizes of every
 * integer element. */
static void test_reduced_sizes(void **state)
{
    (void)state;
    static const spec v9_t4[] = {{1, 4, 0},  {2, 4, 0},  {4, 1, 0},  {5, 1, 0},  {6, 1, 0},  {7, 2, 0},
                                 {8, 4, 0},  {9, 1, 0},  {10, 2, 0}, {11, 2, 0}, {12, 4, 0}, {13, 1, 0},
                                 {14, 2, 0}, {15, 4, 0}, {16, 4, 0}, {17, 4, 0}, {21, 4, 0}, {22, 4, 0}};
    check_template(0, v9_t4, N(v9_t4), 1);
    check_template(1, v9_t4, N(v9_t4), 0); /* IPFIX sysUpTime times: general path */
    for (uint16_t len = 1; len <= 8; len++) {
        const spec f[] = {{8, 4, 0},   {12, 4, 0},  {1, len, 0},  {2, len, 0},   {7, len, 0},
                          {11, len, 0}, {4, len, 0}, {10, len, 0}, {14, len, 0}, {16, len, 0},
                          {17, len, 0}, {6, len, 0}, {5, len, 0},  {9, len, 0},  {13, len, 0},
                          {152, len, 0}, {153, len, 0}, {61, len, 0}, {38, len, 0}, {39, len, 0}};
        check_template(1, f, N(f), 1);
        check_template(0, f, N(f), 1);
    }
    /* lengths no element allows: skipped alike (9 bytes of an integer, 5 of an address) */
    static const spec bad[] = {{8, 5, 0}, {12, 4, 0}, {1, 9, 0}, {2, 8, 0}, {56, 8, 0}, {27, 4, 0}, {7, 0, 0}};
    check_template(1, bad, N(bad), 1);
}

static void test_ipv6(void **state)
{
    (void)state;
    static const spec v6[] = {{1, 8, 0},  {2, 8, 0},   {4, 1, 0},  {5, 1, 0},  {6, 2, 0},   {7, 2, 0},
                              {27, 16, 0}, {29, 1, 0}, {10, 4, 0}, {11, 2, 0}, {28, 16, 0}, {30, 1, 0},
                              {14, 4, 0}, {62, 16, 0}, {16, 4, 0}, {17, 4, 0}, {152, 8, 0}, {153, 8, 0}};
    check_template(1, v6, N(v6), 1);
    check_template(0, v6, N(v6), 1);
    /* only one address; IPv4 and IPv6 in one record; both next hops; BGP and NAT addresses */
    static const spec src6[] = {{27, 16, 0}, {2, 4, 0}};
    static const spec both[] = {{27, 16, 0}, {28, 16, 0}, {8, 4, 0}, {62, 16, 0}, {15, 4, 0},
                                {63, 16, 0}, {18, 4, 0}, {2, 4, 0}};
    static const spec nat[] = {{8, 4, 0},    {225, 4, 0},  {282, 16, 0}, {281, 16, 0},
                               {227, 2, 0}, {228, 2, 0}, {233, 1, 0}, {18, 4, 0}};
    check_template(1, src6, N(src6), 1);
    check_template(1, both, N(both), 1);
    check_template(0, both, N(both), 1);
    check_template(1, nat, N(nat), 1);
}

/* Every time encoding, for first and last, alone and together. */
static void test_time_encodings(void **state)
{
    (void)state;
    static const struct { uint16_t first, last, len; int ipfix_fast; } enc[] = {
        {152, 153, 8, 1}, {152, 153, 6, 1}, {150, 151, 4, 1}, {154, 155, 8, 1}, {156, 157, 8, 1},
        {158, 159, 4, 1}, {22, 21, 4, 0}, {322, 322, 4, 1}, {323, 323, 8, 1}, {324, 324, 8, 1},
        {325, 325, 8, 1},
    };
    for (size_t i = 0; i < N(enc); i++) {
        for (int ipfix = 0; ipfix <= 1; ipfix++) {
            int fast = ipfix ? enc[i].ipfix_fast : 1;
            const spec both[] = {{8, 4, 0}, {enc[i].first, enc[i].len, 0}, {2, 4, 0}, {enc[i].last, enc[i].len, 0}};
            const spec first[] = {{8, 4, 0}, {2, 4, 0}, {enc[i].first, enc[i].len, 0}};
            const spec last[] = {{enc[i].last, enc[i].len, 0}, {8, 4, 0}, {2, 4, 0}};
            check_template(ipfix, both, N(both), fast);
            check_template(ipfix, first, N(first), fast);
            check_template(ipfix, last, N(last), fast);
        }
    }
    /* no time at all: the export time; mixed encodings, with the preferred one second */
    static const spec none[] = {{8, 4, 0}, {2, 4, 0}};
    static const spec mixed[] = {{22, 4, 0}, {152, 8, 0}, {151, 4, 0}, {159, 4, 0}, {160, 8, 0}, {8, 4, 0}};
    check_template(0, none, N(none), 1);
    check_template(1, none, N(none), 1);
    check_template(0, mixed, N(mixed), 1);
    check_template(1, mixed, N(mixed), 1);
}

/* Values that decide what other members get (ICMP, zero next hops,
 * forwarding status, fallbacks) change from record to record. */
static void test_changing_values(void **state)
{
    (void)state;
    static const spec icmp_port[] = {{8, 4, 0}, {4, 1, 0}, {11, 2, 0}, {15, 4, 0}, {89, 4, 0}};
    static const spec icmp_no_port[] = {{8, 4, 0}, {4, 1, 0}, {15, 4, 0}, {62, 16, 0}, {89, 1, 0}};
    static const spec icmp_tc[] = {{27, 16, 0}, {4, 1, 0}, {11, 2, 0}, {32, 2, 0}, {139, 2, 0}};
    static const spec icmp_tc_v6[] = {{27, 16, 0}, {4, 2, 0}, {139, 2, 0}};
    static const spec icmp_type[] = {{8, 4, 0}, {4, 1, 0}, {176, 1, 0}, {179, 1, 0}};
    static const spec l2[] = {{8, 4, 0},  {81, 6, 0},  {56, 6, 0},  {57, 6, 0},  {243, 2, 0}, {58, 2, 0},
                              {254, 2, 0}, {70, 3, 0}, {71, 3, 0}, {79, 4, 0}, {95, 4, 0}, {4, 1, 0}};
    static const spec apps[] = {{95, 1, 0}, {8, 4, 0}};
    static const spec apps2[] = {{95, 2, 0}, {8, 4, 0}};
    static const spec apps12[] = {{8, 4, 0}, {95, 12, 0}};
    const spec *all[] = {icmp_port, icmp_no_port, icmp_tc, icmp_tc_v6, icmp_type, l2, apps, apps2, apps12};
    const size_t ns[] = {N(icmp_port), N(icmp_no_port), N(icmp_tc), N(icmp_tc_v6), N(icmp_type), N(l2),
                         N(apps), N(apps2), N(apps12)};
    for (size_t i = 0; i < N(all); i++) {
        check_template(0, all[i], ns[i], 1);
        check_template(1, all[i], ns[i], 1);
    }
    /* one record each way, checked by value: nothing of the first is left in the second */
    trio t;
    trio_init(&t, g_addr, 2055, NULL);
    msg m;
    msg_begin(&m, 0, 100000, 5);
    put_template(&m, 256, icmp_no_port, N(icmp_no_port));
    set_begin(&m, 256);
    put32(&m, 0x0a000001), put8(&m, 1), put32(&m, 0x0a0000fe), memset(m.b + m.n, 0x11, 16), m.n += 16, put8(&m, 0x42);
    put32(&m, 0x0a000002), put8(&m, 6), put32(&m, 0), memset(m.b + m.n, 0, 16), m.n += 16, put8(&m, 0);
    set_end(&m);
    assert_int_equal(trio_decode(&t, m.b, msg_end(&m), (uint64_t)T_SECS * 1000u), CF_OK);
    assert_int_equal(t.got[0].n, 2);
    assert_true(is_fast(&t, TPL_PROTO_V9, 5, 256));
    const flow_record *a = &t.got[0].recs[0], *b = &t.got[0].recs[1];
    assert_int_equal(a->next_hop[15], 0xfe);
    assert_int_equal(a->fwd_status, 0x42);
    for (int k = 0; k < 16; k++)
        assert_int_equal(b->next_hop[k], 0);
    assert_int_equal(b->proto, 6);
    assert_int_equal(b->icmp_type, 0);
    assert_int_equal(b->dst_port, 0);
    assert_int_equal(b->fwd_status, 0);
    trio_free(&t);
}

/* The sampling interval: of each record's sampler, of the domain, of the
 * configuration (default, override), or unknown. */
static void test_sampling(void **state)
{
    (void)state;
    static const spec with_id[] = {{8, 4, 0}, {1, 4, 0}, {2, 4, 0}, {48, 2, 0}};
    static const spec with_id4[] = {{8, 4, 0}, {1, 4, 0}, {2, 4, 0}, {302, 4, 0}};
    static const spec no_id[] = {{8, 4, 0}, {1, 4, 0}, {2, 4, 0}};
    static const spec in_record[] = {{8, 4, 0}, {1, 4, 0}, {2, 4, 0}, {34, 4, 0}};
    decode_config cfgs[3];
    memset(cfgs, 0, sizeof(cfgs));
    cfgs[1].sampling_default = 3;
    cfgs[2].sampling_override = 5;
    for (int ipfix = 0; ipfix <= 1; ipfix++)
        for (int c = 0; c < 3; c++)
            for (int ann = 0; ann < 3; ann++) { /* announcements: none, per id, per id + domain */
                const spec *ts[] = {with_id, with_id4, no_id, in_record};
                const size_t ns[] = {N(with_id), N(with_id4), N(no_id), N(in_record)};
                for (size_t k = 0; k < N(ts); k++) {
                    trio t;
                    trio_init(&t, g_addr, 2055, &cfgs[c]);
                    if (ann)
                        put_samplers(&t, ipfix, 5, ann == 2);
                    bool fast = run_template(&t, ipfix, ts[k], ns[k], 12, 100000);
                    assert_int_equal(fast, ts[k] != in_record);
                    trio_free(&t);
                }
            }
}

/* Enterprise and RFC 5103 reverse elements (IPFIX), duplicates, the last
 * record's end exactly at the end of the message. */
static void test_skipped_and_duplicates(void **state)
{
    (void)state;
    static const spec f[] = {{8, 4, 0},    {1, 8, 29305}, {2, 4, 0},   {2, 8, 0},  {100, 3, 9},
                             {8, 4, 0},    {12, 4, 0},    {7, 2, 0},   {7, 4, 0},  {1, 4, 0},
                             {85, 8, 0},   {200, 2, 0},   {4, 1, 0}};
    check_template(1, f, N(f), 1);
    static const spec tail1[] = {{8, 4, 0}, {2, 4, 0}, {4, 1, 0}};
    check_template(1, tail1, N(tail1), 1);
    check_template(0, tail1, N(tail1), 1);
}

/* ---- random templates ---------------------------------------------------------------- */

/* Elements and the lengths to draw (0 ends the list); the first lengths are
 * valid, the last of each list often is not. */
typedef struct pool_elem {
    uint16_t id;
    uint16_t lens[6];
} pool_elem;

static const pool_elem pool[] = {
    {8, {4, 4, 4, 5}},    {12, {4, 4, 3}},     {27, {16, 16, 4}}, {28, {16}},        {15, {4}},
    {62, {16}},           {18, {4}},           {63, {16}},        {225, {4}},        {226, {4}},
    {281, {16}},          {282, {16}},         {7, {2, 1, 4}},    {11, {2, 3}},      {4, {1, 2}},
    {6, {1, 2}},          {5, {1}},            {1, {4, 8, 1, 5, 9}}, {2, {4, 8, 2, 7}}, {23, {4, 8}},
    {24, {4, 8}},         {85, {8}},           {86, {8}},         {231, {8}},        {298, {8}},
    {352, {8}},           {10, {2, 4, 8}},     {14, {2, 4}},      {16, {2, 4}},      {17, {4}},
    {9, {1}},             {13, {1}},           {29, {1}},         {30, {1}},         {58, {2}},
    {59, {2}},            {243, {2}},          {254, {2}},        {56, {6, 8}},      {80, {6}},
    {81, {6}},            {57, {6}},           {32, {2}},         {139, {2}},        {176, {1}},
    {177, {1}},           {178, {1}},          {179, {1}},        {61, {1}},         {89, {1, 4}},
    {38, {1}},            {39, {1}},           {48, {1, 2}},      {302, {4, 8}},     {34, {4}},
    {22, {4}},            {21, {4}},           {150, {4}},        {151, {4}},        {152, {8, 6}},
    {153, {8}},           {154, {8, 4}},       {155, {8}},        {156, {8}},        {157, {8}},
    {158, {4}},           {159, {4}},          {160, {8}},        {322, {4}},        {323, {8}},
    {324, {8}},           {325, {8}},          {70, {3, 4}},      {71, {3}},         {75, {3}},
    {79, {4}},            {227, {2}},          {228, {2}},        {233, {1}},        {95, {4, 1, 2, 12}},
    {40001, {4}},         {40005, {1}},        {200, {3, 0}},     {315, {64}},
};

static uint16_t pool_len(const pool_elem *e)
{
    size_t n = 0;
    while (n < 6 && (e->lens[n] || n == 0))
        n++;
    return e->lens[rnd_below((uint32_t)n)];
}

/* Random templates of 1..24 elements, v9 and IPFIX, with random records,
 * samplers and configuration; sometimes the data before its template. */
static void test_random_templates(void **state)
{
    (void)state;
    size_t n_fast = 0, n_all = 0, records = 0;
    for (int iter = 0; iter < 3000; iter++) {
        int ipfix = (int)rnd_below(2);
        spec f[24];
        size_t n = 1 + rnd_below(24);
        size_t rec_len = 0;
        for (size_t i = 0; i < n; i++) {
            const pool_elem *e = &pool[rnd_below(N(pool))];
            f[i] = (spec){e->id, pool_len(e), 0};
            if (ipfix && rnd_below(20) == 0)
                f[i].pen = rnd_below(2) ? TPL_PEN_REVERSE : 9;
            if (ipfix && f[i].id >= 40000)
                f[i].id = 1; /* NSEL ids are v9 only */
            rec_len += f[i].len;
        }
        if (rec_len == 0) {
            f[0] = (spec){8, 4, 0};
            rec_len = 4;
        }
        size_t n_records = 1 + rnd_below((uint32_t)(1200 / rec_len < 10 ? 1200 / rec_len : 10));
        decode_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        uint32_t c = rnd_below(6);
        if (c == 1)
            cfg.sampling_default = 1 + rnd_below(4);
        else if (c == 2)
            cfg.sampling_override = 1 + rnd_below(4);
        trio t;
        trio_init(&t, g_addr, 2055, &cfg);
        if (rnd_below(3) == 0)
            put_samplers(&t, ipfix, 5, rnd_below(2));
        uint32_t uptime = (uint32_t)rnd();
        msg tm, dm;
        msg_begin(&tm, ipfix, uptime, 5);
        put_template(&tm, 256, f, n);
        msg_begin(&dm, ipfix, uptime, 5);
        put_data(&dm, 256, f, n, n_records, !ipfix && rnd_below(2));
        if (rnd_below(5) == 0) { /* data before template: decoded when it comes */
            assert_int_equal(trio_decode(&t, dm.b, msg_end(&dm), (uint64_t)T_SECS * 1000u), CF_OK);
            assert_int_equal(trio_decode(&t, tm.b, msg_end(&tm), (uint64_t)T_SECS * 1000u + 5), CF_OK);
        } else {
            assert_int_equal(trio_decode(&t, tm.b, msg_end(&tm), (uint64_t)T_SECS * 1000u), CF_OK);
            assert_int_equal(trio_decode(&t, dm.b, msg_end(&dm), (uint64_t)T_SECS * 1000u + 5), CF_OK);
        }
        records += t.records;
        n_all++;
        n_fast += is_fast(&t, ipfix ? TPL_PROTO_IPFIX : TPL_PROTO_V9, 5, 256);
        /* a refresh installs a copy of the compiled template: the same
         * bytes a compile of its fields gives, and the data decodes alike */
        uint8_t proto = ipfix ? TPL_PROTO_IPFIX : TPL_PROTO_V9;
        assert_int_equal(trio_decode(&t, tm.b, msg_end(&tm), (uint64_t)T_SECS * 1000u + 9), CF_OK);
        const tpl *now = tpl_find(&t.ex[0], proto, 5, 256);
        assert_non_null(now);
        size_t size = tpl_alloc_size(now->n_fields);
        tpl *fresh = malloc(size);
        assert_non_null(fresh);
        memcpy(fresh, now, size);
        assert_true(tpl_compile(fresh));
        assert_memory_equal(fresh, now, size);
        free(fresh);
        assert_int_equal(trio_decode(&t, dm.b, msg_end(&dm), (uint64_t)T_SECS * 1000u + 10), CF_OK);
        trio_free(&t);
    }
    printf("  random templates: %zu, of which %zu with a fast plan; %zu records compared\n", n_all, n_fast,
           records);
    assert_true(n_fast > n_all / 4);
    assert_true(n_fast < n_all);
}

/* ---- the captures --------------------------------------------------------------------- */

#define MAX_TRIOS 64

typedef struct trios {
    trio t[MAX_TRIOS];
    size_t n;
} trios;

static trio *trio_for(trios *ts, const uint8_t addr[16], uint16_t port)
{
    for (size_t i = 0; i < ts->n; i++)
        if (ts->t[i].ex[0].port == port && memcmp(ts->t[i].ex[0].addr, addr, 16) == 0)
            return &ts->t[i];
    assert_true(ts->n < MAX_TRIOS);
    trio_init(&ts->t[ts->n], addr, port, NULL);
    return &ts->t[ts->n++];
}

static void run_capture_file(const char *rel, trios *ts)
{
    char path[4096], errbuf[512];
    tu_testdata(rel, path, sizeof(path));
    capture *cap = NULL;
    assert_int_equal(capture_open(path, &cap, errbuf, sizeof(errbuf)), CF_OK);
    capture_datagram d;
    cf_err err;
    while ((err = capture_next(cap, &d)) == CF_OK)
        trio_decode(trio_for(ts, d.src_addr, d.src_port), d.payload, d.len, d.time_ms);
    assert_int_equal(err, CF_ERR_EOF);
    capture_close(cap);
}

static void test_captures(void **state)
{
    (void)state;
    char path[4096];
    tu_tsv sum;
    assert_int_equal(tu_tsv_load(tu_testdata("expected/SUMMARY.tsv", path, sizeof(path)), &sum), 0);
    int c_file = tu_tsv_col(&sum, "file"), c_proto = tu_tsv_col(&sum, "protocols");
    int c_comp = tu_tsv_col(&sum, "companion_files");
    assert_true(c_file >= 0 && c_proto >= 0 && c_comp >= 0);
    size_t n_files = 0, records = 0, n_tpl = 0, n_fast = 0;
    trios *ts = malloc(sizeof(*ts));
    assert_non_null(ts);
    for (size_t i = 1; i < sum.n_rows; i++) {
        if (strcmp(sum.rows[i][c_proto], "nf9") != 0 && strcmp(sum.rows[i][c_proto], "ipfix") != 0)
            continue;
        const char *rel = sum.rows[i][c_file], *base = strrchr(rel, '/') + 1;
        ts->n = 0;
        char list[1024];
        snprintf(list, sizeof(list), "%s", sum.rows[i][c_comp]);
        for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char comp[1024];
            snprintf(comp, sizeof(comp), "%.*s%s", (int)(base - rel), rel, tok);
            run_capture_file(comp, ts);
        }
        run_capture_file(rel, ts);
        for (size_t k = 0; k < ts->n; k++) {
            const struct decode_tpl_state *st = ts->t[k].ex[0].tpl;
            for (size_t j = 0; st && j < st->n_tpls; j++) {
                n_tpl += !st->tpls[j]->options;
                n_fast += st->tpls[j]->fast;
            }
            records += ts->t[k].records;
            trio_free(&ts->t[k]);
        }
        n_files++;
    }
    printf("  %zu captures: %zu records equal through the three paths; %zu of %zu data templates "
           "with a fast plan\n", n_files, records, n_fast, n_tpl);
    assert_true(n_files > 40);
    assert_true(n_fast > 0);
    free(ts);
    tu_tsv_free(&sum);
}

int main(void)
{
    cf_log_set_level(CF_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reduced_sizes),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_time_encodings),
        cmocka_unit_test(test_changing_values),
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_skipped_and_duplicates),
        cmocka_unit_test(test_random_templates),
        cmocka_unit_test(test_captures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
