/*
 * decode/template_fast.c - the fast path of NetFlow v9 / IPFIX data
 * records.
 *
 * Most data templates have only fixed-length fields whose values go to the
 * flow_record as they are: addresses, ports, counters, interfaces, times in
 * one encoding.  For such a template tpl_fast_compile() turns the ops of
 * tpl_compile() into a plan (tpl_fop steps, template.h) that decides once,
 * per template, everything the general path (template_record.c: read_fixed
 * or read_record, then build_flow) decides per record: which of several
 * alternative elements gives a value (the first present counter, VLAN, MAC,
 * time encoding, ...), the address family, which members are written at
 * all.  A data set is then decoded as:
 *
 *   per set:    a flow_record with every member that is the same for all
 *               records (exporter, domain, protocol, family, IPv4-mapped
 *               prefixes, sampling, flags, zero for what the template lacks);
 *               the set's statistics (enterprise values, biflows, unknown
 *               sampling) counted once for its n records;
 *   per record: integer steps by destination width (a big-endian 8-byte load
 *               and a shift, no loop or switch per field), address copies, a
 *               few value-dependent steps (next hops, forwarding status,
 *               application id), then ICMP type/code and the two times, and
 *               the counters scaled by the sampling interval.
 *
 * Every member a step writes is written for every record, and no step writes
 * a member that the per-set record holds, so reusing that record between
 * records leaves nothing stale.  The results are exactly those of the
 * general path (tests/decode/test_nf9_paths.c compares them record by record
 * on every capture and on crafted templates).
 *
 * Templates that keep the general path: variable-length fields, options
 * templates, records longer than TPL_FAST_MAX_RECORD, a dataLinkFrameSection,
 * sampling elements in the record itself (34, 50, 305, 306, 309, 310), and
 * IPFIX flowStart/EndSysUpTime as the chosen time (its boot time needs the
 * domain state per record).
 */
#include "decode/template.h"
#include "decode/decode_int.h"
#include "core/clones.h"

#include <stddef.h>
#include <string.h>

/* Where a record is decoded: the flow_record that is emitted, then values
 * that are combined after the steps. */
typedef struct fast_out {
    flow_record rec;
    uint64_t aux[TPL_FAST_N_AUX];
} fast_out;

enum { AUX_FIRST, AUX_LAST, AUX_ICMP_TC, AUX_ICMP_TYPE, AUX_ICMP_CODE, AUX_SAMPLER };

#define REC_OFF(m) ((uint16_t)offsetof(fast_out, rec.m))
#define AUX_OFF(k) ((uint16_t)(offsetof(fast_out, aux) + 8u * (k)))

/* tpl.fast_flags */
enum {
    F_V4 = 1u << 0,          /* IPv4 source and/or destination: family 4, mapped addresses */
    F_V6 = 1u << 1,          /* IPv6 ones only: family 6 */
    F_NAT_SRC4 = 1u << 2,    /* nat_src_addr is IPv4-mapped */
    F_NAT_DST4 = 1u << 3,
    F_HAS_DST_PORT = 1u << 4,
    F_ICMP_TC = 1u << 5,     /* ICMP type/code from icmpTypeCode (32/139) */
    F_ICMP_TYPECODE = 1u << 6, /* ... else from icmpType/Code (176-179); else the dst port */
    F_SAMPLER_ID = 1u << 7,  /* the record names its sampler (48/302) */
};

/* tpl.fast_time[]: how first_ms (0) and last_ms (1) are made from their
 * aux slot. */
enum { T_NONE, T_MS, T_S, T_NTP, T_DUS, T_UP9, T_EXPORT, T_SAME };

/* tpl_fop.kind of special steps */
enum { S_NH4, S_FWD_STATUS, S_APP_ID };

#define NO_ALT 0xffffu

/* Integer elements that go to a member as they are (truncated to it). */
typedef struct direct {
    uint8_t action;
    uint8_t width;
    uint16_t dst;
} direct;

static const direct directs[] = {
    {A_SRC_PORT, 2, REC_OFF(src_port)},   {A_DST_PORT, 2, REC_OFF(dst_port)},
    {A_PROTO, 1, REC_OFF(proto)},         {A_TCP_FLAGS, 1, REC_OFF(tcp_flags)},
    {A_TOS, 1, REC_OFF(tos)},             {A_IN_IF, 4, REC_OFF(in_if)},
    {A_OUT_IF, 4, REC_OFF(out_if)},       {A_SRC_AS, 4, REC_OFF(src_as)},
    {A_DST_AS, 4, REC_OFF(dst_as)},       {A_SRC_MASK, 1, REC_OFF(src_mask)},
    {A_DST_MASK, 1, REC_OFF(dst_mask)},   {A_DIRECTION, 1, REC_OFF(direction)},
    {A_ENGINE_TYPE, 1, REC_OFF(engine_type)}, {A_ENGINE_ID, 1, REC_OFF(engine_id)},
    {A_NAT_SRC_PORT, 2, REC_OFF(nat_src_port)}, {A_NAT_DST_PORT, 2, REC_OFF(nat_dst_port)},
    {A_FW_EVENT, 1, REC_OFF(fw_event)},
};

