/*
 * decode/template.h - NetFlow v9 / IPFIX template machinery, internal to
 * src/decode (netflow9.c, ipfix.c, template*.c).
 *
 * The public contract (what is cached, limits, acceptance, persistence) is
 * in decode.h.  Here: the shapes of the cached state and the functions the
 * two protocol front ends share.
 *
 * Ownership: struct decode_tpl_state hangs off decode_exporter.tpl and owns
 * every template, domain, sampler and pending data set in it; all of it is
 * freed by decode_exporter_free().  A `tpl` returned by tpl_find() stays
 * valid until the next call that adds, replaces or withdraws templates of
 * that exporter.  Single-threaded per exporter, like decode_exporter.
 */
#ifndef CF_DECODE_TEMPLATE_H
#define CF_DECODE_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"
#include "decode/decode.h"

#define TPL_PROTO_V9 9
#define TPL_PROTO_IPFIX 10
#define TPL_VARLEN 0xffffu    /* field length meaning "variable length" */
#define TPL_MIN_DATA_ID 256u  /* lowest template id / data set id */
#define TPL_PEN_REVERSE 29305u /* RFC 5103 reverse information elements */

/* What the record decoder does with a field's value (tpl_field.action),
 * chosen by tpl_compile() from the element id, enterprise number and length
 * (template_record.c has the table of elements). */
enum tpl_action {
    A_SKIP = 0, A_ENTERPRISE, A_REVERSE,
    A_SRC4, A_DST4, A_SRC6, A_DST6, A_NH4, A_NH6, A_BGPNH4, A_BGPNH6,
    A_SRC_PORT, A_DST_PORT, A_PROTO, A_TCP_FLAGS, A_TOS,
    A_BYTES, A_PKTS, A_BYTES_INIT, A_PKTS_INIT, A_BYTES_POST, A_PKTS_POST,
    A_BYTES_TOTAL, A_PKTS_TOTAL, A_BYTES_L2,
    A_IN_IF, A_OUT_IF, A_SRC_AS, A_DST_AS, A_SRC_MASK, A_DST_MASK,
    A_SRC_VLAN, A_DST_VLAN, A_DOT1Q_VLAN, A_POST_DOT1Q_VLAN,
    A_SRC_MAC, A_DST_MAC, A_POST_SRC_MAC, A_POST_DST_MAC,
    A_ICMP_TC, A_ICMP_TYPE, A_ICMP_CODE,
    A_DIRECTION, A_FWD_STATUS, A_ENGINE_TYPE, A_ENGINE_ID,
    A_SAMPLING_INTERVAL, A_SAMPLER_ID, A_SAMPLER_RANDOM, A_PKT_INTERVAL, A_PKT_SPACE,
    A_SAMPLING_SIZE, A_SAMPLING_POP,
    A_FIRST_UPTIME, A_LAST_UPTIME, A_START_S, A_END_S, A_START_MS, A_END_MS, A_START_US,
    A_END_US, A_START_NS, A_END_NS, A_START_DUS, A_END_DUS, A_SYS_INIT_MS,
    A_OBS_S, A_OBS_MS, A_OBS_US, A_OBS_NS, A_FRAME,
    A_MPLS1, A_MPLS10 = A_MPLS1 + 9, /* IEs 70..79, the label stack top first */
    A_NAT_SRC4, A_NAT_DST4, A_NAT_SRC6, A_NAT_DST6, A_NAT_SRC_PORT, A_NAT_DST_PORT,
    A_FW_EVENT, A_APP_ID,
    A_N
};

/* One field of a template. */
typedef struct tpl_field {
    uint16_t id;    /* element id, enterprise bit cleared */
    uint16_t len;   /* bytes, or TPL_VARLEN */
    uint32_t pen;   /* enterprise number; 0 for IANA elements */
    uint8_t action; /* what the record decoder does with it (template_record.c) */
} tpl_field;

/* One step of decoding a record of a template without variable-length
 * fields (tpl_compile): the value at off, len bytes, goes to action.  Only
 * the fields whose value is used get one (the first occurrence of an
 * element, of a suitable length), so a record is decoded without searching
 * or testing anything per field. */
typedef struct tpl_op {
    uint32_t off;   /* byte offset of the value in the record */
    uint16_t len;   /* its length (>= 1) */
    uint8_t action; /* where it goes (template_record.c) */
    uint8_t kind;   /* how it is read: enum tpl_op_kind */
} tpl_op;

