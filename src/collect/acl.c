/* collect/acl.c - exporter allow-list (contract in acl.h). */
#include "collect/acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses "ADDR" or "ADDR/LEN" into e; CF_ERR_USAGE. */
static cf_err parse_entry(const char *text, collect_acl_entry *e)
{
    char host[64];
    const char *slash = strchr(text, '/');
    size_t hl = slash ? (size_t)(slash - text) : strlen(text);
    if (hl == 0 || hl >= sizeof(host))
        return CF_ERR_USAGE;
    memcpy(host, text, hl);
    host[hl] = '\0';
    uint8_t a[16] = {0};
    unsigned max_bits, base;
    struct in_addr v4;
    if (inet_pton(AF_INET, host, &v4) == 1) {
        a[10] = 0xff;
        a[11] = 0xff;
        memcpy(a + 12, &v4, 4);
        max_bits = 32;
        base = 96;
    } else if (inet_pton(AF_INET6, host, a) == 1) {
        max_bits = 128;
        base = 0;
    } else {
        return CF_ERR_USAGE;
    }
    unsigned bits = max_bits;
    if (slash) {
        const char *s = slash + 1;
        if (!*s || strlen(s) > 3)
            return CF_ERR_USAGE;
        bits = 0;
        for (; *s; s++) {
            if (*s < '0' || *s > '9')
                return CF_ERR_USAGE;
            bits = bits * 10 + (unsigned)(*s - '0');
        }
        if (bits > max_bits)
            return CF_ERR_USAGE;
    }
    bits += base;
    for (unsigned i = 0; i < 16; i++) { /* clear the host bits */
        unsigned keep = bits > i * 8 ? (bits - i * 8 >= 8 ? 8 : bits - i * 8) : 0;
        a[i] &= (uint8_t)(keep ? 0xffu << (8 - keep) : 0);
    }
    memcpy(e->addr, a, 16);
    e->bits = (uint8_t)bits;
    return CF_OK;
}

cf_err collect_acl_check(const char *entry)
{
    collect_acl_entry e;
    return parse_entry(entry, &e);
}

cf_err collect_acl_parse(const char *const *entries, size_t n, collect_acl **out, char *errbuf, size_t errlen)
{
    if (n > COLLECT_ACL_MAX) {
        snprintf(errbuf, errlen, "allow-list: more than %d entries", COLLECT_ACL_MAX);
        return CF_ERR_USAGE;
    }
    collect_acl *acl = malloc(sizeof(*acl) + n * sizeof(collect_acl_entry));
    if (!acl)
        return CF_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (parse_entry(entries[i], &acl->e[i]) != CF_OK) {
            snprintf(errbuf, errlen, "allow-list: '%s' is not an address or ADDR/LEN prefix", entries[i]);
            free(acl);
            return CF_ERR_USAGE;
        }
    }
    acl->n = n;
    *out = acl;
    return CF_OK;
}

static bool in_prefix(const collect_acl_entry *e, const uint8_t addr[16])
{
    unsigned full = e->bits / 8, rest = e->bits % 8;
    if (memcmp(e->addr, addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (addr[full] & mask) == e->addr[full];
}

bool collect_acl_allows(const collect_acl *acl, const uint8_t addr[16])
{
    if (!acl)
        return true;
    for (size_t i = 0; i < acl->n; i++)
        if (in_prefix(&acl->e[i], addr))
            return true;
    return false;
}

cf_err collect_sampling_rule_parse(const char *text, collect_acl **prefix, uint32_t *rate)
{
    const char *eq = strchr(text, '=');
    const char *num = eq ? eq + 1 : text;
    char *end;
    errno = 0;
    unsigned long v = strtoul(num, &end, 10);
    if (errno || end == num || *end || v < 1 || v > (1ul << 24) || num[0] == '-')
        return CF_ERR_USAGE;
    collect_acl *acl = NULL;
    if (eq) {
        char addr[64];
        size_t len = (size_t)(eq - text);
        if (len == 0 || len >= sizeof(addr))
            return CF_ERR_USAGE;
        memcpy(addr, text, len);
        addr[len] = '\0';
        const char *entries[] = {addr};
        char err[128];
        if (collect_acl_parse(entries, 1, &acl, err, sizeof(err)) != CF_OK)
            return CF_ERR_USAGE;
    }
    *prefix = acl;
    *rate = (uint32_t)v;
    return CF_OK;
}

void collect_sampling_rules_match(const collect_sampling_rule *rules, size_t n, const uint8_t addr[16],
                                  uint32_t *dflt, uint32_t *override)
{
    *dflt = *override = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t *slot = rules[i].override ? override : dflt;
        if (!*slot && (!rules[i].prefix || collect_acl_allows(rules[i].prefix, addr)))
            *slot = rules[i].rate;
    }
}

cf_err collect_source_rule_parse(const char *text, collect_source_rule *out)
{
    const char *eq = strchr(text, '=');
    if (!eq || eq == text || eq - text > 32)
        return CF_ERR_USAGE;
    for (const char *c = text; c < eq; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
              *c == '-' || (*c == '.' && c != text)))
            return CF_ERR_USAGE;
    const char *entries[] = {eq + 1};
    char err[128];
    collect_acl *prefix;
    if (collect_acl_parse(entries, 1, &prefix, err, sizeof(err)) != CF_OK)
        return CF_ERR_USAGE;
    memcpy(out->name, text, (size_t)(eq - text));
    out->name[eq - text] = '\0';
    out->prefix = prefix;
    return CF_OK;
}