/* Whether the fast path knows what the general path does with a value of
 * action a (true), or a leaves the template on the general path (false).
 * A switch without default: a new action must be placed here. */
static bool fast_known(enum tpl_action a)
{
    if (a > A_MPLS1 && a < A_MPLS10)
        return true;
    switch (a) {
    case A_FRAME:
    case A_SAMPLING_INTERVAL: case A_SAMPLER_RANDOM: case A_PKT_INTERVAL: case A_PKT_SPACE:
    case A_SAMPLING_SIZE: case A_SAMPLING_POP:
    case A_N:
        return false;
    case A_SKIP: case A_ENTERPRISE: case A_REVERSE:
    case A_SRC4: case A_DST4: case A_SRC6: case A_DST6: case A_NH4: case A_NH6: case A_BGPNH4:
    case A_BGPNH6: case A_SRC_PORT: case A_DST_PORT: case A_PROTO: case A_TCP_FLAGS: case A_TOS:
    case A_BYTES: case A_PKTS: case A_BYTES_INIT: case A_PKTS_INIT: case A_BYTES_POST:
    case A_PKTS_POST: case A_BYTES_TOTAL: case A_PKTS_TOTAL: case A_BYTES_L2:
    case A_IN_IF: case A_OUT_IF: case A_SRC_AS: case A_DST_AS: case A_SRC_MASK: case A_DST_MASK:
    case A_SRC_VLAN: case A_DST_VLAN: case A_DOT1Q_VLAN: case A_POST_DOT1Q_VLAN:
    case A_SRC_MAC: case A_DST_MAC: case A_POST_SRC_MAC: case A_POST_DST_MAC:
    case A_ICMP_TC: case A_ICMP_TYPE: case A_ICMP_CODE:
    case A_DIRECTION: case A_FWD_STATUS: case A_ENGINE_TYPE: case A_ENGINE_ID: case A_SAMPLER_ID:
    case A_FIRST_UPTIME: case A_LAST_UPTIME: case A_START_S: case A_END_S: case A_START_MS:
    case A_END_MS: case A_START_US: case A_END_US: case A_START_NS: case A_END_NS:
    case A_START_DUS: case A_END_DUS: case A_SYS_INIT_MS:
    case A_OBS_S: case A_OBS_MS: case A_OBS_US: case A_OBS_NS:
    case A_MPLS1: case A_MPLS10: /* and the labels between, below */
    case A_NAT_SRC4: case A_NAT_DST4: case A_NAT_SRC6: case A_NAT_DST6: case A_NAT_SRC_PORT:
    case A_NAT_DST_PORT: case A_FW_EVENT: case A_APP_ID:
        return true;
    }
    return false;
}

/* ---- compiling the plan ---------------------------------------------------- */

/* The plan being built: steps in template order with their group. */
typedef struct plan {
    const tpl_op *by[A_N]; /* the op of each action present (NULL: absent) */
    tpl_fop step[A_N];
    uint8_t group[A_N];
    size_t n;
    uint32_t reach;
    bool ok;
} plan;

static void add_step(plan *pl, uint8_t group, const tpl_op *o, uint16_t dst, uint8_t kind, uint16_t alt)
{
    if (pl->n == A_N) {
        pl->ok = false; /* not reached: at most one step per action */
        return;
    }
    tpl_fop *f = &pl->step[pl->n];
    f->src = (uint16_t)o->off;
    f->dst = dst;
    f->shift = 0;
    f->kind = kind;
    f->alt = alt;
    pl->group[pl->n++] = group;
}

/* An integer step: op o (an integer of 1..8 bytes, or a fixed encoding read
 * as one) to a member of width bytes at dst. */
static void add_int(plan *pl, const tpl_op *o, uint8_t width, uint16_t dst)
{
    if (o->len < 1 || o->len > 8 || o->kind == K_APP_ID || o->kind == K_FRAME) {
        pl->ok = false;
        return;
    }
    uint8_t g = width == 1 ? TPL_FG_U8 : width == 2 ? TPL_FG_U16 : width == 4 ? TPL_FG_U32 : TPL_FG_U64;
    add_step(pl, g, o, dst, 0, 0);
    pl->step[pl->n - 1].shift = (uint8_t)(64 - 8 * o->len);
    if (o->off + 8 > pl->reach)
        pl->reach = o->off + 8;
}

/* The op of the first present of actions a, b (b may be A_SKIP). */
static const tpl_op *first_op(const plan *pl, uint8_t a, uint8_t b)
{
    return pl->by[a] ? pl->by[a] : b != A_SKIP ? pl->by[b] : NULL;
}

