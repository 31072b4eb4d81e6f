/*
 * decode/template_record.c - NetFlow v9 / IPFIX data records through their
 * template into flow_record values (and options records into sampler
 * intervals, clocks and application / interface names).
 *
 * When a template is learned, tpl_compile() gives each field an action (what
 * to do with its value), chosen from the element id, enterprise number and
 * length, so that decoding a record is one pass over the fields with a
 * switch.  Most data templates also get a fast plan (template_fast.c) and
 * never come here per record; what follows is the general path, for the
 * rest and as the reference the fast plan is tested against.  A field whose length does not suit its element (e.g. a 5-byte
 * IPv4 address) is skipped.  Values are gathered into a rec_scratch first
 * (the first occurrence of an element wins) and turned into a flow_record at
 * the end, where the choices between alternatives (counters, times,
 * sampling) are made as decode.h describes.
 *
 * Elements read (IANA id: meaning):
 *   8/12 IPv4 src/dst, 27/28 IPv6 src/dst, 7/11 ports, 4 protocol,
 *   6 TCP flags, 5 ToS, 1/2 delta octets/packets, 85/86 totals, 23/24 post
 *   (out) counters, 231/298 initiator octets/packets, 352 layer-2 octets,
 *   10/14 interfaces, 16/17 AS, 9/13 IPv4 and 29/30 IPv6 masks, 15/62 next
 *   hop, 18/63 BGP next hop, 58/59 VLANs (243/254 dot1q as fallback),
 *   56/80 MACs (81/57 post MACs as fallback), 32/139 ICMP type*256+code,
 *   176-179 ICMP type/code, 61 direction, 89 forwarding status, 38/39
 *   engine, 34/35/48/49/50/302/304/305/306/309/310 sampling, 21/22 and
 *   150-160 flow times, 322-325 observation times, 315 dataLinkFrameSection.
 */
#include "decode/template.h"
#include "decode/decode_int.h"

#include <string.h>

/* Elements whose value is an unsigned integer in 1..8 bytes. */
typedef struct uint_elem {
    uint16_t id;
    uint8_t action;
} uint_elem;

static const uint_elem uint_elems[] = {
    {7, A_SRC_PORT}, {11, A_DST_PORT}, {4, A_PROTO}, {6, A_TCP_FLAGS}, {5, A_TOS},
    {1, A_BYTES}, {2, A_PKTS}, {231, A_BYTES_INIT}, {298, A_PKTS_INIT}, {23, A_BYTES_POST},
    {24, A_PKTS_POST}, {85, A_BYTES_TOTAL}, {86, A_PKTS_TOTAL}, {352, A_BYTES_L2},
    {10, A_IN_IF}, {14, A_OUT_IF}, {16, A_SRC_AS}, {17, A_DST_AS}, {9, A_SRC_MASK},
    {13, A_DST_MASK}, {29, A_SRC_MASK}, {30, A_DST_MASK}, {58, A_SRC_VLAN}, {59, A_DST_VLAN},
    {243, A_DOT1Q_VLAN}, {254, A_POST_DOT1Q_VLAN}, {32, A_ICMP_TC}, {139, A_ICMP_TC},
    {176, A_ICMP_TYPE}, {178, A_ICMP_TYPE}, {177, A_ICMP_CODE}, {179, A_ICMP_CODE},
    {61, A_DIRECTION}, {89, A_FWD_STATUS}, {38, A_ENGINE_TYPE}, {39, A_ENGINE_ID},
    {34, A_SAMPLING_INTERVAL}, {48, A_SAMPLER_ID}, {302, A_SAMPLER_ID}, {50, A_SAMPLER_RANDOM},
    {305, A_PKT_INTERVAL}, {306, A_PKT_SPACE}, {309, A_SAMPLING_SIZE}, {310, A_SAMPLING_POP},
    {22, A_FIRST_UPTIME}, {21, A_LAST_UPTIME}, {150, A_START_S}, {151, A_END_S},
    {152, A_START_MS}, {153, A_END_MS}, {158, A_START_DUS}, {159, A_END_DUS},
    {160, A_SYS_INIT_MS}, {322, A_OBS_S}, {323, A_OBS_MS},
    {70, A_MPLS1}, {71, A_MPLS1 + 1}, {72, A_MPLS1 + 2}, {73, A_MPLS1 + 3}, {74, A_MPLS1 + 4},
    {75, A_MPLS1 + 5}, {76, A_MPLS1 + 6}, {77, A_MPLS1 + 7}, {78, A_MPLS1 + 8}, {79, A_MPLS1 + 9},
    {227, A_NAT_SRC_PORT}, {228, A_NAT_DST_PORT}, {233, A_FW_EVENT}, {95, A_APP_ID},
};

/* Cisco NSEL elements in NetFlow v9 (no enterprise numbers in v9). */
static const uint_elem nsel_v9_elems[] = {
    {40003, A_NAT_SRC_PORT}, {40004, A_NAT_DST_PORT}, {40005, A_FW_EVENT},
};

