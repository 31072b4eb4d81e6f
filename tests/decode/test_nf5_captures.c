/*
 * tests/decode/test_nf5_captures.c - NetFlow v5 decoding of the real captures.
 *
 * Every capture whose protocols in expected/SUMMARY.tsv include nf5 is read
 * with the capture module; each UDP payload goes to decode_packet() with the
 * exporter of its (source address, source port), and every emitted record is
 * compared with the next row of expected/<name>.tsv (tshark's decode).
 *
 * tshark decodes as many records as fit even when the header's count says
 * otherwise; our decoder rejects such a packet whole (see decode.h).  So a
 * frame whose header count differs from the number of tshark rows for it
 * must be rejected with DECODE_BAD_COUNT and emit nothing; every other frame
 * must emit exactly its rows.
 *
 * The same packets are then cut to every shorter length, each of which must
 * fail cleanly.
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
#include "decode_testlib.h"
#include "testutil.h"

#define MAX_EXPORTERS 16
#define MAX_RECORDS 2048

typedef struct collected {
    flow_record recs[MAX_RECORDS];
    size_t n;
} collected;

static void collect(void *ctx, const flow_record *rec)
{
    collected *c = ctx;
    assert_true(c->n < MAX_RECORDS);
    c->recs[c->n++] = *rec;
}

static void count_only(void *ctx, const flow_record *rec)
{
    (void)rec;
    (*(size_t *)ctx)++;
}

/* The columns of an expected tsv that the test reads. */
typedef struct columns {
    int frame, exporter, version, src_addr, dst_addr, src_port, dst_port, protocol;
    int packets, bytes, first, last;
} columns;

static void find_columns(const tu_tsv *t, columns *c)
{
    c->frame = tu_tsv_col(t, "frame");
    c->exporter = tu_tsv_col(t, "exporter");
    c->version = tu_tsv_col(t, "version");
    c->src_addr = tu_tsv_col(t, "src_addr");
    c->dst_addr = tu_tsv_col(t, "dst_addr");
    c->src_port = tu_tsv_col(t, "src_port");
    c->dst_port = tu_tsv_col(t, "dst_port");
    c->protocol = tu_tsv_col(t, "protocol");
    c->packets = tu_tsv_col(t, "packets");
    c->bytes = tu_tsv_col(t, "bytes");
    c->first = tu_tsv_col(t, "first");
    c->last = tu_tsv_col(t, "last");
    int *all = &c->frame;
    for (size_t i = 0; i < sizeof(*c) / sizeof(int); i++)
        assert_true(all[i] >= 0);
}


/* tshark's "seconds.nanoseconds" since boot as whole ms. */
static uint32_t uptime_ms(const char *s)
{
    char *end;
    unsigned long long secs = strtoull(s, &end, 10);
    assert_int_equal(*end, '.');
    const char *frac = end + 1;
    assert_true(strlen(frac) >= 3);
    unsigned ms = (unsigned)((frac[0] - '0') * 100 + (frac[1] - '0') * 10 + (frac[2] - '0'));
    return (uint32_t)(secs * 1000u + ms);
}

/* Absolute time of a sysUptime-relative time, from the raw header bytes. */
static uint64_t header_abs_ms(const uint8_t *pkt, uint32_t rel_ms)
{
    uint32_t sys_uptime = cf_be32(pkt + 4);
    uint64_t export_ms = (uint64_t)cf_be32(pkt + 8) * 1000u + cf_be32(pkt + 12) / 1000000u;
    return export_ms - (uint32_t)(sys_uptime - rel_ms);
}

static int is_v5_row(const tu_tsv *t, const columns *c, size_t row)
{
    return strcmp(t->rows[row][c->version], "5") == 0;
}