/* Source and destination addresses, next hops, NAT addresses. */
static uint16_t plan_addresses(plan *pl)
{
    uint16_t flags = 0;
    if (pl->by[A_SRC4] || pl->by[A_DST4]) {
        /* flow_set_v4(): both members mapped, 0.0.0.0 for the absent one;
         * IPv6 values of the same record are overwritten, so not read */
        flags |= F_V4;
        if (pl->by[A_SRC4])
            add_step(pl, TPL_FG_COPY4, pl->by[A_SRC4], REC_OFF(src_addr) + 12, 0, 0);
        if (pl->by[A_DST4])
            add_step(pl, TPL_FG_COPY4, pl->by[A_DST4], REC_OFF(dst_addr) + 12, 0, 0);
    } else if (pl->by[A_SRC6] || pl->by[A_DST6]) {
        flags |= F_V6;
        if (pl->by[A_SRC6])
            add_step(pl, TPL_FG_COPY16, pl->by[A_SRC6], REC_OFF(src_addr), 0, 0);
        if (pl->by[A_DST6])
            add_step(pl, TPL_FG_COPY16, pl->by[A_DST6], REC_OFF(dst_addr), 0, 0);
    }
    /* next hops: IPv4 0.0.0.0 means absent, then the IPv6 one counts */
    static const struct { uint8_t v4, v6; uint16_t dst; } hops[] = {
        {A_NH4, A_NH6, REC_OFF(next_hop)}, {A_BGPNH4, A_BGPNH6, REC_OFF(bgp_next_hop)}};
    for (size_t i = 0; i < 2; i++) {
        const tpl_op *v4 = pl->by[hops[i].v4], *v6 = pl->by[hops[i].v6];
        if (v4)
            add_step(pl, TPL_FG_SPECIAL, v4, hops[i].dst, S_NH4, v6 ? (uint16_t)v6->off : NO_ALT);
        else if (v6)
            add_step(pl, TPL_FG_COPY16, v6, hops[i].dst, 0, 0);
    }
    /* NAT addresses: an IPv4 one is mapped whatever its value */
    if (pl->by[A_NAT_SRC4]) {
        flags |= F_NAT_SRC4;
        add_step(pl, TPL_FG_COPY4, pl->by[A_NAT_SRC4], REC_OFF(nat_src_addr) + 12, 0, 0);
    } else if (pl->by[A_NAT_SRC6]) {
        add_step(pl, TPL_FG_COPY16, pl->by[A_NAT_SRC6], REC_OFF(nat_src_addr), 0, 0);
    }
    if (pl->by[A_NAT_DST4]) {
        flags |= F_NAT_DST4;
        add_step(pl, TPL_FG_COPY4, pl->by[A_NAT_DST4], REC_OFF(nat_dst_addr) + 12, 0, 0);
    } else if (pl->by[A_NAT_DST6]) {
        add_step(pl, TPL_FG_COPY16, pl->by[A_NAT_DST6], REC_OFF(nat_dst_addr), 0, 0);
    }
    return flags;
}

