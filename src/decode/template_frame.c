/*
 * decode/template_frame.c - addresses from an IPFIX dataLinkFrameSection
 * (RFC 7133, IE 315): the first bytes of a sampled layer-2 frame, which some
 * exporters (Juniper) send instead of the flow keys.
 *
 * Reads Ethernet II, any number of 802.1Q / 802.1ad tags and an MPLS label
 * stack, then the outermost IPv4 or IPv6 header (IPv6 extension headers
 * hop-by-hop, routing, fragment and destination options are skipped to find
 * the upper-layer protocol).  Ports are read when that protocol is TCP, UDP
 * or SCTP and the section holds them (and, for IPv4, the packet is not a
 * later fragment).  Every read is bounds checked; a section cut anywhere
 * yields what was complete before the cut, or nothing.
 */
#include "decode/template.h"

#include <string.h>

bool tpl_frame_addresses(const uint8_t *frame, size_t len, flow_record *rec);

enum {
    ETH_IPV4 = 0x0800,
    ETH_IPV6 = 0x86dd,
    ETH_VLAN = 0x8100,
    ETH_QINQ = 0x88a8,
    ETH_MPLS = 0x8847,
    ETH_MPLS_MC = 0x8848,
};

static void read_ports(cf_cursor *c, uint8_t proto, flow_record *rec)
{
    uint16_t sp, dp;
    if ((proto == 6 || proto == 17 || proto == 132) && cf_read_be16(c, &sp) && cf_read_be16(c, &dp)) {
        rec->src_port = sp;
        rec->dst_port = dp;
    }
}

static bool read_ipv4(cf_cursor c, flow_record *rec)
{
    uint8_t vihl, proto;
    uint16_t frag;
    uint32_t src, dst;
    if (!cf_read_u8(&c, &vihl) || (vihl >> 4) != 4 || (vihl & 0x0f) < 5 || !cf_skip(&c, 5) ||
        !cf_read_be16(&c, &frag) || !cf_skip(&c, 1) || !cf_read_u8(&c, &proto) || !cf_skip(&c, 2) ||
        !cf_read_be32(&c, &src) || !cf_read_be32(&c, &dst))
        return false;
    flow_set_v4(rec, src, dst);
    rec->proto = proto;
    if ((frag & 0x1fffu) == 0 && cf_skip(&c, (size_t)((vihl & 0x0f) - 5) * 4))
        read_ports(&c, proto, rec);
    return true;
}

static bool read_ipv6(cf_cursor c, flow_record *rec)
{
    uint8_t v, next;
    if (!cf_read_u8(&c, &v) || (v >> 4) != 6 || !cf_skip(&c, 5) || !cf_read_u8(&c, &next) ||
        !cf_skip(&c, 1) || c.left < 32)
        return false;
    rec->family = 6;
    memcpy(rec->src_addr, c.p, 16);
    memcpy(rec->dst_addr, c.p + 16, 16);
    cf_skip(&c, 32);
    /* At most 8 extension headers: each has a length, so this ends anyway. */
    for (int i = 0; i < 8 && (next == 0 || next == 43 || next == 44 || next == 60); i++) {
        uint8_t nh, hlen;
        if (!cf_read_u8(&c, &nh) || !cf_read_u8(&c, &hlen))
            break;
        size_t skip = next == 44 ? 6 : (size_t)hlen * 8 + 6;
        next = nh;
        if (!cf_skip(&c, skip)) {
            rec->proto = next;
            return true;
        }
    }
    rec->proto = next;
    read_ports(&c, next, rec);
    return true;
}

bool tpl_frame_addresses(const uint8_t *frame, size_t len, flow_record *rec)
{
    cf_cursor c = cf_cursor_make(frame, len);
    uint16_t type;
    if (!cf_skip(&c, 12) || !cf_read_be16(&c, &type))
        return false;
    for (int tags = 0; (type == ETH_VLAN || type == ETH_QINQ) && tags < 8; tags++)
        if (!cf_skip(&c, 2) || !cf_read_be16(&c, &type))
            return false;
    if (type == ETH_MPLS || type == ETH_MPLS_MC) {
        uint32_t label = 0;
        for (int n = 0; n < 16 && !(label & 0x100u); n++)
            if (!cf_read_be32(&c, &label))
                return false;
        if (!(label & 0x100u) || c.left < 1)
            return false;
        type = (c.p[0] >> 4) == 4 ? ETH_IPV4 : (c.p[0] >> 4) == 6 ? ETH_IPV6 : 0;
    }
    if (type == ETH_IPV4)
        return read_ipv4(c, rec);
    if (type == ETH_IPV6)
        return read_ipv6(c, rec);
    return false;
}
