/*
 * tests/decode/test_nf9_captures.c - NetFlow v9 and IPFIX decoding of the
 * real captures (the program takes "nf9" or "ipfix" as its argument and
 * checks every capture of that protocol in expected/SUMMARY.tsv).
 *
 * For each capture, its companion files (templates or options data kept in
 * separate captures, SUMMARY column companion_files) are decoded first by
 * the same exporters; then each UDP payload goes to decode_packet() with the
 * exporter of its (source address, source port), and the records emitted
 * for a frame are compared, in order, with the rows of that frame in
 * expected/<name>.tsv (tshark's decode): exporter, version, source id /
 * domain, addresses, ports, protocol, packets and bytes (times the sampling
 * interval we applied), first and last.  Times tshark prints as seconds
 * since exporter boot are converted with the v9 header; for IPFIX
 * flowStart/EndSysUpTime (boot time from systemInitTime or estimated) the
 * duration must match and no time may lie after the export time.  Rows whose addresses came from a dataLinkFrameSection are
 * compared the same way (the decoder parses the frame).
 *
 * A data set that arrived before its template is decoded later, when the
 * template comes (tshark never decodes it): such records are recognised by
 * the pending_decoded counter and are reported, not compared.
 *
 * Then every accepted packet is cut to every shorter length and decoded by
 * an exporter that holds the same templates (loaded with
 * decode_templates_load): each cut must fail, emit nothing and be counted.
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

#define MAX_EXPORTERS 64
#define MAX_RECORDS 4096

static const char *g_proto; /* "nf9" or "ipfix" */

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

typedef struct columns {
    int frame, exporter, version, domain, src_addr, dst_addr, src_port, dst_port, protocol;
    int packets, bytes, first, last, addr_from;
} columns;

static void find_columns(const tu_tsv *t, columns *c)
{
    c->frame = tu_tsv_col(t, "frame");
    c->exporter = tu_tsv_col(t, "exporter");
    c->version = tu_tsv_col(t, "version");
    c->domain = tu_tsv_col(t, "source_or_domain_id");
    c->src_addr = tu_tsv_col(t, "src_addr");
    c->dst_addr = tu_tsv_col(t, "dst_addr");
    c->src_port = tu_tsv_col(t, "src_port");
    c->dst_port = tu_tsv_col(t, "dst_port");
    c->protocol = tu_tsv_col(t, "protocol");
    c->packets = tu_tsv_col(t, "packets");
    c->bytes = tu_tsv_col(t, "bytes");
    c->first = tu_tsv_col(t, "first");
    c->last = tu_tsv_col(t, "last");
    c->addr_from = tu_tsv_col(t, "addr_from");
    int *all = &c->frame;
    for (size_t i = 0; i < sizeof(*c) / sizeof(int); i++)
        assert_true(all[i] >= 0);
}


/* tshark's "seconds.nanoseconds" as whole ms (truncated). */
static uint64_t secs_to_ms(const char *s)
{
    char *end;
    unsigned long long secs = strtoull(s, &end, 10);
    assert_int_equal(*end, '.');
    const char *f = end + 1;
    assert_true(strlen(f) >= 3);
    return secs * 1000u + (uint64_t)((f[0] - '0') * 100 + (f[1] - '0') * 10 + (f[2] - '0'));
}

/* Values at or above this many seconds are epoch times, below it times
 * since exporter boot (49.7 days at most). */
#define EPOCH_THRESHOLD_S 100000000ull

typedef struct file_ctx {
    const tu_tsv *t;
    columns c;
    size_t rows_matched, extra_pending, beyond_count;
} file_ctx;