/* Counters, layer 2, MPLS and the other plain integers. */
static uint16_t plan_integers(plan *pl)
{
    uint16_t flags = 0;
    for (size_t i = 0; i < sizeof(directs) / sizeof(directs[0]); i++)
        if (pl->by[directs[i].action])
            add_int(pl, pl->by[directs[i].action], directs[i].width, directs[i].dst);
    for (int i = 0; i < 10; i++)
        if (pl->by[A_MPLS1 + i])
            add_int(pl, pl->by[A_MPLS1 + i], 4, (uint16_t)(REC_OFF(mpls) + 4 * i));
    static const uint8_t pkts[] = {A_PKTS, A_PKTS_INIT, A_PKTS_POST, A_PKTS_TOTAL};
    static const uint8_t bytes[] = {A_BYTES, A_BYTES_INIT, A_BYTES_POST, A_BYTES_TOTAL, A_BYTES_L2};
    for (size_t i = 0; i < sizeof(pkts); i++)
        if (pl->by[pkts[i]]) {
            add_int(pl, pl->by[pkts[i]], 8, REC_OFF(packets));
            break;
        }
    for (size_t i = 0; i < sizeof(bytes); i++)
        if (pl->by[bytes[i]]) {
            add_int(pl, pl->by[bytes[i]], 8, REC_OFF(bytes));
            break;
        }
    const tpl_op *o;
    if ((o = first_op(pl, A_SRC_MAC, A_POST_SRC_MAC)))
        add_int(pl, o, 8, REC_OFF(src_mac));
    if ((o = first_op(pl, A_DST_MAC, A_POST_DST_MAC)))
        add_int(pl, o, 8, REC_OFF(dst_mac));
    if ((o = first_op(pl, A_SRC_VLAN, A_DOT1Q_VLAN)))
        add_int(pl, o, 2, REC_OFF(src_vlan));
    if ((o = first_op(pl, A_DST_VLAN, A_POST_DOT1Q_VLAN)))
        add_int(pl, o, 2, REC_OFF(dst_vlan));
    if ((o = pl->by[A_FWD_STATUS])) {
        add_int(pl, o, 1, REC_OFF(fwd_status)); /* checks the length */
        pl->group[pl->n - 1] = TPL_FG_SPECIAL;
        pl->step[pl->n - 1].kind = S_FWD_STATUS;
    }
    if ((o = pl->by[A_APP_ID]))
        add_step(pl, TPL_FG_SPECIAL, o, REC_OFF(app_id), S_APP_ID, o->len);
    if (pl->by[A_DST_PORT])
        flags |= F_HAS_DST_PORT;
    if ((o = pl->by[A_ICMP_TC])) {
        flags |= F_ICMP_TC;
        add_int(pl, o, 8, AUX_OFF(AUX_ICMP_TC));
    } else if (pl->by[A_ICMP_TYPE] || pl->by[A_ICMP_CODE]) {
        flags |= F_ICMP_TYPECODE;
        if (pl->by[A_ICMP_TYPE])
            add_int(pl, pl->by[A_ICMP_TYPE], 8, AUX_OFF(AUX_ICMP_TYPE));
        if (pl->by[A_ICMP_CODE])
            add_int(pl, pl->by[A_ICMP_CODE], 8, AUX_OFF(AUX_ICMP_CODE));
    }
    if ((o = pl->by[A_SAMPLER_ID])) {
        flags |= F_SAMPLER_ID;
        add_int(pl, o, 8, AUX_OFF(AUX_SAMPLER));
    }
    return flags;
}

/* How the first (end 0) or last (end 1) time is made, as pick_time() in
 * template_record.c chooses it; the value read goes to aux slot `end`.
 * T_NONE when the template has none of its elements. */
static uint8_t plan_time(plan *pl, const tpl *t, int end)
{
    static const struct { uint8_t a[2]; uint8_t kind; } order[] = {
        {{A_START_MS, A_END_MS}, T_MS},     {{A_START_S, A_END_S}, T_S},
        {{A_START_US, A_END_US}, T_NTP},    {{A_START_NS, A_END_NS}, T_NTP},
        {{A_START_DUS, A_END_DUS}, T_DUS},  {{A_FIRST_UPTIME, A_LAST_UPTIME}, T_UP9},
    };
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        const tpl_op *o = pl->by[order[i].a[end]];
        if (!o)
            continue;
        if (order[i].kind == T_UP9 && t->proto != TPL_PROTO_V9) {
            pl->ok = false; /* IPFIX: boot time from the domain, per record */
            return T_NONE;
        }
        add_int(pl, o, 8, AUX_OFF(end ? AUX_LAST : AUX_FIRST));
        return order[i].kind;
    }
    return T_NONE;
}

/* Both ends: when only one is known the other equals it; when neither is,
 * the first observation time present, else the export time. */
static void plan_times(plan *pl, tpl *t)
{
    uint8_t first = plan_time(pl, t, 0), last = plan_time(pl, t, 1);
    if (first == T_NONE && last == T_NONE) {
        static const struct { uint8_t a, kind; } obs[] = {
            {A_OBS_MS, T_MS}, {A_OBS_S, T_S}, {A_OBS_US, T_NTP}, {A_OBS_NS, T_NTP}};
        first = T_EXPORT;
        for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
            if (pl->by[obs[i].a]) {
                add_int(pl, pl->by[obs[i].a], 8, AUX_OFF(AUX_FIRST));
                first = obs[i].kind;
                break;
            }
        last = T_SAME;
    } else if (first == T_NONE) {
        first = T_SAME;
    } else if (last == T_NONE) {
        last = T_SAME;
    }
    t->fast_time[0] = first;
    t->fast_time[1] = last;
}

/* Turns *dst, an offset in fast_out, into the column it names (template.h)
 * and adds the field to *vary; false when it falls in no field. */
static bool column_dst(uint16_t *dst, uint64_t *vary)
{
    size_t off = *dst;
    if (off >= offsetof(fast_out, aux)) {
        *dst = (uint16_t)(TPL_FAST_AUX << 8 | (off - offsetof(fast_out, aux)) / 8);
        return true;
    }
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        if (off >= f->offset && off < (size_t)f->offset + f->width) {
            *dst = (uint16_t)(f->id << 8 | (off - f->offset));
            *vary |= FLOW_BATCH_BIT(f->id);
            return true;
        }
    }
    return false;
}

