/* query/report.c - the -s tables, the closing summary and the -I lines, in
 * nfdump 1.7.1's layout. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "query/engine.h"
#include "query/qbuf.h"

static void put_num(query_buf *b, uint64_t v, bool plain, int width)
{
    char t[32];
    size_t n = query_fmt_num(v, plain, t);
    query_buf_pad_left(b, t, n, width);
}

static void put_pct(query_buf *b, uint64_t part, uint64_t total)
{
    char t[32];
    double pct = total ? (double)part * 100.0 / (double)total : 0.0;
    int n = snprintf(t, sizeof(t), "(%4.1f)", pct);
    query_buf_put(b, t, (size_t)n);
}

/* The value column of a -s row. */
static size_t elem_value(const query_options *o, const query_elem_def *d, query_elem e, const uint8_t *key,
                         char *t)
{
    if (d->is_addr)
        return query_fmt_addr_short(key, o->ipv6_long, t);
    uint64_t v;
    memcpy(&v, key, 8);
    if (e == QUERY_EL_SRCMAC || e == QUERY_EL_DSTMAC)
        return query_fmt_mac(v, t);
    if (e == QUERY_EL_FLAGS) {
        query_fmt_flags((uint8_t)v, t);
        return 8;
    }
    if (e >= QUERY_EL_MPLS1 && e <= QUERY_EL_MPLS10) /* label-exp-bos, as nfdump */
        return (size_t)snprintf(t, 32, "%" PRIu64 "-%" PRIu64 "-%" PRIu64, v >> 4, (v >> 1) & 7u, v & 1u);
    return query_fmt_u64(v, t);
}

static void stat_row(query_buf *b, const query_options *o, query_elem e, const query_counts *c,
                     const uint8_t *key, const query_totals *tot)
{
    const query_elem_def *d = query_elem_get(e);
    char t[64];
    size_t n;
    query_buf_time_ms(b, c->first);
    query_buf_putc(b, ' ');
    uint64_t dur = c->last > c->first ? c->last - c->first : 0;
    n = o->plain_numbers ? query_fmt_fixed((double)dur / 1000.0, 3, t) : query_fmt_duration(dur, t);
    query_buf_pad_left(b, t, n, 16);
    query_buf_putc(b, ' ');
    if (e == QUERY_EL_PROTO) {
        uint64_t v;
        memcpy(&v, key, 8);
        n = query_fmt_proto((uint8_t)v, o->plain_numbers, t);
    } else {
        memcpy(t, "any", 4);
        n = 3;
    }
    query_buf_pad_right(b, t, n, 5);
    query_buf_putc(b, ' ');
    n = elem_value(o, d, e, key, t);
    query_buf_pad_left(b, t, n, o->ipv6_long ? 39 : 17);
    query_buf_putc(b, ' ');
    put_num(b, c->flows, o->plain_numbers, 8);
    put_pct(b, c->flows, tot->flows);
    query_buf_putc(b, ' ');
    put_num(b, c->packets, o->plain_numbers, 8);
    put_pct(b, c->packets, tot->packets);
    query_buf_putc(b, ' ');
    put_num(b, c->bytes, o->plain_numbers, 8);
    put_pct(b, c->bytes, tot->bytes);
    query_buf_putc(b, ' ');
    put_num(b, query_order_value(c, QUERY_ORDER_PPS), o->plain_numbers, 8);
    query_buf_putc(b, ' ');
    put_num(b, query_order_value(c, QUERY_ORDER_BPS), o->plain_numbers, 8);
    query_buf_putc(b, ' ');
    query_buf_u64(b, query_order_value(c, QUERY_ORDER_BPP), 5);
    query_buf_putc(b, '\n');
}

void query_report_stat(FILE *out, const query_options *o, query_elem e, query_order order,
                       const query_row *rows, size_t n_rows, const query_totals *tot)
{
    const query_elem_def *d = query_elem_get(e);
    size_t want = o->top_n >= 0 ? (size_t)o->top_n : 10;
    query_buf b = {0};
    if (!o->quiet) {
        char line[256];
        int n = snprintf(line, sizeof(line), "Top %zu %s ordered by %s:\n", want, d->title, query_order_name(order));
        query_buf_put(&b, line, (size_t)n);
        query_buf_puts(&b, "Date first seen                 Duration Proto ");
        query_buf_pad_left(&b, d->title, strlen(d->title), o->ipv6_long ? 39 : 17);
        query_buf_puts(&b, "    Flows(%)     Packets(%)       Bytes(%)         pps      bps   bpp\n");
    }
    for (size_t i = 0; i < n_rows; i++)
        stat_row(&b, o, e, &rows[i].c, rows[i].key, tot);
    query_buf_putc(&b, '\n');
    fwrite(b.p, 1, b.len, out);
    query_buf_free(&b);
}

