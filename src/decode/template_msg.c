/*
 * decode/template_msg.c - the sets of one NetFlow v9 packet or IPFIX
 * message, in two passes (acceptance rules in decode.h).
 *
 * Pass 1 walks every set header and parses every template record without
 * changing anything, so that a message with bad framing or a bad template
 * is rejected whole.  For v9 it also counts the records (template records,
 * and data records of every data set whose template is known, cached or
 * defined earlier in the same packet) to compare with the header's count.
 * Pass 2 applies the sets in order.
 */
#include "decode/template.h"
#include "decode/decode_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCAL_TEMPLATES 32 /* templates of one packet remembered for counting */

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* The template set ids of the protocol. */
static bool is_template_set(uint8_t proto, uint16_t id, int *options)
{
    uint16_t base = proto == TPL_PROTO_V9 ? 0 : 2;
    if (id == base || id == base + 1) {
        *options = id == base + 1;
        return true;
    }
    return false;
}

typedef enum { SET_OK, SET_END, SET_BAD } set_status;

/* The next set at c: its id and body.  On SET_BAD, *detail says why and
 * *err is the error. */
static set_status next_set(cf_cursor *c, uint8_t proto, uint16_t *id, cf_cursor *body,
                           const char **detail, cf_err *err)
{
    if (c->left == 0)
        return SET_END;
    if (c->left < 4) {
        *detail = "set header cut short";
        *err = CF_ERR_TRUNCATED;
        return SET_BAD;
    }
    uint16_t len = 0;
    *id = 0;
    if (!cf_read_be16(c, id) || !cf_read_be16(c, &len))
        return SET_END; /* not reached: 4 bytes are left */
    if (proto == TPL_PROTO_V9 && *id == 0 && len == 0 && all_zero(c->p, c->left))
        return SET_END; /* zero-length flowset: the rest is padding */
    if (len < 4) {
        *detail = "set length < 4";
        *err = CF_ERR_MALFORMED;
        return SET_BAD;
    }
    if (!cf_sub(c, (size_t)len - 4, body)) {
        *detail = "set length past the end of the message";
        *err = CF_ERR_TRUNCATED;
        return SET_BAD;
    }
    return SET_OK;
}

/* Pass-1 state for the v9 record count. */
typedef struct count_state {
    tpl *local[LOCAL_TEMPLATES]; /* templates defined earlier in this packet */
    size_t n_local;
    bool countable;
    uint64_t records;
} count_state;

static const tpl *count_find(const decode_exporter *ex, const count_state *cs, uint8_t proto,
                             uint32_t domain, uint16_t id)
{
    for (size_t i = cs->n_local; i-- > 0;)
        if (cs->local[i]->id == id)
            return cs->local[i];
    return tpl_find(ex, proto, domain, id);
}

/* Pass 1 over the records of one template set. */
static cf_err check_template_set(decode_exporter *ex, const tpl_msg *m, int options, cf_cursor body,
                                 count_state *cs, const char **detail)
{
    while (body.left > 0 && !all_zero(body.p, body.left)) {
        tpl_parse_result r;
        cf_err err = tpl_parse_record(ex, m->info.proto, options, m->info.domain, &body, true, &r);
        if (err) {
            *detail = "template record does not fit its set or is invalid";
            return err;
        }
        cs->records++;
        if (r.refused)
            cs->countable = false;
        if (!r.t)
            continue;
        if (cs->n_local < LOCAL_TEMPLATES)
            cs->local[cs->n_local++] = r.t;
        else {
            cs->countable = false;
            tpl_free(r.t);
        }
    }
    return CF_OK;
}

static cf_err check_sets(decode_exporter *ex, const tpl_msg *m, count_state *cs)
{
    cf_cursor c = cf_cursor_make(m->sets, m->len);
    const char *detail = NULL;
    cf_err err = CF_OK;
    uint16_t id;
    cf_cursor body;
    set_status st;
    while ((st = next_set(&c, m->info.proto, &id, &body, &detail, &err)) == SET_OK) {
        int options;
        if (is_template_set(m->info.proto, id, &options)) {
            err = check_template_set(ex, m, options, body, cs, &detail);
            if (err)
                return decode_reject(ex, DECODE_BAD_RECORD, err, m->name, detail);
        } else if (id >= TPL_MIN_DATA_ID && cs->countable) {
            const tpl *t = count_find(ex, cs, m->info.proto, m->info.domain, id);
            size_t n;
            if (t && tpl_count_records(t, body.p, body.left, &n))
                cs->records += n;
            else
                cs->countable = false;
        }
    }
    if (st == SET_BAD)
        return decode_reject(ex, DECODE_BAD_LENGTH, err, m->name, detail);
    if (m->info.proto == TPL_PROTO_V9 && cs->countable && cs->records < m->v9_count) {
        char msg[96];
        snprintf(msg, sizeof(msg), "count %u, %llu records present", (unsigned)m->v9_count,
                 (unsigned long long)cs->records);
        return decode_reject(ex, DECODE_BAD_COUNT, CF_ERR_TRUNCATED, m->name, msg);
    }
    return CF_OK;
}