/* Elements with a fixed encoding: exact length required. */
typedef struct fixed_elem {
    uint16_t id, len;
    uint8_t action;
} fixed_elem;

static const fixed_elem fixed_elems[] = {
    {8, 4, A_SRC4}, {12, 4, A_DST4}, {27, 16, A_SRC6}, {28, 16, A_DST6}, {15, 4, A_NH4},
    {62, 16, A_NH6}, {18, 4, A_BGPNH4}, {63, 16, A_BGPNH6}, {56, 6, A_SRC_MAC}, {80, 6, A_DST_MAC},
    {81, 6, A_POST_SRC_MAC}, {57, 6, A_POST_DST_MAC}, {154, 8, A_START_US}, {155, 8, A_END_US},
    {156, 8, A_START_NS}, {157, 8, A_END_NS}, {324, 8, A_OBS_US}, {325, 8, A_OBS_NS},
    {225, 4, A_NAT_SRC4}, {226, 4, A_NAT_DST4}, {281, 16, A_NAT_SRC6}, {282, 16, A_NAT_DST6},
};

/* Cisco NSEL addresses in NetFlow v9. */
static const fixed_elem nsel_v9_fixed[] = {
    {40001, 4, A_NAT_SRC4}, {40002, 4, A_NAT_DST4}, {40057, 16, A_NAT_SRC6}, {40058, 16, A_NAT_DST6},
};

static uint8_t field_action(const tpl *t, size_t i)
{
    const tpl_field *f = &t->fields[i];
    if (f->pen == TPL_PEN_REVERSE)
        return A_REVERSE;
    if (f->pen != 0)
        return A_ENTERPRISE;
    if (t->proto == TPL_PROTO_V9 && i < t->n_scope)
        return A_SKIP; /* v9 scope types (system, interface, ...) are not elements */
    if (f->id == 315 && f->len != 0)
        return A_FRAME;
    for (size_t k = 0; k < sizeof(fixed_elems) / sizeof(fixed_elems[0]); k++)
        if (fixed_elems[k].id == f->id)
            return (f->len == fixed_elems[k].len || f->len == TPL_VARLEN) ? fixed_elems[k].action
                                                                          : A_SKIP;
    for (size_t k = 0; k < sizeof(uint_elems) / sizeof(uint_elems[0]); k++)
        if (uint_elems[k].id == f->id)
            return (f->len >= 1 && f->len <= 8) || f->len == TPL_VARLEN ? uint_elems[k].action
                                                                        : A_SKIP;
    if (t->proto != TPL_PROTO_V9)
        return A_SKIP;
    for (size_t k = 0; k < sizeof(nsel_v9_fixed) / sizeof(nsel_v9_fixed[0]); k++)
        if (nsel_v9_fixed[k].id == f->id)
            return f->len == nsel_v9_fixed[k].len ? nsel_v9_fixed[k].action : A_SKIP;
    for (size_t k = 0; k < sizeof(nsel_v9_elems) / sizeof(nsel_v9_elems[0]); k++)
        if (nsel_v9_elems[k].id == f->id)
            return f->len >= 1 && f->len <= 8 ? nsel_v9_elems[k].action : A_SKIP;
    return A_SKIP;
}

static size_t fixed_len(uint8_t a);

/* Whether field f (action a, fixed length) is read, and how. */
static bool op_kind_of(const tpl_field *f, uint8_t a, uint8_t *kind)
{
    if (a == A_SKIP || a == A_ENTERPRISE || a == A_REVERSE || f->len == 0)
        return false;
    if (a == A_FRAME)
        *kind = K_FRAME;
    else if (a == A_APP_ID)
        *kind = K_APP_ID;
    else if (fixed_len(a))
        *kind = K_PTR; /* field_action() checked the length */
    else
        *kind = f->len == 1 ? K_U8 : f->len == 2 ? K_U16 : f->len == 4 ? K_U32 : f->len == 8 ? K_U64 : K_UINT;
    return true;
}

/* The ops of a template without variable-length fields: one per value
 * read_record() would keep (the first occurrence of each action). */
static void compile_ops(tpl *t)
{
    tpl_op *ops = (tpl_op *)(void *)(t->fields + t->n_fields);
    uint8_t taken[A_N] = {0};
    uint32_t off = 0;
    t->n_ops = 0;
    t->n_enterprise = 0;
    t->reverse = 0;
    for (size_t i = 0; i < t->n_fields; i++) {
        const tpl_field *f = &t->fields[i];
        uint8_t a = f->action, kind;
        if (f->len != 0 && a == A_ENTERPRISE)
            t->n_enterprise++;
        if (f->len != 0 && a == A_REVERSE)
            t->reverse = 1;
        if (op_kind_of(f, a, &kind) && !taken[a]) {
            taken[a] = 1;
            ops[t->n_ops++] = (tpl_op){.off = off, .len = f->len, .action = a, .kind = kind};
        }
        off += f->len;
    }
}

