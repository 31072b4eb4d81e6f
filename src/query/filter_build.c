/*
 * query/filter_build.c - building the filter program, and what can be asked
 * of a compiled filter without evaluating it (columns, block pruning).
 *
 * The builders fold constants as they go (`any and X` is X, `not not X` is
 * X, a comparison no value can meet is false) and flatten nested AND / OR, so
 * the program is as shallow as the expression allows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "query/filter_int.h"
#include "store/store.h"

/* Tri-state of block pruning. */
enum { MM_NEVER = 0, MM_MAYBE = 1, MM_ALWAYS = 2 };

/* Nested composite nodes evaluation supports (see filter_eval.c). */
#define FILTER_MAX_LEVELS 255

uint64_t filter_width_max(unsigned width)
{
    return width >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * width)) - 1;
}


static cf_err add_node(fprog *p, const fnode *nd, uint32_t *out)
{
    cf_err e = cf_array_grow(&p->nodes, &p->cap_nodes, p->n_nodes + 1, sizeof(fnode), 16);
    if (e)
        return e;
    p->nodes[p->n_nodes] = *nd;
    *out = (uint32_t)p->n_nodes++;
    return CF_OK;
}

static fnode leaf(fnode_kind kind, unsigned field)
{
    fnode nd;
    memset(&nd, 0, sizeof(nd));
    nd.kind = (uint8_t)kind;
    nd.field = (uint8_t)field;
    const flow_field *f = flow_field_by_id(field);
    nd.width = f ? f->width : 8;
    return nd;
}

cf_err filter_node_const(fprog *p, int value, uint32_t *out)
{
    fnode nd = leaf(value ? FN_TRUE : FN_FALSE, 0);
    return add_node(p, &nd, out);
}

cf_err filter_node_range(fprog *p, unsigned field, uint64_t lo, uint64_t hi, uint32_t *out)
{
    fnode nd = leaf(FN_RANGE, field);
    if (lo > hi)
        return filter_node_const(p, 0, out);
    if (lo == 0 && hi >= filter_width_max(nd.width))
        return filter_node_const(p, 1, out);
    nd.lo = lo;
    nd.hi = hi;
    return add_node(p, &nd, out);
}

/* The range [*lo, *hi] of values v of at most max satisfying `x cmp v`;
 * returns 0 when no value does. */
static int cmp_range(fcmp cmp, uint64_t v, uint64_t max, uint64_t *lo, uint64_t *hi)
{
    switch (cmp) {
    case FC_EQ: *lo = v, *hi = v; return v <= max;
    case FC_LT: *lo = 0, *hi = v ? v - 1 : 0; if (*hi > max) *hi = max; return v > 0;
    case FC_LE: *lo = 0, *hi = v > max ? max : v; return 1;
    case FC_GT: *lo = v + 1, *hi = max; return v < max;
    case FC_GE: *lo = v, *hi = max; return v <= max;
    }
    return 0;
}

cf_err filter_node_cmp(fprog *p, unsigned field, fcmp cmp, uint64_t v, uint32_t *out)
{
    const flow_field *f = flow_field_by_id(field);
    uint64_t lo, hi;
    if (!cmp_range(cmp, v, filter_width_max(f ? f->width : 8), &lo, &hi))
        return filter_node_const(p, 0, out);
    return filter_node_range(p, field, lo, hi, out);
}

cf_err filter_node_mask(fprog *p, unsigned field, uint64_t mask, int all, uint32_t *out)
{
    fnode nd = leaf(all ? FN_MASK_ALL : FN_MASK_ANY, field);
    if (mask == 0)
        return filter_node_const(p, all, out);
    nd.lo = mask;
    return add_node(p, &nd, out);
}

cf_err filter_node_addr(fprog *p, unsigned field, const uint8_t mask[16], const uint8_t value[16],
                        uint32_t *out)
{
    fnode nd = leaf(FN_ADDR, field);
    memcpy(nd.am, mask, 16);
    for (int i = 0; i < 16; i++) {
        uint8_t b = (uint8_t)(value[i] & mask[i]);
        memcpy((uint8_t *)nd.av + i, &b, 1);
    }
    static const uint8_t zero[16];
    if (memcmp(mask, zero, 16) == 0)
        return filter_node_const(p, 1, out);
    return add_node(p, &nd, out);
}