static void averages(const query_totals *t, uint64_t *bps, uint64_t *pps, uint64_t *bpp)
{
    uint64_t dur = (t->flows && t->last > t->first) ? t->last - t->first : 0;
    *bps = *pps = *bpp = 0;
    if (dur) {
        *bps = (uint64_t)((double)t->bytes * 8000.0 / (double)dur);
        *pps = (uint64_t)((double)t->packets * 1000.0 / (double)dur);
        *bpp = t->packets ? t->bytes / t->packets : 0;
    }
}

static void date_text(uint64_t ms, char *out)
{
    query_buf b = {0};
    query_buf_date(&b, ms);
    memcpy(out, b.p ? b.p : "", b.p ? 19 : 1);
    out[b.p ? 19 : 0] = '\0';
    query_buf_free(&b);
}

void query_report_summary(FILE *out, const query_options *o, const query_totals *t, uint64_t bytes_read,
                          double wall_s)
{
    uint64_t bps, pps, bpp;
    averages(t, &bps, &pps, &bpp);
    if (o->format == QUERY_OUT_CSV) {
        fprintf(out, "Summary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n%" PRIu64 ",%" PRIu64 ",%" PRIu64
                     ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
                t->flows, t->bytes, t->packets, bps, pps, bpp);
        return;
    }
    char s_byt[32], s_pkt[32], s_bps[32], s_pps[32], s_bpp[32];
    query_fmt_num(t->bytes, o->plain_numbers, s_byt);
    query_fmt_num(t->packets, o->plain_numbers, s_pkt);
    query_fmt_num(bps, o->plain_numbers, s_bps);
    query_fmt_num(pps, o->plain_numbers, s_pps);
    query_fmt_num(bpp, o->plain_numbers, s_bpp);
    fprintf(out,
            "Summary: total flows: %" PRIu64 ", total bytes: %s, total packets: %s, avg bps: %s, avg pps: %s, "
            "avg bpp: %s\n",
            t->flows, s_byt, s_pkt, s_bps, s_pps, s_bpp);
    if (t->win_first != UINT64_MAX) {
        char a[24], z[24];
        date_text(t->win_first, a);
        date_text(t->win_last, z);
        fprintf(out, "Time window: %s - %s\n", a, z);
    } else {
        fprintf(out, "Time window: <unknown>\n");
    }
    fprintf(out, "Total flows processed: %" PRIu64 ", passed: %" PRIu64 ", Blocks skipped: %" PRIu64
                 ", Bytes read: %" PRIu64 "\n",
            t->processed, t->flows, t->blocks_skipped, bytes_read);
    struct rusage ru;
    memset(&ru, 0, sizeof(ru));
    getrusage(RUSAGE_SELF, &ru);
    double sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    double usr = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    fprintf(out, "Sys: %.4fs User: %.4fs Wall: %.4fs flows/second: %.1f Runtime: %.4fs\n", sys, usr, wall_s,
            wall_s > 0 ? (double)t->processed / wall_s : 0.0, wall_s);
}

void query_report_info(FILE *out, const query_totals *t)
{
    static const char *const names[4] = {"tcp", "udp", "icmp", "other"};
    static const char *const what[3] = {"Flows", "Packets", "Bytes"};
    const uint64_t all[3] = {t->flows, t->packets, t->bytes};
    fprintf(out, "Ident: none\n");
    for (int w = 0; w < 3; w++) {
        fprintf(out, "%s: %" PRIu64 "\n", what[w], all[w]);
        for (int p = 0; p < 4; p++)
            fprintf(out, "%s_%s: %" PRIu64 "\n", what[w], names[p], t->by_proto[p][w]);
    }
    uint64_t first = t->flows ? t->first : 0, last = t->flows ? t->last : 0;
    fprintf(out, "First: %" PRIu64 "\nLast: %" PRIu64 "\nmsec_first: %" PRIu64 "\nmsec_last: %" PRIu64 "\n",
            first / 1000, last / 1000, first % 1000, last % 1000);
    fprintf(out, "Sequence failures: 0\n");
}