static void check_time(file_ctx *fc, size_t exi, const char *cell, uint64_t got_ms,
                       const uint8_t *pkt)
{
    /* Empty: tshark found no time.  Exactly zero: tshark 4.0 shows
     * "StartTime: Jan 1, 1970" when a template lists LAST_SWITCHED before
     * FIRST_SWITCHED (nProbe, softflowd IPFIX) and leaves the end empty;
     * that value says nothing about the record, so it is not compared. */
    if (!cell[0] || strcmp(cell, "0.000000000") == 0)
        return;
    uint64_t ms = secs_to_ms(cell);
    if (ms / 1000u >= EPOCH_THRESHOLD_S) {
        assert_int_equal(got_ms, ms);
    } else if (cf_be16(pkt) == 9) {
        uint32_t uptime = cf_be32(pkt + 4);
        uint64_t export_ms = (uint64_t)cf_be32(pkt + 8) * 1000u;
        int64_t d = (int32_t)((uint32_t)ms - uptime);
        assert_int_equal(got_ms, (uint64_t)((int64_t)export_ms + d));
    } else {
        /* IPFIX flowStart/EndSysUpTime: the boot time comes from
         * systemInitTimeMilliseconds or is estimated (decode.h); never
         * after the export time, and start and end share it (below). */
        (void)fc;
        (void)exi;
        assert_true(got_ms >= ms);
        /* the export time has whole seconds: up to 999 ms later is fine */
        assert_true(got_ms < ((uint64_t)cf_be32(pkt + 4) + 1) * 1000u);
    }
}

/* IPFIX times since boot: the record keeps tshark's duration. */
static void check_ipfix_duration(const char *first, const char *last, const flow_record *rec,
                                 const uint8_t *pkt)
{
    if (cf_be16(pkt) != 10 || !first[0] || !last[0] || strcmp(first, "0.000000000") == 0)
        return;
    uint64_t f = secs_to_ms(first), l = secs_to_ms(last);
    if (f / 1000u >= EPOCH_THRESHOLD_S || l < f)
        return;
    assert_int_equal(rec->last_ms - rec->first_ms, l - f);
}

static void check_record(file_ctx *fc, size_t exi, const flow_record *rec, size_t row,
                         const uint8_t *pkt)
{
    char **r = fc->t->rows[row];
    const columns *c = &fc->c;
    char buf[64];
    flow_addr_format(rec->exporter, buf, sizeof(buf));
    assert_string_equal(buf, r[c->exporter]);
    assert_int_equal(rec->exporter_proto, dt_num(r[c->version]) == 9 ? FLOW_PROTO_NETFLOW9 : FLOW_PROTO_IPFIX);
    assert_int_equal(rec->obs_domain, dt_num(r[c->domain]));
    if (r[c->src_addr][0]) {
        flow_addr_format(rec->src_addr, buf, sizeof(buf));
        assert_string_equal(buf, r[c->src_addr]);
    }
    if (r[c->dst_addr][0]) {
        flow_addr_format(rec->dst_addr, buf, sizeof(buf));
        assert_string_equal(buf, r[c->dst_addr]);
    }
    assert_int_equal(rec->src_port, r[c->src_port][0] ? dt_num(r[c->src_port]) : 0);
    if (r[c->dst_port][0])
        assert_int_equal(rec->dst_port, dt_num(r[c->dst_port]));
    else if (rec->proto != 1 && rec->proto != 58) /* ICMP: type*256+code */
        assert_int_equal(rec->dst_port, 0);
    assert_int_equal(rec->proto, r[c->protocol][0] ? dt_num(r[c->protocol]) : 0);
    assert_true(rec->sampling >= 1);
    if (r[c->packets][0])
        assert_int_equal(rec->packets, dt_num(r[c->packets]) * rec->sampling);
    if (r[c->bytes][0])
        assert_int_equal(rec->bytes, dt_num(r[c->bytes]) * rec->sampling);
    check_time(fc, exi, r[c->first], rec->first_ms, pkt);
    check_time(fc, exi, r[c->last], rec->last_ms, pkt);
    check_ipfix_duration(r[c->first], r[c->last], rec, pkt);
    if (!r[c->last][0] && r[c->first][0] && strcmp(r[c->first], "0.000000000") != 0)
        assert_int_equal(rec->last_ms, rec->first_ms);
}

typedef struct exporters {
    decode_exporter ex[MAX_EXPORTERS];
    size_t n;
} exporters;

static size_t exporter_for(exporters *e, const uint8_t addr[16], uint16_t port)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->ex[i].port == port && memcmp(e->ex[i].addr, addr, 16) == 0)
            return i;
    assert_true(e->n < MAX_EXPORTERS);
    decode_exporter_init(&e->ex[e->n], addr, port);
    return e->n++;
}

/* Offsets where a v9 flowset ends (n of them, at most max); the number of
 * flowsets is returned. */