static void group_insert(faddr_group *g, uint64_t hi, uint64_t lo)
{
    size_t i = filter_addr_hash(hi, lo, g->cap);
    while (g->used[i]) {
        if (g->keys[2 * i] == hi && g->keys[2 * i + 1] == lo)
            return;
        i = (i + 1) & (g->cap - 1);
    }
    g->used[i] = 1;
    g->keys[2 * i] = hi;
    g->keys[2 * i + 1] = lo;
    g->n++;
}

static void addr_set_free(faddr_set *s)
{
    for (size_t g = 0; g < s->n_groups; g++) {
        free(s->groups[g].keys);
        free(s->groups[g].used);
    }
    free(s->groups);
    s->groups = NULL;
    s->n_groups = 0;
}

/* Builds s from n prefixes: first the groups (one per mask) with their
 * counts, then the hash tables. */
static cf_err addr_set_build(faddr_set *s, const uint8_t *masks, const uint8_t *values, size_t n)
{
    s->groups = calloc(n ? n : 1, sizeof(faddr_group));
    size_t *count = calloc(n ? n : 1, sizeof(size_t));
    size_t *group_of = calloc(n ? n : 1, sizeof(size_t));
    if (!s->groups || !count || !group_of)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        uint64_t m[2];
        memcpy(m, masks + 16 * i, 16);
        size_t g = 0;
        while (g < s->n_groups && (s->groups[g].m[0] != m[0] || s->groups[g].m[1] != m[1]))
            g++;
        if (g == s->n_groups) {
            s->groups[g].m[0] = m[0], s->groups[g].m[1] = m[1];
            s->n_groups++;
        }
        count[g]++;
        group_of[i] = g;
    }
    for (size_t g = 0; g < s->n_groups; g++) {
        faddr_group *gr = &s->groups[g];
        gr->cap = 8;
        while (gr->cap < 2 * count[g])
            gr->cap *= 2;
        gr->keys = calloc(2 * gr->cap, sizeof(uint64_t));
        gr->used = calloc(gr->cap, 1);
        if (!gr->keys || !gr->used)
            goto nomem;
    }
    for (size_t i = 0; i < n; i++) {
        faddr_group *gr = &s->groups[group_of[i]];
        uint64_t v[2];
        memcpy(v, values + 16 * i, 16);
        group_insert(gr, v[0] & gr->m[0], v[1] & gr->m[1]);
    }
    free(group_of);
    free(count);
    return CF_OK;
nomem:
    free(group_of);
    free(count);
    addr_set_free(s);
    return CF_ERR_NOMEM;
}

