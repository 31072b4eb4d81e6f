/* flow/names.c - application and interface name tables and their file
 * (contract and file layout in names.h). */
#include "flow/names.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "flow/flow.h"

void flow_names_init(flow_names *t, size_t max)
{
    memset(t, 0, sizeof(*t));
    t->max = max ? max : FLOW_NAMES_DEFAULT_MAX;
}

void flow_names_free(flow_names *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->e[i].name);
        free(t->e[i].desc);
    }
    free(t->e);
    t->e = NULL;
    t->n = t->cap = 0;
}

size_t flow_names_sanitize(const uint8_t *p, size_t len, char *out, size_t out_size)
{
    static const char hex[] = "0123456789abcdef";
    size_t end = 0;
    while (end < len && p[end] != 0)
        end++;
    size_t room = out_size - 1 < FLOW_NAME_MAX_TEXT ? out_size - 1 : FLOW_NAME_MAX_TEXT;
    size_t w = 0;
    for (size_t i = 0; i < end; i++) {
        uint8_t c = p[i];
        if (c >= 0x20 && c <= 0x7e && c != '\\') {
            if (w + 1 > room)
                break;
            out[w++] = (char)c;
        } else if (c == '\\') {
            if (w + 2 > room)
                break;
            out[w++] = '\\';
            out[w++] = '\\';
        } else {
            if (w + 4 > room)
                break;
            out[w++] = '\\';
            out[w++] = 'x';
            out[w++] = hex[c >> 4];
            out[w++] = hex[c & 15];
        }
    }
    out[w] = '\0';
    return w;
}

/* Index of the first entry >= (kind, key). */
static size_t lower_bound(const flow_names *t, uint8_t kind, uint32_t key)
{
    size_t lo = 0, hi = t->n;
    uint64_t want = (uint64_t)kind << 32 | key;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t have = (uint64_t)t->e[mid].kind << 32 | t->e[mid].key;
        if (have < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const flow_name *flow_names_find(const flow_names *t, flow_name_kind kind, uint32_t key)
{
    size_t i = lower_bound(t, (uint8_t)kind, key);
    return i < t->n && t->e[i].kind == kind && t->e[i].key == key ? &t->e[i] : NULL;
}

/* Replaces *slot by a copy of text unless equal; *changed set when replaced. */
static cf_err set_text(char **slot, const char *text, bool *changed)
{
    if (*slot && strcmp(*slot, text) == 0)
        return CF_OK;
    char *c = strdup(text);
    if (!c)
        return CF_ERR_NOMEM;
    free(*slot);
    *slot = c;
    *changed = true;
    return CF_OK;
}

cf_err flow_names_set(flow_names *t, flow_name_kind kind, uint32_t key, const char *name, const char *desc)
{
    if ((kind != FLOW_NAME_APP && kind != FLOW_NAME_IF) || (name && strlen(name) > FLOW_NAME_MAX_TEXT) ||
        (desc && strlen(desc) > FLOW_NAME_MAX_TEXT))
        return CF_ERR_RANGE;
    size_t i = lower_bound(t, (uint8_t)kind, key);
    bool changed = false;
    if (i == t->n || t->e[i].kind != kind || t->e[i].key != key) {
        size_t max = t->max ? t->max : FLOW_NAMES_DEFAULT_MAX;
        if (t->n >= max)
            return CF_ERR_FULL;
        if (cf_array_grow(&t->e, &t->cap, t->n + 1, sizeof(*t->e), 16) != CF_OK)
            return CF_ERR_NOMEM;
        char *n = strdup(name ? name : ""), *d = strdup(desc ? desc : "");
        if (!n || !d) {
            free(n);
            free(d);
            return CF_ERR_NOMEM;
        }
        memmove(&t->e[i + 1], &t->e[i], (t->n - i) * sizeof(*t->e));
        t->e[i] = (flow_name){.kind = (uint8_t)kind, .key = key, .name = n, .desc = d};
        t->n++;
        t->generation++;
        return CF_OK;
    }
    cf_err err = CF_OK;
    if (name)
        err = set_text(&t->e[i].name, name, &changed);
    if (!err && desc)
        err = set_text(&t->e[i].desc, desc, &changed);
    if (changed)
        t->generation++;
    return err;
}

/* ---- file ---------------------------------------------------------------- */

#define MAGIC_LINE "cloudflow-names\t1\n"

cf_err flow_names_save(const flow_names *t, const uint8_t addr[16], uint16_t port, char **out, size_t *out_len)
{
    char a[64];
    flow_addr_format(addr, a, sizeof(a));
    /* every entry line: kind (3), key (10), text, 4 separators/newline */
    size_t cap = 256;
    for (size_t i = 0; i < t->n; i++)
        cap += 20 + strlen(t->e[i].name) + strlen(t->e[i].desc);
    char *buf = malloc(cap);
    if (!buf)
        return CF_ERR_NOMEM;
    size_t w = (size_t)snprintf(buf, cap, MAGIC_LINE "exporter\t%s\t%u\n", a, (unsigned)port);
    for (size_t i = 0; i < t->n; i++) {
        const flow_name *e = &t->e[i];
        w += (size_t)snprintf(buf + w, cap - w, "%s\t%u\t%s\t%s\n", e->kind == FLOW_NAME_APP ? "app" : "if",
                              (unsigned)e->key, e->name, e->desc);
    }
    w += (size_t)snprintf(buf + w, cap - w, "end\t%zu\n", t->n);
    *out = buf;
    *out_len = w;
    return CF_OK;
}

/* One line being parsed: its fields (pointers into a copy with TABs cut). */
typedef struct line_fields {
    const char *f[5];
    size_t len[5];
    size_t n; /* fields found (more than 5 counts as 6) */
} line_fields;

static void split_line(const char *p, size_t len, line_fields *lf)
{
    lf->n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && p[i] != '\t')
            continue;
        if (lf->n < 5) {
            lf->f[lf->n] = p + start;
            lf->len[lf->n] = i - start;
        }
        lf->n++;
        start = i + 1;
    }
}

