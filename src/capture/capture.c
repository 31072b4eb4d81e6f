/*
 * capture/capture.c - UDP datagrams out of pcap/pcapng files, with libpcap.
 *
 * libpcap reads the file format (pcap, pcapng, either byte order); this file
 * peels the link layer, IPv4/IPv6 and UDP headers itself, through bounds-
 * checked cursors, because capture files come from outside.  Each frame ends
 * in exactly one of: a datagram returned, or one of the skip counters
 * (not_udp, fragments, truncated), so that
 *   frames == datagrams + not_udp + fragments + truncated.
 */
#include "capture/capture.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

enum {
    ETHERTYPE_IPV4 = 0x0800,
    ETHERTYPE_IPV6 = 0x86dd,
    ETHERTYPE_VLAN = 0x8100,
    ETHERTYPE_QINQ = 0x88a8,
    ETHERTYPE_QINQ_OLD = 0x9100,
    IPPROTO_NUM_HOPOPTS = 0,
    IPPROTO_NUM_UDP = 17,
    IPPROTO_NUM_ROUTING = 43,
    IPPROTO_NUM_FRAGMENT = 44,
    IPPROTO_NUM_DSTOPTS = 60,
    SLL_HEADER_LEN = 16,
    SLL2_HEADER_LEN = 20,
    UDP_HEADER_LEN = 8,
};

struct capture {
    pcap_t *pcap;        /* the open file */
    int dlt;             /* its link type (DLT_*) */
    capture_stats stats; /* counters returned by capture_get_stats() */
};

/* What became of one frame. */
typedef enum frame_kind {
    FRAME_UDP,       /* a datagram was found */
    FRAME_NOT_UDP,   /* not IP, or IP but not UDP */
    FRAME_FRAGMENT,  /* an IPv4 or IPv6 fragment */
    FRAME_TRUNCATED, /* headers or payload cut short, or inconsistent lengths */
} frame_kind;

static int dlt_supported(int dlt)
{
    switch (dlt) {
    case DLT_EN10MB:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
    case DLT_NULL:
    case DLT_LOOP:
        return 1;
    default:
        return 0;
    }
}

cf_err capture_open(const char *path, capture **out, char *errbuf, size_t errlen)
{
    char pcap_err[PCAP_ERRBUF_SIZE] = "";
    cf_err err = CF_OK;
    capture *c = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return CF_ERR_IO;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(errbuf, errlen, "%s: out of memory", path);
        err = CF_ERR_NOMEM;
        goto out;
    }
    c->pcap = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, pcap_err);
    if (!c->pcap) {
        snprintf(errbuf, errlen, "%s: not a capture file: %s", path, pcap_err);
        err = CF_ERR_MALFORMED;
        goto out;
    }
    f = NULL; /* owned by pcap now */
    c->dlt = pcap_datalink(c->pcap);
    if (!dlt_supported(c->dlt)) {
        const char *name = pcap_datalink_val_to_name(c->dlt);
        snprintf(errbuf, errlen, "%s: unsupported link type %d (%s)", path, c->dlt,
                 name ? name : "unknown");
        err = CF_ERR_MALFORMED;
        goto out;
    }
    *out = c;
    c = NULL;
out:
    if (c && c->pcap)
        pcap_close(c->pcap);
    free(c);
    if (f)
        fclose(f);
    return err;
}

/* Skips VLAN tags after an Ethernet-style type field; *type is the inner type. */
static frame_kind skip_vlan_tags(cf_cursor *cur, uint16_t *type)
{
    while (*type == ETHERTYPE_VLAN || *type == ETHERTYPE_QINQ || *type == ETHERTYPE_QINQ_OLD) {
        if (!cf_skip(cur, 2) || !cf_read_be16(cur, type))
            return FRAME_TRUNCATED;
    }
    return FRAME_UDP;
}

/* The type of a BSD loopback header value (either byte order, AF_INET and the
 * AF_INET6 values of Linux, the BSDs and Darwin). */