cf_err filter_node_addr_set(fprog *p, unsigned field, const uint8_t *masks, const uint8_t *values,
                            size_t n, uint32_t *out)
{
    /* sets are few: the array grows by one */
    faddr_set *sets = realloc(p->addr_sets, (p->n_addr_sets + 1) * sizeof(faddr_set));
    if (!sets)
        return CF_ERR_NOMEM;
    p->addr_sets = sets;
    faddr_set s = {NULL, 0};
    cf_err e = addr_set_build(&s, masks, values, n);
    if (e)
        return e;
    fnode nd = leaf(FN_ADDR_SET, field);
    nd.set = (uint32_t)p->n_addr_sets;
    e = add_node(p, &nd, out);
    if (e) {
        addr_set_free(&s);
        return e;
    }
    p->addr_sets[p->n_addr_sets++] = s;
    return CF_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

cf_err filter_node_uint_set(fprog *p, unsigned field, const uint64_t *vals, size_t n, uint32_t *out)
{
    fnode nd = leaf(FN_UINT_SET, field);
    fuint_set s = {NULL, 0, NULL};
    s.vals = malloc((n ? n : 1) * sizeof(uint64_t));
    if (!s.vals)
        return CF_ERR_NOMEM;
    memcpy(s.vals, vals, n * sizeof(uint64_t));
    qsort(s.vals, n, sizeof(uint64_t), cmp_u64);
    for (size_t i = 0; i < n; i++)
        if (s.n == 0 || s.vals[s.n - 1] != s.vals[i])
            s.vals[s.n++] = s.vals[i];
    if (nd.width <= 2) {
        s.bitmap = calloc(1024, sizeof(uint64_t));
        if (!s.bitmap) {
            free(s.vals);
            return CF_ERR_NOMEM;
        }
        for (size_t i = 0; i < s.n; i++)
            if (s.vals[i] < 65536)
                s.bitmap[s.vals[i] >> 6] |= UINT64_C(1) << (s.vals[i] & 63);
    }
    fuint_set *sets = realloc(p->uint_sets, (p->n_uint_sets + 1) * sizeof(fuint_set));
    if (!sets) {
        free(s.vals);
        free(s.bitmap);
        return CF_ERR_NOMEM;
    }
    p->uint_sets = sets;
    nd.set = (uint32_t)p->n_uint_sets;
    cf_err e = add_node(p, &nd, out);
    if (e) {
        free(s.vals);
        free(s.bitmap);
        return e;
    }
    p->uint_sets[p->n_uint_sets++] = s;
    return CF_OK;
}

cf_err filter_node_derived(fprog *p, fderived d, fcmp cmp, uint64_t v, uint32_t *out)
{
    fnode nd = leaf(FN_DERIVED, 0);
    nd.derived = (uint8_t)d;
    if (!cmp_range(cmp, v, UINT64_MAX, &nd.lo, &nd.hi))
        return filter_node_const(p, 0, out);
    if (nd.lo == 0 && nd.hi == UINT64_MAX)
        return filter_node_const(p, 1, out);
    return add_node(p, &nd, out);
}

cf_err filter_node_bool(fprog *p, fnode_kind kind, const uint32_t *kids, size_t n, uint32_t *out)
{
    int absorbing = kind == FN_AND ? FN_FALSE : FN_TRUE; /* decides alone */
    int neutral = kind == FN_AND ? FN_TRUE : FN_FALSE;   /* changes nothing */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const fnode *k = &p->nodes[kids[i]];
        if (k->kind == absorbing)
            return filter_node_const(p, absorbing == FN_TRUE, out);
        total += k->kind == kind ? k->n_kids : 1;
    }
    uint32_t *flat = malloc((total ? total : 1) * sizeof(uint32_t));
    if (!flat)
        return CF_ERR_NOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const fnode *k = &p->nodes[kids[i]];
        if (k->kind == neutral)
            continue;
        if (k->kind == kind) {
            memcpy(flat + m, p->kids + k->kid_off, k->n_kids * sizeof(uint32_t));
            m += k->n_kids;
        } else {
            flat[m++] = kids[i];
        }
    }
    cf_err e;
    if (m == 0) {
        e = filter_node_const(p, neutral == FN_TRUE, out);
    } else if (m == 1) {
        *out = flat[0];
        e = CF_OK;
    } else {
        e = cf_array_grow(&p->kids, &p->cap_kids, p->n_kids + m, sizeof(uint32_t), 16);
        if (!e) {
            fnode nd = leaf(kind, 0);
            nd.kid_off = (uint32_t)p->n_kids;
            nd.n_kids = (uint32_t)m;
            memcpy(p->kids + p->n_kids, flat, m * sizeof(uint32_t));
            p->n_kids += m;
            e = add_node(p, &nd, out);
        }
    }
    free(flat);
    return e;
}

cf_err filter_node_not(fprog *p, uint32_t kid, uint32_t *out)
{
    const fnode *k = &p->nodes[kid];
    if (k->kind == FN_TRUE || k->kind == FN_FALSE)
        return filter_node_const(p, k->kind == FN_FALSE, out);
    if (k->kind == FN_NOT) {
        *out = p->kids[k->kid_off];
        return CF_OK;
    }
    cf_err e = cf_array_grow(&p->kids, &p->cap_kids, p->n_kids + 1, sizeof(uint32_t), 16);
    if (e)
        return e;
    fnode nd = leaf(FN_NOT, 0);
    nd.kid_off = (uint32_t)p->n_kids;
    nd.n_kids = 1;
    p->kids[p->n_kids++] = kid;
    return add_node(p, &nd, out);
}

void filter_prog_free(fprog *p)
{
    for (size_t i = 0; i < p->n_addr_sets; i++)
        addr_set_free(&p->addr_sets[i]);
    for (size_t i = 0; i < p->n_uint_sets; i++) {
        free(p->uint_sets[i].vals);
        free(p->uint_sets[i].bitmap);
    }
    free(p->addr_sets);
    free(p->uint_sets);
    free(p->nodes);
    free(p->kids);
    memset(p, 0, sizeof(*p));
}

/* ---- the compiled filter -------------------------------------------------- */