/* Compares rec with tsv row `row`; pkt is the export packet it came from. */
static void check_record(const flow_record *rec, const tu_tsv *t, const columns *c, size_t row,
                         const uint8_t *pkt)
{
    char **r = t->rows[row];
    char buf[64];
    flow_addr_format(rec->exporter, buf, sizeof(buf));
    assert_string_equal(buf, r[c->exporter]);
    flow_addr_format(rec->src_addr, buf, sizeof(buf));
    assert_string_equal(buf, r[c->src_addr]);
    flow_addr_format(rec->dst_addr, buf, sizeof(buf));
    assert_string_equal(buf, r[c->dst_addr]);
    assert_int_equal(rec->src_port, dt_num(r[c->src_port]));
    assert_int_equal(rec->dst_port, dt_num(r[c->dst_port]));
    assert_int_equal(rec->proto, dt_num(r[c->protocol]));
    uint32_t interval = cf_be16(pkt + 22) & 0x3fffu;
    uint32_t scale = interval > 1 ? interval : 1;
    assert_int_equal(rec->sampling, scale);
    assert_int_equal(rec->packets, dt_num(r[c->packets]) * scale);
    assert_int_equal(rec->bytes, dt_num(r[c->bytes]) * scale);
    assert_int_equal(rec->first_ms, header_abs_ms(pkt, uptime_ms(r[c->first])));
    assert_int_equal(rec->last_ms, header_abs_ms(pkt, uptime_ms(r[c->last])));
    assert_int_equal(rec->family, 4);
    assert_int_equal(rec->exporter_proto, FLOW_PROTO_NETFLOW5);
    assert_int_equal(rec->engine_type, pkt[20]);
    assert_int_equal(rec->engine_id, pkt[21]);
}

/* The exporter of (addr, port), created on first use. */


/* Every cut of pkt to a shorter length fails, emits nothing, is counted. */
static void check_truncations(const uint8_t *pkt, size_t len)
{
    decode_exporter ex;
    uint8_t addr[16] = {0};
    decode_exporter_init(&ex, addr, 1);
    for (size_t cut = 0; cut < len; cut++) {
        /* A heap block of exactly cut bytes, so that ASan sees any over-read. */
        uint8_t *exact = malloc(cut ? cut : 1);
        assert_non_null(exact);
        memcpy(exact, pkt, cut);
        size_t emitted = 0;
        cf_err err = decode_packet(&ex, exact, cut, 0, count_only, &emitted);
        free(exact);
        assert_int_not_equal(err, CF_OK);
        assert_int_equal(emitted, 0);
    }
    decode_stats st;
    decode_stats_snapshot(&ex, &st);
    assert_int_equal(st.packets, len);
    assert_int_equal(dt_sum_malformed(&st), len);
    assert_int_equal(st.records, 0);
}

typedef struct file_result {
    size_t rows_matched;  /* tsv rows matched by an emitted record */
    size_t rows_rejected; /* tsv rows of frames we reject (count disagrees) */
    size_t v5_rows;       /* v5 rows in the tsv */
    uint64_t lost, seq_resets, bad_count;
} file_result;

/* Decodes one frame's datagram and checks it against the tsv from *row on. */
static void check_datagram(const capture_datagram *d, decode_exporter *ex, const tu_tsv *t,
                           const columns *c, size_t *row, file_result *res, collected *got)
{
    while (*row < t->n_rows && !is_v5_row(t, c, *row))
        (*row)++;
    size_t n_rows = 0;
    while (*row + n_rows < t->n_rows && dt_num(t->rows[*row + n_rows][c->frame]) == d->frame)
        n_rows++;
    int is_v5 = d->len >= 2 && cf_be16(d->payload) == 5;
    got->n = 0;
    cf_err err = decode_packet(ex, d->payload, d->len, d->time_ms, collect, got);
    if (!is_v5) {
        assert_int_equal(n_rows, 0);
        assert_int_not_equal(err, CF_OK);
        assert_int_equal(got->n, 0);
        return;
    }
    assert_true(n_rows > 0);
    if (cf_be16(d->payload + 2) != n_rows) { /* a garbled count: rejected whole */
        assert_true(err == CF_ERR_MALFORMED || err == CF_ERR_TRUNCATED);
        assert_int_equal(got->n, 0);
        res->rows_rejected += n_rows;
    } else {
        assert_int_equal(err, CF_OK);
        assert_int_equal(got->n, n_rows);
        for (size_t i = 0; i < n_rows; i++)
            check_record(&got->recs[i], t, c, *row + i, d->payload);
        res->rows_matched += n_rows;
        check_truncations(d->payload, d->len);
    }
    *row += n_rows;
}

