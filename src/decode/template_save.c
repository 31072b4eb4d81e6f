/*
 * decode/template_save.c - NetFlow v9 / IPFIX templates to bytes and back,
 * so that a collector can keep them across restarts (format in decode.h).
 *
 * The loader is a validator first: it walks the whole buffer (magic,
 * version, CRC, every count against the bytes left and the limits) before
 * it builds any template, and adds them only when all of them are good.
 */
#include "decode/decode_int.h"
#include "decode/template.h"

#include <stdlib.h>
#include <string.h>

#define SAVE_MAGIC 0x43465450u /* "CFTP" */
#define SAVE_VERSION 1u
#define SAVE_HEADER_LEN 12u
#define SAVE_ENTRY_HEAD_LEN 12u
#define SAVE_FIELD_LEN 8u
#define SAVE_CRC_LEN 4u

/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), bitwise. */
static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

cf_err decode_templates_save(const decode_exporter *ex, uint8_t **out, size_t *out_len)
{
    const struct decode_tpl_state *st = ex->tpl;
    size_t n = st ? st->n_tpls : 0;
    size_t len = SAVE_HEADER_LEN + SAVE_CRC_LEN;
    for (size_t i = 0; i < n; i++)
        len += SAVE_ENTRY_HEAD_LEN + (size_t)st->tpls[i]->n_fields * SAVE_FIELD_LEN;
    uint8_t *buf = malloc(len);
    if (!buf)
        return CF_ERR_NOMEM;
    uint8_t *p = buf;
    cf_put_be32(p, SAVE_MAGIC);
    cf_put_be16(p + 4, SAVE_VERSION);
    cf_put_be16(p + 6, 0);
    cf_put_be32(p + 8, (uint32_t)n);
    p += SAVE_HEADER_LEN;
    for (size_t i = 0; i < n; i++) {
        const tpl *t = st->tpls[i];
        p[0] = t->proto;
        p[1] = t->options;
        cf_put_be16(p + 2, t->id);
        cf_put_be32(p + 4, t->domain);
        cf_put_be16(p + 8, t->n_scope);
        cf_put_be16(p + 10, t->n_fields);
        p += SAVE_ENTRY_HEAD_LEN;
        for (size_t k = 0; k < t->n_fields; k++, p += SAVE_FIELD_LEN) {
            cf_put_be16(p, t->fields[k].id);
            cf_put_be16(p + 2, t->fields[k].len);
            cf_put_be32(p + 4, t->fields[k].pen);
        }
    }
    cf_put_be32(p, crc32_ieee(buf, (size_t)(p - buf)));
    *out = buf;
    *out_len = len;
    return CF_OK;
}

/* Checks one entry at c (and skips it); false when it is not valid. */
static bool check_entry(cf_cursor *c, const decode_config *lim)
{
    uint8_t proto, options;
    uint16_t id, n_scope, n_fields;
    uint32_t domain;
    if (!cf_read_u8(c, &proto) || !cf_read_u8(c, &options) || !cf_read_be16(c, &id) ||
        !cf_read_be32(c, &domain) || !cf_read_be16(c, &n_scope) || !cf_read_be16(c, &n_fields))
        return false;
    if ((proto != TPL_PROTO_V9 && proto != TPL_PROTO_IPFIX) || options > 1 || id < TPL_MIN_DATA_ID ||
        n_fields == 0 || n_fields > lim->max_fields || n_scope > n_fields)
        return false;
    uint32_t min_len = 0;
    for (size_t k = 0; k < n_fields; k++) {
        uint16_t len;
        if (!cf_skip(c, 2) || !cf_read_be16(c, &len) || !cf_skip(c, 4))
            return false;
        min_len += len == TPL_VARLEN ? 1u : len;
    }
    return min_len > 0;
}

/* Builds the entry at c (already checked). */
static tpl *build_entry(cf_cursor *c)
{
    uint8_t proto = 0, options = 0;
    uint16_t id = 0, n_scope = 0, n_fields = 0;
    uint32_t domain = 0;
    cf_read_u8(c, &proto);
    cf_read_u8(c, &options);
    cf_read_be16(c, &id);
    cf_read_be32(c, &domain);
    cf_read_be16(c, &n_scope);
    cf_read_be16(c, &n_fields);
    tpl *t = malloc(tpl_alloc_size(n_fields));
    if (!t)
        return NULL;
    t->proto = proto;
    t->options = options;
    t->id = id;
    t->domain = domain;
    t->n_scope = n_scope;
    t->n_fields = n_fields;
    for (size_t k = 0; k < n_fields; k++) {
        cf_read_be16(c, &t->fields[k].id);
        cf_read_be16(c, &t->fields[k].len);
        cf_read_be32(c, &t->fields[k].pen);
    }
    tpl_compile(t);
    return t;
}

cf_err decode_templates_load(decode_exporter *ex, const uint8_t *buf, size_t len)
{
    if (len < SAVE_HEADER_LEN + SAVE_CRC_LEN || cf_be32(buf) != SAVE_MAGIC)
        return CF_ERR_CORRUPT;
    if (cf_be16(buf + 4) != SAVE_VERSION)
        return CF_ERR_VERSION;
    if (crc32_ieee(buf, len - SAVE_CRC_LEN) != cf_be32(buf + len - SAVE_CRC_LEN))
        return CF_ERR_CORRUPT;
    uint32_t n = cf_be32(buf + 8);
    decode_config lim;
    tpl_limits(ex, &lim);
    size_t have = decode_template_count(ex);
    if (n > lim.max_templates || have + n > lim.max_templates)
        return CF_ERR_FULL; /* (over-strict when keys overlap; never over the limit) */
    cf_cursor c = cf_cursor_make(buf + SAVE_HEADER_LEN, len - SAVE_HEADER_LEN - SAVE_CRC_LEN);
    cf_cursor start = c;
    for (uint32_t i = 0; i < n; i++)
        if (!check_entry(&c, &lim))
            return CF_ERR_CORRUPT;
    if (c.left != 0)
        return CF_ERR_CORRUPT;
    /* Build everything first so that a failed allocation changes nothing. */
    tpl **built = calloc(n ? n : 1, sizeof(*built));
    if (!built)
        return CF_ERR_NOMEM;
    cf_err err = CF_OK;
    c = start;
    for (uint32_t i = 0; i < n && !err; i++)
        if (!(built[i] = build_entry(&c)))
            err = CF_ERR_NOMEM;
    struct decode_tpl_state *st;
    if (!err)
        err = tpl_state(ex, &st);
    if (!err && n) { /* reserve the slots tpl_add may need, so it cannot fail */
        size_t need = st->n_tpls + n;
        if (need > st->cap_tpls) {
            tpl **grown = realloc(st->tpls, need * sizeof(*grown));
            if (!grown)
                err = CF_ERR_NOMEM;
            else {
                st->tpls = grown;
                st->cap_tpls = need;
            }
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        if (err)
            tpl_free(built[i]);
        else
            tpl_add(ex, built[i], NULL, 0);
    }
    free(built);
    return err;
}
