/*
 * flow/batch.c - column batches (batch.h): flow records split into one
 * array per registry field, with the columns that stay equal to the first
 * record left out.
 *
 * Rows are split SPLIT_CHUNK at a time and one field at a time: the chunk
 * (~17 KB) stays in L1 while each column of it is written sequentially,
 * which is much cheaper than scattering every record over every column.
 */
#include "flow/batch.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SPLIT_CHUNK 64

cf_err flow_batch_init(flow_batch *b, uint32_t cap)
{
    memset(b, 0, sizeof(*b));
    if (cap == 0 || cap > FLOW_BATCH_MAX)
        return CF_ERR_RANGE;
    b->owned = 1;
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        b->cols[f->id] = malloc((size_t)cap * f->width);
        if (!b->cols[f->id])
            return CF_ERR_NOMEM;
    }
    b->cap = cap;
    return CF_OK;
}

/* A column's bytes rounded up to 16, so that every column stays aligned. */
static size_t col_bytes(uint32_t cap, unsigned width) { return ((size_t)cap * width + 15) & ~(size_t)15; }

size_t flow_batch_mem_size(uint32_t cap)
{
    size_t len = 0;
    for (size_t i = 0; i < flow_n_fields; i++)
        len += col_bytes(cap, flow_fields[i].width);
    return len;
}

cf_err flow_batch_init_mem(flow_batch *b, uint32_t cap, void *mem, size_t len)
{
    memset(b, 0, sizeof(*b));
    if (cap == 0 || cap > FLOW_BATCH_MAX || len < flow_batch_mem_size(cap))
        return CF_ERR_RANGE;
    uint8_t *p = mem;
    for (size_t i = 0; i < flow_n_fields; i++) {
        b->cols[flow_fields[i].id] = p;
        p += col_bytes(cap, flow_fields[i].width);
    }
    b->cap = cap;
    return CF_OK;
}

void flow_batch_free(flow_batch *b)
{
    if (b->owned)
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
static bool column_varies(flow_batch *b, const flow_field *f, const uint8_t *diff, size_t row)
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

void flow_batch_add(flow_batch *b, const flow_record *recs, size_t m)
{
    assert(m <= b->cap - b->n);
    if (m > 0 && b->n == 0) {
        b->run_valid = 0;
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

void flow_batch_get(const flow_batch *b, size_t i, flow_record *out)
{
    *out = b->ref;
    for (size_t k = 0; k < flow_n_fields; k++) {
        const flow_field *f = &flow_fields[k];
        if (b->varies & (UINT64_C(1) << f->id))
            memcpy((uint8_t *)out + f->offset, b->cols[f->id] + i * f->width, f->width);
    }
}


/* Writes the value at v (w bytes) to rows [0, m) of dst. */
static void fill_rows(uint8_t *dst, const uint8_t *v, unsigned w, size_t m)
{
    switch (w) {
    case 1: memset(dst, *v, m); break;
    case 2: { uint16_t x; memcpy(&x, v, 2); for (size_t k = 0; k < m; k++) memcpy(dst + 2 * k, &x, 2); break; }
    case 4: { uint32_t x; memcpy(&x, v, 4); for (size_t k = 0; k < m; k++) memcpy(dst + 4 * k, &x, 4); break; }
    case 8: { uint64_t x; memcpy(&x, v, 8); for (size_t k = 0; k < m; k++) memcpy(dst + 8 * k, &x, 8); break; }
    default:
        for (size_t k = 0; k < m; k++)
            memcpy(dst + (size_t)w * k, v, w);
        break;
    }
}

/* Whether the w-byte values at a and b are equal (no call per field). */
static inline bool same_value(const uint8_t *a, const uint8_t *b, unsigned w)
{
    uint64_t x, y, x2, y2;
    switch (w) {
    case 1: return *a == *b;
    case 2: { uint16_t u, v; memcpy(&u, a, 2); memcpy(&v, b, 2); return u == v; }
    case 4: { uint32_t u, v; memcpy(&u, a, 4); memcpy(&v, b, 4); return u == v; }
    case 8: memcpy(&x, a, 8); memcpy(&y, b, 8); return x == y;
    case 16:
        memcpy(&x, a, 8); memcpy(&y, b, 8); memcpy(&x2, a + 8, 8); memcpy(&y2, b + 8, 8);
        return ((x ^ y) | (x2 ^ y2)) == 0;
    default: return memcmp(a, b, w) == 0;
    }
}

/* The bits of every registry id (dense from 1, see flow.h). */
static inline uint64_t registry_mask(void) { return ((UINT64_C(1) << flow_n_fields) - 1) << 1; }

uint32_t flow_batch_run(flow_batch *b, const flow_record *c, uint64_t vary, size_t m)
{
    assert(m <= b->cap - b->n);
    const uint32_t row = b->n;
    const uint64_t last_bit = UINT64_C(1) << FLOW_FIELD_LAST;
    const uint8_t *cv = (const uint8_t *)c, *rv = (const uint8_t *)&b->ref;
    vary &= registry_mask();
    if (row == 0) {
        b->ref = *c;
        b->varies = vary | last_bit;
        if (!(vary & last_bit))
            fill_rows(b->cols[FLOW_FIELD_LAST], cv + offsetof(flow_record, last_ms), 8, m);
        memcpy(&b->run_c, c, sizeof(*c));
        b->run_valid = 1;
        return 0;
    }
    if (!b->run_valid || memcmp(c, &b->run_c, sizeof(*c)) != 0) {
        /* not the last run's record (whose columns outside `varies` equal
         * ref's, the usual case: the next set or packet of the same
         * exporter): each column of c that differs from ref is filled from
         * now on */
        for (uint64_t t = registry_mask() & ~vary & ~b->varies; t; t &= t - 1) {
            const flow_field *f = flow_field_by_id((unsigned)__builtin_ctzll(t));
            if (same_value(cv + f->offset, rv + f->offset, f->width))
                continue;
            fill_rows(b->cols[f->id], rv + f->offset, f->width, row);
            b->varies |= UINT64_C(1) << f->id;
        }
        memcpy(&b->run_c, c, sizeof(*c));
        b->run_valid = 1;
    }
    flow_batch_vary(b, vary);
    for (uint64_t fill = b->varies & ~vary; fill; fill &= fill - 1) {
        const flow_field *f = flow_field_by_id((unsigned)__builtin_ctzll(fill));
        fill_rows(b->cols[f->id] + (size_t)row * f->width, cv + f->offset, f->width, m);
    }
    return row;
}

void flow_batch_vary(flow_batch *b, uint64_t cols)
{
    const uint8_t *rv = (const uint8_t *)&b->ref;
    for (uint64_t todo = cols & registry_mask() & ~b->varies; todo; todo &= todo - 1) {
        const flow_field *f = flow_field_by_id((unsigned)__builtin_ctzll(todo));
        fill_rows(b->cols[f->id], rv + f->offset, f->width, b->n);
        b->varies |= UINT64_C(1) << f->id;
    }
}
