/*
 * query/series.c - the time series of --interval (series.h): counting the
 * selected rows of a block into per-worker bins, collecting the bins of the
 * workers into a query_series, and printing it (table, csv, json).  The
 * scan is engine.c's; query_series_run() is there too.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "query/qbuf.h"
#include "query/scan.h"
#include "query/series.h"

/* Makes w's bins cover bin numbers lo .. hi (inclusive), keeping what they
 * hold; grows by half again at least so that segments read in time order
 * do not copy the bins every time. */
static cf_err bins_cover(worker *w, uint64_t lo, uint64_t hi)
{
    if (w->n_bins && lo >= w->bin_lo && hi < w->bin_lo + w->n_bins)
        return CF_OK;
    uint64_t nlo = lo, nhi = hi;
    if (w->n_bins) {
        uint64_t olo = w->bin_lo, ohi = w->bin_lo + w->n_bins - 1, slack = w->n_bins / 2 + 1;
        if (olo < nlo)
            nlo = olo;
        else if (nlo < olo)
            nlo = nlo > slack ? nlo - slack : 0;
        if (ohi > nhi)
            nhi = ohi;
        else if (nhi > ohi)
            nhi += slack;
    }
    if (nhi - nlo >= QUERY_SERIES_MAX_BINS) { /* the slack must not make a series fail */
        nlo = lo < w->bin_lo || !w->n_bins ? lo : w->bin_lo;
        nhi = w->n_bins && w->bin_lo + w->n_bins - 1 > hi ? w->bin_lo + w->n_bins - 1 : hi;
        if (nhi - nlo >= QUERY_SERIES_MAX_BINS)
            return CF_ERR_RANGE;
    }
    size_t n = (size_t)(nhi - nlo + 1);
    query_bin *nb = calloc(n, sizeof(*nb));
    if (!nb)
        return CF_ERR_NOMEM;
    if (w->n_bins)
        memcpy(nb + (w->bin_lo - nlo), w->bins, w->n_bins * sizeof(*nb));
    free(w->bins);
    w->bins = nb;
    w->bin_lo = nlo;
    w->n_bins = n;
    return CF_OK;
}

/* Adds packets and bytes of a flow of class c to bin b. */
static inline void bin_add(query_bin *b, int c, uint64_t packets, uint64_t bytes)
{
    b->packets += packets;
    b->bytes += bytes;
    b->proto[c][QUERY_CNT_PACKETS] += packets;
    b->proto[c][QUERY_CNT_BYTES] += bytes;
}

/* v * num / den without overflow (num <= den). */
static inline uint64_t share(uint64_t v, uint64_t num, uint64_t den)
{
    __extension__ typedef unsigned __int128 u128;
    return (uint64_t)((u128)v * num / den);
}

/* Spreads the packets and bytes of a flow over bins kf .. l / iv (kf is the
 * bin of first, index base in w->bins): each bin gets the share of the
 * flow's milliseconds that lie in it, as differences of cumulative shares so
 * that the parts add up exactly. */
static void spread_flow(worker *w, uint64_t iv, uint64_t first, uint64_t last, int c, uint64_t packets,
                        uint64_t bytes)
{
    uint64_t kf = first / iv, kl = last / iv, d = last - first, pp = 0, pb = 0;
    query_bin *b = w->bins + (kf - w->bin_lo);
    for (uint64_t k = kf; k <= kl; k++, b++) {
        uint64_t end = k == kl ? last : (k + 1) * iv;
        uint64_t cp = share(packets, end - first, d), cb = share(bytes, end - first, d);
        bin_add(b, c, cp - pp, cb - pb);
        pp = cp;
        pb = cb;
    }
}

cf_err query_count_series(worker *w, const void *const *cols, size_t n_sel, const store_block_info *bi)
{
    (void)bi;
    const run *r = w->r;
    const uint64_t iv = r->o->interval_ms;
    const bool spread = r->o->spread;
    const uint64_t *pk = cols[FLOW_FIELD_PACKETS], *by = cols[FLOW_FIELD_BYTES];
    const uint64_t *fs = cols[FLOW_FIELD_FIRST], *ls = cols[FLOW_FIELD_LAST];
    const uint8_t *pr = cols[FLOW_FIELD_PROTO];
    const uint32_t *idx = w->idx;
    if (!n_sel)
        return CF_OK;
    /* the range of the selected rows (not the block's: rows the filter left out may lie far away) */
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t j = 0; j < n_sel; j++) {
        uint64_t f = fs[idx[j]], l = spread && ls[idx[j]] > f ? ls[idx[j]] : f;
        lo = f < lo ? f : lo;
        hi = l > hi ? l : hi;
    }
    cf_err err = bins_cover(w, lo / iv, hi / iv);
    if (err)
        return err;
    for (size_t j = 0; j < n_sel; j++) {
        uint32_t i = idx[j];
        uint64_t f = fs[i], l = ls[i];
        int c = query_proto_class(pr[i]);
        uint64_t k = f / iv;
        query_bin *b = w->bins + (k - w->bin_lo);
        b->flows++;
        b->proto[c][QUERY_CNT_FLOWS]++;
        if (spread && l > f && l / iv != k)
            spread_flow(w, iv, f, l, c, pk[i], by[i]);
        else
            bin_add(b, c, pk[i], by[i]);
    }
    return CF_OK;
}