static size_t v9_flowset_ends(const uint8_t *pkt, size_t len, size_t *ends, size_t max)
{
    size_t n = 0, off = 20;
    while (off + 4 <= len) {
        size_t set_len = cf_be16(pkt + off + 2);
        if (set_len < 4 || off + set_len > len)
            break;
        off += set_len;
        if (n < max)
            ends[n] = off;
        n++;
    }
    return n;
}

/*
 * Every cut of pkt fails, emits nothing, is counted, with ex's templates.
 * One exception, NetFlow v9 only: a cut exactly at a flowset boundary is
 * itself a well-formed packet, told apart only by the header count; the
 * decoder rejects it when it holds fewer records than count, but exporters
 * that count flowsets instead of records (count < records) make some such
 * cuts look complete.  Such a cut may be accepted, and must then emit no
 * more than the whole packet did (full_n).
 */
static void check_truncations(const decode_exporter *model, const uint8_t *pkt, size_t len,
                              size_t full_n)
{
    size_t ends[256];
    size_t n_ends = cf_be16(pkt) == 9 ? v9_flowset_ends(pkt, len, ends, 256) : 0;
    size_t accepted = 0;
    uint8_t *saved = NULL;
    size_t saved_len = 0;
    assert_int_equal(decode_templates_save(model, &saved, &saved_len), CF_OK);
    decode_exporter ex;
    decode_exporter_init(&ex, model->addr, model->port);
    assert_int_equal(decode_templates_load(&ex, saved, saved_len), CF_OK);
    free(saved);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *exact = malloc(cut ? cut : 1);
        assert_non_null(exact);
        memcpy(exact, pkt, cut);
        size_t emitted = 0;
        cf_err err = decode_packet(&ex, exact, cut, 0, count_only, &emitted);
        free(exact);
        if (err == CF_OK) {
            int boundary = 0;
            for (size_t i = 0; i < n_ends && i < 256; i++) {
                boundary |= ends[i] == cut;
                /* or a boundary followed by zero padding only */
                int zeros = ends[i] < cut;
                for (size_t k = ends[i]; zeros && k < cut; k++)
                    zeros = pkt[k] == 0;
                boundary |= zeros;
            }
            if (!boundary)
                fprintf(stderr, "cut %zu of %zu accepted\n", cut, len);
            assert_true(boundary);
            assert_true(emitted <= full_n);
            accepted++;
            continue;
        }
        assert_int_equal(emitted, 0);
    }
    decode_stats st;
    decode_stats_snapshot(&ex, &st);
    uint64_t bad = 0;
    for (size_t i = 0; i < DECODE_N_REASONS; i++)
        bad += st.malformed[i];
    assert_int_equal(st.packets, len);
    assert_int_equal(bad + accepted, len);
    if (!accepted)
        assert_int_equal(st.records, 0);
    decode_exporter_free(&ex);
}

/* Decodes one datagram and checks its records against the rows of its frame. */
static void check_datagram(file_ctx *fc, exporters *exs, const capture_datagram *d, size_t *row,
                           collected *got, int compare)
{
    size_t exi = exporter_for(exs, d->src_addr, d->src_port);
    decode_exporter *ex = &exs->ex[exi];
    decode_tpl_stats before, after;
    decode_tpl_stats_snapshot(ex, &before);
    got->n = 0;
    cf_err err = decode_packet(ex, d->payload, d->len, d->time_ms, collect, got);
    decode_tpl_stats_snapshot(ex, &after);
    if (!compare)
        return;
    const tu_tsv *t = fc->t;
    size_t n_rows = 0;
    while (*row + n_rows < t->n_rows && dt_num(t->rows[*row + n_rows][fc->c.frame]) == d->frame)
        n_rows++;
    int version = d->len >= 2 ? cf_be16(d->payload) : 0;
    if (version != 9 && version != 10) {
        assert_int_equal(n_rows, 0);
        return;
    }
    if (err != CF_OK)
        fprintf(stderr, "frame %llu: error %s\n", (unsigned long long)d->frame, cf_err_str(err));
    assert_int_equal(err, CF_OK);
    size_t extra = got->n - n_rows;
    size_t ends[1];
    if (version == 9 && cf_be16(d->payload + 2) < v9_flowset_ends(d->payload, d->len, ends, 1)) {
        /* tshark reads the v9 count as a number of flowsets and stops
         * there; records of later flowsets are ours alone and come last. */
        assert_true(got->n >= n_rows);
        fc->beyond_count += extra;
        extra = 0;
    } else if (after.pending_decoded == before.pending_decoded) {
        if (got->n != n_rows)
            fprintf(stderr, "frame %llu: %zu records, %zu rows\n", (unsigned long long)d->frame, got->n, n_rows);
        assert_int_equal(got->n, n_rows);
    } else {
        assert_true(got->n >= n_rows); /* replayed pending records come first */
        fc->extra_pending += extra;
    }
    for (size_t i = 0; i < n_rows; i++)
        check_record(fc, exi, &got->recs[extra + i],
                     *row + i, d->payload);
    fc->rows_matched += n_rows;
    *row += n_rows;
    if (got->n > 0 || after.options_records > before.options_records)
        check_truncations(ex, d->payload, d->len, got->n);
}