/* Pass 2 over the records of one (already checked) template set. */
static cf_err apply_template_set(decode_exporter *ex, const tpl_msg *m, int options, cf_cursor body,
                                 const tpl_out *out)
{
    while (body.left > 0 && !all_zero(body.p, body.left)) {
        tpl_parse_result r;
        cf_err err = tpl_parse_record(ex, m->info.proto, options, m->info.domain, &body, false, &r);
        if (err)
            return err; /* only CF_ERR_NOMEM: pass 1 parsed the same bytes */
        if (r.withdraw) {
            if (r.withdraw_id < TPL_MIN_DATA_ID)
                tpl_withdraw_all(ex, m->info.proto, m->info.domain, options);
            else
                tpl_withdraw(ex, m->info.proto, m->info.domain, r.withdraw_id);
        } else if (r.t) {
            err = tpl_add(ex, r.t, out, m->info.recv_ms);
            if (err)
                return err;
        }
    }
    return CF_OK;
}

static cf_err apply_sets(decode_exporter *ex, const tpl_msg *m, const tpl_out *out, uint64_t *n_data,
                         bool *all_counted)
{
    cf_cursor c = cf_cursor_make(m->sets, m->len);
    const char *detail = NULL;
    cf_err err = CF_OK;
    uint16_t id;
    cf_cursor body;
    tpl_msg_info info = m->info;
    tpl_pending_expire(ex, m->info.recv_ms);
    while (next_set(&c, m->info.proto, &id, &body, &detail, &err) == SET_OK) {
        int options;
        if (is_template_set(m->info.proto, id, &options)) {
            err = apply_template_set(ex, m, options, body, out);
            if (err)
                return err;
            continue;
        }
        if (id < TPL_MIN_DATA_ID) {
            decode_stat_add(&ex->tpl_stats.bad_set_id, 1);
            continue;
        }
        info.set_id = id;
        const tpl *t = tpl_find(ex, info.proto, info.domain, id);
        size_t n = 0;
        if (!t) {
            tpl_pending_add(ex, &info, body.p, body.left);
            *all_counted = false;
        } else if (tpl_decode_set(out, &info, t, body.p, body.left, &n) == CF_OK) {
            *n_data += n;
        } else {
            *all_counted = false;
        }
    }
    return CF_OK;
}

cf_err tpl_process_message(decode_exporter *ex, const tpl_msg *m, const decode_out *dout, uint64_t *n_data,
                           bool *all_counted)
{
    struct decode_tpl_state *st;
    if (tpl_state(ex, &st))
        return CF_ERR_NOMEM;
    count_state cs = {.n_local = 0, .countable = true, .records = 0};
    cf_err err = check_sets(ex, m, &cs);
    for (size_t i = 0; i < cs.n_local; i++)
        tpl_free(cs.local[i]);
    if (err)
        return err;
    tpl_out out = {ex, dout->emit, dout->room, dout->ctx};
    *n_data = 0;
    *all_counted = true;
    return apply_sets(ex, m, &out, n_data, all_counted);
}

void tpl_account_sequence(decode_exporter *ex, uint8_t proto, uint32_t domain, uint32_t seq,
                          uint32_t advance, bool known)
{
    tpl_domain *d = tpl_domain_get(ex, proto, domain);
    if (!d)
        return;
    if (d->seq_valid) {
        uint32_t ahead = seq - d->seq_next; /* modulo 2^32 */
        if (ahead != 0 && ahead <= DECODE_SEQ_MAX_GAP)
            decode_stat_add(&ex->stats.lost, ahead);
        else if (ahead != 0)
            decode_stat_add(&ex->stats.seq_resets, 1);
    }
    d->seq_next = seq + advance;
    d->seq_valid = known;
}