/* A decimal number without sign or leading zeros, <= max. */
static bool parse_dec(const char *p, size_t len, uint64_t max, uint64_t *out)
{
    if (len == 0 || len > 10 || (len > 1 && p[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

static bool is_hex_lower(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

/* Sanitised text as flow_names_sanitize() writes it. */
static bool valid_text(const char *p, size_t len)
{
    if (len > FLOW_NAME_MAX_TEXT)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c > 0x7e)
            return false;
        if (c != '\\')
            continue;
        if (i + 1 < len && p[i + 1] == '\\') {
            i++;
        } else if (i + 3 < len && p[i + 1] == 'x' && is_hex_lower(p[i + 2]) && is_hex_lower(p[i + 3])) {
            i += 3;
        } else {
            return false;
        }
    }
    return true;
}

static bool field_is(const line_fields *lf, size_t i, const char *s)
{
    return lf->len[i] == strlen(s) && memcmp(lf->f[i], s, lf->len[i]) == 0;
}

/* Parses one entry line into t, checking the order against *prev. */
static const char *parse_entry(const line_fields *lf, flow_names *t, uint64_t *prev, bool *have_prev, cf_err *e)
{
    *e = CF_ERR_CORRUPT;
    if (lf->n != 4)
        return "an entry needs 4 fields (kind, key, name, description)";
    uint8_t kind = field_is(lf, 0, "app") ? FLOW_NAME_APP : field_is(lf, 0, "if") ? FLOW_NAME_IF : 0;
    if (!kind)
        return "unknown kind (not app, if or end)";
    uint64_t key;
    if (!parse_dec(lf->f[1], lf->len[1], UINT32_MAX, &key))
        return "bad key (a decimal number 0..4294967295 without leading zeros)";
    if (!valid_text(lf->f[2], lf->len[2]))
        return "bad name (not sanitised text, or too long)";
    if (!valid_text(lf->f[3], lf->len[3]))
        return "bad description (not sanitised text, or too long)";
    uint64_t order = (uint64_t)kind << 32 | key;
    if (*have_prev && order <= *prev)
        return "entries out of order or repeated";
    *prev = order;
    *have_prev = true;
    char name[FLOW_NAME_MAX_TEXT + 1], desc[FLOW_NAME_MAX_TEXT + 1];
    memcpy(name, lf->f[2], lf->len[2]);
    name[lf->len[2]] = '\0';
    memcpy(desc, lf->f[3], lf->len[3]);
    desc[lf->len[3]] = '\0';
    *e = flow_names_set(t, (flow_name_kind)kind, (uint32_t)key, name, desc);
    if (*e == CF_ERR_FULL)
        return "more entries than the limit allows";
    if (*e)
        return "out of memory";
    return NULL;
}

/* State of flow_names_parse() between lines. */
typedef struct parse_state {
    flow_names t;
    uint8_t addr[16];
    uint64_t port, prev;
    bool have_prev, ended;
    size_t line;
} parse_state;

/* Checks and applies one line (s, l: without its newline); NULL when good,
 * else what is wrong, with *e the error. */
static const char *parse_line(parse_state *ps, const char *s, size_t l, cf_err *e)
{
    *e = CF_ERR_CORRUPT;
    if (ps->ended)
        return "text after the end line";
    if (memchr(s, '\0', l))
        return "NUL byte";
    line_fields lf;
    split_line(s, l, &lf);
    if (ps->line == 1) {
        if (lf.n != 2 || !field_is(&lf, 0, "cloudflow-names"))
            return "not a cloudflow names file (magic \"cloudflow-names\")";
        if (!field_is(&lf, 1, "1")) {
            *e = CF_ERR_VERSION;
            return "format version is not 1";
        }
        return NULL;
    }
    if (ps->line == 2) {
        char text[64];
        uint8_t fam;
        if (lf.n != 3 || !field_is(&lf, 0, "exporter") || lf.len[1] >= sizeof(text))
            return "expected \"exporter\" ADDRESS PORT";
        memcpy(text, lf.f[1], lf.len[1]);
        text[lf.len[1]] = '\0';
        if (flow_addr_parse(text, ps->addr, &fam) != CF_OK)
            return "bad exporter address";
        if (!parse_dec(lf.f[2], lf.len[2], 65535, &ps->port))
            return "bad exporter port";
        return NULL;
    }
    if (lf.n >= 1 && field_is(&lf, 0, "end")) {
        uint64_t n;
        if (lf.n != 2 || !parse_dec(lf.f[1], lf.len[1], UINT32_MAX, &n) || n != ps->t.n)
            return "the end line does not give the number of entries";
        ps->ended = true;
        return NULL;
    }
    return parse_entry(&lf, &ps->t, &ps->prev, &ps->have_prev, e);
}

cf_err flow_names_parse(const char *buf, size_t len, flow_names *out, uint8_t addr[16], uint16_t *port, char *err,
                        size_t err_len)
{
    if (len > FLOW_NAMES_MAX_FILE) {
        snprintf(err, err_len, "file larger than %u bytes", FLOW_NAMES_MAX_FILE);
        return CF_ERR_RANGE;
    }
    parse_state ps;
    memset(&ps, 0, sizeof(ps));
    flow_names_init(&ps.t, out->max);
    cf_err e = CF_OK;
    const char *why = NULL;
    size_t pos = 0;
    while (pos < len && !why) {
        ps.line++;
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl) {
            why = "no newline at the end (truncated file)";
            e = CF_ERR_CORRUPT;
            break;
        }
        why = parse_line(&ps, buf + pos, (size_t)(nl - (buf + pos)), &e);
        pos = (size_t)(nl - buf) + 1;
    }
    if (!why && (ps.line < 2 || !ps.ended)) {
        ps.line++;
        why = ps.line <= 2 ? "file ends before the exporter line" : "no end line (truncated file)";
        e = CF_ERR_CORRUPT;
    }
    if (why) {
        snprintf(err, err_len, "line %zu: %s", ps.line, why);
        flow_names_free(&ps.t);
        return e;
    }
    flow_names_free(out);
    *out = ps.t;
    memcpy(addr, ps.addr, 16);
    *port = (uint16_t)ps.port;
    return CF_OK;
}
