/*
 * query/filter_parse.c - the nfdump filter grammar, read by recursive descent.
 *
 *   filter  := [expr] END
 *   expr    := and ('or' and)*
 *   and     := unary ('and' unary)*
 *   unary   := ('not' | '!') unary | '(' expr ')' | primitive
 *
 * so `not` binds tighter than `and`, which binds tighter than `or`, as in
 * nfdump.  Primitives are listed in docs/FILTER.md; each is turned into
 * nodes of the program right away (src-or-dst forms into an OR of two
 * leaves).  Every error names what was found and what was expected, and
 * points at the offending token.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/array.h"
#include "query/filter_int.h"

enum { DIR_ANY = 0, DIR_SRC = 1, DIR_DST = 2 };

typedef struct parser {
    const char *text;
    size_t pos;               /* where the lexer continues */
    ftok tok;                 /* the current token */
    fprog *prog;
    query_filter_error *err;
    unsigned depth;           /* nesting of '(' and 'not' */
    int neg;                  /* parity of the enclosing 'not's (see prim_flags) */
} parser;

/* A growing array of node indices, values or addresses. */
typedef struct vec {
    void *p;
    size_t n, cap;
} vec;

static cf_err vec_push(vec *v, const void *elem, size_t size)
{
    if (cf_array_grow(&v->p, &v->cap, v->n + 1, size, 8) != CF_OK)
        return CF_ERR_NOMEM;
    memcpy((uint8_t *)v->p + v->n * size, elem, size);
    v->n++;
    return CF_OK;
}

static void advance(parser *p) { filter_lex_next(p->text, &p->pos, &p->tok); }

static ftok peek_next(const parser *p)
{
    size_t pos = p->pos;
    ftok t;
    filter_lex_next(p->text, &pos, &t);
    return t;
}

static int is_kw(const parser *p, const char *kw) { return filter_tok_is(p->text, &p->tok, kw); }

/* The current token as it appears in messages: 'text' or "end of filter". */
static void describe(const parser *p, const ftok *t, char *buf, size_t len)
{
    if (t->kind == FT_END)
        snprintf(buf, len, "end of filter");
    else
        snprintf(buf, len, "'%.*s'", (int)(t->len > 48 ? 48 : t->len), p->text + t->pos);
}

static cf_err fail_at(parser *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static cf_err fail_at(parser *p, size_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
    va_end(ap);
    p->err->pos = pos;
    return CF_ERR_USAGE;
}

/* "expected WHAT after 'AFTER', found X" at the current token; without
 * AFTER "expected WHAT in the list, found X". */
static cf_err expected(parser *p, const char *what, const char *after)
{
    char found[64];
    describe(p, &p->tok, found, sizeof(found));
    if (after)
        return fail_at(p, p->tok.pos, "expected %s after '%s', found %s", what, after, found);
    return fail_at(p, p->tok.pos, "expected %s in the list, found %s", what, found);
}

/* "expected WHAT, found X" at the current token. */
static cf_err unexpected(parser *p, const char *what)
{
    char found[64];
    describe(p, &p->tok, found, sizeof(found));
    return fail_at(p, p->tok.pos, "expected %s, found %s", what, found);
}

/* ---- values --------------------------------------------------------------- */

/* An optional comparator: = == < > <= >= eq lt gt le ge; '=' when absent. */
static fcmp parse_cmp(parser *p)
{
    static const char *const words[] = {"eq", "lt", "gt", "le", "ge"};
    static const fcmp cmps[] = {FC_EQ, FC_LT, FC_GT, FC_LE, FC_GE};
    if (p->tok.kind == FT_CMP) {
        fcmp c = p->tok.cmp;
        advance(p);
        return c;
    }
    for (size_t i = 0; i < 5; i++)
        if (is_kw(p, words[i])) {
            advance(p);
            return cmps[i];
        }
    return FC_EQ;
}

static cf_err parse_num(parser *p, const char *what, const char *after, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    cf_err e = p->tok.kind == FT_WORD ? filter_parse_number(p->text + p->tok.pos, p->tok.len, &v)
                                      : CF_ERR_USAGE;
    if (e == CF_ERR_USAGE)
        return expected(p, what, after);
    if (e == CF_ERR_RANGE || v > max)
        return fail_at(p, p->tok.pos, "%.*s is out of range for %s (0..%llu)", (int)p->tok.len,
                       p->text + p->tok.pos, what, (unsigned long long)max);
    *out = v;
    advance(p);
    return CF_OK;
}

/* Prefix mask of `bits` leading one bits. */
static void make_mask(unsigned bits, uint8_t mask[16])
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned b = bits > 8 * i ? bits - 8 * i : 0;
        mask[i] = b >= 8 ? 0xff : (uint8_t)(0xff00 >> b);
    }
}