static uint16_t null_family_type(uint32_t af_be)
{
    uint32_t af_le = (af_be >> 24) | ((af_be >> 8) & 0xff00u) | ((af_be << 8) & 0xff0000u) |
                     (af_be << 24);
    uint32_t af = af_be < 256 ? af_be : af_le;
    switch (af) {
    case 2: return ETHERTYPE_IPV4;
    case 10:
    case 24:
    case 28:
    case 30: return ETHERTYPE_IPV6;
    default: return 0;
    }
}

/* Peels the link layer off cur; *type gets the network protocol (ethertype). */
static frame_kind link_layer(int dlt, cf_cursor *cur, uint16_t *type)
{
    uint32_t af;
    uint8_t first;
    switch (dlt) {
    case DLT_EN10MB:
        if (!cf_skip(cur, 12) || !cf_read_be16(cur, type))
            return FRAME_TRUNCATED;
        return skip_vlan_tags(cur, type);
    case DLT_LINUX_SLL:
        if (!cf_skip(cur, SLL_HEADER_LEN - 2) || !cf_read_be16(cur, type))
            return FRAME_TRUNCATED;
        return skip_vlan_tags(cur, type);
    case DLT_LINUX_SLL2:
        if (!cf_read_be16(cur, type) || !cf_skip(cur, SLL2_HEADER_LEN - 2))
            return FRAME_TRUNCATED;
        return skip_vlan_tags(cur, type);
    case DLT_NULL: /* address family in the capturing host's byte order */
    case DLT_LOOP: /* the same in network byte order */
        if (!cf_read_be32(cur, &af))
            return FRAME_TRUNCATED;
        *type = null_family_type(af);
        return FRAME_UDP;
    default: /* DLT_RAW, DLT_IPV4, DLT_IPV6: the version nibble tells */
        if (cur->left < 1)
            return FRAME_TRUNCATED;
        first = cur->p[0];
        *type = (first >> 4) == 4 ? ETHERTYPE_IPV4 : (first >> 4) == 6 ? ETHERTYPE_IPV6 : 0;
        return FRAME_UDP;
    }
}

/* out = ::ffff:a.b.c.d from the 4 bytes at v4 (as flow_record holds IPv4). */
static void v4_mapped(uint8_t out[16], const uint8_t *v4)
{
    memset(out, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    memcpy(out + 12, v4, 4);
}

/* IPv4 header at cur: checks version, IHL and total length; *l4 gets the
 * IP payload (without Ethernet padding), addresses go to out. */
static frame_kind parse_ipv4(cf_cursor *cur, cf_cursor *l4, capture_datagram *out)
{
    if (cur->left < 20)
        return FRAME_TRUNCATED;
    const uint8_t *ip = cur->p;
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
    uint16_t total = cf_be16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl < 20 || total < ihl)
        return FRAME_TRUNCATED;
    if (total > cur->left) /* cut by the snap length, or a lying length */
        return FRAME_TRUNCATED;
    uint16_t frag = cf_be16(ip + 6);
    if ((frag & 0x3fff) != 0) /* MF set or a fragment offset */
        return FRAME_FRAGMENT;
    if (ip[9] != IPPROTO_NUM_UDP)
        return FRAME_NOT_UDP;
    v4_mapped(out->src_addr, ip + 12);
    v4_mapped(out->dst_addr, ip + 16);
    *l4 = cf_cursor_make(ip + ihl, total - ihl);
    return FRAME_UDP;
}

/* IPv6 header at cur: checks the payload length, skips hop-by-hop, routing
 * and destination-options headers; *l4 gets the upper-layer payload. */