/* Decodes the capture rel (a path under testdata) with exs; compares with
 * fc when fc is not NULL. */
static void run_capture(const char *rel, exporters *exs, file_ctx *fc, collected *got)
{
    char path[4096], errbuf[512];
    tu_testdata(rel, path, sizeof(path));
    capture *cap = NULL;
    assert_int_equal(capture_open(path, &cap, errbuf, sizeof(errbuf)), CF_OK);
    capture_datagram d;
    cf_err err;
    size_t row = 1;
    while ((err = capture_next(cap, &d)) == CF_OK)
        check_datagram(fc, exs, &d, &row, got, fc != NULL);
    assert_int_equal(err, CF_ERR_EOF);
    if (fc)
        assert_int_equal(row, fc->t->n_rows);
    capture_close(cap);
}

static void check_file(const char *rel, const char *companions, size_t *n_rows)
{
    char tsv_path[4096], name[512], dir[512];
    const char *base = strrchr(rel, '/') + 1;
    snprintf(dir, sizeof(dir), "%.*s", (int)(base - rel), rel);
    snprintf(name, sizeof(name), "expected/%.*s.tsv", (int)(strlen(base) - 5), base);
    tu_testdata(name, tsv_path, sizeof(tsv_path));
    tu_tsv t;
    assert_int_equal(tu_tsv_load(tsv_path, &t), 0);
    file_ctx *fc = calloc(1, sizeof(*fc));
    exporters *exs = calloc(1, sizeof(*exs));
    collected *got = malloc(sizeof(*got));
    assert_true(fc && exs && got);
    fc->t = &t;
    find_columns(&t, &fc->c);
    char list[1024];
    snprintf(list, sizeof(list), "%s", companions);
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char comp[1024];
        snprintf(comp, sizeof(comp), "%s%s", dir, tok);
        run_capture(comp, exs, NULL, got);
    }
    run_capture(rel, exs, fc, got);
    printf("  %s: %zu rows matched, %zu records decoded late (data before template), "
           "%zu beyond a v9 count tshark reads as flowsets\n",
           base, fc->rows_matched, fc->extra_pending, fc->beyond_count);
    *n_rows += fc->rows_matched;
    for (size_t i = 0; i < exs->n; i++)
        decode_exporter_free(&exs->ex[i]);
    free(got);
    free(exs);
    free(fc);
    tu_tsv_free(&t);
}

static void test_all_captures(void **state)
{
    (void)state;
    char path[4096];
    tu_tsv sum;
    assert_int_equal(tu_tsv_load(tu_testdata("expected/SUMMARY.tsv", path, sizeof(path)), &sum), 0);
    int c_file = tu_tsv_col(&sum, "file"), c_proto = tu_tsv_col(&sum, "protocols");
    int c_comp = tu_tsv_col(&sum, "companion_files");
    assert_true(c_file >= 0 && c_proto >= 0 && c_comp >= 0);
    size_t n_files = 0, n_rows = 0;
    for (size_t i = 1; i < sum.n_rows; i++) {
        if (strcmp(sum.rows[i][c_proto], g_proto) != 0)
            continue;
        check_file(sum.rows[i][c_file], sum.rows[i][c_comp], &n_rows);
        n_files++;
    }
    assert_true(n_files > 10);
    assert_true(n_rows > 0);
    tu_tsv_free(&sum);
}

int main(int argc, char **argv)
{
    cf_log_set_level(CF_LOG_ERROR);
    g_proto = argc > 1 ? argv[1] : "nf9";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_captures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
