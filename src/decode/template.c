/*
 * decode/template.c - the per-exporter template cache of NetFlow v9 and
 * IPFIX: template records parsed and bounded, templates added, replaced and
 * withdrawn, per-domain state, sampler intervals, and data sets waiting for
 * their template.  Contract in decode.h, shapes in template.h.
 *
 * Templates are kept in an array sorted by key (protocol, domain, id) and
 * found by binary search; they change rarely and are looked up per data set.
 */
#include "decode/template.h"
#include "decode/decode_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void decode_config_default(decode_config *c)
{
    c->max_templates = DECODE_DEFAULT_MAX_TEMPLATES;
    c->max_fields = DECODE_DEFAULT_MAX_FIELDS;
    c->max_domains = DECODE_DEFAULT_MAX_DOMAINS;
    c->max_samplers = DECODE_DEFAULT_MAX_SAMPLERS;
    c->pending_max_bytes = DECODE_DEFAULT_PENDING_BYTES;
    c->pending_max_ms = DECODE_DEFAULT_PENDING_MS;
    c->max_names = DECODE_DEFAULT_MAX_NAMES;
}

void decode_exporter_set_config(decode_exporter *ex, const decode_config *c) { ex->cfg = *c; }

void tpl_limits(const decode_exporter *ex, decode_config *out)
{
    decode_config d;
    decode_config_default(&d);
    const decode_config *c = &ex->cfg;
    out->max_templates = c->max_templates ? c->max_templates : d.max_templates;
    out->max_fields = c->max_fields ? c->max_fields : d.max_fields;
    out->max_domains = c->max_domains ? c->max_domains : d.max_domains;
    out->max_samplers = c->max_samplers ? c->max_samplers : d.max_samplers;
    out->pending_max_bytes = c->pending_max_bytes ? c->pending_max_bytes : d.pending_max_bytes;
    out->pending_max_ms = c->pending_max_ms ? c->pending_max_ms : d.pending_max_ms;
    out->max_names = c->max_names ? c->max_names : d.max_names;
}