static frame_kind parse_ipv6(cf_cursor *cur, cf_cursor *l4, capture_datagram *out)
{
    if (cur->left < 40)
        return FRAME_TRUNCATED;
    const uint8_t *ip = cur->p;
    if ((ip[0] >> 4) != 6)
        return FRAME_TRUNCATED;
    uint16_t payload_len = cf_be16(ip + 4);
    uint8_t next = ip[6];
    if (payload_len == 0) /* a jumbogram (RFC 2675) or nonsense: no UDP length to trust */
        return FRAME_TRUNCATED;
    if ((size_t)payload_len + 40 > cur->left)
        return FRAME_TRUNCATED;
    memcpy(out->src_addr, ip + 8, 16);
    memcpy(out->dst_addr, ip + 24, 16);
    cf_cursor pl = cf_cursor_make(ip + 40, payload_len);
    for (;;) {
        uint8_t hdr_next, hdr_len;
        switch (next) {
        case IPPROTO_NUM_UDP:
            *l4 = pl;
            return FRAME_UDP;
        case IPPROTO_NUM_FRAGMENT:
            return FRAME_FRAGMENT;
        case IPPROTO_NUM_HOPOPTS:
        case IPPROTO_NUM_ROUTING:
        case IPPROTO_NUM_DSTOPTS:
            /* Each step consumes at least 8 bytes, so the loop ends. */
            if (pl.left < 8)
                return FRAME_TRUNCATED;
            hdr_next = pl.p[0];
            hdr_len = pl.p[1];
            if (!cf_skip(&pl, ((size_t)hdr_len + 1) * 8))
                return FRAME_TRUNCATED;
            next = hdr_next;
            break;
        default:
            return FRAME_NOT_UDP;
        }
    }
}

/* UDP header at l4: its length must be at least 8 and fit the IP payload. */
static frame_kind parse_udp(cf_cursor *l4, capture_datagram *out)
{
    uint16_t sport, dport, udp_len, csum;
    if (!cf_read_be16(l4, &sport) || !cf_read_be16(l4, &dport) || !cf_read_be16(l4, &udp_len) ||
        !cf_read_be16(l4, &csum))
        return FRAME_TRUNCATED;
    if (udp_len < UDP_HEADER_LEN || (size_t)udp_len - UDP_HEADER_LEN > l4->left)
        return FRAME_TRUNCATED;
    out->src_port = sport;
    out->dst_port = dport;
    out->payload = l4->p;
    out->len = (size_t)udp_len - UDP_HEADER_LEN;
    return FRAME_UDP;
}

/* Classifies one frame; fills out (except time and frame) for FRAME_UDP. */
static frame_kind parse_frame(int dlt, const uint8_t *data, size_t caplen, capture_datagram *out)
{
    cf_cursor cur = cf_cursor_make(data, caplen), l4;
    uint16_t type = 0;
    frame_kind k = link_layer(dlt, &cur, &type);
    if (k != FRAME_UDP)
        return k;
    if (type == ETHERTYPE_IPV4)
        k = parse_ipv4(&cur, &l4, out);
    else if (type == ETHERTYPE_IPV6)
        k = parse_ipv6(&cur, &l4, out);
    else
        return FRAME_NOT_UDP;
    if (k != FRAME_UDP)
        return k;
    return parse_udp(&l4, out);
}

cf_err capture_next(capture *c, capture_datagram *out)
{
    for (;;) {
        struct pcap_pkthdr *hdr;
        const u_char *data;
        int rc = pcap_next_ex(c->pcap, &hdr, &data);
        if (rc == PCAP_ERROR_BREAK)
            return CF_ERR_EOF;
        if (rc != 1)
            return CF_ERR_CORRUPT;
        c->stats.frames++;
        capture_datagram d;
        memset(&d, 0, sizeof(d));
        switch (parse_frame(c->dlt, data, hdr->caplen, &d)) {
        case FRAME_UDP:
            c->stats.datagrams++;
            if (hdr->ts.tv_sec >= 0 && hdr->ts.tv_usec >= 0)
                d.time_ms = (uint64_t)hdr->ts.tv_sec * 1000u + (uint64_t)hdr->ts.tv_usec / 1000u;
            d.frame = c->stats.frames;
            *out = d;
            return CF_OK;
        case FRAME_NOT_UDP:
            c->stats.not_udp++;
            break;
        case FRAME_FRAGMENT:
            c->stats.fragments++;
            break;
        case FRAME_TRUNCATED:
            c->stats.truncated++;
            break;
        }
    }
}

void capture_get_stats(const capture *c, capture_stats *out) { *out = c->stats; }

void capture_close(capture *c)
{
    if (!c)
        return;
    pcap_close(c->pcap);
    free(c);
}
