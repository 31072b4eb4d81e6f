/*
 * query/filter_eval.c - running a compiled filter over columns.
 *
 * Rows are taken in chunks of at most 1024.  Within a chunk a set of rows is
 * a sorted list of row offsets (uint16_t); "all rows" is passed as NULL so a
 * leaf then scans its column densely.  A leaf is one tight, branch-free loop
 * over one column that writes the offsets of the rows it keeps:
 *
 *     out[j] = i;  j += (test on col[i]);
 *
 * which also works in place (j never passes the read position).  AND passes
 * each child only the rows the previous ones kept; OR passes each child only
 * the rows not matched yet; NOT takes the difference.  The program is walked
 * once per chunk, never per row.
 *
 * Scratch: two lists per level of nested AND/OR/NOT plus the result list, in
 * one stack array; the chunk shrinks when the nesting is deep, so evaluation
 * never allocates and never fails.
 */
#include <stdio.h>
#include <string.h>

#include "query/filter_int.h"

#define CHUNK_MAX 1024
#define SCRATCH_WORDS 16384

typedef struct ectx {
    const fprog *p;
    const void *const *cols; /* cols[id] as given to query_filter_eval */
    uint64_t v4;             /* address ids whose cols[id] holds 32-bit IPv4 addresses */
    size_t base;             /* first row of the chunk */
    size_t chunk;            /* length of each scratch list */
    uint16_t *scratch;       /* 2 lists per level */
} ectx;

static uint16_t *level_buf(const ectx *c, unsigned level, unsigned which)
{
    return c->scratch + ((size_t)level * 2 + which) * c->chunk;
}

/* ---- leaf kernels: in == NULL means rows 0..m-1; out may equal in ---------- */

static size_t range_u8(const uint8_t *col, const uint16_t *in, size_t m, uint8_t lo, uint8_t span,
                       uint16_t *out)
{
    size_t j = 0;
    if (!in) {
        for (size_t i = 0; i < m; i++) {
            out[j] = (uint16_t)i;
            j += (uint8_t)(col[i] - lo) <= span;
        }
    } else {
        for (size_t k = 0; k < m; k++) {
            uint16_t i = in[k];
            out[j] = i;
            j += (uint8_t)(col[i] - lo) <= span;
        }
    }
    return j;
}

static size_t range_u16(const uint16_t *col, const uint16_t *in, size_t m, uint16_t lo, uint16_t span,
                        uint16_t *out)
{
    size_t j = 0;
    if (!in) {
        for (size_t i = 0; i < m; i++) {
            out[j] = (uint16_t)i;
            j += (uint16_t)(col[i] - lo) <= span;
        }
    } else {
        for (size_t k = 0; k < m; k++) {
            uint16_t i = in[k];
            out[j] = i;
            j += (uint16_t)(col[i] - lo) <= span;
        }
    }
    return j;
}

static size_t range_u32(const uint32_t *col, const uint16_t *in, size_t m, uint32_t lo, uint32_t span,
                        uint16_t *out)
{
    size_t j = 0;
    if (!in) {
        for (size_t i = 0; i < m; i++) {
            out[j] = (uint16_t)i;
            j += col[i] - lo <= span;
        }
    } else {
        for (size_t k = 0; k < m; k++) {
            uint16_t i = in[k];
            out[j] = i;
            j += col[i] - lo <= span;
        }
    }
    return j;
}

static size_t range_u64(const uint64_t *col, const uint16_t *in, size_t m, uint64_t lo, uint64_t span,
                        uint16_t *out)
{
    size_t j = 0;
    if (!in) {
        for (size_t i = 0; i < m; i++) {
            out[j] = (uint16_t)i;
            j += col[i] - lo <= span;
        }
    } else {
        for (size_t k = 0; k < m; k++) {
            uint16_t i = in[k];
            out[j] = i;
            j += col[i] - lo <= span;
        }
    }
    return j;
}

static size_t k_range(const ectx *c, const fnode *nd, const uint16_t *in, size_t m, uint16_t *out)
{
    const void *col = c->cols[nd->field];
    uint64_t lo = nd->lo, span = nd->hi - nd->lo;
    switch (nd->width) {
    case 1: return range_u8((const uint8_t *)col + c->base, in, m, (uint8_t)lo, (uint8_t)span, out);
    case 2: return range_u16((const uint16_t *)col + c->base, in, m, (uint16_t)lo, (uint16_t)span, out);
    case 4: return range_u32((const uint32_t *)col + c->base, in, m, (uint32_t)lo, (uint32_t)span, out);
    default: return range_u64((const uint64_t *)col + c->base, in, m, lo, span, out);
    }
}

