/*
 * decode/decode_pkthdr.h - parser of sampled packet headers (internal to src/decode).
 *
 * Where it sits: sFlow's raw packet header records (and, later, IPFIX
 * dataLinkFrameSection, RFC 7133) carry the first bytes of a packet a
 * router saw.  This parser reads them into the fields a flow record needs:
 * MAC addresses, VLAN tags, IP addresses, protocol, ports, TCP flags, ICMP
 * type and code.  It reads the bytes through a bounds-checked cursor,
 * allocates nothing and never fails: whatever the bytes, it returns what it
 * could read and says why it stopped.
 *
 * Layers understood:
 *   Ethernet II (and 802.3 frames, whose payload is not parsed), any number
 *   of 802.1Q / 802.1ad / 0x9100 tags (at most DECODE_PKTHDR_MAX_TAGS),
 *   an MPLS label stack (0x8847/0x8848, at most DECODE_PKTHDR_MAX_LABELS
 *   labels; the payload after the bottom of stack is IPv4 or IPv6 by its
 *   first nibble), IPv4 (options skipped), IPv6 with hop-by-hop, routing,
 *   fragment, destination-options, mobility, HIP, shim6 and AH extension
 *   headers (at most DECODE_PKTHDR_MAX_EXT), then TCP, UDP, SCTP (ports),
 *   ICMP and ICMPv6 (type and code).  Only the outermost IP header is read:
 *   tunnels (GRE, VXLAN, IP-in-IP) are reported as their outer header.
 * A non-first fragment has no layer-4 header: ports stay zero.
 *
 * Thread safety: pure function of its input.
 */
#ifndef CF_DECODE_PKTHDR_H
#define CF_DECODE_PKTHDR_H

#include <stddef.h>
#include <stdint.h>

/* What the header starts with. */
typedef enum decode_pkthdr_link {
    DECODE_PKTHDR_ETHERNET = 1, /* an Ethernet frame (destination MAC first) */
    DECODE_PKTHDR_IPV4 = 4,     /* an IPv4 packet */
    DECODE_PKTHDR_IPV6 = 6,     /* an IPv6 packet */
} decode_pkthdr_link;

/* Why parsing stopped. */
typedef enum decode_pkthdr_status {
    DECODE_PKTHDR_OK = 0,          /* every layer up to layer 4 (or the end of IP) was read */
    DECODE_PKTHDR_TRUNCATED = 1,   /* the bytes end inside a header we parse */
    DECODE_PKTHDR_UNSUPPORTED = 2, /* a layer we do not parse (non-IP ethertype, bad IP version) */
} decode_pkthdr_status;

#define DECODE_PKTHDR_MAX_TAGS 8
#define DECODE_PKTHDR_MAX_LABELS 16
#define DECODE_PKTHDR_MAX_EXT 16

typedef struct decode_pkthdr {
    uint64_t src_mac;     /* Ethernet source (low 48 bits), 0 when no Ethernet header */
    uint64_t dst_mac;     /* Ethernet destination */
    uint16_t vlan;        /* VLAN id of the outermost tag, 0 when untagged */
    uint16_t inner_vlan;  /* VLAN id of the second tag (QinQ), 0 when none */
    uint16_t ethertype;   /* ethertype after the tags (0 when not Ethernet) */
    uint8_t n_tags;       /* VLAN tags seen */
    uint8_t n_labels;     /* MPLS labels seen */
    uint32_t mpls_label;  /* top MPLS label (20 bits), 0 when none */
    uint8_t family;       /* 4 or 6 when an IP header was read (addresses valid), else 0 */
    uint8_t proto;        /* IP protocol after the IPv6 extension headers */
    uint8_t tos;          /* IPv4 TOS byte / IPv6 traffic class */
    uint8_t ttl;          /* IPv4 TTL / IPv6 hop limit */
    uint8_t src_addr[16]; /* IPv4-mapped for IPv4, as flow_record */
    uint8_t dst_addr[16];
    uint32_t ip_len;      /* IPv4 total length / IPv6 payload length + 40, as sent */
    uint8_t fragment;     /* 1: a non-first fragment (no layer-4 header) */
    uint8_t has_l4;       /* 1: the layer-4 fields below were read */
    uint16_t src_port;    /* TCP/UDP/SCTP source port */
    uint16_t dst_port;    /* destination port; ICMP/ICMPv6: type * 256 + code (as nfdump) */
    uint8_t tcp_flags;    /* TCP flags byte (FIN 0x01 ... CWR 0x80) */
    uint8_t icmp_type;    /* ICMP / ICMPv6 type */
    uint8_t icmp_code;    /* ICMP / ICMPv6 code */
} decode_pkthdr;

/*
 * Parses len bytes at p, which start with a header of kind link, into *out
 * (zeroed first, always written).  p may be NULL when len is 0.  Returns
 * DECODE_PKTHDR_OK, or TRUNCATED / UNSUPPORTED with the fields read so far
 * (e.g. addresses without ports when the bytes end inside the TCP header).
 */
decode_pkthdr_status decode_pkthdr_parse(decode_pkthdr_link link, const uint8_t *p, size_t len,
                                         decode_pkthdr *out);

#endif