/* A full IPv4 or IPv6 address. */
static int addr_text(const char *s, size_t len, uint8_t out[16], uint8_t *family)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return flow_addr_parse(buf, out, family) == CF_OK;
}

/* IPv4 with 1 to 4 decimal parts, missing ones zero (nfdump's "10.1/16"). */
static int v4_partial(const char *s, size_t len, uint8_t out[16])
{
    uint32_t v = 0;
    unsigned parts = 0;
    size_t i = 0;
    while (i < len && parts < 4) {
        unsigned x = 0, digits = 0;
        while (i < len && isdigit((unsigned char)s[i]) && digits < 4)
            x = x * 10 + (unsigned)(s[i++] - '0'), digits++;
        if (digits == 0 || digits > 3 || x > 255)
            return 0;
        v |= x << (24 - 8 * parts++);
        if (i < len && s[i] == '.' && i + 1 < len)
            i++;
        else
            break;
    }
    if (i != len)
        return 0;
    flow_addr_from_v4(out, v);
    return 1;
}

static int has_name_chars(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (isalpha((unsigned char)s[i]) && !isxdigit((unsigned char)s[i]))
            return 1;
    return 0;
}

/*
 * The current word as an address (cidr 0) or as an address or prefix
 * ADDR/BITS (cidr 1; partial IPv4 allowed before '/').  On success mask and
 * value are set and the token consumed.
 */
static cf_err parse_prefix(parser *p, const char *after, int cidr, uint8_t mask[16], uint8_t val[16])
{
    const char *s = p->text + p->tok.pos;
    size_t len = p->tok.len;
    const char *what = cidr ? "an IP address or prefix (a.b.c.d/n, x:x::/n)" : "an IP address";
    if (p->tok.kind != FT_WORD)
        return expected(p, what, after);
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    uint8_t fam = 4;
    int ok = addr_text(s, alen, val, &fam);
    if (!ok && slash && cidr)
        ok = v4_partial(s, alen, val);
    if (!ok) {
        char found[64];
        describe(p, &p->tok, found, sizeof(found));
        return fail_at(p, p->tok.pos, "expected %s %s%s%s, found %s%s", what, after ? "after '" : "in the list",
                       after ? after : "", after ? "'" : "", found,
                       has_name_chars(s, alen) ? " (host names are not resolved)" : "");
    }
    if (slash && !cidr)
        return fail_at(p, p->tok.pos, "expected an IP address after '%s', found a prefix '%.*s' "
                       "(use 'net' for a prefix)", after, (int)len, s);
    unsigned maxbits = fam == 4 ? 32 : 128, bits = maxbits;
    if (slash) {
        uint64_t b;
        size_t blen = len - alen - 1;
        if (blen == 0 || blen > 3 || filter_parse_number(slash + 1, blen, &b) != CF_OK ||
            !isdigit((unsigned char)slash[blen]) || b > maxbits)
            return fail_at(p, p->tok.pos + alen + 1, "bad prefix length '%.*s' in '%.*s': expected 0..%u",
                           (int)blen, slash + 1, (int)len, s, maxbits);
        bits = (unsigned)b;
    }
    make_mask(fam == 4 ? 96 + bits : bits, mask);
    for (int i = 0; i < 16; i++)
        val[i] &= mask[i];
    advance(p);
    return CF_OK;
}

static cf_err parse_mac(parser *p, const char *after, uint64_t *out)
{
    const char *s = p->text + p->tok.pos;
    size_t len = p->tok.len;
    uint64_t v = 0;
    int ok = p->tok.kind == FT_WORD && len == 17;
    for (size_t i = 0; ok && i < 17; i++) {
        if (i % 3 == 2)
            ok = s[i] == ':' || s[i] == '-';
        else if (isxdigit((unsigned char)s[i]))
            v = (v << 4) | (uint64_t)(isdigit((unsigned char)s[i]) ? s[i] - '0'
                                                                  : tolower((unsigned char)s[i]) - 'a' + 10);
        else
            ok = 0;
    }
    if (!ok)
        return expected(p, "a MAC address (xx:xx:xx:xx:xx:xx)", after);
    *out = v;
    advance(p);
    return CF_OK;
}

/* ---- combining leaves -------------------------------------------------------- */

/* OR of a and, when f2 is set, b. */
static cf_err either(parser *p, uint32_t a, uint32_t b, int two, uint32_t *out)
{
    if (!two) {
        *out = a;
        return CF_OK;
    }
    uint32_t k[2] = {a, b};
    return filter_node_bool(p->prog, FN_OR, k, 2, out);
}

static void pick(int dir, unsigned src, unsigned dst, unsigned *f1, unsigned *f2)
{
    *f1 = dir == DIR_DST ? dst : src;
    *f2 = dir == DIR_ANY ? dst : 0;
}

