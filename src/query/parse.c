/* query/parse.c - the text forms of -s and -A. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/engine.h"

static const char *const order_names[] = {
    [QUERY_ORDER_FLOWS] = "flows", [QUERY_ORDER_PACKETS] = "packets", [QUERY_ORDER_BYTES] = "bytes",
    [QUERY_ORDER_PPS] = "pps",     [QUERY_ORDER_BPS] = "bps",         [QUERY_ORDER_BPP] = "bpp",
    [QUERY_ORDER_TSTART] = "tstart", [QUERY_ORDER_TEND] = "tend",
};

const char *query_order_name(query_order o)
{
    return (unsigned)o <= QUERY_ORDER_TEND ? order_names[o] : "none";
}

static bool parse_order(const char *s, size_t n, bool times_ok, query_order *out)
{
    for (unsigned i = 0; i <= QUERY_ORDER_TEND; i++) {
        if (!times_ok && (i == QUERY_ORDER_TSTART || i == QUERY_ORDER_TEND))
            continue;
        if (strlen(order_names[i]) == n && strncmp(order_names[i], s, n) == 0) {
            *out = (query_order)i;
            return true;
        }
    }
    return false;
}

cf_err query_stat_parse(const char *text, query_elem *elem_out, query_order *orders_out, size_t max_out,
                        size_t *n_out)
{
    const char *slash = strchr(text, '/');
    size_t name_len = slash ? (size_t)(slash - text) : strlen(text);
    /* nfdump's other names of the same elements */
    static const struct {
        const char *alias, *name;
    } aliases[] = {{"srctos", "tos"},       {"nsrcip", "xsrcip"},     {"ndstip", "xdstip"},
                   {"nsrcport", "xsrcport"}, {"ndstport", "xdstport"}};
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        if (strlen(aliases[i].alias) == name_len && strncmp(aliases[i].alias, text, name_len) == 0) {
            text = aliases[i].name;
            name_len = strlen(text);
            break;
        }
    }
    query_elem elem = QUERY_EL_COUNT_;
    for (unsigned e = 0; e < QUERY_EL_COUNT_; e++) {
        const char *name = query_elem_get((query_elem)e)->name;
        if (strlen(name) == name_len && strncmp(name, text, name_len) == 0)
            elem = (query_elem)e;
    }
    if (elem == QUERY_EL_COUNT_)
        return CF_ERR_USAGE;
    query_order orders[QUERY_MAX_STATS];
    size_t n = 0;
    if (!slash) {
        orders[n++] = QUERY_ORDER_FLOWS;
    } else {
        const char *s = slash + 1;
        for (;;) {
            const char *e = strchr(s, '/');
            size_t len = e ? (size_t)(e - s) : strlen(s);
            if (n == QUERY_MAX_STATS || !parse_order(s, len, false, &orders[n]))
                return CF_ERR_USAGE;
            n++;
            if (!e)
                break;
            s = e + 1;
        }
    }
    if (n > max_out)
        return CF_ERR_USAGE;
    for (size_t i = 0; i < n; i++) {
        elem_out[i] = elem;
        orders_out[i] = orders[i];
    }
    *n_out = n;
    return CF_OK;
}

cf_err query_order_parse(const char *text, query_order *out)
{
    query_order o;
    if (!parse_order(text, strlen(text), true, &o))
        return CF_ERR_USAGE;
    *out = o;
    return CF_OK;
}

static const struct {
    const char *name;
    query_agg_field field;
} agg_names[] = {
    {"proto", QUERY_AGG_PROTO},       {"srcip", QUERY_AGG_SRCIP},     {"dstip", QUERY_AGG_DSTIP},
    {"srcport", QUERY_AGG_SRCPORT},   {"dstport", QUERY_AGG_DSTPORT}, {"srcas", QUERY_AGG_SRCAS},
    {"dstas", QUERY_AGG_DSTAS},       {"inif", QUERY_AGG_INIF},       {"outif", QUERY_AGG_OUTIF},
    {"srcmask", QUERY_AGG_SRCMASK},   {"dstmask", QUERY_AGG_DSTMASK}, {"srcvlan", QUERY_AGG_SRCVLAN},
    {"dstvlan", QUERY_AGG_DSTVLAN},   {"tos", QUERY_AGG_TOS},         {"srctos", QUERY_AGG_TOS},
    {"next", QUERY_AGG_NEXT},         {"bgpnext", QUERY_AGG_BGPNEXT}, {"router", QUERY_AGG_ROUTER},
    {"insrcmac", QUERY_AGG_INSRCMAC}, {"outdstmac", QUERY_AGG_OUTDSTMAC},
    {"srcnet", QUERY_AGG_SRCNET},     {"dstnet", QUERY_AGG_DSTNET},   {"odid", QUERY_AGG_ODID},
};

/* One element "srcip4/24" into *k. */
static cf_err parse_agg_one(const char *s, size_t len, query_agg_key *k)
{
    char buf[32];
    if (len == 0 || len >= sizeof(buf))
        return CF_ERR_USAGE;
    memcpy(buf, s, len);
    buf[len] = '\0';
    k->v4_bits = 32;
    k->v6_bits = 128;
    k->v4_only = false;
    char *slash = strchr(buf, '/');
    if (slash) {
        *slash = '\0';
        char *end;
        unsigned long bits = strtoul(slash + 1, &end, 10);
        if (*end || end == slash + 1)
            return CF_ERR_USAGE;
        if (strcmp(buf, "srcip4") == 0 || strcmp(buf, "dstip4") == 0) {
            if (bits > 32)
                return CF_ERR_USAGE;
            k->field = buf[0] == 's' ? QUERY_AGG_SRCIP : QUERY_AGG_DSTIP;
            k->v4_bits = (uint8_t)bits;
            k->v6_bits = 0;
            k->v4_only = true;
            return CF_OK;
        }
        if (strcmp(buf, "srcip6") == 0 || strcmp(buf, "dstip6") == 0) {
            if (bits > 128)
                return CF_ERR_USAGE;
            k->field = buf[0] == 's' ? QUERY_AGG_SRCIP : QUERY_AGG_DSTIP;
            k->v6_bits = (uint8_t)bits;
            k->v4_bits = 0; /* IPv4 addresses all fall into 0.0.0.0 */
            return CF_OK;
        }
        return CF_ERR_USAGE;
    }
    for (size_t i = 0; i < sizeof(agg_names) / sizeof(agg_names[0]); i++) {
        if (strcmp(agg_names[i].name, buf) == 0) {
            k->field = agg_names[i].field;
            return CF_OK;
        }
    }
    return CF_ERR_USAGE;
}

cf_err query_agg_parse(const char *text, query_agg_key *out, size_t max_out, size_t *n_out)
{
    query_agg_key keys[QUERY_MAX_AGG_KEYS];
    size_t n = 0;
    const char *s = text;
    for (;;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (n == QUERY_MAX_AGG_KEYS || n == max_out)
            return CF_ERR_USAGE;
        cf_err err = parse_agg_one(s, len, &keys[n]);
        if (err)
            return err;
        n++;
        if (!e)
            break;
        s = e + 1;
    }
    memcpy(out, keys, n * sizeof(keys[0]));
    *n_out = n;
    return CF_OK;
}
