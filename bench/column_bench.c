/*
 * bench/column_bench.c - what each column of a real segment costs the
 * writer: reads every block of a segment file (one a collector wrote, e.g.
 * after bench/drain-profile.sh), and encodes each column again as the writer
 * does, once with LZ4 and once uncompressed, timing each (thread CPU, the
 * best of R repetitions per block, summed over the blocks).
 *
 * Prints per field: ns per flow and stored bytes per flow with LZ4 and
 * without, and the encoding chosen for the field's first full block; then
 * the totals.  The writer skips LZ4 for a while on a column that LZ4 cannot
 * shrink (store/writer.c), so for such columns the uncompressed figure is
 * the one the collector pays.
 *
 * usage: column_bench SEGMENT_FILE [-r reps]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/segment_format.h"
#include "store/store.h"

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static const char *enc_name(unsigned enc)
{
    static const char *names[] = {"CONST", "FOR", "DELTA", "REF", "PLANES", "DICT", "SMALLDICT", "PLANESX"};
    enc &= ~STORE_ENC_F_SPARSE;
    return enc < sizeof(names) / sizeof(names[0]) ? names[enc] : "?";
}

typedef struct field_cost {
    double ns[2];     /* seconds: LZ4, none */
    double bytes[2];  /* stored bytes */
    int seen;         /* the entry below is set */
    store_col_entry e;
} field_cost;

int main(int argc, char **argv)
{
    int reps = 3, opt;
    while ((opt = getopt(argc, argv, "r:")) != -1) {
        if (opt != 'r' || (reps = atoi(optarg)) < 1) {
            fprintf(stderr, "usage: column_bench SEGMENT_FILE [-r reps]\n");
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: column_bench SEGMENT_FILE [-r reps]\n");
        return 2;
    }
    store_reader *r;
    cf_err err = store_reader_open(argv[optind], &r);
    if (err) {
        fprintf(stderr, "column_bench: %s: %s\n", argv[optind], err == CF_ERR_IO ? strerror(errno) : cf_err_str(err));
        return 1;
    }
    static field_cost cost[FLOW_FIELD_MAX_ID + 1];
    static uint8_t *copy[FLOW_FIELD_MAX_ID + 1];
    store_codec_ctx cx;
    memset(&cx, 0, sizeof(cx));
    size_t cap = (size_t)STORE_MAX_BLOCK_RECORDS * 16 * 2, total = 0;
    uint8_t *out = malloc(cap);
    store_block_info bi;
    while (out && (err = store_reader_next(r, &bi)) == CF_OK) {
        const void *cols[FLOW_FIELD_MAX_ID + 1];
        if ((err = store_reader_columns(r, ~UINT64_C(0), cols)) != CF_OK)
            break;
        size_t n = bi.n_records;
        total += n;
        /* the decoded columns are copied: the encoder reads them as the writer's buffers */
        for (size_t i = 0; i < flow_n_fields; i++) {
            const flow_field *f = &flow_fields[i];
            uint8_t *p = realloc(copy[f->id], n * f->width);
            if (!p)
                return 1;
            copy[f->id] = p;
            if (cols[f->id])
                memcpy(p, cols[f->id], n * f->width);
            else
                memset(p, 0, n * f->width);
        }
        const uint64_t *last = (const uint64_t *)(const void *)copy[FLOW_FIELD_LAST];
        for (size_t i = 0; i < flow_n_fields; i++) {
            const flow_field *f = &flow_fields[i];
            field_cost *c = &cost[f->id];
            for (int k = 0; k < 2; k++) {
                store_col_entry e;
                double best = 1e9;
                for (int rep = 0; rep < reps; rep++) {
                    double t0 = cpu_now();
                    err = store_col_encode(&cx, f, copy[f->id], n, last, k ? STORE_CODEC_NONE : STORE_CODEC_LZ4, 3,
                                           out, cap, &e);
                    double t = cpu_now() - t0;
                    best = t < best ? t : best;
                    if (err) {
                        fprintf(stderr, "column_bench: %s: %s\n", f->name, cf_err_str(err));
                        return 1;
                    }
                }
                c->ns[k] += best;
                c->bytes[k] += e.stored_len;
                if (k == 1 && !c->seen && n >= 65536) {
                    c->e = e;
                    c->seen = 1;
                }
            }
        }
    }
    if (err != CF_OK && err != CF_ERR_EOF) {
        fprintf(stderr, "column_bench: %s: %s\n", argv[optind], cf_err_str(err));
        return 1;
    }
    if (total == 0) {
        fprintf(stderr, "column_bench: %s: no records\n", argv[optind]);
        return 1;
    }
    double sum[2] = {0, 0}, bsum[2] = {0, 0};
    printf("%-15s %9s %9s %9s %9s  %s\n", "field", "lz4 ns", "lz4 B", "none ns", "none B", "encoding (first full block)");
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        const field_cost *c = &cost[f->id];
        for (int k = 0; k < 2; k++) {
            sum[k] += c->ns[k];
            bsum[k] += c->bytes[k];
        }
        if (c->bytes[1] == 0 && c->ns[1] * 1e9 / (double)total < 0.5)
            continue; /* constant and cheap: not worth a line */
        printf("%-15s %9.2f %9.2f %9.2f %9.2f  %s%s nbytes=%u aux=%#x\n", f->name, c->ns[0] * 1e9 / (double)total,
               c->bytes[0] / (double)total, c->ns[1] * 1e9 / (double)total, c->bytes[1] / (double)total,
               c->seen ? enc_name(c->e.encoding) : "-", c->seen && (c->e.encoding & STORE_ENC_F_SPARSE) ? "+sparse" : "",
               c->e.nbytes, c->e.aux);
    }
    printf("%-15s %9.2f %9.2f %9.2f %9.2f  (%zu flows)\n", "total", sum[0] * 1e9 / (double)total,
           bsum[0] / (double)total, sum[1] * 1e9 / (double)total, bsum[1] / (double)total, total);
    free(out);
    store_codec_ctx_free(&cx);
    store_reader_close(r);
    return 0;
}