/* A list "[ v v, v ... ]" of numbers up to max; *vals malloc'ed. */
static cf_err parse_num_list(parser *p, const char *what, uint64_t max, vec *vals)
{
    if (p->tok.kind != FT_LBRACK)
        return expected(p, "'['", "in");
    advance(p);
    const char *after = "[";
    for (;;) {
        if (p->tok.kind == FT_RBRACK && vals->n > 0)
            break;
        uint64_t v;
        cf_err e = parse_num(p, what, after, max, &v);
        if (e)
            return e;
        if ((e = vec_push(vals, &v, sizeof(v))))
            return e;
        after = NULL;
        if (p->tok.kind == FT_COMMA) {
            advance(p);
            after = ",";
        } else if (p->tok.kind != FT_RBRACK && p->tok.kind != FT_WORD) {
            return expected(p, "',' or ']'", NULL);
        }
    }
    advance(p);
    return CF_OK;
}

/* `[cmp] N` or `in [list]` on one field or either of two. */
static cf_err num_prim(parser *p, const char *after, const char *what, unsigned f1, unsigned f2,
                       int list_ok, uint32_t *out)
{
    const flow_field *fd = flow_field_by_id(f1);
    uint64_t max = filter_width_max(fd->width);
    uint32_t a, b = 0;
    cf_err e;
    if (list_ok && is_kw(p, "in")) {
        advance(p);
        vec vals = {0};
        e = parse_num_list(p, what, max, &vals);
        if (!e)
            e = filter_node_uint_set(p->prog, f1, vals.p, vals.n, &a);
        if (!e && f2)
            e = filter_node_uint_set(p->prog, f2, vals.p, vals.n, &b);
        free(vals.p);
    } else {
        fcmp cmp = parse_cmp(p);
        uint64_t v;
        e = parse_num(p, what, after, max, &v);
        if (!e)
            e = filter_node_cmp(p->prog, f1, cmp, v, &a);
        if (!e && f2)
            e = filter_node_cmp(p->prog, f2, cmp, v, &b);
    }
    return e ? e : either(p, a, b, f2 != 0, out);
}

/* `ADDR`, or `in [ADDR|PREFIX ...]` (and with cidr, a prefix too). */
static cf_err addr_prim(parser *p, const char *after, unsigned f1, unsigned f2, int cidr, uint32_t *out)
{
    uint8_t m[16], v[16];
    uint32_t a, b = 0;
    cf_err e;
    if (!is_kw(p, "in")) {
        if ((e = parse_prefix(p, after, cidr, m, v)))
            return e;
        e = filter_node_addr(p->prog, f1, m, v, &a);
        if (!e && f2)
            e = filter_node_addr(p->prog, f2, m, v, &b);
        return e ? e : either(p, a, b, f2 != 0, out);
    }
    advance(p);
    if (p->tok.kind != FT_LBRACK)
        return expected(p, "'['", "in");
    advance(p);
    vec masks = {0}, vals = {0};
    const char *item_after = "[";
    e = CF_OK;
    while (!e && !(p->tok.kind == FT_RBRACK && vals.n > 0)) {
        if (!(e = parse_prefix(p, item_after, 1, m, v)) && !(e = vec_push(&masks, m, 16)))
            e = vec_push(&vals, v, 16);
        item_after = NULL;
        if (!e && p->tok.kind == FT_COMMA) {
            advance(p);
            item_after = ",";
        } else if (!e && p->tok.kind != FT_RBRACK && p->tok.kind != FT_WORD) {
            e = expected(p, "',' or ']'", NULL);
        }
    }
    if (!e) {
        advance(p);
        e = filter_node_addr_set(p->prog, f1, masks.p, vals.p, vals.n, &a);
        if (!e && f2)
            e = filter_node_addr_set(p->prog, f2, masks.p, vals.p, vals.n, &b);
    }
    free(masks.p);
    free(vals.p);
    return e ? e : either(p, a, b, f2 != 0, out);
}

