/*
 * decode/decode_pkthdr.c - parser of sampled packet headers (see decode_pkthdr.h).
 *
 * Each layer is a function taking a cursor over the bytes left; it reads its
 * header with the checked readers of core/bytes.h, fills its fields and hands
 * the rest to the next layer.  Header layouts (all big-endian):
 *
 *   Ethernet    0 6 dst MAC | 6 6 src MAC | 12 2 ethertype (< 0x0600: 802.3 length)
 *   802.1Q      0 2 TCI (low 12 bits VLAN id) | 2 2 ethertype
 *   MPLS        0 4 label(20) TC(3) S(1) TTL(8), repeated until S = 1
 *   IPv4        0 1 version/IHL | 1 1 TOS | 2 2 total length | 6 2 flags/fragment
 *               offset | 8 1 TTL | 9 1 protocol | 12 4 src | 16 4 dst | options
 *   IPv6        0 4 version/class/label | 4 2 payload length | 6 1 next header |
 *               7 1 hop limit | 8 16 src | 24 16 dst
 *   IPv6 ext    0 1 next header | 1 1 length (8-octet units after the first 8;
 *               AH: 4-octet units minus 2) | fragment: 2 2 offset/flags, 8 bytes
 *   TCP         0 2 src port | 2 2 dst port | 13 1 flags
 *   UDP, SCTP   0 2 src port | 2 2 dst port
 *   ICMP(v6)    0 1 type | 1 1 code
 */
#include "decode/decode_pkthdr.h"

#include <string.h>

#include "core/bytes.h"

enum {
    ETH_IPV4 = 0x0800,
    ETH_IPV6 = 0x86dd,
    ETH_VLAN = 0x8100,
    ETH_QINQ = 0x88a8,
    ETH_QINQ_OLD = 0x9100,
    ETH_MPLS = 0x8847,
    ETH_MPLS_MC = 0x8848,
    ETH_MIN_TYPE = 0x0600,
};

enum {
    IPP_HOPOPT = 0,
    IPP_ICMP = 1,
    IPP_TCP = 6,
    IPP_UDP = 17,
    IPP_ROUTING = 43,
    IPP_FRAGMENT = 44,
    IPP_AH = 51,
    IPP_ICMPV6 = 58,
    IPP_DSTOPTS = 60,
    IPP_SCTP = 132,
    IPP_MOBILITY = 135,
    IPP_HIP = 139,
    IPP_SHIM6 = 140,
    IPP_UDPLITE = 136,
};

static uint64_t pk_mac(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 6; i++)
        v = v << 8 | p[i];
    return v;
}

/* Layer 4 at c for protocol out->proto. */
static decode_pkthdr_status pk_l4(cf_cursor c, decode_pkthdr *out)
{
    switch (out->proto) {
    case IPP_TCP:
        if (c.left < 14)
            return DECODE_PKTHDR_TRUNCATED;
        out->src_port = cf_be16(c.p);
        out->dst_port = cf_be16(c.p + 2);
        out->tcp_flags = c.p[13];
        break;
    case IPP_UDP:
    case IPP_UDPLITE:
    case IPP_SCTP:
        if (c.left < 4)
            return DECODE_PKTHDR_TRUNCATED;
        out->src_port = cf_be16(c.p);
        out->dst_port = cf_be16(c.p + 2);
        break;
    case IPP_ICMP:
    case IPP_ICMPV6:
        if (c.left < 2)
            return DECODE_PKTHDR_TRUNCATED;
        out->icmp_type = c.p[0];
        out->icmp_code = c.p[1];
        out->dst_port = (uint16_t)(c.p[0] << 8 | c.p[1]);
        break;
    default:
        return DECODE_PKTHDR_OK; /* no ports to read */
    }
    out->has_l4 = 1;
    return DECODE_PKTHDR_OK;
}

static decode_pkthdr_status pk_ipv4(cf_cursor c, decode_pkthdr *out)
{
    if (c.left < 20)
        return DECODE_PKTHDR_TRUNCATED;
    const uint8_t *h = c.p;
    if (h[0] >> 4 != 4)
        return DECODE_PKTHDR_UNSUPPORTED;
    size_t ihl = (size_t)(h[0] & 0x0f) * 4;
    out->family = 4;
    out->tos = h[1];
    out->ip_len = cf_be16(h + 2);
    out->ttl = h[8];
    out->proto = h[9];
    memset(out->src_addr, 0, 16);
    memset(out->dst_addr, 0, 16);
    out->src_addr[10] = out->src_addr[11] = 0xff;
    out->dst_addr[10] = out->dst_addr[11] = 0xff;
    memcpy(out->src_addr + 12, h + 12, 4);
    memcpy(out->dst_addr + 12, h + 16, 4);
    if (ihl < 20)
        return DECODE_PKTHDR_UNSUPPORTED; /* addresses read, the rest is not trustworthy */
    if ((cf_be16(h + 6) & 0x1fff) != 0) {
        out->fragment = 1;
        return DECODE_PKTHDR_OK;
    }
    if (!cf_skip(&c, ihl))
        return DECODE_PKTHDR_TRUNCATED;
    return pk_l4(c, out);
}