bool tpl_compile(tpl *t)
{
    uint32_t min_len = 0;
    t->has_varlen = 0;
    for (size_t i = 0; i < t->n_fields; i++) {
        tpl_field *f = &t->fields[i];
        f->action = field_action(t, i);
        if (f->len == TPL_VARLEN) {
            t->has_varlen = 1;
            min_len += 1;
        } else {
            min_len += f->len;
        }
    }
    t->min_len = min_len;
    t->n_ops = 0;
    t->n_enterprise = 0;
    t->reverse = 0;
    t->fast = 0;
    if (!t->has_varlen) {
        compile_ops(t);
        tpl_fast_compile(t);
    }
    return min_len > 0;
}

bool tpl_field_len(const tpl_field *f, cf_cursor *c, size_t *len)
{
    if (f->len != TPL_VARLEN) {
        *len = f->len;
        return true;
    }
    uint8_t l8;
    if (!cf_read_u8(c, &l8))
        return false;
    if (l8 < 255) {
        *len = l8;
        return true;
    }
    uint16_t l16;
    if (!cf_read_be16(c, &l16))
        return false;
    *len = l16;
    return true;
}

/* Skips one record of t at c; false when it does not fit. */
static bool skip_record(const tpl *t, cf_cursor *c)
{
    if (!t->has_varlen)
        return cf_skip(c, t->min_len);
    for (size_t i = 0; i < t->n_fields; i++) {
        size_t len;
        if (!tpl_field_len(&t->fields[i], c, &len) || !cf_skip(c, len))
            return false;
    }
    return true;
}

bool tpl_count_records(const tpl *t, const uint8_t *p, size_t len, size_t *n)
{
    if (!t->has_varlen) {
        *n = len / t->min_len; /* the rest, shorter than a record, is padding */
        return true;
    }
    cf_cursor c = cf_cursor_make(p, len);
    size_t k = 0;
    while (c.left >= t->min_len) {
        cf_cursor save = c;
        if (!skip_record(t, &c)) {
            /* Padding is shorter than a record and (by RFC 7011) zero; a
             * partial record that is not all zero is an error. */
            for (size_t i = 0; i < save.left; i++)
                if (save.p[i] != 0)
                    return false;
            break;
        }
        k++;
    }
    *n = k;
    return true;
}

/* ---- one record ----------------------------------------------------------- */

/* Values gathered from one record before they become a flow_record. */
typedef struct rec_scratch {
    uint8_t seen[A_N];
    uint64_t u[A_N];         /* integer values by action */
    const uint8_t *ptr[A_N]; /* fixed-encoding values (addresses, MACs, NTP times) */
    const uint8_t *frame;    /* dataLinkFrameSection */
    size_t frame_len;
    int reverse;
    bool frame_op;           /* no varlen: the template has a frame section op */
} rec_scratch;

static uint64_t read_uint(const uint8_t *p, size_t len)
{
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++)
        v = (v << 8) | p[i];
    return v;
}

/* The length an action with a fixed encoding requires; 0 for integers. */
static size_t fixed_len(uint8_t a)
{
    switch (a) {
    case A_SRC4: case A_DST4: case A_NH4: case A_BGPNH4: case A_NAT_SRC4: case A_NAT_DST4: return 4;
    case A_SRC6: case A_DST6: case A_NH6: case A_BGPNH6: case A_NAT_SRC6: case A_NAT_DST6: return 16;
    case A_SRC_MAC: case A_DST_MAC: case A_POST_SRC_MAC: case A_POST_DST_MAC: return 6;
    case A_START_US: case A_END_US: case A_START_NS: case A_END_NS: case A_OBS_US: case A_OBS_NS:
        return 8;
    default: return 0;
    }
}

/* Reads one record of t at c into s.  False when it does not fit. */
static bool read_record(const tpl_out *out, const tpl *t, cf_cursor *c, rec_scratch *s)
{
    /* s was cleared whole for the set; only this template's actions can
     * have been set by the previous record */
    for (size_t i = 0; i < t->n_fields; i++) {
        s->seen[t->fields[i].action] = 0;
        s->u[t->fields[i].action] = 0;
    }
    s->frame = NULL;
    s->frame_len = 0;
    s->reverse = 0;
    for (size_t i = 0; i < t->n_fields; i++) {
        const tpl_field *f = &t->fields[i];
        size_t len;
        cf_cursor v;
        if (!tpl_field_len(f, c, &len) || !cf_sub(c, len, &v))
            return false;
        uint8_t a = f->action;
        if (a == A_SKIP || len == 0)
            continue;
        if (a == A_ENTERPRISE) {
            decode_stat_add(&out->ex->tpl_stats.enterprise_fields, 1);
            continue;
        }
        if (a == A_REVERSE) {
            s->reverse = 1;
            continue;
        }
        if (a == A_FRAME) {
            if (!s->frame) {
                s->frame = v.p;
                s->frame_len = len;
            }
            continue;
        }
        if (s->seen[a])
            continue; /* the first occurrence wins */
        size_t want = fixed_len(a);
        if (a == A_APP_ID) {
            /* RFC 6759: a classification engine id byte, then the selector;
             * kept as engine << 24 | the selector's last 3 bytes. */
            size_t sel = len - 1 > 3 ? 3 : len - 1;
            s->u[a] = (uint64_t)v.p[0] << 24 | read_uint(v.p + len - sel, sel);
        } else if (want) {
            if (len != want)
                continue; /* a variable-length value of the wrong size */
            s->ptr[a] = v.p;
        } else {
            if (len > 8)
                continue;
            s->u[a] = read_uint(v.p, len);
        }
        s->seen[a] = 1;
    }
    return true;
}