/* `net PREFIX`, `net a.b.c.d m.m.m.m`, `net in [..]`. */
static cf_err net_prim(parser *p, unsigned f1, unsigned f2, uint32_t *out)
{
    if (is_kw(p, "in"))
        return addr_prim(p, "net", f1, f2, 1, out);
    ftok t = p->tok;
    uint8_t m[16], v[16], fam = 0;
    ftok nt = peek_next(p);
    int dotted_mask = t.kind == FT_WORD && !memchr(p->text + t.pos, '/', t.len) && nt.kind == FT_WORD &&
                      addr_text(p->text + nt.pos, nt.len, m, &fam) && fam == 4;
    if (!dotted_mask) {
        cf_err e = parse_prefix(p, "net", 1, m, v);
        if (e)
            return e;
        uint32_t a, b = 0;
        e = filter_node_addr(p->prog, f1, m, v, &a);
        if (!e && f2)
            e = filter_node_addr(p->prog, f2, m, v, &b);
        return e ? e : either(p, a, b, f2 != 0, out);
    }
    if (!addr_text(p->text + t.pos, t.len, v, &fam) || fam != 4)
        return expected(p, "an IPv4 network before the netmask", "net");
    advance(p); /* the network */
    advance(p); /* the mask, already in m as ::ffff:m.m.m.m */
    memset(m, 0xff, 12);
    for (int i = 0; i < 16; i++)
        v[i] &= m[i];
    uint32_t a, b = 0;
    cf_err e = filter_node_addr(p->prog, f1, m, v, &a);
    if (!e && f2)
        e = filter_node_addr(p->prog, f2, m, v, &b);
    return e ? e : either(p, a, b, f2 != 0, out);
}

static cf_err mac_prim(parser *p, unsigned f1, unsigned f2, uint32_t *out)
{
    uint64_t mac = 0;
    cf_err e = parse_mac(p, "mac", &mac);
    uint32_t a, b = 0;
    if (!e)
        e = filter_node_range(p->prog, f1, mac, mac, &a);
    if (!e && f2)
        e = filter_node_range(p->prog, f2, mac, mac, &b);
    return e ? e : either(p, a, b, f2 != 0, out);
}

/* ---- primitives --------------------------------------------------------------- */

typedef struct proto_name {
    const char *name;
    uint8_t num;
} proto_name;

/* IANA protocol names (as /etc/protocols), plus nfdump's spellings:
 * nfdump calls 4 "ipip" and 58 "icmp6". */
static const proto_name proto_names[] = {
    {"hopopt", 0}, {"icmp", 1}, {"igmp", 2}, {"ggp", 3}, {"ipip", 4}, {"ipencap", 4}, {"st", 5},
    {"tcp", 6}, {"cbt", 7}, {"egp", 8}, {"igp", 9}, {"pup", 12}, {"udp", 17}, {"hmp", 20},
    {"xns-idp", 22}, {"rdp", 27}, {"iso-tp4", 29}, {"dccp", 33}, {"xtp", 36}, {"ddp", 37},
    {"idpr-cmtp", 38}, {"ipv6", 41}, {"ipv6-route", 43}, {"ipv6-frag", 44}, {"idrp", 45},
    {"rsvp", 46}, {"gre", 47}, {"esp", 50}, {"ah", 51}, {"skip", 57}, {"icmp6", 58},
    {"ipv6-icmp", 58}, {"icmpv6", 58}, {"ipv6-nonxt", 59}, {"ipv6-opts", 60}, {"rspf", 73},
    {"vmtp", 81}, {"eigrp", 88}, {"ospf", 89}, {"ax.25", 93}, {"etherip", 97}, {"encap", 98},
    {"pim", 103}, {"ipcomp", 108}, {"vrrp", 112}, {"l2tp", 115}, {"isis", 124}, {"sctp", 132},
    {"fc", 133}, {"mobility-header", 135}, {"udplite", 136}, {"mpls-in-ip", 137}, {"manet", 138},
    {"hip", 139}, {"shim6", 140}, {"wesp", 141}, {"rohc", 142}, {"ethernet", 143},
};

static cf_err proto_prim(parser *p, uint32_t *out)
{
    for (size_t i = 0; i < sizeof(proto_names) / sizeof(proto_names[0]); i++)
        if (is_kw(p, proto_names[i].name)) {
            advance(p);
            return filter_node_range(p->prog, FLOW_FIELD_PROTO, proto_names[i].num, proto_names[i].num, out);
        }
    if (p->tok.kind == FT_WORD && !isdigit((unsigned char)p->text[p->tok.pos]) && !is_kw(p, "in"))
        return fail_at(p, p->tok.pos, "unknown protocol '%.*s' after 'proto': expected a protocol "
                       "name (tcp, udp, icmp, icmp6, gre, esp, ah, sctp, ...) or number 0..255",
                       (int)(p->tok.len > 48 ? 48 : p->tok.len), p->text + p->tok.pos);
    return num_prim(p, "proto", "a protocol number", FLOW_FIELD_PROTO, 0, 1, out);
}

/* proto tcp AND node. */
static cf_err and_proto(parser *p, uint32_t node, const uint8_t *protos, size_t n, uint32_t *out)
{
    uint32_t pr[2] = {0, 0}, both = 0;
    cf_err e = CF_OK;
    for (size_t i = 0; i < n && !e; i++)
        e = filter_node_range(p->prog, FLOW_FIELD_PROTO, protos[i], protos[i], &pr[i]);
    if (!e)
        e = filter_node_bool(p->prog, FN_OR, pr, n, &both);
    uint32_t k[2] = {both, node};
    return e ? e : filter_node_bool(p->prog, FN_AND, k, 2, out);
}