/* Depth of composite nodes under (and including) node i, and the columns read. */
static unsigned analyse(const fprog *p, uint32_t i, uint64_t *fields)
{
    const fnode *nd = &p->nodes[i];
    switch (nd->kind) {
    case FN_TRUE:
    case FN_FALSE: return 0;
    case FN_AND:
    case FN_OR:
    case FN_NOT: {
        unsigned deepest = 0;
        for (uint32_t k = 0; k < nd->n_kids; k++) {
            unsigned d = analyse(p, p->kids[nd->kid_off + k], fields);
            if (d > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    case FN_DERIVED:
        if (nd->derived != FD_BPP)
            *fields |= STORE_FIELD_BIT(FLOW_FIELD_FIRST) | STORE_FIELD_BIT(FLOW_FIELD_LAST);
        if (nd->derived == FD_PPS || nd->derived == FD_BPP)
            *fields |= STORE_FIELD_BIT(FLOW_FIELD_PACKETS);
        if (nd->derived == FD_BPS || nd->derived == FD_BPP)
            *fields |= STORE_FIELD_BIT(FLOW_FIELD_BYTES);
        return 0;
    default: *fields |= STORE_FIELD_BIT(nd->field); return 0;
    }
}

cf_err query_filter_compile(const char *text, query_filter **out, query_filter_error *err)
{
    query_filter_error local;
    if (!err)
        err = &local;
    query_filter *f = calloc(1, sizeof(*f));
    if (!f)
        return CF_ERR_NOMEM;
    cf_err e = filter_parse(text ? text : "", &f->prog, &f->root, err);
    if (e)
        goto fail;
    f->levels = analyse(&f->prog, f->root, &f->fields);
    if (f->levels > FILTER_MAX_LEVELS) {
        err->pos = 0;
        snprintf(err->msg, sizeof(err->msg), "filter nested too deeply (%u levels; at most %d)",
                 f->levels, FILTER_MAX_LEVELS);
        e = CF_ERR_USAGE;
        goto fail;
    }
    *out = f;
    return CF_OK;
fail:
    filter_prog_free(&f->prog);
    free(f);
    return e;
}

void query_filter_free(query_filter *f)
{
    if (!f)
        return;
    filter_prog_free(&f->prog);
    free(f);
}

uint64_t query_filter_fields(const query_filter *f) { return f->fields; }

int query_filter_is_any(const query_filter *f) { return f->prog.nodes[f->root].kind == FN_TRUE; }

static int mm_range(uint64_t lo, uint64_t hi, uint64_t bmin, uint64_t bmax)
{
    if (bmax < lo || bmin > hi)
        return MM_NEVER;
    if (lo <= bmin && bmax <= hi)
        return MM_ALWAYS;
    return MM_MAYBE;
}

static int mm_uint_set(const fuint_set *s, uint64_t bmin, uint64_t bmax)
{
    size_t a = 0, b = s->n; /* first value >= bmin */
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (s->vals[mid] < bmin)
            a = mid + 1;
        else
            b = mid;
    }
    if (a == s->n || s->vals[a] > bmax)
        return MM_NEVER;
    return bmin == bmax ? MM_ALWAYS : MM_MAYBE;
}

static int may_match(const fprog *p, uint32_t i, const uint64_t *min, const uint64_t *max,
                     const _Bool *has)
{
    const fnode *nd = &p->nodes[i];
    switch (nd->kind) {
    case FN_TRUE: return MM_ALWAYS;
    case FN_FALSE: return MM_NEVER;
    case FN_NOT: {
        int r = may_match(p, p->kids[nd->kid_off], min, max, has);
        return r == MM_MAYBE ? MM_MAYBE : (r == MM_NEVER ? MM_ALWAYS : MM_NEVER);
    }
    case FN_AND:
    case FN_OR: {
        int decisive = nd->kind == FN_AND ? MM_NEVER : MM_ALWAYS;
        int all_other = 1;
        for (uint32_t k = 0; k < nd->n_kids; k++) {
            int r = may_match(p, p->kids[nd->kid_off + k], min, max, has);
            if (r == decisive)
                return decisive;
            if (r == MM_MAYBE)
                all_other = 0;
        }
        return all_other ? (decisive == MM_NEVER ? MM_ALWAYS : MM_NEVER) : MM_MAYBE;
    }
    case FN_RANGE:
        if (has && has[nd->field])
            return mm_range(nd->lo, nd->hi, min[nd->field], max[nd->field]);
        return MM_MAYBE;
    case FN_UINT_SET:
        if (has && has[nd->field])
            return mm_uint_set(&p->uint_sets[nd->set], min[nd->field], max[nd->field]);
        return MM_MAYBE;
    default: return MM_MAYBE;
    }
}

int query_filter_may_match(const query_filter *f, const uint64_t *min, const uint64_t *max,
                           const _Bool *has_minmax)
{
    if (!min || !max)
        has_minmax = NULL;
    return may_match(&f->prog, f->root, min, max, has_minmax) != MM_NEVER;
}