/* A set of records of t (no varlen, n records): what is the same for
 * every record (which values are present, enterprise values, reverse
 * elements) is set or counted once. */
static void fixed_begin(decode_exporter *ex, const tpl *t, size_t n, rec_scratch *s)
{
    const tpl_op *ops = tpl_ops(t);
    for (size_t k = 0; k < t->n_ops; k++) {
        s->seen[ops[k].action] = 1;
        s->frame_op |= ops[k].kind == K_FRAME;
    }
    s->reverse = t->reverse;
    if (t->n_enterprise && n)
        decode_stat_add(&ex->tpl_stats.enterprise_fields, (uint64_t)t->n_enterprise * n);
}

/* Reads one record of t (no varlen) at rec, t->min_len bytes that the
 * caller checked, into s: the values of t's ops (the same slots for every
 * record, so nothing needs clearing). */
static void read_fixed(const tpl *t, const uint8_t *rec, rec_scratch *s)
{
    const tpl_op *ops = tpl_ops(t);
    for (size_t k = 0; k < t->n_ops; k++) {
        const tpl_op *o = &ops[k];
        const uint8_t *v = rec + o->off;
        switch (o->kind) {
        case K_U8: s->u[o->action] = v[0]; break;
        case K_U16: s->u[o->action] = cf_be16(v); break;
        case K_U32: s->u[o->action] = cf_be32(v); break;
        case K_U64: s->u[o->action] = cf_be64(v); break;
        case K_UINT: s->u[o->action] = read_uint(v, o->len); break;
        case K_PTR: s->ptr[o->action] = v; break;
        case K_APP_ID: {
            size_t sel = o->len - 1u > 3 ? 3 : o->len - 1u;
            s->u[o->action] = (uint64_t)v[0] << 24 | read_uint(v + o->len - sel, sel);
            break;
        }
        default: /* K_FRAME */
            s->frame = v;
            s->frame_len = o->len;
            break;
        }
    }
}

uint64_t tpl_ntp_ms(uint64_t ntp)
{
    const uint64_t ntp_to_unix = 2208988800u;
    uint64_t secs = ntp >> 32, frac = ntp & 0xffffffffu;
    uint64_t ms = (frac * 1000u) >> 32;
    return secs >= ntp_to_unix ? (secs - ntp_to_unix) * 1000u + ms : 0;
}

/* NTP 64-bit timestamp at p to epoch ms. */
static uint64_t ntp_ms(const uint8_t *p) { return tpl_ntp_ms(cf_be64(p)); }

/* IPFIX: the exporter's boot time for flowStart/EndSysUpTime: the record's
 * or the domain's systemInitTimeMilliseconds; without one, an estimate:
 * the smallest (export time - latest sysUpTime of a record) seen for the
 * domain, so that no flow ends after the message that exports it. */
static uint64_t ipfix_init(const tpl_out *out, const tpl_msg_info *m, const rec_scratch *s)
{
    if (s->seen[A_SYS_INIT_MS] && s->u[A_SYS_INIT_MS])
        return s->u[A_SYS_INIT_MS];
    tpl_domain *d = tpl_domain_get(out->ex, m->proto, m->domain);
    if (!d)
        return 0;
    if (d->sys_init_ms)
        return d->sys_init_ms;
    uint64_t t = s->u[A_FIRST_UPTIME] > s->u[A_LAST_UPTIME] ? s->u[A_FIRST_UPTIME] : s->u[A_LAST_UPTIME];
    if (m->export_ms > t && (!d->init_bound_ms || m->export_ms - t < d->init_bound_ms))
        d->init_bound_ms = m->export_ms - t;
    return d->init_bound_ms;
}