/*
 * flags LETTERS: proto tcp and all given flags set.  As in nfdump, under an
 * odd number of `not`s the test becomes "any of the flags set", so that
 * `not flags AFRPU` means "none of them" (nfdump's own example:
 * `flags S and not flags AFRPU` selects pure SYNs).  flags N (a number)
 * tests the whole flags byte for equality.
 */
static cf_err prim_flags(parser *p, uint32_t *out)
{
    static const uint8_t tcp[1] = {6};
    const char *s = p->text + p->tok.pos;
    uint64_t mask = 0;
    cf_err e;
    uint32_t node;
    if (p->tok.kind == FT_WORD && isdigit((unsigned char)s[0])) {
        uint64_t v;
        if ((e = parse_num(p, "TCP flags", "flags", 255, &v)))
            return e;
        e = filter_node_range(p->prog, FLOW_FIELD_TCP_FLAGS, v, v, &node);
        return e ? e : and_proto(p, node, tcp, 1, out);
    }
    for (size_t i = 0; p->tok.kind == FT_WORD && i < p->tok.len; i++) {
        const char *q = strchr("FSRPAUECX", toupper((unsigned char)s[i]));
        static const uint8_t bits[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x3f};
        if (!q || !s[i])
            return fail_at(p, p->tok.pos + i, "unknown TCP flag '%c' in '%.*s': expected letters of "
                           "FSRPAUECX or a number", s[i], (int)p->tok.len, s);
        mask |= bits[q - "FSRPAUECX"];
    }
    if (!mask)
        return expected(p, "TCP flags (letters of FSRPAUECX or a number)", "flags");
    advance(p);
    e = filter_node_mask(p->prog, FLOW_FIELD_TCP_FLAGS, mask, !p->neg, &node);
    return e ? e : and_proto(p, node, tcp, 1, out);
}

/* icmp-type / icmp-code: proto icmp or icmp6 and the field. */
static cf_err prim_icmp(parser *p, const char *kw, unsigned field, uint32_t *out)
{
    static const uint8_t icmp[2] = {1, 58};
    uint32_t node;
    cf_err e = num_prim(p, kw, kw[5] == 't' ? "an ICMP type" : "an ICMP code", field, 0, 1, &node);
    return e ? e : and_proto(p, node, icmp, 2, out);
}

static cf_err not_stored(parser *p, size_t pos, const char *what)
{
    return fail_at(p, pos, "%s not stored by cloudflow", what);
}

static cf_err prim_derived(parser *p, const char *kw, fderived d, uint32_t *out)
{
    fcmp cmp = parse_cmp(p);
    uint64_t v;
    cf_err e = parse_num(p, "a number", kw, UINT64_MAX, &v);
    return e ? e : filter_node_derived(p->prog, d, cmp, v, out);
}

/* After `src` or `dst`. */
static cf_err prim_dir(parser *p, int dir, size_t start, uint32_t *out)
{
    const char *dw = dir == DIR_SRC ? "src" : "dst";
    unsigned f1, f2;
    if (is_kw(p, "ip") || is_kw(p, "host")) {
        const char *kw = is_kw(p, "ip") ? "ip" : "host";
        advance(p);
        pick(dir, FLOW_FIELD_SRC_ADDR, FLOW_FIELD_DST_ADDR, &f1, &f2);
        return addr_prim(p, kw, f1, f2, 0, out);
    }
    struct { const char *kw, *what; unsigned src, dst; } nums[] = {
        {"port", "a port number", FLOW_FIELD_SRC_PORT, FLOW_FIELD_DST_PORT},
        {"as", "an AS number", FLOW_FIELD_SRC_AS, FLOW_FIELD_DST_AS},
        {"mask", "a prefix length", FLOW_FIELD_SRC_MASK, FLOW_FIELD_DST_MASK},
        {"vlan", "a VLAN id", FLOW_FIELD_SRC_VLAN, FLOW_FIELD_DST_VLAN},
    };
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        if (is_kw(p, nums[i].kw)) {
            advance(p);
            pick(dir, nums[i].src, nums[i].dst, &f1, &f2);
            return num_prim(p, nums[i].kw, nums[i].what, f1, f2, 1, out);
        }
    if (is_kw(p, "net")) {
        advance(p);
        pick(dir, FLOW_FIELD_SRC_ADDR, FLOW_FIELD_DST_ADDR, &f1, &f2);
        return net_prim(p, f1, f2, out);
    }
    if (is_kw(p, "mac")) {
        advance(p);
        pick(dir, FLOW_FIELD_SRC_MAC, FLOW_FIELD_DST_MAC, &f1, &f2);
        return mac_prim(p, f1, f2, out);
    }
    if (is_kw(p, "tos")) {
        if (dir == DIR_DST)
            return not_stored(p, start, "'dst tos' (the destination type of service) is");
        advance(p);
        return num_prim(p, "tos", "a type of service 0..255", FLOW_FIELD_TOS, 0, 1, out);
    }
    if (dir == DIR_ANY)
        return CF_ERR_NOT_FOUND; /* not one of these keywords: the caller goes on */
    return expected(p, "ip, host, net, port, as, mask, vlan, mac or tos", dw);
}