static inline uint64_t load_uint(const void *col, unsigned width, size_t i)
{
    switch (width) {
    case 1: return ((const uint8_t *)col)[i];
    case 2: return ((const uint16_t *)col)[i];
    case 4: return ((const uint32_t *)col)[i];
    default: return ((const uint64_t *)col)[i];
    }
}

static size_t k_mask(const ectx *c, const fnode *nd, const uint16_t *in, size_t m, uint16_t *out)
{
    const void *col = c->cols[nd->field];
    uint64_t mask = nd->lo;
    int all = nd->kind == FN_MASK_ALL;
    size_t j = 0;
    for (size_t k = 0; k < m; k++) {
        uint16_t i = in ? in[k] : (uint16_t)k;
        uint64_t v = load_uint(col, nd->width, c->base + i) & mask;
        out[j] = i;
        j += all ? v == mask : v != 0;
    }
    return j;
}

/* The 16-byte form of a 32-bit IPv4 address (a[12] its highest byte): the
 * memory-order words of ::ffff:a.b.c.d. */
static inline void v4_words(uint32_t a, uint64_t w[2])
{
    uint8_t b[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, (uint8_t)(a >> 24), (uint8_t)(a >> 16),
                     (uint8_t)(a >> 8), (uint8_t)a};
    memcpy(w, b, 16);
}

/* FN_ADDR over a 32-bit column: the mapped prefix against the first twelve
 * bytes of mask and value once, the last four per row. */
static size_t k_addr4(const ectx *c, const fnode *nd, const uint16_t *in, size_t m, uint16_t *out)
{
    const uint32_t *col = (const uint32_t *)c->cols[nd->field] + c->base;
    uint8_t mb[16], vb[16];
    uint64_t pw[2];
    memcpy(mb, nd->am, 16);
    memcpy(vb, nd->av, 16);
    v4_words(0, pw);
    if ((pw[0] & nd->am[0]) != nd->av[0])
        return 0;
    const uint8_t *pb = (const uint8_t *)pw;
    for (unsigned b = 8; b < 12; b++)
        if ((pb[b] & mb[b]) != vb[b])
            return 0;
    uint32_t m32 = (uint32_t)mb[12] << 24 | (uint32_t)mb[13] << 16 | (uint32_t)mb[14] << 8 | mb[15];
    uint32_t v32 = (uint32_t)vb[12] << 24 | (uint32_t)vb[13] << 16 | (uint32_t)vb[14] << 8 | vb[15];
    size_t j = 0;
    if (!in) {
        for (size_t i = 0; i < m; i++) {
            out[j] = (uint16_t)i;
            j += (col[i] & m32) == v32;
        }
    } else {
        for (size_t k = 0; k < m; k++) {
            uint16_t i = in[k];
            out[j] = i;
            j += (col[i] & m32) == v32;
        }
    }
    return j;
}

static size_t k_addr(const ectx *c, const fnode *nd, const uint16_t *in, size_t m, uint16_t *out)
{
    if (c->v4 & (UINT64_C(1) << nd->field))
        return k_addr4(c, nd, in, m, out);
    const uint8_t *col = (const uint8_t *)c->cols[nd->field] + 16 * c->base;
    uint64_t m0 = nd->am[0], m1 = nd->am[1], v0 = nd->av[0], v1 = nd->av[1];
    size_t j = 0;
    for (size_t k = 0; k < m; k++) {
        uint16_t i = in ? in[k] : (uint16_t)k;
        uint64_t w[2];
        memcpy(w, col + 16 * (size_t)i, 16);
        out[j] = i;
        j += ((w[0] & m0) == v0) & ((w[1] & m1) == v1);
    }
    return j;
}