/* The absolute time from the first present of the start (or end) actions. */
static bool pick_time(const tpl_out *out, const tpl_msg_info *m, const rec_scratch *s, int end,
                      uint64_t *ms)
{
    const rec_scratch *r = s;
    if (r->seen[end ? A_END_MS : A_START_MS]) {
        *ms = r->u[end ? A_END_MS : A_START_MS];
        return true;
    }
    if (r->seen[end ? A_END_S : A_START_S]) {
        *ms = r->u[end ? A_END_S : A_START_S] * 1000u;
        return true;
    }
    int us = end ? A_END_US : A_START_US, ns = end ? A_END_NS : A_START_NS;
    if (r->seen[us] || r->seen[ns]) {
        *ms = ntp_ms(r->ptr[r->seen[us] ? us : ns]);
        return true;
    }
    int dus = end ? A_END_DUS : A_START_DUS;
    if (r->seen[dus]) {
        uint64_t d = r->u[dus] / 1000u;
        *ms = m->export_ms > d ? m->export_ms - d : 0;
        return true;
    }
    int up = end ? A_LAST_UPTIME : A_FIRST_UPTIME;
    if (!r->seen[up])
        return false;
    uint32_t t = (uint32_t)r->u[up];
    if (m->proto == TPL_PROTO_V9) {
        /* Signed distance modulo 2^32: a time just after sysUptime (clock
         * jitter, seen from nProbe) stays just after the export time. */
        int64_t d = (int32_t)(t - m->uptime_ms);
        *ms = (int64_t)m->export_ms + d > 0 ? (uint64_t)((int64_t)m->export_ms + d) : 0;
        return true;
    }
    uint64_t init = ipfix_init(out, m, s);
    if (!init)
        return false;
    *ms = init + r->u[up];
    /* Some exporters (softflowd) count flow times from before their own
     * systemInitTime, sending negative 32-bit offsets: a time more than a day
     * after the export that is negative as a signed 32-bit value is read so. */
    if (m->export_ms && *ms > m->export_ms + UINT64_C(86400000) && (int32_t)t < 0) {
        int64_t v = (int64_t)init + (int32_t)t;
        *ms = v > 0 ? (uint64_t)v : 0;
    }
    return true;
}

static void set_times(const tpl_out *out, const tpl_msg_info *m, const rec_scratch *s,
                      flow_record *rec)
{
    uint64_t first = 0, last = 0;
    bool has_first = pick_time(out, m, s, 0, &first), has_last = pick_time(out, m, s, 1, &last);
    if (!has_first && !has_last) {
        static const int obs[] = {A_OBS_MS, A_OBS_S, A_OBS_US, A_OBS_NS};
        first = m->export_ms;
        for (size_t i = 0; i < 4; i++) {
            int a = obs[i];
            if (!s->seen[a])
                continue;
            first = a == A_OBS_MS ? s->u[a] : a == A_OBS_S ? s->u[a] * 1000u : ntp_ms(s->ptr[a]);
            break;
        }
        last = first;
    } else if (!has_first) {
        first = last;
    } else if (!has_last) {
        last = first;
    }
    rec->first_ms = first;
    rec->last_ms = last;
}

/* The first present of the actions in list (n of them), or 0. */
static uint64_t first_of(const rec_scratch *s, const uint8_t *list, size_t n, bool *found)
{
    for (size_t i = 0; i < n; i++)
        if (s->seen[list[i]]) {
            *found = true;
            return s->u[list[i]];
        }
    *found = false;
    return 0;
}

/* Sampling interval carried by the record itself; 0 when none. */
static uint32_t record_rate(const rec_scratch *s)
{
    uint64_t r = 0;
    if (s->seen[A_SAMPLING_INTERVAL])
        r = s->u[A_SAMPLING_INTERVAL];
    else if (s->seen[A_SAMPLER_RANDOM])
        r = s->u[A_SAMPLER_RANDOM];
    else if (s->seen[A_PKT_INTERVAL] && s->u[A_PKT_INTERVAL])
        r = (s->u[A_PKT_INTERVAL] + (s->seen[A_PKT_SPACE] ? s->u[A_PKT_SPACE] : 0)) /
            s->u[A_PKT_INTERVAL];
    else if (s->seen[A_SAMPLING_SIZE] && s->seen[A_SAMPLING_POP] && s->u[A_SAMPLING_SIZE])
        r = s->u[A_SAMPLING_POP] / s->u[A_SAMPLING_SIZE];
    return r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}

/* Addresses, ports and protocol of the outermost IP header in a layer-2
 * frame (template_frame.c). */
bool tpl_frame_addresses(const uint8_t *frame, size_t len, flow_record *rec);