/* After `in` or `out` (interfaces, MACs, counters). */
static cf_err prim_inout(parser *p, int in, size_t start, uint32_t *out)
{
    const char *w = in ? "in" : "out";
    if (is_kw(p, "if")) {
        advance(p);
        return num_prim(p, "if", "an interface index", in ? FLOW_FIELD_IN_IF : FLOW_FIELD_OUT_IF, 0, 1, out);
    }
    int dir = DIR_ANY;
    if (is_kw(p, "src") || is_kw(p, "dst")) {
        dir = is_kw(p, "src") ? DIR_SRC : DIR_DST;
        advance(p);
        if (!is_kw(p, "mac"))
            return expected(p, "'mac'", dir == DIR_SRC ? "src" : "dst");
    }
    if (is_kw(p, "mac")) {
        unsigned f1, f2;
        advance(p);
        pick(dir, FLOW_FIELD_SRC_MAC, FLOW_FIELD_DST_MAC, &f1, &f2);
        return mac_prim(p, f1, f2, out);
    }
    if (is_kw(p, "packets") || is_kw(p, "bytes")) {
        int pk = is_kw(p, "packets");
        if (!in)
            return not_stored(p, start, pk ? "'out packets' (the reverse counter) is"
                                           : "'out bytes' (the reverse counter) is");
        advance(p);
        return num_prim(p, pk ? "packets" : "bytes", "a number", pk ? FLOW_FIELD_PACKETS : FLOW_FIELD_BYTES,
                        0, 0, out);
    }
    return expected(p, "if, mac, src mac, dst mac, packets or bytes", w);
}

/* nfdump filters for data cloudflow does not keep. */
static const char *const unsupported[] = {
    "ident", "count", "tun", "tunip", "geo", "payload", "client", "server", "asa", "xip", "xport",
    "xnet", "nip", "nport", "nat", "ingress", "egress", "pblock", "sysid", "vrf", "latency",
};

/* Any registry field by its snake_case name: NAME [cmp] N, NAME in [..];
 * for address fields NAME ADDR|PREFIX and NAME in [..]. */
static cf_err prim_registry(parser *p, const flow_field *fd, uint32_t *out)
{
    advance(p);
    if (fd->type == FLOW_T_ADDR)
        return addr_prim(p, fd->name, fd->id, 0, 1, out);
    if (fd->type == FLOW_T_MAC && p->tok.kind == FT_WORD && p->tok.len == 17 &&
        memchr(p->text + p->tok.pos, ':', p->tok.len))
        return mac_prim(p, fd->id, 0, out);
    return num_prim(p, fd->name, "a number", fd->id, 0, 1, out);
}

/* Counters, rates and other numeric keywords without a direction. */
static cf_err prim_numeric(parser *p, uint32_t *out)
{
    static const struct { const char *kw, *what; unsigned field; } simple[] = {
        {"packets", "a number of packets", FLOW_FIELD_PACKETS},
        {"bytes", "a number of bytes", FLOW_FIELD_BYTES},
        {"engine-type", "an engine type", FLOW_FIELD_ENGINE_TYPE},
        {"engine-id", "an engine id", FLOW_FIELD_ENGINE_ID},
        {"sampling", "a sampling interval", FLOW_FIELD_SAMPLING},
    };
    static const struct { const char *kw; fderived d; } derived[] = {
        {"duration", FD_DURATION}, {"pps", FD_PPS}, {"bps", FD_BPS}, {"bpp", FD_BPP},
    };
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
        if (is_kw(p, simple[i].kw)) {
            advance(p);
            return num_prim(p, simple[i].kw, simple[i].what, simple[i].field, 0, 1, out);
        }
    for (size_t i = 0; i < sizeof(derived) / sizeof(derived[0]); i++)
        if (is_kw(p, derived[i].kw)) {
            advance(p);
            return prim_derived(p, derived[i].kw, derived[i].d, out);
        }
    if (is_kw(p, "flows") || is_kw(p, "flow")) {
        /* every stored record is one flow */
        const char *kw = is_kw(p, "flows") ? "flows" : "flow";
        advance(p);
        fcmp cmp = parse_cmp(p);
        uint64_t v;
        cf_err e = parse_num(p, "a number of flows", kw, UINT64_MAX, &v);
        if (e)
            return e;
        int one = (cmp == FC_EQ && v == 1) || (cmp == FC_LT && v > 1) || (cmp == FC_LE && v >= 1) ||
                  (cmp == FC_GT && v < 1) || (cmp == FC_GE && v <= 1);
        return filter_node_const(p->prog, one, out);
    }
    return CF_ERR_NOT_FOUND;
}