static size_t k_addr_set(const ectx *c, const fnode *nd, const uint16_t *in, size_t m, uint16_t *out)
{
    const uint8_t *col = (const uint8_t *)c->cols[nd->field] + 16 * c->base;
    const faddr_set *s = &c->p->addr_sets[nd->set];
    size_t j = 0;
    if (c->v4 & (UINT64_C(1) << nd->field)) {
        const uint32_t *c4 = (const uint32_t *)c->cols[nd->field] + c->base;
        for (size_t k = 0; k < m; k++) {
            uint16_t i = in ? in[k] : (uint16_t)k;
            uint64_t w[2];
            v4_words(c4[i], w);
            out[j] = i;
            j += (size_t)filter_addr_set_has(s, w[0], w[1]);
        }
        return j;
    }
    for (size_t k = 0; k < m; k++) {
        uint16_t i = in ? in[k] : (uint16_t)k;
        uint64_t w[2];
        memcpy(w, col + 16 * (size_t)i, 16);
        out[j] = i;
        j += (size_t)filter_addr_set_has(s, w[0], w[1]);
    }
    return j;
}

static int sorted_has(const uint64_t *vals, size_t n, uint64_t v)
{
    size_t a = 0, b = n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (vals[mid] < v)
            a = mid + 1;
        else
            b = mid;
    }
    return a < n && vals[a] == v;
}

static size_t k_uint_set(const ectx *c, const fnode *nd, const uint16_t *in, size_t m, uint16_t *out)
{
    const fuint_set *s = &c->p->uint_sets[nd->set];
    const void *col = c->cols[nd->field];
    size_t j = 0;
    if (s->bitmap) {
        for (size_t k = 0; k < m; k++) {
            uint16_t i = in ? in[k] : (uint16_t)k;
            uint64_t v = load_uint(col, nd->width, c->base + i);
            out[j] = i;
            j += (s->bitmap[v >> 6] >> (v & 63)) & 1;
        }
        return j;
    }
    for (size_t k = 0; k < m; k++) {
        uint16_t i = in ? in[k] : (uint16_t)k;
        out[j] = i;
        j += (size_t)sorted_has(s->vals, s->n, load_uint(col, nd->width, c->base + i));
    }
    return j;
}

/* x * k / d without the product wrapping (nfdump multiplies in 64 bits;
 * for counters that large this rounds instead of wrapping). */
static uint64_t rate(uint64_t x, uint64_t k, uint64_t d)
{
    if (d == 0)
        return 0;
    if (x <= UINT64_MAX / k)
        return x * k / d;
    return x / d * k;
}

static size_t k_derived(const ectx *c, const fnode *nd, const uint16_t *in, size_t m, uint16_t *out)
{
    const uint64_t *first = c->cols[FLOW_FIELD_FIRST], *last = c->cols[FLOW_FIELD_LAST];
    const uint64_t *pk = c->cols[FLOW_FIELD_PACKETS], *by = c->cols[FLOW_FIELD_BYTES];
    uint64_t lo = nd->lo, span = nd->hi - nd->lo;
    size_t j = 0;
    for (size_t k = 0; k < m; k++) {
        uint16_t i = in ? in[k] : (uint16_t)k;
        size_t r = c->base + i;
        uint64_t v, dur = 0;
        if (nd->derived != FD_BPP)
            dur = last[r] >= first[r] ? last[r] - first[r] : 0;
        switch (nd->derived) {
        case FD_DURATION: v = dur; break;
        case FD_PPS: v = rate(pk[r], 1000, dur); break;
        case FD_BPS: v = rate(by[r], 8000, dur); break;
        default: v = pk[r] ? by[r] / pk[r] : 0; break;
        }
        out[j] = i;
        j += v - lo <= span;
    }
    return j;
}

/* ---- combining row lists ----------------------------------------------------- */

/* out = in (NULL: 0..m-1) without sub, a sorted subset of it.  out may equal in. */
static size_t list_diff(const uint16_t *in, size_t m, const uint16_t *sub, size_t k, uint16_t *out)
{
    size_t j = 0, s = 0;
    for (size_t a = 0; a < m; a++) {
        uint16_t v = in ? in[a] : (uint16_t)a;
        if (s < k && sub[s] == v) {
            s++;
            continue;
        }
        out[j++] = v;
    }
    return j;
}