/* How a tpl_op reads its value: a big-endian integer of 1, 2, 4, 8 or
 * another length (1..8), a pointer to a fixed encoding (address, MAC, NTP
 * time), an application id, a frame section. */
enum tpl_op_kind { K_U8, K_U16, K_U32, K_U64, K_UINT, K_PTR, K_APP_ID, K_FRAME };

/*
 * The fast plan of a data template (template_fast.c): what tpl_ops say,
 * turned into steps that write straight into a flow_record, grouped by
 * what they do so that a record is decoded by a few short loops without a
 * per-field switch.  Integer steps load the 8 bytes at src as a big-endian
 * number and shift it right (64 - 8 * length); copy steps move 4 or 16
 * bytes as they are; the few value-dependent elements (next hops, forwarding
 * status, application id) are "special" steps.  A destination names a
 * column of the flow_batch the records go to (field id << 8 | byte offset
 * in the field's value: 12 for the IPv4 part of a mapped address) or one of
 * TPL_FAST_N_AUX uint64_t slots for values that are combined after the
 * steps (times, ICMP, sampler id): TPL_FAST_AUX << 8 | slot.
 */
#define TPL_FAST_AUX 0xffu
typedef struct tpl_fop {
    uint16_t src;   /* byte offset of the value in the record */
    uint16_t dst;   /* column and byte offset of the destination (above) */
    uint8_t shift;  /* integer steps: 64 - 8 * value length */
    uint8_t kind;   /* special steps: what to do (template_fast.c) */
    uint16_t alt;   /* special steps: second source offset, or the value length */
} tpl_fop;

/* The groups of tpl_fop, in the order they are stored and run. */
enum tpl_fast_group {
    TPL_FG_U8, TPL_FG_U16, TPL_FG_U32, TPL_FG_U64, /* integers, by destination width */
    TPL_FG_COPY4, TPL_FG_COPY16,                   /* address bytes as they are */
    TPL_FG_SPECIAL,
    TPL_FG_N
};
#define TPL_FAST_N_AUX 6
#define TPL_FAST_MAX_RECORD 1024u /* longer records stay on the general path */

/* A template or options template.  Allocated as one block of
 * tpl_alloc_size(n_fields) bytes: the fields, then room for n_fields ops. */
typedef struct tpl {
    uint8_t proto;    /* TPL_PROTO_V9 or TPL_PROTO_IPFIX */
    uint8_t options;  /* 1 for an options template */
    uint16_t id;      /* >= 256 */
    uint32_t domain;  /* v9 source id / IPFIX observation domain id */
    uint16_t n_scope; /* leading scope fields (options templates) */
    uint16_t n_fields;
    uint32_t min_len; /* record bytes with every variable-length field empty */
    uint8_t has_varlen;
    uint8_t reverse;       /* no varlen: a record carries RFC 5103 reverse elements */
    uint16_t n_ops;        /* no varlen: ops in tpl_ops(t) */
    uint16_t n_enterprise; /* no varlen: enterprise values skipped per record */
    /* fast plan (template_fast.c); fast 0: records take the general path */
    uint8_t fast;
    uint16_t fast_flags;   /* what the per-record step does besides the fops */
    uint8_t fast_time[2];  /* how first_ms and last_ms are made */
    uint16_t fast_reach;   /* bytes from a record's start that the 8-byte loads touch */
    uint8_t fast_n[TPL_FG_N]; /* fops per group */
    uint64_t fast_vary;    /* columns (FLOW_BATCH_BIT) the fops write */
    tpl_field fields[]; /* n_fields, then n_fields ops, then n_fields fops */
} tpl;

/* Bytes to allocate for a template of n_fields fields. */
static inline size_t tpl_alloc_size(size_t n_fields)
{
    return sizeof(tpl) + n_fields * (sizeof(tpl_field) + sizeof(tpl_op) + sizeof(tpl_fop));
}

/* The ops of t (n_ops of them), after its fields. */
static inline const tpl_op *tpl_ops(const tpl *t)
{
    return (const tpl_op *)(const void *)(t->fields + t->n_fields);
}

/* Sequence and clock state of one (protocol, domain) of an exporter. */
typedef struct tpl_domain {
    uint8_t proto;
    uint8_t seq_valid;    /* seq_next is meaningful */
    uint32_t id;
    uint32_t seq_next;    /* sequence expected in the next message */
    uint64_t sys_init_ms; /* IPFIX systemInitTimeMilliseconds from options data; 0 unknown */
    uint64_t init_bound_ms; /* without it: min(export time - flowEndSysUpTime) seen; 0 none */
} tpl_domain;

