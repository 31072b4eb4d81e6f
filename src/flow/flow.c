/* flow/flow.c - the field registry and address helpers. */
#include "flow/flow.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define F(id_, name_, type_, member_, desc_)                                                       \
    {FLOW_FIELD_##id_, name_, type_, sizeof(((flow_record *)0)->member_),                          \
     offsetof(flow_record, member_), desc_}

/* One row per MPLS label stack entry n (1..10): "mpls1" ... "mpls10". */
#define MPLS(n)                                                                                    \
    {FLOW_FIELD_MPLS1 + (n) - 1, "mpls" #n, FLOW_T_UINT, sizeof(uint32_t),                         \
     offsetof(flow_record, mpls) + ((n) - 1) * sizeof(uint32_t),                                   \
     "MPLS label stack entry " #n ": label * 16 + exp * 2 + bottom-of-stack bit"}

const flow_field flow_fields[] = {
    F(FIRST, "first", FLOW_T_TIME, first_ms, "time of the first packet of the flow (ms, UTC)"),
    F(LAST, "last", FLOW_T_TIME, last_ms, "time of the last packet of the flow (ms, UTC)"),
    F(SRC_ADDR, "src_addr", FLOW_T_ADDR, src_addr, "source IP address"),
    F(DST_ADDR, "dst_addr", FLOW_T_ADDR, dst_addr, "destination IP address"),
    F(FAMILY, "family", FLOW_T_UINT, family, "address family of src/dst: 4 or 6"),
    F(SRC_PORT, "src_port", FLOW_T_UINT, src_port, "source transport port"),
    F(DST_PORT, "dst_port", FLOW_T_UINT, dst_port, "destination port; ICMP type*256+code"),
    F(PROTO, "proto", FLOW_T_UINT, proto, "IP protocol number"),
    F(TCP_FLAGS, "tcp_flags", FLOW_T_UINT, tcp_flags, "cumulative TCP flags (OR of all packets)"),
    F(TOS, "tos", FLOW_T_UINT, tos, "source type-of-service byte"),
    F(PACKETS, "packets", FLOW_T_UINT, packets, "packets, multiplied by the sampling interval"),
    F(BYTES, "bytes", FLOW_T_UINT, bytes, "layer-3 bytes, multiplied by the sampling interval"),
    F(IN_IF, "in_if", FLOW_T_UINT, in_if, "input interface index"),
    F(OUT_IF, "out_if", FLOW_T_UINT, out_if, "output interface index"),
    F(SRC_AS, "src_as", FLOW_T_UINT, src_as, "source autonomous system"),
    F(DST_AS, "dst_as", FLOW_T_UINT, dst_as, "destination autonomous system"),
    F(SRC_MASK, "src_mask", FLOW_T_UINT, src_mask, "source prefix length"),
    F(DST_MASK, "dst_mask", FLOW_T_UINT, dst_mask, "destination prefix length"),
    F(NEXT_HOP, "next_hop", FLOW_T_ADDR, next_hop, "IP next hop"),
    F(BGP_NEXT_HOP, "bgp_next_hop", FLOW_T_ADDR, bgp_next_hop, "BGP next hop"),
    F(SRC_VLAN, "src_vlan", FLOW_T_UINT, src_vlan, "source VLAN id"),
    F(DST_VLAN, "dst_vlan", FLOW_T_UINT, dst_vlan, "destination VLAN id"),
    F(SRC_MAC, "src_mac", FLOW_T_MAC, src_mac, "source MAC address"),
    F(DST_MAC, "dst_mac", FLOW_T_MAC, dst_mac, "destination MAC address"),
    F(ICMP_TYPE, "icmp_type", FLOW_T_UINT, icmp_type, "ICMP or ICMPv6 type"),
    F(ICMP_CODE, "icmp_code", FLOW_T_UINT, icmp_code, "ICMP or ICMPv6 code"),
    F(DIRECTION, "direction", FLOW_T_UINT, direction, "0 ingress, 1 egress"),
    F(EXPORTER, "exporter", FLOW_T_ADDR, exporter, "address of the exporting router"),
    F(ENGINE_TYPE, "engine_type", FLOW_T_UINT, engine_type, "NetFlow engine type"),
    F(ENGINE_ID, "engine_id", FLOW_T_UINT, engine_id, "NetFlow engine id"),
    F(OBS_DOMAIN, "obs_domain", FLOW_T_UINT, obs_domain,
      "NetFlow v9 source id, IPFIX observation domain or sFlow sub-agent id"),
    F(SAMPLING, "sampling", FLOW_T_UINT, sampling, "sampling interval applied (1 = unsampled)"),
    F(FLAGS, "flags", FLOW_T_UINT, flags, "record flags (FLOW_F_*: sampled, sFlow, ...)"),
    F(FWD_STATUS, "fwd_status", FLOW_T_UINT, fwd_status, "forwarding status"),
    F(EXPORTER_PROTO, "exporter_proto", FLOW_T_UINT, exporter_proto,
      "export protocol: 5, 9, 10 (IPFIX) or 50 (sFlow v5)"),
    MPLS(1), MPLS(2), MPLS(3), MPLS(4), MPLS(5), MPLS(6), MPLS(7), MPLS(8), MPLS(9), MPLS(10),
    F(NAT_SRC_ADDR, "nat_src_addr", FLOW_T_ADDR, nat_src_addr, "source address after NAT"),
    F(NAT_DST_ADDR, "nat_dst_addr", FLOW_T_ADDR, nat_dst_addr, "destination address after NAT"),
    F(NAT_SRC_PORT, "nat_src_port", FLOW_T_UINT, nat_src_port, "source port after NAPT"),
    F(NAT_DST_PORT, "nat_dst_port", FLOW_T_UINT, nat_dst_port, "destination port after NAPT"),
    F(FW_EVENT, "fw_event", FLOW_T_UINT, fw_event, "firewall event (1 created, 2 deleted, 3 denied, ...)"),
    F(APP_ID, "app_id", FLOW_T_UINT, app_id, "application id: classification engine * 2^24 + selector"),
    F(RECEIVED, "received", FLOW_T_TIME, received_ms, "time the collector received the export packet"),
};

const size_t flow_n_fields = sizeof(flow_fields) / sizeof(flow_fields[0]);

_Static_assert(sizeof(flow_fields) / sizeof(flow_fields[0]) == FLOW_FIELD_MAX_ID,
               "every field id has one registry row");
_Static_assert(sizeof(flow_record) % 8 == 0, "flow_record has no tail padding");
_Static_assert(FLOW_FIELD_MAX_ID <= 63, "field masks are 64-bit");

const flow_field *flow_field_by_name(const char *name)
{
    for (size_t i = 0; i < flow_n_fields; i++)
        if (strcmp(flow_fields[i].name, name) == 0)
            return &flow_fields[i];
    return NULL;
}

uint64_t flow_get_uint(const flow_record *rec, const flow_field *f)
{
    const uint8_t *p = (const uint8_t *)rec + f->offset;
    switch (f->width) {
    case 1: return *p;
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    case 8: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
    return 0;
}

void flow_set_uint(flow_record *rec, const flow_field *f, uint64_t v)
{
    uint8_t *p = (uint8_t *)rec + f->offset;
    switch (f->width) {
    case 1: *p = (uint8_t)v; break;
    case 2: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
    case 4: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
    case 8: memcpy(p, &v, 8); break;
    }
}

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void flow_addr_from_v4(uint8_t out[16], uint32_t v4)
{
    memcpy(out, v4_mapped_prefix, 12);
    out[12] = (uint8_t)(v4 >> 24);
    out[13] = (uint8_t)(v4 >> 16);
    out[14] = (uint8_t)(v4 >> 8);
    out[15] = (uint8_t)v4;
}

bool flow_addr_is_v4(const uint8_t addr[16]) { return memcmp(addr, v4_mapped_prefix, 12) == 0; }

uint32_t flow_addr_v4(const uint8_t addr[16])
{
    return ((uint32_t)addr[12] << 24) | ((uint32_t)addr[13] << 16) | ((uint32_t)addr[14] << 8) | addr[15];
}

bool flow_addr_is_zero(const uint8_t addr[16])
{
    static const uint8_t zero[16];
    return memcmp(addr, zero, 16) == 0;
}

void flow_addr_format(const uint8_t addr[16], char *buf, size_t len)
{
    if (flow_addr_is_v4(addr)) {
        snprintf(buf, len, "%u.%u.%u.%u", addr[12], addr[13], addr[14], addr[15]);
        return;
    }
    if (!inet_ntop(AF_INET6, addr, buf, (socklen_t)len) && len)
        buf[0] = '\0';
}

cf_err flow_addr_parse(const char *text, uint8_t out[16], uint8_t *family)
{
    struct in_addr a4;
    if (inet_pton(AF_INET, text, &a4) == 1) {
        flow_addr_from_v4(out, ntohl(a4.s_addr));
        if (family)
            *family = 4;
        return CF_OK;
    }
    uint8_t a6[16];
    if (inet_pton(AF_INET6, text, a6) == 1) {
        memcpy(out, a6, 16);
        if (family)
            *family = 6;
        return CF_OK;
    }
    return CF_ERR_USAGE;
}

void flow_set_v4(flow_record *rec, uint32_t src, uint32_t dst)
{
    rec->family = 4;
    flow_addr_from_v4(rec->src_addr, src);
    flow_addr_from_v4(rec->dst_addr, dst);
}