static size_t eval_node(const ectx *c, uint32_t idx, const uint16_t *in, size_t m, uint16_t *out,
                        unsigned level)
{
    const fnode *nd = &c->p->nodes[idx];
    const uint32_t *kids = nd->n_kids ? c->p->kids + nd->kid_off : NULL;
    switch (nd->kind) {
    case FN_TRUE:
        return list_diff(in, m, NULL, 0, out);
    case FN_FALSE:
        return 0;
    case FN_AND: {
        size_t n = eval_node(c, kids[0], in, m, out, level + 1);
        for (uint32_t k = 1; k < nd->n_kids && n; k++)
            n = eval_node(c, kids[k], out, n, out, level + 1);
        return n;
    }
    case FN_OR: {
        uint16_t *rem = level_buf(c, level, 0), *hit = level_buf(c, level, 1);
        size_t r = list_diff(in, m, NULL, 0, rem);
        for (uint32_t k = 0; k < nd->n_kids && r; k++) {
            size_t h = eval_node(c, kids[k], rem, r, hit, level + 1);
            r = list_diff(rem, r, hit, h, rem);
        }
        return list_diff(in, m, rem, r, out);
    }
    case FN_NOT: {
        uint16_t *hit = level_buf(c, level, 0);
        size_t h = eval_node(c, kids[0], in, m, hit, level + 1);
        return list_diff(in, m, hit, h, out);
    }
    case FN_RANGE: return k_range(c, nd, in, m, out);
    case FN_MASK_ALL:
    case FN_MASK_ANY: return k_mask(c, nd, in, m, out);
    case FN_ADDR: return k_addr(c, nd, in, m, out);
    case FN_ADDR_SET: return k_addr_set(c, nd, in, m, out);
    case FN_UINT_SET: return k_uint_set(c, nd, in, m, out);
    default: return k_derived(c, nd, in, m, out);
    }
}

size_t query_filter_eval(const query_filter *f, const void *const cols[FLOW_FIELD_MAX_ID + 1], size_t n,
                         uint8_t *sel)
{
    return query_filter_eval_v4(f, cols, 0, n, sel);
}

size_t query_filter_eval_v4(const query_filter *f, const void *const cols[FLOW_FIELD_MAX_ID + 1], uint64_t v4,
                            size_t n, uint8_t *sel)
{
    const fnode *root = &f->prog.nodes[f->root];
    if (root->kind == FN_TRUE) {
        memset(sel, 1, n);
        return n;
    }
    memset(sel, 0, n);
    if (root->kind == FN_FALSE)
        return 0;
    uint16_t scratch[SCRATCH_WORDS];
    size_t chunk = SCRATCH_WORDS / (1 + 2 * (size_t)f->levels);
    if (chunk > CHUNK_MAX)
        chunk = CHUNK_MAX;
    ectx c = {&f->prog, cols, v4, 0, chunk, scratch + chunk};
    size_t total = 0;
    for (size_t base = 0; base < n; base += chunk) {
        size_t m = n - base < chunk ? n - base : chunk;
        c.base = base;
        size_t k = eval_node(&c, f->root, NULL, m, scratch, 0);
        for (size_t i = 0; i < k; i++)
            sel[base + scratch[i]] = 1;
        total += k;
    }
    return total;
}

int query_filter_match(const query_filter *f, const flow_record *rec)
{
    const void *cols[FLOW_FIELD_MAX_ID + 1] = {0};
    for (size_t i = 0; i < flow_n_fields; i++)
        cols[flow_fields[i].id] = (const uint8_t *)rec + flow_fields[i].offset;
    uint8_t sel;
    return query_filter_eval(f, cols, 1, &sel) == 1;
}

/* ---- error messages ------------------------------------------------------------ */

void query_filter_error_format(const char *text, const query_filter_error *err, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    if (!text)
        text = "";
    size_t tlen = strlen(text), pos = err->pos > tlen ? tlen : err->pos;
    size_t start = pos, end = pos, line = 1;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    while (text[end] && text[end] != '\n')
        end++;
    for (size_t i = 0; i < start; i++)
        line += text[i] == '\n';
    int multiline = memchr(text, '\n', tlen) != NULL;
    size_t o = 0;
    int w = snprintf(buf, len, "%.*s\n", (int)(end - start), text + start);
    o = w < 0 ? 0 : (size_t)w;
    /* the caret line copies tabs so the caret lines up under them */
    for (size_t i = start; i < pos && o + 1 < len; i++)
        buf[o++] = text[i] == '\t' ? '\t' : ' ';
    if (o < len) {
        if (multiline)
            snprintf(buf + o, len - o, "^\nline %zu: %s", line, err->msg);
        else
            snprintf(buf + o, len - o, "^\n%s", err->msg);
    }
}