static void set_addresses(const rec_scratch *s, flow_record *rec)
{
    if (s->seen[A_SRC6] || s->seen[A_DST6]) {
        rec->family = 6;
        if (s->seen[A_SRC6])
            memcpy(rec->src_addr, s->ptr[A_SRC6], 16);
        if (s->seen[A_DST6])
            memcpy(rec->dst_addr, s->ptr[A_DST6], 16);
    }
    if (s->seen[A_SRC4] || s->seen[A_DST4]) {
        rec->family = 4;
        flow_set_v4(rec, s->seen[A_SRC4] ? cf_be32(s->ptr[A_SRC4]) : 0,
                    s->seen[A_DST4] ? cf_be32(s->ptr[A_DST4]) : 0);
    }
    /* 0.0.0.0 means "no next hop": it stays all-zero (absent, flow.h). */
    if (s->seen[A_NH4] && cf_be32(s->ptr[A_NH4]))
        flow_addr_from_v4(rec->next_hop, cf_be32(s->ptr[A_NH4]));
    else if (s->seen[A_NH6])
        memcpy(rec->next_hop, s->ptr[A_NH6], 16);
    if (s->seen[A_BGPNH4] && cf_be32(s->ptr[A_BGPNH4]))
        flow_addr_from_v4(rec->bgp_next_hop, cf_be32(s->ptr[A_BGPNH4]));
    else if (s->seen[A_BGPNH6])
        memcpy(rec->bgp_next_hop, s->ptr[A_BGPNH6], 16);
    if (s->seen[A_NAT_SRC4])
        flow_addr_from_v4(rec->nat_src_addr, cf_be32(s->ptr[A_NAT_SRC4]));
    else if (s->seen[A_NAT_SRC6])
        memcpy(rec->nat_src_addr, s->ptr[A_NAT_SRC6], 16);
    if (s->seen[A_NAT_DST4])
        flow_addr_from_v4(rec->nat_dst_addr, cf_be32(s->ptr[A_NAT_DST4]));
    else if (s->seen[A_NAT_DST6])
        memcpy(rec->nat_dst_addr, s->ptr[A_NAT_DST6], 16);
}

static uint64_t mac_of(const uint8_t *p) { return read_uint(p, 6); }

static void set_l2_and_misc(const rec_scratch *s, flow_record *rec)
{
    const uint64_t *u = s->u;
    if (s->seen[A_SRC_MAC] || s->seen[A_POST_SRC_MAC])
        rec->src_mac = mac_of(s->ptr[s->seen[A_SRC_MAC] ? A_SRC_MAC : A_POST_SRC_MAC]);
    if (s->seen[A_DST_MAC] || s->seen[A_POST_DST_MAC])
        rec->dst_mac = mac_of(s->ptr[s->seen[A_DST_MAC] ? A_DST_MAC : A_POST_DST_MAC]);
    rec->src_vlan = (uint16_t)(s->seen[A_SRC_VLAN] ? u[A_SRC_VLAN] : u[A_DOT1Q_VLAN]);
    rec->dst_vlan = (uint16_t)(s->seen[A_DST_VLAN] ? u[A_DST_VLAN] : u[A_POST_DOT1Q_VLAN]);
    rec->src_port = (uint16_t)u[A_SRC_PORT];
    rec->dst_port = (uint16_t)u[A_DST_PORT];
    rec->proto = (uint8_t)u[A_PROTO];
    rec->tcp_flags = (uint8_t)u[A_TCP_FLAGS];
    rec->tos = (uint8_t)u[A_TOS];
    rec->in_if = (uint32_t)u[A_IN_IF];
    rec->out_if = (uint32_t)u[A_OUT_IF];
    rec->src_as = (uint32_t)u[A_SRC_AS];
    rec->dst_as = (uint32_t)u[A_DST_AS];
    rec->src_mask = (uint8_t)u[A_SRC_MASK];
    rec->dst_mask = (uint8_t)u[A_DST_MASK];
    rec->direction = (uint8_t)u[A_DIRECTION];
    if (s->seen[A_FWD_STATUS])
        rec->fwd_status = (uint8_t)(u[A_FWD_STATUS] > 0xff ? u[A_FWD_STATUS] >> 24 : u[A_FWD_STATUS]);
    rec->engine_type = (uint8_t)u[A_ENGINE_TYPE];
    rec->engine_id = (uint8_t)u[A_ENGINE_ID];
    for (int i = 0; i < 10; i++)
        rec->mpls[i] = (uint32_t)u[A_MPLS1 + i];
    rec->nat_src_port = (uint16_t)u[A_NAT_SRC_PORT];
    rec->nat_dst_port = (uint16_t)u[A_NAT_DST_PORT];
    rec->fw_event = (uint8_t)u[A_FW_EVENT];
    rec->app_id = (uint32_t)u[A_APP_ID];
    if (rec->proto == 1 || rec->proto == 58) {
        if (s->seen[A_ICMP_TC]) {
            rec->icmp_type = (uint8_t)(u[A_ICMP_TC] >> 8);
            rec->icmp_code = (uint8_t)u[A_ICMP_TC];
        } else if (s->seen[A_ICMP_TYPE] || s->seen[A_ICMP_CODE]) {
            rec->icmp_type = (uint8_t)u[A_ICMP_TYPE];
            rec->icmp_code = (uint8_t)u[A_ICMP_CODE];
        } else { /* as NetFlow v5: type*256+code in the destination port */
            rec->icmp_type = (uint8_t)(rec->dst_port >> 8);
            rec->icmp_code = (uint8_t)rec->dst_port;
        }
        if (!s->seen[A_DST_PORT])
            rec->dst_port = (uint16_t)(rec->icmp_type << 8 | rec->icmp_code);
    }
}