void decode_tpl_stats_snapshot(const decode_exporter *ex, decode_tpl_stats *out)
{
    const uint64_t *src = (const uint64_t *)&ex->tpl_stats;
    uint64_t *dst = (uint64_t *)out;
    _Static_assert(sizeof(decode_tpl_stats) % sizeof(uint64_t) == 0, "only uint64_t counters");
    for (size_t i = 0; i < sizeof(decode_tpl_stats) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

void tpl_free(tpl *t) { free(t); }

void decode_exporter_free(decode_exporter *ex)
{
    struct decode_tpl_state *st = ex->tpl;
    if (!st)
        return;
    for (size_t i = 0; i < st->n_tpls; i++)
        tpl_free(st->tpls[i]);
    free(st->tpls);
    free(st->domains);
    free(st->samplers);
    flow_names_free(&st->names);
    for (tpl_pending *p = st->pending, *next; p; p = next) {
        next = p->next;
        free(p);
    }
    free(st);
    ex->tpl = NULL;
}

cf_err tpl_state(decode_exporter *ex, struct decode_tpl_state **out)
{
    if (!ex->tpl) {
        ex->tpl = calloc(1, sizeof(*ex->tpl));
        if (!ex->tpl)
            return CF_ERR_NOMEM;
    }
    *out = ex->tpl;
    return CF_OK;
}

size_t decode_template_count(const decode_exporter *ex) { return ex->tpl ? ex->tpl->n_tpls : 0; }

/* ---- the sorted template array -------------------------------------------- */

static uint64_t tpl_key(uint8_t proto, uint32_t domain, uint16_t id)
{
    return ((uint64_t)proto << 48) | ((uint64_t)domain << 16) | id;
}

static uint64_t tpl_key_of(const tpl *t) { return tpl_key(t->proto, t->domain, t->id); }

/* Index of key in st->tpls, or where it would be inserted (*found false). */
static size_t tpl_search(const struct decode_tpl_state *st, uint64_t key, bool *found)
{
    size_t lo = 0, hi = st->n_tpls;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t k = tpl_key_of(st->tpls[mid]);
        if (k == key) {
            *found = true;
            return mid;
        }
        if (k < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

const tpl *tpl_find(const decode_exporter *ex, uint8_t proto, uint32_t domain, uint16_t id)
{
    if (!ex->tpl)
        return NULL;
    bool found;
    size_t i = tpl_search(ex->tpl, tpl_key(proto, domain, id), &found);
    return found ? ex->tpl->tpls[i] : NULL;
}

static bool tpl_same(const tpl *a, const tpl *b)
{
    if (a->options != b->options || a->n_scope != b->n_scope || a->n_fields != b->n_fields)
        return false;
    for (size_t i = 0; i < a->n_fields; i++)
        if (a->fields[i].id != b->fields[i].id || a->fields[i].len != b->fields[i].len ||
            a->fields[i].pen != b->fields[i].pen)
            return false;
    return true;
}

/* Decodes every pending data set of t's key, oldest first. */
static void tpl_pending_replay(decode_exporter *ex, const tpl *t, const tpl_out *out)
{
    struct decode_tpl_state *st = ex->tpl;
    tpl_pending **link = &st->pending;
    while (*link) {
        tpl_pending *p = *link;
        if (p->info.proto != t->proto || p->info.domain != t->domain || p->info.set_id != t->id) {
            link = &p->next;
            continue;
        }
        *link = p->next;
        st->pending_bytes -= p->len;
        if (tpl_decode_set(out, &p->info, t, p->data, p->len, NULL) == CF_OK)
            decode_stat_add(&ex->tpl_stats.pending_decoded, 1);
        free(p);
    }
}

cf_err tpl_add(decode_exporter *ex, tpl *t, const tpl_out *out, uint64_t now_ms)
{
    struct decode_tpl_state *st;
    if (tpl_state(ex, &st)) {
        tpl_free(t);
        return CF_ERR_NOMEM;
    }
    bool found;
    size_t i = tpl_search(st, tpl_key_of(t), &found);
    if (found) {
        bool same = tpl_same(st->tpls[i], t);
        decode_stat_add(same ? &ex->tpl_stats.templates_refreshed : &ex->tpl_stats.templates_replaced, 1);
        tpl_free(st->tpls[i]);
        st->tpls[i] = t;
    } else {
        decode_config lim;
        tpl_limits(ex, &lim);
        if (st->n_tpls >= lim.max_templates) {
            decode_stat_add(&ex->tpl_stats.refused_full, 1);
            tpl_free(t);
            return CF_OK;
        }
        if (st->n_tpls == st->cap_tpls) {
            size_t cap = st->cap_tpls ? st->cap_tpls * 2 : 16;
            tpl **n = realloc(st->tpls, cap * sizeof(*n));
            if (!n) {
                tpl_free(t);
                return CF_ERR_NOMEM;
            }
            st->tpls = n;
            st->cap_tpls = cap;
        }
        memmove(&st->tpls[i + 1], &st->tpls[i], (st->n_tpls - i) * sizeof(*st->tpls));
        st->tpls[i] = t;
        st->n_tpls++;
        decode_stat_add(&ex->tpl_stats.templates_added, 1);
    }
    tpl_pending_expire(ex, now_ms);
    if (out)
        tpl_pending_replay(ex, t, out);
    return CF_OK;
}

static void tpl_remove_at(struct decode_tpl_state *st, size_t i)
{
    tpl_free(st->tpls[i]);
    memmove(&st->tpls[i], &st->tpls[i + 1], (st->n_tpls - i - 1) * sizeof(*st->tpls));
    st->n_tpls--;
}

void tpl_withdraw(decode_exporter *ex, uint8_t proto, uint32_t domain, uint16_t id)
{
    if (!ex->tpl)
        return;
    bool found;
    size_t i = tpl_search(ex->tpl, tpl_key(proto, domain, id), &found);
    if (!found)
        return;
    tpl_remove_at(ex->tpl, i);
    decode_stat_add(&ex->tpl_stats.templates_withdrawn, 1);
}

void tpl_withdraw_all(decode_exporter *ex, uint8_t proto, uint32_t domain, int options)
{
    struct decode_tpl_state *st = ex->tpl;
    if (!st)
        return;
    for (size_t i = st->n_tpls; i-- > 0;) {
        const tpl *t = st->tpls[i];
        if (t->proto == proto && t->domain == domain && t->options == options) {
            tpl_remove_at(st, i);
            decode_stat_add(&ex->tpl_stats.templates_withdrawn, 1);
        }
    }
}

/* ---- domains and samplers ------------------------------------------------- */

/* Grows *arr (n used, *cap slots of size sz) by one slot when full and
 * below max.  False when max is reached or memory is short. */
static bool grow(void **arr, size_t n, size_t *cap, size_t sz, size_t max)
{
    if (n < *cap)
        return true;
    if (n >= max)
        return false;
    size_t c = *cap ? *cap * 2 : 4;
    if (c > max)
        c = max;
    void *p = realloc(*arr, c * sz);
    if (!p)
        return false;
    *arr = p;
    *cap = c;
    return true;
}

tpl_domain *tpl_domain_get(decode_exporter *ex, uint8_t proto, uint32_t domain)
{
    struct decode_tpl_state *st;
    if (tpl_state(ex, &st))
        return NULL;
    for (size_t i = 0; i < st->n_domains; i++)
        if (st->domains[i].proto == proto && st->domains[i].id == domain)
            return &st->domains[i];
    decode_config lim;
    tpl_limits(ex, &lim);
    if (!grow((void **)&st->domains, st->n_domains, &st->cap_domains, sizeof(*st->domains),
              lim.max_domains)) {
        decode_stat_add(&ex->tpl_stats.refused_domains, 1);
        return NULL;
    }
    tpl_domain *d = &st->domains[st->n_domains++];
    memset(d, 0, sizeof(*d));
    d->proto = proto;
    d->id = domain;
    return d;
}

void tpl_sampler_set(decode_exporter *ex, uint8_t proto, uint32_t domain, int has_id, uint64_t id,
                     uint32_t rate)
{
    struct decode_tpl_state *st;
    if (tpl_state(ex, &st) || rate == 0)
        return;
    decode_stat_set(&ex->stats.sampling, rate);
    for (size_t i = 0; i < st->n_samplers; i++) {
        tpl_sampler *s = &st->samplers[i];
        if (s->proto == proto && s->domain == domain && s->has_id == has_id && s->id == id) {
            s->rate = rate;
            return;
        }
    }
    decode_config lim;
    tpl_limits(ex, &lim);
    if (!grow((void **)&st->samplers, st->n_samplers, &st->cap_samplers, sizeof(*st->samplers),
              lim.max_samplers)) {
        decode_stat_add(&ex->tpl_stats.refused_samplers, 1);
        return;
    }
    tpl_sampler *s = &st->samplers[st->n_samplers++];
    s->proto = proto;
    s->domain = domain;
    s->has_id = (uint8_t)(has_id != 0);
    s->id = has_id ? id : 0;
    s->rate = rate;
}

uint32_t tpl_sampler_rate(const decode_exporter *ex, uint8_t proto, uint32_t domain, int has_id,
                          uint64_t id)
{
    const struct decode_tpl_state *st = ex->tpl;
    if (!st)
        return 0;
    const tpl_sampler *no_id = NULL, *only = NULL;
    size_t n_domain = 0;
    for (size_t i = 0; i < st->n_samplers; i++) {
        const tpl_sampler *s = &st->samplers[i];
        if (s->proto != proto || s->domain != domain)
            continue;
        if (has_id && s->has_id && s->id == id)
            return s->rate;
        if (!s->has_id)
            no_id = s;
        only = s;
        n_domain++;
    }
    if (no_id)
        return no_id->rate;
    return n_domain == 1 ? only->rate : 0;
}

/* ---- data before template ------------------------------------------------- */

void tpl_pending_expire(decode_exporter *ex, uint64_t now_ms)
{
    struct decode_tpl_state *st = ex->tpl;
    if (!st)
        return;
    decode_config lim;
    tpl_limits(ex, &lim);
    while (st->pending && now_ms > st->pending->info.recv_ms &&
           now_ms - st->pending->info.recv_ms > lim.pending_max_ms) {
        tpl_pending *p = st->pending;
        st->pending = p->next;
        st->pending_bytes -= p->len;
        decode_stat_add(&ex->tpl_stats.pending_expired, 1);
        free(p);
    }
}

void tpl_pending_add(decode_exporter *ex, const tpl_msg_info *info, const uint8_t *p, size_t len)
{
    decode_stat_add(&ex->tpl_stats.unknown_template, 1);
    struct decode_tpl_state *st;
    decode_config lim;
    tpl_limits(ex, &lim);
    if (tpl_state(ex, &st) || len > lim.pending_max_bytes) {
        decode_stat_add(&ex->tpl_stats.pending_overflow, 1);
        return;
    }
    tpl_pending_expire(ex, info->recv_ms);
    /* Make room by dropping the oldest; what is dropped is counted. */
    while (st->pending && st->pending_bytes + len > lim.pending_max_bytes) {
        tpl_pending *old = st->pending;
        st->pending = old->next;
        st->pending_bytes -= old->len;
        decode_stat_add(&ex->tpl_stats.pending_overflow, 1);
        free(old);
    }
    tpl_pending *n = malloc(sizeof(*n) + len);
    if (!n) {
        decode_stat_add(&ex->tpl_stats.pending_overflow, 1);
        return;
    }
    n->next = NULL;
    n->info = *info;
    n->len = len;
    memcpy(n->data, p, len);
    tpl_pending **link = &st->pending;
    while (*link)
        link = &(*link)->next;
    *link = n;
    st->pending_bytes += len;
}

/* ---- template records ----------------------------------------------------- */

/* Reads k field specifiers into t->fields[first ..]; IPFIX ones may carry an
 * enterprise number.  When t is NULL they are only skipped. */
static bool tpl_read_fields(cf_cursor *c, uint8_t proto, tpl *t, size_t first, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        uint16_t id, len;
        uint32_t pen = 0;
        if (!cf_read_be16(c, &id) || !cf_read_be16(c, &len))
            return false;
        if (proto == TPL_PROTO_IPFIX && (id & 0x8000u)) {
            if (!cf_read_be32(c, &pen))
                return false;
            id &= 0x7fffu;
        }
        if (t) {
            t->fields[first + i].id = id;
            t->fields[first + i].len = len;
            t->fields[first + i].pen = pen;
            t->fields[first + i].action = 0;
        }
    }
    return true;
}

static cf_err tpl_bad(decode_exporter *ex, bool count, uint64_t *counter, cf_err err)
{
    if (count)
        decode_stat_add(counter, 1);
    (void)ex;
    return err;
}

/* The header of a template record: id, total and scope field counts. */
typedef struct tpl_rec_head {
    uint16_t id, n_fields, n_scope;
    uint16_t v9_scope_len, v9_opt_len; /* v9 options: bytes of scope / option specifiers */
} tpl_rec_head;

static bool tpl_read_head(cf_cursor *c, uint8_t proto, int options, tpl_rec_head *h)
{
    memset(h, 0, sizeof(*h));
    if (!cf_read_be16(c, &h->id))
        return false;
    if (proto == TPL_PROTO_V9 && options) {
        if (!cf_read_be16(c, &h->v9_scope_len) || !cf_read_be16(c, &h->v9_opt_len))
            return false;
        return true;
    }
    if (!cf_read_be16(c, &h->n_fields))
        return false;
    if (options && h->n_fields != 0 && !cf_read_be16(c, &h->n_scope))
        return false;
    return true;
}

cf_err tpl_parse_record(decode_exporter *ex, uint8_t proto, int options, uint32_t domain,
                        cf_cursor *c, bool count, tpl_parse_result *res)
{
    decode_tpl_stats *ts = &ex->tpl_stats;
    memset(res, 0, sizeof(*res));
    tpl_rec_head h;
    if (!tpl_read_head(c, proto, options, &h))
        return tpl_bad(ex, count, &ts->bad_template, CF_ERR_TRUNCATED);
    if (proto == TPL_PROTO_V9 && options) {
        if (h.v9_scope_len % 4 || h.v9_opt_len % 4)
            return tpl_bad(ex, count, &ts->bad_template, CF_ERR_MALFORMED);
        h.n_scope = h.v9_scope_len / 4;
        h.n_fields = (uint16_t)(h.n_scope + h.v9_opt_len / 4);
    }
    if (proto == TPL_PROTO_IPFIX && h.n_fields == 0) { /* withdrawal */
        if (h.id < TPL_MIN_DATA_ID && h.id != (options ? 3 : 2))
            return tpl_bad(ex, count, &ts->bad_template_id, CF_ERR_MALFORMED);
        res->withdraw = 1;
        res->withdraw_id = h.id;
        return CF_OK;
    }
    if (h.id < TPL_MIN_DATA_ID)
        return tpl_bad(ex, count, &ts->bad_template_id, CF_ERR_MALFORMED);
    if (h.n_fields == 0 || h.n_scope > h.n_fields || (options && h.n_scope == 0 && proto == TPL_PROTO_IPFIX))
        return tpl_bad(ex, count, &ts->bad_template, CF_ERR_MALFORMED);
    /* Each specifier is at least 4 bytes: a count that cannot fit is refused
     * before anything is allocated for it. */
    if ((size_t)h.n_fields * 4 > c->left)
        return tpl_bad(ex, count, &ts->bad_template, CF_ERR_TRUNCATED);
    decode_config lim;
    tpl_limits(ex, &lim);
    if (h.n_fields > lim.max_fields) {
        if (!tpl_read_fields(c, proto, NULL, 0, h.n_fields))
            return tpl_bad(ex, count, &ts->bad_template, CF_ERR_TRUNCATED);
        if (count)
            decode_stat_add(&ts->refused_fields, 1);
        res->refused = 1;
        return CF_OK;
    }
    tpl *t = malloc(tpl_alloc_size(h.n_fields));
    if (!t)
        return CF_ERR_NOMEM;
    t->proto = proto;
    t->options = (uint8_t)(options != 0);
    t->id = h.id;
    t->domain = domain;
    t->n_scope = h.n_scope;
    t->n_fields = h.n_fields;
    if (!tpl_read_fields(c, proto, t, 0, h.n_fields)) {
        tpl_free(t);
        return tpl_bad(ex, count, &ts->bad_template, CF_ERR_TRUNCATED);
    }
    /* a refresh (most template records: exporters resend them every few
     * seconds) takes the compiled plan of the template it repeats, which
     * depends on nothing but the fields */
    const tpl *old = tpl_find(ex, proto, domain, h.id);
    if (old && tpl_same(old, t))
        memcpy(t, old, tpl_alloc_size(h.n_fields));
    else if (!tpl_compile(t)) {
        tpl_free(t);
        return tpl_bad(ex, count, &ts->bad_template, CF_ERR_MALFORMED);
    }
    res->t = t;
    return CF_OK;
}

/* ---- names ---------------------------------------------------------------- */

/* The names table of ex, initialised on first use; NULL without memory. */
static flow_names *names_table(decode_exporter *ex)
{
    struct decode_tpl_state *st;
    if (tpl_state(ex, &st) != CF_OK)
        return NULL;
    if (!st->names_used) {
        decode_config lim;
        tpl_limits(ex, &lim);
        flow_names_init(&st->names, lim.max_names);
        st->names_used = true;
    }
    return &st->names;
}

void tpl_name_set(decode_exporter *ex, flow_name_kind kind, uint32_t key, const char *name, const char *desc)
{
    flow_names *t = names_table(ex);
    if (!t)
        return;
    if (flow_names_set(t, kind, key, name, desc) == CF_ERR_FULL)
        decode_stat_add(&ex->tpl_stats.refused_names, 1);
}

const flow_names *decode_names(const decode_exporter *ex)
{
    return ex->tpl && ex->tpl->names_used ? &ex->tpl->names : NULL;
}

cf_err decode_names_restore(decode_exporter *ex, const flow_names *src)
{
    flow_names *t = names_table(ex);
    if (!t)
        return CF_ERR_NOMEM;
    cf_err result = CF_OK;
    for (size_t i = 0; i < src->n; i++) {
        const flow_name *e = &src->e[i];
        cf_err err = flow_names_set(t, (flow_name_kind)e->kind, e->key, e->name, e->desc);
        if (err == CF_ERR_FULL) {
            decode_stat_add(&ex->tpl_stats.refused_names, 1);
            result = CF_ERR_FULL;
        } else if (err == CF_ERR_NOMEM) {
            return err;
        }
    }
    return result;
}