/* The fast plan of t (its fops, grouped as fast_n says), after its ops. */
static inline const tpl_fop *tpl_fops(const tpl *t)
{
    return (const tpl_fop *)(const void *)(tpl_ops(t) + t->n_fields);
}

/* A sampling interval announced in options data. */
typedef struct tpl_sampler {
    uint8_t proto;
    uint8_t has_id; /* 0: announced without a sampler / selector id */
    uint32_t domain;
    uint64_t id;
    uint32_t rate;  /* >= 1 */
} tpl_sampler;

/* What a data set needs from the message it came in. */
typedef struct tpl_msg_info {
    uint8_t proto;
    uint16_t set_id;
    uint32_t domain;
    uint32_t uptime_ms;  /* v9 sysUptime */
    uint64_t export_ms;  /* header export time */
    uint64_t recv_ms;    /* when the message was received */
} tpl_msg_info;

/* A data set kept until its template arrives. */
typedef struct tpl_pending {
    struct tpl_pending *next;
    tpl_msg_info info;
    size_t len;
    uint8_t data[]; /* the set's records (without the set header) */
} tpl_pending;

/* Which record decoder data sets take (decode_tpl_state.test_path), so that
 * tests can check that all give the same records: the normal choice (fast
 * plan, else compiled ops, else field by field), never the fast plan, or
 * always field by field (the reference). */
enum { TPL_PATH_NORMAL = 0, TPL_PATH_NO_FAST = 1, TPL_PATH_FIELDS = 2 };

struct decode_tpl_state {
    tpl **tpls; /* sorted by tpl_key */
    size_t n_tpls, cap_tpls;
    tpl_domain *domains;
    size_t n_domains, cap_domains;
    tpl_sampler *samplers;
    size_t n_samplers, cap_samplers;
    tpl_pending *pending; /* oldest first */
    size_t pending_bytes;
    flow_names names;     /* application and interface names (max set on first use) */
    bool names_used;      /* names was initialised */
    uint8_t test_path;    /* tests: TPL_PATH_*, which record decoder data sets take */
};

/* Where decoded records go while one message is processed. */
typedef struct tpl_out {
    decode_exporter *ex;
    decode_emit_fn emit;            /* as decode_out */
    flow_batch *(*room)(void *ctx);
    void *ctx;
} tpl_out;

/* The state of ex, allocated on first use.  CF_ERR_NOMEM. */
cf_err tpl_state(decode_exporter *ex, struct decode_tpl_state **out);

/* Effective limits of ex (defaults for zero members). */
void tpl_limits(const decode_exporter *ex, decode_config *out);

const tpl *tpl_find(const decode_exporter *ex, uint8_t proto, uint32_t domain, uint16_t id);

/* The domain entry (created when new); NULL when max_domains is reached
 * (counted) or memory is short. */
tpl_domain *tpl_domain_get(decode_exporter *ex, uint8_t proto, uint32_t domain);

/*
 * Parses one template record from c (a v9 template, v9 options template,
 * IPFIX template or IPFIX options template, per proto and options).  On
 * success: *out is a new template (malloc'ed; NULL for an IPFIX withdrawal,
 * when *withdraw_id is set to the id withdrawn) or NULL with *refused set
 * when a limit refused it (the record was still skipped correctly).
 * CF_ERR_TRUNCATED / CF_ERR_MALFORMED when the record is bad (counted in
 * tpl_stats only when count is true); c is then in an unspecified position.
 */
typedef struct tpl_parse_result {
    tpl *t;               /* new template, owned by the caller; NULL otherwise */
    int withdraw;         /* 1: withdrawal of withdraw_id */
    uint16_t withdraw_id;
    int refused;          /* 1: refused by max_fields */
} tpl_parse_result;
cf_err tpl_parse_record(decode_exporter *ex, uint8_t proto, int options, uint32_t domain,
                        cf_cursor *c, bool count, tpl_parse_result *res);

/* Adds or replaces t (ownership passes to ex) and decodes the data sets
 * waiting for it.  When max_templates is reached a new key is refused (t
 * freed, counted).  CF_ERR_NOMEM (t freed). */
cf_err tpl_add(decode_exporter *ex, tpl *t, const tpl_out *out, uint64_t now_ms);

/* IPFIX withdrawal of one id, or of all (options) templates of a domain. */
void tpl_withdraw(decode_exporter *ex, uint8_t proto, uint32_t domain, uint16_t id);
void tpl_withdraw_all(decode_exporter *ex, uint8_t proto, uint32_t domain, int options);

