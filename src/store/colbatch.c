/*
 * store/colbatch.c - column batches (store.h): flow records split into one
 * array per registry field, with the columns that stay equal to the first
 * record left out.
 *
 * Rows are split SPLIT_CHUNK at a time and one field at a time: the chunk
 * (~17 KB) stays in L1 while each column of it is written sequentially,
 * which is much cheaper than scattering every record over every column.
 */
#include "store/segment_format.h"

#include <assert.h>
#include <stdlib.h>

#define SPLIT_CHUNK 64

cf_err store_colbatch_init(store_colbatch *b, uint32_t cap)
{
    memset(b, 0, sizeof(*b));
    if (cap == 0 || cap > STORE_MAX_BLOCK_RECORDS)
        return CF_ERR_RANGE;
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        b->cols[f->id] = malloc((size_t)cap * f->width);
        if (!b->cols[f->id])
            return CF_ERR_NOMEM;
    }
    b->cap = cap;
    return CF_OK;
}

void store_colbatch_free(store_colbatch *b)
{
    for (size_t id = 0; id <= FLOW_FIELD_MAX_ID; id++)
        free(b->cols[id]);
    memset(b, 0, sizeof(*b));
}

static inline __attribute__((always_inline)) void split_w(uint8_t *dst, const flow_record *src, size_t m,
                                                          unsigned off, unsigned w)
{
    for (size_t k = 0; k < m; k++)
        memcpy(dst + k * w, (const uint8_t *)&src[k] + off, w);
}

/* Which bytes of recs[0 .. c) differ from ref: diff[b] != 0 when byte b
 * of some record differs (whole words compared, so the loop vectorises). */
static void rows_diff(const flow_record *ref, const flow_record *recs, size_t c,
                      uint8_t diff[sizeof(flow_record)])
{
    enum { NW = sizeof(flow_record) / 8 };
    uint64_t r[NW], acc[NW] = {0};
    memcpy(r, ref, sizeof(r));
    for (size_t k = 0; k < c; k++) {
        const uint8_t *p = (const uint8_t *)&recs[k];
        for (size_t j = 0; j < NW; j++) {
            uint64_t v;
            memcpy(&v, p + 8 * j, 8);
            acc[j] |= v ^ r[j];
        }
    }
    memset(diff, 0, sizeof(flow_record));
    memcpy(diff, acc, sizeof(acc));
    for (size_t b = sizeof(acc); b < sizeof(flow_record); b++)
        for (size_t k = 0; k < c; k++)
            diff[b] |= (uint8_t)(((const uint8_t *)&recs[k])[b] ^ ((const uint8_t *)ref)[b]);
}

/* True when field f of the rows checked by rows_diff() may differ from ref;
 * a column constant so far that now differs is filled up to row. */
static bool column_varies(store_colbatch *b, const flow_field *f, const uint8_t *diff, size_t row)
{
    uint64_t bit = UINT64_C(1) << f->id;
    if (b->varies & bit)
        return true;
    uint8_t any = 0;
    for (unsigned i = 0; i < f->width; i++)
        any |= diff[f->offset + i];
    if (!any)
        return false;
    const uint8_t *v = (const uint8_t *)&b->ref + f->offset;
    for (size_t k = 0; k < row; k++)
        memcpy(b->cols[f->id] + k * f->width, v, f->width);
    b->varies |= bit;
    return true;
}

void store_colbatch_add(store_colbatch *b, const flow_record *recs, size_t m)
{
    assert(m <= b->cap - b->n);
    if (m > 0 && b->n == 0) {
        b->ref = recs[0];
        b->varies = UINT64_C(1) << FLOW_FIELD_LAST;
    }
    for (size_t done = 0; done < m; done += SPLIT_CHUNK) {
        size_t c = m - done < SPLIT_CHUNK ? m - done : SPLIT_CHUNK, row = b->n + done;
        const flow_record *src = recs + done;
        uint8_t diff[sizeof(flow_record)];
        rows_diff(&b->ref, src, c, diff);
        for (size_t i = 0; i < flow_n_fields; i++) {
            const flow_field *f = &flow_fields[i];
            if (!column_varies(b, f, diff, row))
                continue;
            uint8_t *dst = b->cols[f->id] + row * f->width;
            /* the next chunk's destination, for writing: its lines are
             * usually in the writer thread's cache (it read the batch last) */
            if (row + c + SPLIT_CHUNK <= b->cap)
                for (size_t o = 0; o < (size_t)SPLIT_CHUNK * f->width; o += 64)
                    __builtin_prefetch(dst + (size_t)c * f->width + o, 1, 3);
            switch (f->width) {
            case 1: split_w(dst, src, c, f->offset, 1); break;
            case 2: split_w(dst, src, c, f->offset, 2); break;
            case 4: split_w(dst, src, c, f->offset, 4); break;
            case 8: split_w(dst, src, c, f->offset, 8); break;
            default: split_w(dst, src, c, f->offset, 16); break;
            }
        }
    }
    b->n += (uint32_t)m;
}

void store_colbatch_get(const store_colbatch *b, size_t i, flow_record *out)
{
    *out = b->ref;
    for (size_t k = 0; k < flow_n_fields; k++) {
        const flow_field *f = &flow_fields[k];
        if (b->varies & (UINT64_C(1) << f->id))
            memcpy((uint8_t *)out + f->offset, b->cols[f->id] + i * f->width, f->width);
    }
}