void tpl_fast_compile(tpl *t)
{
    t->fast = 0;
    if (t->options || t->has_varlen || t->min_len == 0 || t->min_len > TPL_FAST_MAX_RECORD)
        return;
    plan pl;
    memset(&pl, 0, sizeof(pl));
    pl.ok = true;
    const tpl_op *ops = tpl_ops(t);
    for (size_t k = 0; k < t->n_ops; k++) {
        if (ops[k].action >= A_N || !fast_known((enum tpl_action)ops[k].action))
            return;
        pl.by[ops[k].action] = &ops[k];
    }
    uint16_t flags = plan_addresses(&pl);
    flags |= plan_integers(&pl);
    plan_times(&pl, t);
    if (!pl.ok || pl.n > t->n_fields)
        return;
    /* store the steps grouped, each group in template order, with their
     * destinations as columns */
    tpl_fop *out = (tpl_fop *)(void *)(tpl_ops(t) + t->n_fields);
    size_t k = 0;
    uint64_t vary = 0;
    for (uint8_t g = 0; g < TPL_FG_N; g++) {
        size_t in_group = 0;
        for (size_t i = 0; i < pl.n; i++)
            if (pl.group[i] == g) {
                out[k] = pl.step[i];
                if (!column_dst(&out[k].dst, &vary))
                    return;
                k++;
                in_group++;
            }
        t->fast_n[g] = (uint8_t)in_group;
    }
    t->fast_vary = vary;
    t->fast_flags = flags;
    t->fast_reach = (uint16_t)pl.reach;
    t->fast = 1;
}

/* ---- decoding a set ------------------------------------------------------------ */

/* The 8 bytes at p as a big-endian number. */
static inline uint64_t load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void store16(uint8_t *o, uint16_t v) { memcpy(o, &v, 2); }
static inline void store32(uint8_t *o, uint32_t v) { memcpy(o, &v, 4); }
static inline void store64(uint8_t *o, uint64_t v) { memcpy(o, &v, 8); }

/* Records decoded per chunk: the aux values of a chunk stay in L1. */
#define CHUNK 128

/* Where the chunk's values go: the column base of each step's destination
 * (row 0 of the chunk) and its width. */
typedef struct chunk_out {
    flow_batch *b;
    uint32_t row;                    /* first batch row of the chunk */
    uint64_t aux[TPL_FAST_N_AUX][CHUNK];
} chunk_out;

/* Row i of the chunk for step destination dst is at base + i * width. */
static inline uint8_t *dst_base(chunk_out *co, uint16_t dst, size_t i0, unsigned *width)
{
    unsigned col = dst >> 8, off = dst & 0xffu;
    if (col == TPL_FAST_AUX) {
        *width = 8;
        return (uint8_t *)&co->aux[off][i0];
    }
    unsigned w = flow_field_by_id(col)->width;
    *width = w;
    return co->b->cols[col] + (size_t)(co->row + i0) * w + off;
}

/* The rare steps whose result depends on the value; o is the destination
 * value (its column's row). */
static void special_step(const tpl_fop *f, const uint8_t *r, uint8_t *o)
{
    switch (f->kind) {
    case S_NH4: {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        uint32_t v4;
        memcpy(&v4, r + f->src, 4);
        if (v4) { /* the IPv4-mapped address (flow_addr_from_v4), network order as sent */
            memcpy(o, mapped, 12);
            memcpy(o + 12, r + f->src, 4);
        } else if (f->alt != NO_ALT)
            memcpy(o, r + f->alt, 16);
        else
            memset(o, 0, 16);
        break;
    }
    case S_FWD_STATUS: {
        uint64_t v = load_be64(r + f->src) >> f->shift;
        o[0] = (uint8_t)(v > 0xff ? v >> 24 : v);
        break;
    }
    default: { /* S_APP_ID, RFC 6759: engine << 24 | the selector's last 3 bytes */
        size_t len = f->alt, sel = len - 1 > 3 ? 3 : len - 1;
        uint32_t v = 0;
        for (size_t i = f->src + len - sel; i < f->src + len; i++)
            v = v << 8 | r[i];
        store32(o, (uint32_t)r[f->src] << 24 | v);
        break;
    }
    }
}

/* Runs the steps of t on the m records at r (stride bytes apart) into
 * chunk rows i0 .. i0 + m, one step (one column) at a time. */