/* Skips IPv6 extension headers; on return out->proto is the upper layer. */
static decode_pkthdr_status pk_ipv6_ext(cf_cursor *c, decode_pkthdr *out)
{
    for (int n = 0; n < DECODE_PKTHDR_MAX_EXT; n++) {
        size_t ext_len;
        switch (out->proto) {
        case IPP_HOPOPT:
        case IPP_ROUTING:
        case IPP_DSTOPTS:
        case IPP_MOBILITY:
        case IPP_HIP:
        case IPP_SHIM6:
            if (c->left < 2)
                return DECODE_PKTHDR_TRUNCATED;
            ext_len = ((size_t)c->p[1] + 1) * 8;
            break;
        case IPP_AH:
            if (c->left < 2)
                return DECODE_PKTHDR_TRUNCATED;
            ext_len = ((size_t)c->p[1] + 2) * 4;
            break;
        case IPP_FRAGMENT:
            if (c->left < 8)
                return DECODE_PKTHDR_TRUNCATED;
            ext_len = 8;
            if ((cf_be16(c->p + 2) & 0xfff8) != 0)
                out->fragment = 1;
            break;
        default:
            return DECODE_PKTHDR_OK;
        }
        uint8_t next = c->p[0];
        if (!cf_skip(c, ext_len))
            return DECODE_PKTHDR_TRUNCATED;
        out->proto = next;
    }
    return DECODE_PKTHDR_UNSUPPORTED; /* a chain longer than any real packet's */
}

static decode_pkthdr_status pk_ipv6(cf_cursor c, decode_pkthdr *out)
{
    if (c.left < 40)
        return DECODE_PKTHDR_TRUNCATED;
    const uint8_t *h = c.p;
    if (h[0] >> 4 != 6)
        return DECODE_PKTHDR_UNSUPPORTED;
    out->family = 6;
    out->tos = (uint8_t)((cf_be16(h) >> 4) & 0xff);
    out->ip_len = (uint32_t)cf_be16(h + 4) + 40;
    out->proto = h[6];
    out->ttl = h[7];
    memcpy(out->src_addr, h + 8, 16);
    memcpy(out->dst_addr, h + 24, 16);
    cf_skip(&c, 40);
    decode_pkthdr_status st = pk_ipv6_ext(&c, out);
    if (st != DECODE_PKTHDR_OK || out->fragment)
        return st;
    return pk_l4(c, out);
}

/* IPv4 or IPv6 by the first nibble (after MPLS). */
static decode_pkthdr_status pk_ip_guess(cf_cursor c, decode_pkthdr *out)
{
    if (c.left < 1)
        return DECODE_PKTHDR_TRUNCATED;
    switch (c.p[0] >> 4) {
    case 4: return pk_ipv4(c, out);
    case 6: return pk_ipv6(c, out);
    default: return DECODE_PKTHDR_UNSUPPORTED;
    }
}

static decode_pkthdr_status pk_mpls(cf_cursor c, decode_pkthdr *out)
{
    for (int n = 0; n < DECODE_PKTHDR_MAX_LABELS; n++) {
        uint32_t entry;
        if (!cf_read_be32(&c, &entry))
            return DECODE_PKTHDR_TRUNCATED;
        if (out->n_labels++ == 0)
            out->mpls_label = entry >> 12;
        if (entry & 0x100) /* bottom of stack */
            return pk_ip_guess(c, out);
    }
    return DECODE_PKTHDR_UNSUPPORTED;
}

/* The payload of ethertype type at c. */
static decode_pkthdr_status pk_ethertype(cf_cursor c, uint16_t type, decode_pkthdr *out)
{
    out->ethertype = type;
    switch (type) {
    case ETH_IPV4: return pk_ipv4(c, out);
    case ETH_IPV6: return pk_ipv6(c, out);
    case ETH_MPLS:
    case ETH_MPLS_MC: return pk_mpls(c, out);
    default: return DECODE_PKTHDR_UNSUPPORTED;
    }
}

static decode_pkthdr_status pk_ethernet(cf_cursor c, decode_pkthdr *out)
{
    if (c.left < 14)
        return DECODE_PKTHDR_TRUNCATED;
    out->dst_mac = pk_mac(c.p);
    out->src_mac = pk_mac(c.p + 6);
    cf_skip(&c, 12);
    uint16_t type = 0;
    cf_read_be16(&c, &type);
    while (type == ETH_VLAN || type == ETH_QINQ || type == ETH_QINQ_OLD) {
        uint16_t tci;
        if (out->n_tags >= DECODE_PKTHDR_MAX_TAGS)
            return DECODE_PKTHDR_UNSUPPORTED;
        if (!cf_read_be16(&c, &tci) || !cf_read_be16(&c, &type))
            return DECODE_PKTHDR_TRUNCATED;
        if (out->n_tags == 0)
            out->vlan = tci & 0x0fff;
        else if (out->n_tags == 1)
            out->inner_vlan = tci & 0x0fff;
        out->n_tags++;
    }
    if (type < ETH_MIN_TYPE)
        return DECODE_PKTHDR_UNSUPPORTED; /* 802.3 length: LLC/SNAP, not parsed */
    return pk_ethertype(c, type, out);
}

decode_pkthdr_status decode_pkthdr_parse(decode_pkthdr_link link, const uint8_t *p, size_t len,
                                         decode_pkthdr *out)
{
    memset(out, 0, sizeof(*out));
    static const uint8_t empty[1] = {0};
    cf_cursor c = cf_cursor_make(len ? p : empty, len);
    switch (link) {
    case DECODE_PKTHDR_ETHERNET: return pk_ethernet(c, out);
    case DECODE_PKTHDR_IPV4: return pk_ipv4(c, out);
    case DECODE_PKTHDR_IPV6: return pk_ipv6(c, out);
    default: return DECODE_PKTHDR_UNSUPPORTED;
    }
}