/* Fills rec (all zero, or see reuse_record()) from the values of s. */
static void build_flow(const tpl_out *out, const tpl_msg_info *m, const rec_scratch *s,
                       flow_record *rec)
{
    decode_exporter *ex = out->ex;
    set_addresses(s, rec);
    set_l2_and_misc(s, rec);
    if (!rec->family && s->frame && tpl_frame_addresses(s->frame, s->frame_len, rec))
        decode_stat_add(&ex->tpl_stats.frame_sections, 1);
    static const uint8_t pkts[] = {A_PKTS, A_PKTS_INIT, A_PKTS_POST, A_PKTS_TOTAL};
    static const uint8_t bytes[] = {A_BYTES, A_BYTES_INIT, A_BYTES_POST, A_BYTES_TOTAL, A_BYTES_L2};
    bool found;
    uint64_t packets = first_of(s, pkts, sizeof(pkts), &found);
    uint64_t octets = first_of(s, bytes, sizeof(bytes), &found);
    set_times(out, m, s, rec);
    uint32_t rate = ex->cfg.sampling_override;
    if (!rate)
        rate = record_rate(s);
    if (!rate)
        rate = tpl_sampler_rate(ex, m->proto, m->domain, s->seen[A_SAMPLER_ID], s->u[A_SAMPLER_ID]);
    if (!rate)
        rate = ex->cfg.sampling_default;
    if (!rate) {
        rec->flags |= FLOW_F_SAMPLING_UNKNOWN;
        decode_stat_add(&ex->tpl_stats.sampling_unknown, 1);
        rate = 1;
    } else if (rate > 1) {
        rec->flags |= FLOW_F_SAMPLED;
    }
    rec->sampling = rate;
    rec->packets = packets * rate;
    rec->bytes = octets * rate;
    if (s->reverse)
        decode_stat_add(&ex->tpl_stats.biflow_records, 1);
    memcpy(rec->exporter, ex->addr, 16);
    rec->obs_domain = m->domain;
    rec->exporter_proto = m->proto == TPL_PROTO_V9 ? FLOW_PROTO_NETFLOW9 : FLOW_PROTO_IPFIX;
    rec->received_ms = m->recv_ms;
}

/* Makes rec, built by build_flow() from the previous record of the same
 * template without variable-length or frame fields, ready for the next one
 * as if zeroed.  With such a template the set of values present (s->seen)
 * is the same for every record, so build_flow() writes the same members
 * every time except these, which depend on the values themselves. */
static void reuse_record(flow_record *rec)
{
    memset(rec->next_hop, 0, sizeof(rec->next_hop));
    memset(rec->bgp_next_hop, 0, sizeof(rec->bgp_next_hop));
    rec->flags = 0;
    rec->icmp_type = 0;
    rec->icmp_code = 0;
}

/* An options record: sampler intervals and the domain's clock. */
static void apply_options(const tpl_out *out, const tpl_msg_info *m, const rec_scratch *s)
{
    decode_exporter *ex = out->ex;
    decode_stat_add(&ex->tpl_stats.options_records, 1);
    uint32_t rate = record_rate(s);
    if (rate)
        tpl_sampler_set(ex, m->proto, m->domain, s->seen[A_SAMPLER_ID], s->u[A_SAMPLER_ID], rate);
    if (s->seen[A_SYS_INIT_MS] && s->u[A_SYS_INIT_MS]) {
        tpl_domain *d = tpl_domain_get(ex, m->proto, m->domain);
        if (d)
            d->sys_init_ms = s->u[A_SYS_INIT_MS];
    }
}

/* The text of a names element, sanitised into buf; NULL when the template
 * has no such element. */
static const char *name_text(const uint8_t *p, size_t len, bool has, char *buf, size_t size)
{
    if (!has)
        return NULL;
    flow_names_sanitize(p, len, buf, size);
    return buf;
}

/* One entry of kind: key known (has_key), strings (NULL: absent). */
static void name_entry(decode_exporter *ex, flow_name_kind kind, bool has_key, uint32_t key, const char *name,
                       const char *desc)
{
    if (!has_key || ((!name || !*name) && (!desc || !*desc))) {
        decode_stat_add(&ex->tpl_stats.bad_names, 1);
        return;
    }
    tpl_name_set(ex, kind, key, name, desc);
}

/* The names an options record carries (decode.h, "Names"): its fields are
 * walked again from rec (the record's start) for the string elements; the
 * keys come from s, as read_record() read them for the flows' app_id and
 * interfaces. */