/* router ip, exporter, next ip, bgpnext ip, bgp next ip, prev/next as. */
static cf_err prim_router(parser *p, size_t start, uint32_t *out)
{
    if (is_kw(p, "router") || is_kw(p, "bgpnext")) {
        int router = is_kw(p, "router");
        const char *kw = router ? "router" : "bgpnext";
        advance(p);
        if (!is_kw(p, "ip"))
            return expected(p, "'ip'", kw);
        advance(p);
        return addr_prim(p, "ip", router ? FLOW_FIELD_EXPORTER : FLOW_FIELD_BGP_NEXT_HOP, 0, 0, out);
    }
    if (is_kw(p, "exporter")) {
        advance(p);
        return addr_prim(p, "exporter", FLOW_FIELD_EXPORTER, 0, 0, out);
    }
    int bgp = is_kw(p, "bgp");
    if (bgp) {
        advance(p);
        if (!is_kw(p, "next"))
            return expected(p, "'next'", "bgp");
    }
    if (is_kw(p, "next") || is_kw(p, "prev")) {
        int next = is_kw(p, "next");
        advance(p);
        if (next && is_kw(p, "ip")) {
            advance(p);
            return addr_prim(p, "ip", bgp ? FLOW_FIELD_BGP_NEXT_HOP : FLOW_FIELD_NEXT_HOP, 0, 0, out);
        }
        if (!bgp && is_kw(p, "as"))
            return not_stored(p, start, next ? "'next as' (the next adjacent AS) is"
                                             : "'prev as' (the previous adjacent AS) is");
        return expected(p, next && !bgp ? "'ip' or 'as'" : (bgp ? "'ip'" : "'as'"), next ? "next" : "prev");
    }
    return CF_ERR_NOT_FOUND;
}

/* Keywords that stand alone or take one fixed form. */
static cf_err prim_misc(parser *p, size_t start, uint32_t *out)
{
    if (is_kw(p, "any")) {
        advance(p);
        return filter_node_const(p->prog, 1, out);
    }
    if (is_kw(p, "ipv4") || is_kw(p, "inet") || is_kw(p, "ipv6") || is_kw(p, "inet6")) {
        unsigned fam = is_kw(p, "ipv4") || is_kw(p, "inet") ? 4 : 6;
        advance(p);
        return filter_node_range(p->prog, FLOW_FIELD_FAMILY, fam, fam, out);
    }
    if (is_kw(p, "proto")) {
        advance(p);
        return proto_prim(p, out);
    }
    if (is_kw(p, "flags")) {
        advance(p);
        return prim_flags(p, out);
    }
    if (is_kw(p, "icmp-type") || is_kw(p, "icmp-code")) {
        int type = is_kw(p, "icmp-type");
        advance(p);
        return prim_icmp(p, type ? "icmp-type" : "icmp-code",
                         type ? FLOW_FIELD_ICMP_TYPE : FLOW_FIELD_ICMP_CODE, out);
    }
    if (is_kw(p, "if")) {
        advance(p);
        return num_prim(p, "if", "an interface index", FLOW_FIELD_IN_IF, FLOW_FIELD_OUT_IF, 1, out);
    }
    if (is_kw(p, "flowdir")) {
        advance(p);
        uint64_t d = is_kw(p, "ingress") || is_kw(p, "0") ? 0 : is_kw(p, "egress") || is_kw(p, "1") ? 1 : 2;
        if (d == 2)
            return expected(p, "ingress, egress, 0 or 1", "flowdir");
        advance(p);
        return filter_node_range(p->prog, FLOW_FIELD_DIRECTION, d, d, out);
    }
    if (is_kw(p, "observation")) {
        advance(p);
        if (is_kw(p, "point"))
            return not_stored(p, start, "'observation point id' is");
        if (!is_kw(p, "domain"))
            return expected(p, "'domain'", "observation");
        advance(p);
        if (!is_kw(p, "id"))
            return expected(p, "'id'", "domain");
        advance(p);
        return num_prim(p, "id", "an observation domain id", FLOW_FIELD_OBS_DOMAIN, 0, 1, out);
    }
    if (is_kw(p, "mpls"))
        return fail_at(p, start, "'mpls' labels are not stored by cloudflow yet");
    return CF_ERR_NOT_FOUND;
}