/* Keeps a copy of a data set whose template is unknown (bounded, counted). */
void tpl_pending_add(decode_exporter *ex, const tpl_msg_info *info, const uint8_t *p, size_t len);
/* Drops pending data sets older than pending_max_ms at now_ms (counted). */
void tpl_pending_expire(decode_exporter *ex, uint64_t now_ms);

/* Records the interval of a sampler (replaces an equal key). */
void tpl_sampler_set(decode_exporter *ex, uint8_t proto, uint32_t domain, int has_id, uint64_t id,
                     uint32_t rate);
/* The interval for a record of (proto, domain) with or without a sampler
 * id, or 0 when unknown (rule in decode.h). */
uint32_t tpl_sampler_rate(const decode_exporter *ex, uint8_t proto, uint32_t domain, int has_id,
                          uint64_t id);

/* Sets the names of (kind, key) from an options record (name / desc NULL:
 * absent), bounded by max_names and counted (decode.h, "Names"). */
void tpl_name_set(decode_exporter *ex, flow_name_kind kind, uint32_t key, const char *name, const char *desc);

/* Sets the what-to-do code of every field of t, its min_len and
 * has_varlen, and (no varlen) its ops (template_record.c).  t must have
 * been allocated with tpl_alloc_size().  False when its records would be
 * empty. */
bool tpl_compile(tpl *t);

/* Builds the fast plan of t (compiled, no varlen) when it has one; sets
 * t->fast (template_fast.c). */
void tpl_fast_compile(tpl *t);

/* Decodes the n records of a data set (p, len) through t's fast plan
 * (t->fast, not an options template), as tpl_decode_set() does. */
void tpl_fast_decode_set(const tpl_out *out, const tpl_msg_info *info, const tpl *t, const uint8_t *p,
                         size_t len, size_t n);

/* NTP 64-bit timestamp (RFC 7011 dateTimeMicro/Nanoseconds) as read
 * big-endian to ms since the epoch (0 before it). */
uint64_t tpl_ntp_ms(uint64_t ntp);

/*
 * Decodes the records of one data set (p, len: after the set header)
 * through t.  First checks that the records tile the set (trailing bytes
 * shorter than a record are padding); when they do not, nothing is emitted,
 * tpl_stats.bad_data_sets is counted and CF_ERR_MALFORMED returned.
 * Otherwise flow records are emitted (options records update the samplers
 * and the domain clock), counted in stats.records, and *n_records (may be
 * NULL) is set to the number of records in the set.
 */
cf_err tpl_decode_set(const tpl_out *out, const tpl_msg_info *info, const tpl *t,
                      const uint8_t *p, size_t len, size_t *n_records);

/* Counts the records of a data set through t without decoding them; false
 * when they do not tile the set. */
bool tpl_count_records(const tpl *t, const uint8_t *p, size_t len, size_t *n);

/* Reads a field's value length at c: fixed, or the variable-length prefix
 * (1 byte, or 255 then 2 bytes).  False when c runs out. */
bool tpl_field_len(const tpl_field *f, cf_cursor *c, size_t *len);

/* One NetFlow v9 packet or IPFIX message after its header. */
typedef struct tpl_msg {
    tpl_msg_info info;   /* set_id is filled per set */
    const uint8_t *sets; /* the bytes after the header */
    size_t len;
    uint32_t v9_count;   /* v9 header count (records of all sets) */
    const char *name;    /* "NetFlow v9" or "IPFIX", for logs */
} tpl_msg;

/*
 * Checks the framing and templates of m (pass 1; rejects the message
 * whole, counted and logged, on failure), then applies its sets in order
 * (pass 2): templates added / withdrawn, data sets decoded or kept pending.
 * On success *n_data is the number of data records (flow + options) read,
 * and *all_counted false when a data set could not be counted (pending).
 * Returns CF_OK, CF_ERR_TRUNCATED, CF_ERR_MALFORMED, CF_ERR_NOMEM.
 */
cf_err tpl_process_message(decode_exporter *ex, const tpl_msg *m, const decode_out *out, uint64_t *n_data,
                           bool *all_counted);

/* Sequence accounting of a (proto, domain) (rule in decode.h): seq is the
 * header's sequence, advance what the next one should be ahead of it;
 * known false makes the next message only set the expectation. */
void tpl_account_sequence(decode_exporter *ex, uint8_t proto, uint32_t domain, uint32_t seq,
                          uint32_t advance, bool known);

/* Frees t; NULL is a no-op. */
void tpl_free(tpl *t);

#endif