CF_CLONES static void run_steps(const tpl *t, const tpl_fop *f, const uint8_t *r, size_t stride, size_t m, chunk_out *co,
                      size_t i0)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    unsigned w;
    const tpl_fop *e = f + t->fast_n[TPL_FG_U8];
    for (; f < e; f++) {
        uint8_t *d = dst_base(co, f->dst, i0, &w);
        const uint8_t *s = r + f->src;
        const unsigned sh = f->shift; /* in a register: the stores could alias *f */
        for (size_t i = 0; i < m; i++)
            d[i] = (uint8_t)(load_be64(s + i * stride) >> sh);
    }
    for (e += t->fast_n[TPL_FG_U16]; f < e; f++) {
        uint8_t *d = dst_base(co, f->dst, i0, &w);
        const uint8_t *s = r + f->src;
        const unsigned sh = f->shift; /* in a register: the stores could alias *f */
        for (size_t i = 0; i < m; i++)
            store16(d + 2 * i, (uint16_t)(load_be64(s + i * stride) >> sh));
    }
    for (e += t->fast_n[TPL_FG_U32]; f < e; f++) {
        uint8_t *d = dst_base(co, f->dst, i0, &w);
        const uint8_t *s = r + f->src;
        const unsigned sh = f->shift; /* in a register: the stores could alias *f */
        for (size_t i = 0; i < m; i++)
            store32(d + 4 * i, (uint32_t)(load_be64(s + i * stride) >> sh));
    }
    for (e += t->fast_n[TPL_FG_U64]; f < e; f++) {
        uint8_t *d = dst_base(co, f->dst, i0, &w);
        const uint8_t *s = r + f->src;
        const unsigned sh = f->shift; /* in a register: the stores could alias *f */
        for (size_t i = 0; i < m; i++)
            store64(d + 8 * i, load_be64(s + i * stride) >> sh);
    }
    for (e += t->fast_n[TPL_FG_COPY4]; f < e; f++) {
        /* an IPv4 address into the last 4 bytes of a mapped one: the
         * prefix is written too (the column varies, every byte is ours) */
        uint8_t *d = dst_base(co, f->dst, i0, &w) - 12;
        const uint8_t *s = r + f->src;
        for (size_t i = 0; i < m; i++) {
            memcpy(d + 16 * i, mapped, 12);
            memcpy(d + 16 * i + 12, s + i * stride, 4);
        }
    }
    for (e += t->fast_n[TPL_FG_COPY16]; f < e; f++) {
        uint8_t *d = dst_base(co, f->dst, i0, &w);
        const uint8_t *s = r + f->src;
        for (size_t i = 0; i < m; i++)
            memcpy(d + 16 * i, s + i * stride, 16);
    }
    for (e += t->fast_n[TPL_FG_SPECIAL]; f < e; f++) {
        uint8_t *d = dst_base(co, f->dst, i0, &w);
        if (f->kind != S_NH4) {
            for (size_t i = 0; i < m; i++)
                special_step(f, r + i * stride, d + (size_t)w * i);
            continue;
        }
        /* an IPv4 next hop as a mapped address for every row, then the
         * rows whose hop is 0.0.0.0 fixed as special_step() does */
        const uint8_t *s = r + f->src;
        for (size_t i = 0; i < m; i++) {
            memcpy(d + 16 * i, mapped, 12);
            memcpy(d + 16 * i + 12, s + i * stride, 4);
        }
        for (size_t i = 0; i < m; i++) {
            uint32_t v4;
            memcpy(&v4, s + i * stride, 4);
            if (__builtin_expect(v4 == 0, 0))
                special_step(f, r + i * stride, d + 16 * i);
        }
    }
}

/* A time of kind k from its value v (T_SAME: 0, the caller copies). */
static inline uint64_t make_time(uint8_t k, uint64_t v, const tpl_msg_info *m)
{
    switch (k) {
    case T_MS: return v;
    case T_S: return v * 1000u;
    case T_NTP: return tpl_ntp_ms(v);
    case T_DUS: {
        uint64_t d = v / 1000u;
        return m->export_ms > d ? m->export_ms - d : 0;
    }
    case T_UP9: {
        /* signed distance modulo 2^32, as pick_time() */
        int64_t d = (int32_t)((uint32_t)v - m->uptime_ms);
        return (int64_t)m->export_ms + d > 0 ? (uint64_t)((int64_t)m->export_ms + d) : 0;
    }
    case T_EXPORT: return m->export_ms;
    default: return 0;
    }
}

/* Times of kind k from aux values v[0 .. m) into the column rows at out. */
CF_CLONES static void make_times(uint8_t k, const uint64_t *v, size_t m, const tpl_msg_info *info, uint8_t *out)
{
    switch (k) { /* the common kinds as their own loops */
    case T_MS:
        memcpy(out, v, 8 * m);
        return;
    case T_UP9:
        for (size_t i = 0; i < m; i++)
            store64(out + 8 * i, make_time(T_UP9, v[i], info));
        return;
    case T_EXPORT: /* no value read */
        for (size_t i = 0; i < m; i++)
            store64(out + 8 * i, info->export_ms);
        return;
    default:
        for (size_t i = 0; i < m; i++)
            store64(out + 8 * i, make_time(k, v[i], info));
        return;
    }
}