static void check_file(const char *rel, file_result *res)
{
    char path[4096], tsv_path[4096], errbuf[512];
    tu_testdata(rel, path, sizeof(path));
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    char name[512];
    snprintf(name, sizeof(name), "expected/%.*s.tsv", (int)(strlen(base) - 5), base);
    tu_testdata(name, tsv_path, sizeof(tsv_path));

    tu_tsv t;
    assert_int_equal(tu_tsv_load(tsv_path, &t), 0);
    columns c;
    find_columns(&t, &c);
    capture *cap = NULL;
    assert_int_equal(capture_open(path, &cap, errbuf, sizeof(errbuf)), CF_OK);

    decode_exporter *exs = calloc(MAX_EXPORTERS, sizeof(*exs));
    collected *got = malloc(sizeof(*got));
    assert_non_null(exs);
    assert_non_null(got);
    size_t n_exs = 0, row = 1;
    memset(res, 0, sizeof(*res));
    for (size_t i = 1; i < t.n_rows; i++)
        res->v5_rows += (size_t)is_v5_row(&t, &c, i);
    capture_datagram d;
    cf_err err;
    while ((err = capture_next(cap, &d)) == CF_OK) {
        bool created;
        decode_exporter *ex = dt_exporter_for(exs, &n_exs, MAX_EXPORTERS, d.src_addr, d.src_port, &created);
        check_datagram(&d, ex, &t, &c, &row, res, got);
    }
    assert_int_equal(err, CF_ERR_EOF);
    for (size_t i = 0; i < n_exs; i++) {
        decode_stats st;
        decode_stats_snapshot(&exs[i], &st);
        res->lost += st.lost;
        res->seq_resets += st.seq_resets;
        res->bad_count += st.malformed[DECODE_BAD_COUNT];
    }
    printf("  %s: %zu rows matched, %zu rejected, lost %llu, resets %llu\n", base,
           res->rows_matched, res->rows_rejected, (unsigned long long)res->lost,
           (unsigned long long)res->seq_resets);
    assert_int_equal(res->rows_matched + res->rows_rejected, res->v5_rows);
    free(got);
    free(exs);
    capture_close(cap);
    tu_tsv_free(&t);
}

/* Every nf5 capture listed in SUMMARY.tsv decodes to its expected rows. */
static void test_all_nf5_captures(void **state)
{
    (void)state;
    char path[4096];
    tu_tsv sum;
    assert_int_equal(tu_tsv_load(tu_testdata("expected/SUMMARY.tsv", path, sizeof(path)), &sum), 0);
    int c_file = tu_tsv_col(&sum, "file"), c_proto = tu_tsv_col(&sum, "protocols");
    assert_true(c_file >= 0 && c_proto >= 0);
    size_t n_files = 0, n_matched = 0;
    for (size_t i = 1; i < sum.n_rows; i++) {
        if (!strstr(sum.rows[i][c_proto], "nf5"))
            continue;
        file_result res;
        check_file(sum.rows[i][c_file], &res);
        n_files++;
        n_matched += res.rows_matched;
        /* Files whose packets are all accepted must show no sequence trouble. */
        if (res.rows_rejected == 0) {
            assert_int_equal(res.lost, 0);
            assert_int_equal(res.seq_resets, 0);
        } else {
            assert_true(res.bad_count > 0);
        }
    }
    assert_true(n_files > 0);
    assert_true(n_matched > 0);
    tu_tsv_free(&sum);
}

int main(void)
{
    cf_log_set_level(CF_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_nf5_captures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
