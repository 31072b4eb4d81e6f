/*
 * flow/flow.h - the normalized flow record and the field registry.
 *
 * Where it sits: every decoder (NetFlow v5/v9, IPFIX, sFlow) turns what an
 * exporter sends into flow_record values; the store writes them as columns;
 * the query language, the reports and the output formats read them back.
 * None of those stages knows the others' formats: they meet here.
 *
 * The field registry (flow_fields[]) names every field once: its stable
 * numeric id (the store writes it on disk; an id is never reused), its name
 * (used by the query language and output formats), its type, width and
 * offset in flow_record, and a description.  Adding a field means adding a
 * member to flow_record and one row to the registry in flow.c; the store
 * picks it up as a new column, old segments read it as zero.
 *
 * Conventions:
 *  - Times are milliseconds since the Unix epoch, UTC.
 *  - Addresses are 16 bytes in network order.  IPv4 is held as an
 *    IPv4-mapped IPv6 address (::ffff:a.b.c.d) and `family` is 4; IPv6
 *    addresses are held as they are and `family` is 6.  Next hops and the
 *    exporter address follow the same rule (their family is implied by the
 *    mapped prefix; an all-zero address means absent).
 *  - Counters (packets, bytes) are already multiplied by the sampling
 *    interval; `sampling` keeps the interval used (1 = unsampled or unknown).
 *  - MAC addresses are held in the low 48 bits of a uint64_t, first octet
 *    most significant (00:11:22:33:44:55 is 0x001122334455).
 *  - A field an exporter did not send is zero.
 *
 * Thread safety: the registry is constant; flow_record is a plain value.
 */
#ifndef CF_FLOW_FLOW_H
#define CF_FLOW_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Bits of flow_record.flags: where a record came from and how to read it. */
enum {
    FLOW_F_SAMPLED = 1u << 0,      /* counters were scaled by a sampling interval > 1 */
    FLOW_F_SFLOW = 1u << 1,        /* built from an sFlow packet sample */
    FLOW_F_SAMPLING_UNKNOWN = 1u << 2, /* the exporter's sampling interval was not known */
    FLOW_F_BIFLOW_REVERSE = 1u << 3,   /* the reverse half of an RFC 5103 biflow */
};

/* Export protocol a record came in (flow_record.exporter_proto). */
enum {
    FLOW_PROTO_NETFLOW5 = 5,
    FLOW_PROTO_NETFLOW9 = 9,
    FLOW_PROTO_IPFIX = 10,
    FLOW_PROTO_SFLOW5 = 50,
};

/* Members ordered by size to leave no padding; see the registry in flow.c
 * for the description of each field. */
typedef struct flow_record {
    uint64_t first_ms;      /* time of the first packet */
    uint64_t last_ms;       /* time of the last packet */
    uint64_t packets;       /* packets, scaled by sampling */
    uint64_t bytes;         /* layer-3 bytes, scaled by sampling */
    uint64_t src_mac;       /* source MAC (low 48 bits) */
    uint64_t dst_mac;       /* destination MAC (low 48 bits) */
    uint64_t received_ms;   /* when the collector received the export packet */
    uint8_t src_addr[16];   /* source address (IPv4-mapped when family 4) */
    uint8_t dst_addr[16];   /* destination address */
    uint8_t next_hop[16];   /* IP next hop */
    uint8_t bgp_next_hop[16]; /* BGP next hop */
    uint8_t exporter[16];   /* address the export packet came from */
    uint8_t nat_src_addr[16]; /* source address after NAT (NSEL/NEL, IPFIX 225/281) */
    uint8_t nat_dst_addr[16]; /* destination address after NAT (226/282) */
    uint32_t in_if;         /* input interface (SNMP ifIndex) */
    uint32_t out_if;        /* output interface */
    uint32_t src_as;        /* source AS number */
    uint32_t dst_as;        /* destination AS number */
    uint32_t obs_domain;    /* NetFlow v9 source id / IPFIX observation domain / sFlow sub-agent */
    uint32_t sampling;      /* sampling interval applied to the counters (>= 1) */
    uint32_t mpls[10];      /* MPLS label stack entries, top first, as on the wire:
                             * label << 4 | exp << 1 | bottom-of-stack; 0 = none */
    uint32_t app_id;        /* application id (IPFIX 95): engine << 24 | selector */
    uint16_t src_port;      /* source port (0 when the protocol has none) */
    uint16_t dst_port;      /* destination port (ICMP: type*256+code, as nfdump) */
    uint16_t src_vlan;      /* source VLAN id */
    uint16_t dst_vlan;      /* destination VLAN id */
    uint16_t flags;         /* FLOW_F_* bits */
    uint16_t nat_src_port;  /* source port after NAPT (227) */
    uint16_t nat_dst_port;  /* destination port after NAPT (228) */
    uint8_t family;         /* 4 or 6 */
    uint8_t proto;          /* IP protocol number */
    uint8_t tcp_flags;      /* cumulative TCP flags (FIN=0x01 ... CWR=0x80) */
    uint8_t tos;            /* source type of service / DSCP byte */
    uint8_t src_mask;       /* source prefix length */
    uint8_t dst_mask;       /* destination prefix length */
    uint8_t icmp_type;      /* ICMP / ICMPv6 type (0 when not ICMP) */
    uint8_t icmp_code;      /* ICMP / ICMPv6 code */
    uint8_t direction;      /* 0 ingress, 1 egress (IPFIX flowDirection) */
    uint8_t fwd_status;     /* forwarding status (IPFIX IE 89) */
    uint8_t engine_type;    /* NetFlow v5 engine type */
    uint8_t engine_id;      /* NetFlow v5 engine id */
    uint8_t exporter_proto; /* FLOW_PROTO_* */
    uint8_t fw_event;       /* firewall event (IPFIX 233 / NSEL 40005) */
} flow_record;