/* Sampling rate r (0: unknown) into the flags and sampling of rec. */
static inline uint32_t apply_rate(decode_exporter *ex, uint32_t r, uint64_t n, flow_record *rec)
{
    if (!r) {
        rec->flags = FLOW_F_SAMPLING_UNKNOWN;
        decode_stat_add(&ex->tpl_stats.sampling_unknown, n);
        r = 1;
    } else {
        rec->flags = r > 1 ? FLOW_F_SAMPLED : 0;
    }
    rec->sampling = r;
    return r;
}

/* ICMP type and code (and the destination port when the template has
 * none) of the chunk's rows, as set_l2_and_misc() makes them: the columns
 * are written only when some row is ICMP (else they hold the set's zeros). */
static void fix_icmp(uint16_t flags, chunk_out *co, size_t m)
{
    flow_batch *b = co->b;
    if (!(b->varies & FLOW_BATCH_BIT(FLOW_FIELD_PROTO)))
        return; /* the set's protocol (0): no ICMP */
    const uint8_t *proto = b->cols[FLOW_FIELD_PROTO] + co->row;
    bool any = false;
    for (size_t i = 0; i < m; i++)
        any |= proto[i] == 1 || proto[i] == 58;
    if (!any)
        return;
    uint64_t cols = FLOW_BATCH_BIT(FLOW_FIELD_ICMP_TYPE) | FLOW_BATCH_BIT(FLOW_FIELD_ICMP_CODE);
    if (!(flags & F_HAS_DST_PORT))
        cols |= FLOW_BATCH_BIT(FLOW_FIELD_DST_PORT);
    flow_batch_vary(b, cols);
    uint8_t *type = b->cols[FLOW_FIELD_ICMP_TYPE] + co->row, *code = b->cols[FLOW_FIELD_ICMP_CODE] + co->row;
    uint8_t *port = b->cols[FLOW_FIELD_DST_PORT] + 2 * (size_t)co->row;
    for (size_t i = 0; i < m; i++) {
        uint8_t ty = 0, cd = 0;
        uint16_t dp = 0; /* without a port element: the set's 0 (the rows are ours to write) */
        if (flags & F_HAS_DST_PORT)
            memcpy(&dp, port + 2 * i, 2);
        if (proto[i] == 1 || proto[i] == 58) {
            if (flags & F_ICMP_TC) {
                ty = (uint8_t)(co->aux[AUX_ICMP_TC][i] >> 8);
                cd = (uint8_t)co->aux[AUX_ICMP_TC][i];
            } else if (flags & F_ICMP_TYPECODE) {
                ty = (uint8_t)co->aux[AUX_ICMP_TYPE][i];
                cd = (uint8_t)co->aux[AUX_ICMP_CODE][i];
            } else {
                ty = (uint8_t)(dp >> 8);
                cd = (uint8_t)dp;
            }
            if (!(flags & F_HAS_DST_PORT))
                store16(port + 2 * i, (uint16_t)(ty << 8 | cd));
        } else if (!(flags & F_HAS_DST_PORT)) {
            store16(port + 2 * i, 0);
        }
        type[i] = ty;
        code[i] = cd;
    }
}

/* packets and bytes of the chunk's rows times rate (when the template has them). */
static void scale_counters(flow_batch *b, uint32_t row, size_t m, uint32_t rate)
{
    static const flow_field_id ids[2] = {FLOW_FIELD_PACKETS, FLOW_FIELD_BYTES};
    for (int k = 0; k < 2; k++) {
        if (!(b->varies & FLOW_BATCH_BIT(ids[k])) || rate == 1)
            continue;
        uint8_t *c = b->cols[ids[k]] + 8 * (size_t)row;
        for (size_t i = 0; i < m; i++) {
            uint64_t v;
            memcpy(&v, c + 8 * i, 8);
            v *= rate;
            memcpy(c + 8 * i, &v, 8);
        }
    }
}

/* Per record sampling (the record names its sampler): sampling, flags and
 * the counters of each row. */
static void per_record_rates(decode_exporter *ex, const tpl_msg_info *info, chunk_out *co, size_t m)
{
    flow_batch *b = co->b;
    for (size_t i = 0; i < m; i++) {
        flow_record r1;
        uint32_t rate = tpl_sampler_rate(ex, info->proto, info->domain, 1, co->aux[AUX_SAMPLER][i]);
        rate = apply_rate(ex, rate ? rate : ex->cfg.sampling_default, 1, &r1);
        size_t row = co->row + i;
        memcpy(b->cols[FLOW_FIELD_SAMPLING] + 4 * row, &r1.sampling, 4);
        memcpy(b->cols[FLOW_FIELD_FLAGS] + 2 * row, &r1.flags, 2);
        scale_counters(b, (uint32_t)row, 1, rate);
    }
}