static bool bin_used(const query_bin *b) { return b->flows || b->packets || b->bytes; }

static void bin_merge(query_bin *d, const query_bin *s)
{
    d->flows += s->flows;
    d->packets += s->packets;
    d->bytes += s->bytes;
    for (int c = 0; c < 4; c++)
        for (int k = 0; k < 3; k++)
            d->proto[c][k] += s->proto[c][k];
}

cf_err query_series_collect(const run *r, const worker *w, unsigned n, query_series *out)
{
    const query_options *o = r->o;
    const uint64_t iv = o->interval_ms;
    uint64_t lo = UINT64_MAX, hi = 0;
    bool any = false;
    for (unsigned i = 0; i < n; i++)
        for (size_t k = 0; k < w[i].n_bins; k++)
            if (bin_used(&w[i].bins[k])) {
                uint64_t b = w[i].bin_lo + k;
                lo = b < lo ? b : lo;
                hi = b > hi ? b : hi;
                any = true;
            }
    if (o->from_ms > 0) {
        uint64_t wlo = o->from_ms / iv;
        lo = wlo < lo ? wlo : lo;
        if (!any)
            hi = wlo;
        any = true;
    }
    if (o->to_ms < UINT64_MAX && any) {
        uint64_t whi = (o->to_ms > o->from_ms ? o->to_ms - 1 : o->from_ms) / iv;
        hi = whi > hi ? whi : hi;
    }
    memset(out, 0, sizeof(*out));
    out->interval_ms = iv;
    out->spread = o->spread;
    if (!any)
        return CF_OK;
    if (hi - lo >= QUERY_SERIES_MAX_BINS)
        return CF_ERR_RANGE;
    out->n_bins = (size_t)(hi - lo + 1);
    out->bins = calloc(out->n_bins, sizeof(*out->bins));
    if (!out->bins)
        return CF_ERR_NOMEM;
    for (size_t k = 0; k < out->n_bins; k++)
        out->bins[k].start_ms = (lo + k) * iv;
    for (unsigned i = 0; i < n; i++)
        for (size_t k = 0; k < w[i].n_bins; k++) {
            uint64_t b = w[i].bin_lo + k;
            if (b >= lo && b <= hi)
                bin_merge(&out->bins[b - lo], &w[i].bins[k]);
        }
    out->total.start_ms = lo * iv;
    for (size_t k = 0; k < out->n_bins; k++)
        bin_merge(&out->total, &out->bins[k]);
    return CF_OK;
}

void query_series_free(query_series *s)
{
    if (!s)
        return;
    free(s->bins);
    s->bins = NULL;
    s->n_bins = 0;
}

/* ---- printing ------------------------------------------------------------------ */

static const char *const class_names[4] = {"tcp", "udp", "icmp", "other"};
static const char *const cnt_names[3] = {"flows", "packets", "bytes"};

static void csv_bin(query_buf *b, const query_bin *x)
{
    char t[64];
    query_buf_date(b, x->start_ms);
    int n = snprintf(t, sizeof(t), ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64, x->start_ms, x->flows,
                     x->packets, x->bytes);
    query_buf_put(b, t, (size_t)n);
    for (int c = 0; c < 4; c++)
        for (int k = 0; k < 3; k++) {
            n = snprintf(t, sizeof(t), ",%" PRIu64, x->proto[c][k]);
            query_buf_put(b, t, (size_t)n);
        }
    query_buf_putc(b, '\n');
}

static void json_bin(query_buf *b, const query_bin *x, uint64_t iv)
{
    char t[256], iso[32];
    cf_time_format_iso(x->start_ms, iso, sizeof(iso));
    int n = snprintf(t, sizeof(t),
                     "{\"ts\":\"%s\",\"ts_ms\":%" PRIu64 ",\"interval_ms\":%" PRIu64 ",\"flows\":%" PRIu64
                     ",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64,
                     iso, x->start_ms, iv, x->flows, x->packets, x->bytes);
    query_buf_put(b, t, (size_t)n);
    for (int c = 0; c < 4; c++) {
        n = snprintf(t, sizeof(t), ",\"%s\":{\"flows\":%" PRIu64 ",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
                     class_names[c], x->proto[c][0], x->proto[c][1], x->proto[c][2]);
        query_buf_put(b, t, (size_t)n);
    }
    query_buf_putc(b, '}');
}