/* Value types of fields; the width of each is in the registry. */
typedef enum flow_type {
    FLOW_T_UINT = 1, /* unsigned integer of width 1, 2, 4 or 8 */
    FLOW_T_TIME = 2, /* uint64_t milliseconds since the epoch */
    FLOW_T_ADDR = 3, /* 16-byte address as described above */
    FLOW_T_MAC = 4,  /* uint64_t holding 48 bits */
} flow_type;

/* Stable field ids (on disk; never reuse a value). */
typedef enum flow_field_id {
    FLOW_FIELD_FIRST = 1,
    FLOW_FIELD_LAST = 2,
    FLOW_FIELD_SRC_ADDR = 3,
    FLOW_FIELD_DST_ADDR = 4,
    FLOW_FIELD_FAMILY = 5,
    FLOW_FIELD_SRC_PORT = 6,
    FLOW_FIELD_DST_PORT = 7,
    FLOW_FIELD_PROTO = 8,
    FLOW_FIELD_TCP_FLAGS = 9,
    FLOW_FIELD_TOS = 10,
    FLOW_FIELD_PACKETS = 11,
    FLOW_FIELD_BYTES = 12,
    FLOW_FIELD_IN_IF = 13,
    FLOW_FIELD_OUT_IF = 14,
    FLOW_FIELD_SRC_AS = 15,
    FLOW_FIELD_DST_AS = 16,
    FLOW_FIELD_SRC_MASK = 17,
    FLOW_FIELD_DST_MASK = 18,
    FLOW_FIELD_NEXT_HOP = 19,
    FLOW_FIELD_BGP_NEXT_HOP = 20,
    FLOW_FIELD_SRC_VLAN = 21,
    FLOW_FIELD_DST_VLAN = 22,
    FLOW_FIELD_SRC_MAC = 23,
    FLOW_FIELD_DST_MAC = 24,
    FLOW_FIELD_ICMP_TYPE = 25,
    FLOW_FIELD_ICMP_CODE = 26,
    FLOW_FIELD_DIRECTION = 27,
    FLOW_FIELD_EXPORTER = 28,
    FLOW_FIELD_ENGINE_TYPE = 29,
    FLOW_FIELD_ENGINE_ID = 30,
    FLOW_FIELD_OBS_DOMAIN = 31,
    FLOW_FIELD_SAMPLING = 32,
    FLOW_FIELD_FLAGS = 33,
    FLOW_FIELD_FWD_STATUS = 34,
    FLOW_FIELD_EXPORTER_PROTO = 35,
    FLOW_FIELD_MPLS1 = 36, /* ... FLOW_FIELD_MPLS1 + 9: the ten label stack entries */
    FLOW_FIELD_MPLS10 = 45,
    FLOW_FIELD_NAT_SRC_ADDR = 46,
    FLOW_FIELD_NAT_DST_ADDR = 47,
    FLOW_FIELD_NAT_SRC_PORT = 48,
    FLOW_FIELD_NAT_DST_PORT = 49,
    FLOW_FIELD_FW_EVENT = 50,
    FLOW_FIELD_APP_ID = 51,
    FLOW_FIELD_RECEIVED = 52,
    FLOW_FIELD_MAX_ID = 52, /* highest id in use; at most 63 (field masks are 64-bit) */
} flow_field_id;

typedef struct flow_field {
    flow_field_id id;    /* stable id, written on disk */
    const char *name;    /* snake_case name used by queries and outputs */
    flow_type type;
    uint8_t width;       /* bytes in flow_record: 1, 2, 4, 8 or 16 */
    uint16_t offset;     /* offsetof(flow_record, member) */
    const char *desc;    /* one-line description for docs and --help */
} flow_field;

/* The registry, in id order, and its length. */
extern const flow_field flow_fields[];
extern const size_t flow_n_fields;

/* The field with this id, or NULL (inline: decoders call it per step). */
static inline const flow_field *flow_field_by_id(unsigned id)
{
    return id >= 1 && id <= flow_n_fields ? &flow_fields[id - 1] : NULL;
}
/* The field with this name, or NULL. */
const flow_field *flow_field_by_name(const char *name);

/* Reads an integer field (width 1, 2, 4 or 8) of rec as uint64_t. */
uint64_t flow_get_uint(const flow_record *rec, const flow_field *f);
/* Writes an integer field, truncating v to the field's width. */
void flow_set_uint(flow_record *rec, const flow_field *f, uint64_t v);

/* Address helpers. */
void flow_addr_from_v4(uint8_t out[16], uint32_t v4_host_order);
bool flow_addr_is_v4(const uint8_t addr[16]);
uint32_t flow_addr_v4(const uint8_t addr[16]); /* host order; only when flow_addr_is_v4 */
bool flow_addr_is_zero(const uint8_t addr[16]);
/* Text form: dotted quad for mapped IPv4, RFC 5952 for IPv6.  len >= 46. */
void flow_addr_format(const uint8_t addr[16], char *buf, size_t len);
/* Parses dotted-quad or IPv6 text; CF_ERR_USAGE when it is neither. */
cf_err flow_addr_parse(const char *text, uint8_t out[16], uint8_t *family);

/* Sets family/src/dst of rec from IPv4 addresses in host order. */
void flow_set_v4(flow_record *rec, uint32_t src, uint32_t dst);

#endif