void tpl_fast_decode_set(const tpl_out *out, const tpl_msg_info *info, const tpl *t, const uint8_t *p,
                         size_t len, size_t n)
{
    decode_exporter *ex = out->ex;
    const uint16_t flags = t->fast_flags;
    flow_record c; /* what is the same for every record */
    memset(&c, 0, sizeof(c));
    if (flags & F_V4) {
        c.family = 4;
        flow_addr_from_v4(c.src_addr, 0);
        flow_addr_from_v4(c.dst_addr, 0);
    } else if (flags & F_V6) {
        c.family = 6;
    }
    if (flags & F_NAT_SRC4)
        flow_addr_from_v4(c.nat_src_addr, 0);
    if (flags & F_NAT_DST4)
        flow_addr_from_v4(c.nat_dst_addr, 0);
    memcpy(c.exporter, ex->addr, 16);
    c.obs_domain = info->domain;
    c.exporter_proto = info->proto == TPL_PROTO_V9 ? FLOW_PROTO_NETFLOW9 : FLOW_PROTO_IPFIX;
    c.received_ms = info->recv_ms;
    /* the sampling interval: per record only when the record names its sampler */
    uint32_t rate = ex->cfg.sampling_override;
    bool rate_per_record = !rate && (flags & F_SAMPLER_ID);
    if (!rate && !rate_per_record) {
        rate = tpl_sampler_rate(ex, info->proto, info->domain, 0, 0);
        if (!rate)
            rate = ex->cfg.sampling_default;
    }
    if (!rate_per_record)
        rate = apply_rate(ex, rate, n, &c);
    if (t->n_enterprise && n)
        decode_stat_add(&ex->tpl_stats.enterprise_fields, (uint64_t)t->n_enterprise * n);
    if (t->reverse && n)
        decode_stat_add(&ex->tpl_stats.biflow_records, n);
    decode_stat_add(&ex->stats.records, n);
    if (!out->room)
        return; /* records only counted */

    uint64_t vary = t->fast_vary | FLOW_BATCH_BIT(FLOW_FIELD_FIRST) | FLOW_BATCH_BIT(FLOW_FIELD_LAST);
    if (rate_per_record)
        vary |= FLOW_BATCH_BIT(FLOW_FIELD_SAMPLING) | FLOW_BATCH_BIT(FLOW_FIELD_FLAGS);
    const tpl_fop *fops = tpl_fops(t);
    const uint8_t tf = t->fast_time[0], tl = t->fast_time[1];
    const size_t rec_len = t->min_len, reach = t->fast_reach;
    /* records whose 8-byte loads would run past the set are read from a copy */
    size_t n_safe = len >= reach ? (len - reach) / rec_len + 1 : 0;
    if (n_safe > n)
        n_safe = n;
    chunk_out co;
    if (flags & F_ICMP_TYPECODE) { /* one of the two may be absent: 0 */
        memset(co.aux[AUX_ICMP_TYPE], 0, sizeof(co.aux[AUX_ICMP_TYPE]));
        memset(co.aux[AUX_ICMP_CODE], 0, sizeof(co.aux[AUX_ICMP_CODE]));
    }
    for (size_t done = 0; done < n;) {
        flow_batch *b = out->room(out->ctx);
        size_t m = n - done;
        if (m > CHUNK)
            m = CHUNK;
        if (m > b->cap - b->n)
            m = b->cap - b->n;
        co.b = b;
        co.row = flow_batch_run(b, &c, vary, m);
        const uint8_t *r = p + done * rec_len;
        size_t safe = done >= n_safe ? 0 : n_safe - done < m ? n_safe - done : m;
        run_steps(t, fops, r, rec_len, safe, &co, 0);
        if (safe < m) {
            /* the loads reach at most 7 bytes past a record: one record
             * of >= 8 bytes, or up to 8 shorter ones */
            uint8_t pad[TPL_FAST_MAX_RECORD + 16];
            size_t tail = (m - safe) * rec_len;
            memcpy(pad, r + safe * rec_len, tail);
            memset(pad + tail, 0, 8);
            run_steps(t, fops, pad, rec_len, m - safe, &co, safe);
        }
        fix_icmp(flags, &co, m);
        uint8_t *first = b->cols[FLOW_FIELD_FIRST] + 8 * (size_t)co.row;
        uint8_t *last = b->cols[FLOW_FIELD_LAST] + 8 * (size_t)co.row;
        if (tf != T_SAME)
            make_times(tf, co.aux[AUX_FIRST], m, info, first);
        if (tl != T_SAME)
            make_times(tl, co.aux[AUX_LAST], m, info, last);
        if (tf == T_SAME)
            memcpy(first, last, 8 * m);
        else if (tl == T_SAME)
            memcpy(last, first, 8 * m);
        if (rate_per_record)
            per_record_rates(ex, info, &co, m);
        else
            scale_counters(b, co.row, m, rate);
        b->n += (uint32_t)m;
        done += m;
    }
}