static void put_num(query_buf *b, uint64_t v, bool plain, int width)
{
    char t[32];
    size_t n = query_fmt_num(v, plain, t);
    query_buf_pad_left(b, t, n, width);
}

static void table_header(query_buf *b)
{
    static const char *const titles[4] = {"TCP", "UDP", "ICMP", "Other"};
    query_buf_pad_right(b, "Interval start", 14, 19);
    query_buf_puts(b, "    Flows  Packets    Bytes");
    for (int c = 0; c < 4; c++) {
        char t[16];
        query_buf_puts(b, " |");
        int n = snprintf(t, sizeof(t), "%s fl", titles[c]);
        query_buf_pad_left(b, t, (size_t)n, 9);
        n = snprintf(t, sizeof(t), "%s pkt", titles[c]);
        query_buf_pad_left(b, t, (size_t)n, 10);
        n = snprintf(t, sizeof(t), "%s byt", titles[c]);
        query_buf_pad_left(b, t, (size_t)n, 10);
    }
    query_buf_putc(b, '\n');
}

static void table_bin(query_buf *b, const query_bin *x, bool plain)
{
    query_buf_date(b, x->start_ms);
    put_num(b, x->flows, plain, 9);
    put_num(b, x->packets, plain, 9);
    put_num(b, x->bytes, plain, 9);
    for (int c = 0; c < 4; c++) {
        query_buf_puts(b, " |");
        put_num(b, x->proto[c][0], plain, 9);
        put_num(b, x->proto[c][1], plain, 10);
        put_num(b, x->proto[c][2], plain, 10);
    }
    query_buf_putc(b, '\n');
}

cf_err query_series_print(const query_series *s, const query_options *o, FILE *out)
{
    query_buf b = {0};
    cf_err err = CF_OK;
    bool json = o->format == QUERY_OUT_JSON, nd = o->format == QUERY_OUT_NDJSON;
    if (o->format == QUERY_OUT_CSV) {
        query_buf_puts(&b, "ts,ts_ms,flows,packets,bytes");
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < 3; k++) {
                char t[32];
                int n = snprintf(t, sizeof(t), ",%s_%s", class_names[c], cnt_names[k]);
                query_buf_put(&b, t, (size_t)n);
            }
        query_buf_putc(&b, '\n');
    } else if (json) {
        query_buf_puts(&b, "[\n");
    } else if (!nd && !o->quiet) {
        char iv[32];
        uint64_t sec = s->interval_ms / 1000;
        if (sec % 86400 == 0)
            snprintf(iv, sizeof(iv), "%" PRIu64 "d", sec / 86400);
        else if (sec % 3600 == 0)
            snprintf(iv, sizeof(iv), "%" PRIu64 "h", sec / 3600);
        else if (sec % 60 == 0)
            snprintf(iv, sizeof(iv), "%" PRIu64 "m", sec / 60);
        else
            snprintf(iv, sizeof(iv), "%" PRIu64 "s", sec);
        char t[128];
        int n = snprintf(t, sizeof(t), "Time series: %zu bins of %s (UTC), flows by first seen%s\n", s->n_bins, iv,
                         s->spread ? ", packets and bytes spread over each flow's duration" : "");
        query_buf_put(&b, t, (size_t)n);
        table_header(&b);
    }
    for (size_t i = 0; i < s->n_bins; i++) {
        if (o->format == QUERY_OUT_CSV) {
            csv_bin(&b, &s->bins[i]);
        } else if (json || nd) {
            json_bin(&b, &s->bins[i], s->interval_ms);
            query_buf_puts(&b, json && i + 1 < s->n_bins ? ",\n" : "\n");
        } else {
            table_bin(&b, &s->bins[i], o->plain_numbers);
        }
        if (b.len >= (1u << 16)) {
            if (!b.failed && fwrite(b.p, 1, b.len, out) != b.len)
                err = CF_ERR_IO;
            b.len = 0;
        }
    }
    if (json)
        query_buf_puts(&b, "]\n");
    if (b.failed)
        err = CF_ERR_NOMEM;
    else if (!err && b.len && fwrite(b.p, 1, b.len, out) != b.len)
        err = CF_ERR_IO;
    query_buf_free(&b);
    return err;
}