static cf_err parse_primitive(parser *p, uint32_t *out)
{
    size_t start = p->tok.pos;
    if (p->tok.kind != FT_WORD || is_kw(p, "and") || is_kw(p, "or"))
        return unexpected(p, "a filter primitive (such as 'port 80', 'ip 10.0.0.1', 'proto tcp')");
    if (is_kw(p, "src") || is_kw(p, "dst")) {
        int dir = is_kw(p, "src") ? DIR_SRC : DIR_DST;
        advance(p);
        return prim_dir(p, dir, start, out);
    }
    if (is_kw(p, "in") || is_kw(p, "out")) {
        int in = is_kw(p, "in");
        advance(p);
        return prim_inout(p, in, start, out);
    }
    cf_err e = prim_dir(p, DIR_ANY, start, out);
    if (e == CF_ERR_NOT_FOUND)
        e = prim_misc(p, start, out);
    if (e == CF_ERR_NOT_FOUND)
        e = prim_numeric(p, out);
    if (e == CF_ERR_NOT_FOUND)
        e = prim_router(p, start, out);
    if (e != CF_ERR_NOT_FOUND)
        return e;
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
        if (is_kw(p, unsupported[i]))
            return fail_at(p, start, "'%s' filters data not stored by cloudflow", unsupported[i]);
    char name[32];
    if (p->tok.len < sizeof(name)) {
        for (size_t i = 0; i < p->tok.len; i++)
            name[i] = (char)tolower((unsigned char)p->text[p->tok.pos + i]);
        name[p->tok.len] = '\0';
        const flow_field *fd = flow_field_by_name(name);
        if (fd)
            return prim_registry(p, fd, out);
    }
    char found[64];
    describe(p, &p->tok, found, sizeof(found));
    return fail_at(p, start, "unknown keyword %s: expected a filter primitive such as port, ip, net, "
                   "proto, as, flags, packets, bytes (see docs/FILTER.md)", found);
}

/* ---- expressions ---------------------------------------------------------------- */

static cf_err parse_or(parser *p, uint32_t *out);

static cf_err enter(parser *p)
{
    if (++p->depth > FILTER_MAX_NESTING)
        return fail_at(p, p->tok.pos, "filter nested too deeply (more than %d levels of '(' and 'not')",
                       FILTER_MAX_NESTING);
    return CF_OK;
}

static cf_err parse_unary(parser *p, uint32_t *out)
{
    cf_err e;
    if (is_kw(p, "not") || p->tok.kind == FT_BANG) {
        if ((e = enter(p)))
            return e;
        advance(p);
        p->neg ^= 1;
        uint32_t kid;
        e = parse_unary(p, &kid);
        p->neg ^= 1;
        p->depth--;
        return e ? e : filter_node_not(p->prog, kid, out);
    }
    if (p->tok.kind == FT_LPAREN) {
        size_t open = p->tok.pos;
        if ((e = enter(p)))
            return e;
        advance(p);
        if ((e = parse_or(p, out)))
            return e;
        if (p->tok.kind != FT_RPAREN) {
            char found[64];
            describe(p, &p->tok, found, sizeof(found));
            return fail_at(p, p->tok.pos, "expected ')' to close the '(' at offset %zu, found %s", open, found);
        }
        advance(p);
        p->depth--;
        return CF_OK;
    }
    return parse_primitive(p, out);
}

/* and-chain (kind FN_AND, word "and") or or-chain (FN_OR, "or"). */
static cf_err parse_chain(parser *p, fnode_kind kind, uint32_t *out)
{
    const char *word = kind == FN_AND ? "and" : "or";
    vec kids = {0};
    cf_err e;
    for (;;) {
        uint32_t k;
        e = kind == FN_AND ? parse_unary(p, &k) : parse_chain(p, FN_AND, &k);
        if (!e)
            e = vec_push(&kids, &k, sizeof(k));
        if (e || !is_kw(p, word))
            break;
        advance(p);
    }
    if (!e)
        e = filter_node_bool(p->prog, kind, kids.p, kids.n, out);
    free(kids.p);
    return e;
}

static cf_err parse_or(parser *p, uint32_t *out) { return parse_chain(p, FN_OR, out); }

cf_err filter_parse(const char *text, fprog *prog, uint32_t *root, query_filter_error *err)
{
    parser p = {text, 0, {FT_END, FC_EQ, 0, 0}, prog, err, 0, 0};
    advance(&p);
    if (p.tok.kind == FT_END)
        return filter_node_const(prog, 1, root);
    uint32_t r;
    cf_err e = parse_or(&p, &r);
    if (e)
        return e;
    if (p.tok.kind == FT_RPAREN)
        return fail_at(&p, p.tok.pos, "unbalanced ')': no '(' to close");
    if (p.tok.kind != FT_END)
        return unexpected(&p, "'and', 'or' or the end of the filter");
    *root = r;
    return CF_OK;
}