static void apply_names(decode_exporter *ex, const tpl *t, cf_cursor rec, const rec_scratch *s)
{
    enum { APP_NAME, APP_DESC, IF_NAME, IF_DESC, N_STR };
    const uint8_t *str[N_STR] = {0};
    size_t str_len[N_STR] = {0};
    bool has[N_STR] = {0}, scope_if = false;
    uint64_t scope_if_v = 0;
    for (size_t i = 0; i < t->n_fields; i++) {
        const tpl_field *f = &t->fields[i];
        size_t len;
        cf_cursor v;
        if (!tpl_field_len(f, &rec, &len) || !cf_sub(&rec, len, &v))
            return; /* not reached: read_record() walked the same bytes */
        if (f->pen)
            continue;
        if (t->proto == TPL_PROTO_V9 && i < t->n_scope) {
            /* v9 scope type 2 is "Interface": its value is the ifIndex */
            if (f->id == 2 && len >= 1 && len <= 8 && !scope_if) {
                scope_if = true;
                scope_if_v = read_uint(v.p, len);
            }
            continue;
        }
        int k = f->id == 96 ? APP_NAME : f->id == 94 ? APP_DESC : f->id == 82 ? IF_NAME : f->id == 83 ? IF_DESC : -1;
        if (k < 0 || has[k])
            continue;
        has[k] = true;
        str[k] = v.p;
        str_len[k] = len;
    }
    if (!has[APP_NAME] && !has[APP_DESC] && !has[IF_NAME] && !has[IF_DESC])
        return;
    decode_stat_add(&ex->tpl_stats.names_records, 1);
    char b[N_STR][FLOW_NAME_MAX_TEXT + 1];
    const char *txt[N_STR];
    for (int k = 0; k < N_STR; k++)
        txt[k] = name_text(str[k], str_len[k], has[k], b[k], sizeof(b[k]));
    if (has[APP_NAME] || has[APP_DESC])
        name_entry(ex, FLOW_NAME_APP, s->seen[A_APP_ID], (uint32_t)s->u[A_APP_ID], txt[APP_NAME], txt[APP_DESC]);
    if (has[IF_NAME] || has[IF_DESC]) {
        bool has_key = s->seen[A_IN_IF] || s->seen[A_OUT_IF] || scope_if;
        uint64_t key = s->seen[A_IN_IF] ? s->u[A_IN_IF] : s->seen[A_OUT_IF] ? s->u[A_OUT_IF] : scope_if_v;
        name_entry(ex, FLOW_NAME_IF, has_key, (uint32_t)key, txt[IF_NAME], txt[IF_DESC]);
    }
}

/* The records of an options data set (n of them, checked to tile p, len):
 * sampler intervals, clocks and names.  Read field by field whatever the
 * template, as options records are few; data records never come here. */
static void options_set(const tpl_out *out, const tpl_msg_info *info, const tpl *t, const uint8_t *p, size_t len,
                        size_t n)
{
    cf_cursor c = cf_cursor_make(p, len);
    rec_scratch s;
    memset(&s, 0, sizeof(s));
    for (size_t i = 0; i < n; i++) {
        cf_cursor start = c;
        if (!read_record(out, t, &c, &s))
            break; /* not reached: tpl_count_records walked the same bytes */
        apply_options(out, info, &s);
        apply_names(out->ex, t, start, &s);
    }
}

cf_err tpl_decode_set(const tpl_out *out, const tpl_msg_info *info, const tpl *t,
                      const uint8_t *p, size_t len, size_t *n_records)
{
    size_t n;
    if (!tpl_count_records(t, p, len, &n)) {
        decode_stat_add(&out->ex->tpl_stats.bad_data_sets, 1);
        return CF_ERR_MALFORMED;
    }
    if (t->options) {
        options_set(out, info, t, p, len, n);
        if (n_records)
            *n_records = n;
        return CF_OK;
    }
    uint8_t path = out->ex->tpl->test_path;
    if (t->fast && path == TPL_PATH_NORMAL) {
        tpl_fast_decode_set(out, info, t, p, len, n);
        if (n_records)
            *n_records = n;
        return CF_OK;
    }
    cf_cursor c = cf_cursor_make(p, len);
    rec_scratch s;
    memset(&s, 0, sizeof(s));
    bool fixed = !t->has_varlen && path != TPL_PATH_FIELDS;
    if (fixed)
        fixed_begin(out->ex, t, n, &s);
    size_t emitted = 0;
    flow_record rec;
    bool reuse = fixed && !s.frame_op;
    for (size_t i = 0; i < n; i++) {
        if (fixed)
            read_fixed(t, p + (size_t)i * t->min_len, &s);
        else if (!read_record(out, t, &c, &s))
            break; /* not reached: tpl_count_records walked the same bytes */
        if (reuse && i > 0)
            reuse_record(&rec);
        else
            memset(&rec, 0, sizeof(rec));
        build_flow(out, info, &s, &rec);
        if (out->emit)
            out->emit(out->ctx, &rec);
        emitted++;
    }
    decode_stat_add(&out->ex->stats.records, emitted);
    if (n_records)
        *n_records = n;
    return CF_OK;
}
