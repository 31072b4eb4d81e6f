/*
 * capture/capture.h - export packets from capture files (pcap and pcapng).
 *
 * Where it sits: an alternative to the UDP socket.  `cloudflow import` and
 * the decoder tests read a capture that users took on their router's
 * export path; each UDP datagram inside becomes one export packet with the
 * source address and port of its IP/UDP headers, handed to the same decode
 * path as live traffic.
 *
 * Link types: Ethernet (with 802.1Q/QinQ tags), Linux cooked (SLL and SLL2),
 * raw IP (DLT_RAW, IPV4, IPV6), BSD loopback (NULL and LOOP).  IPv4 (IHL and
 * total length checked, options skipped) and IPv6 (hop-by-hop, routing and
 * destination-options headers skipped).  Fragmented IPv4/IPv6 datagrams are
 * not reassembled: they and every frame that is not UDP are counted in
 * capture_stats and skipped.  A frame whose headers are cut short or whose
 * IP/UDP lengths disagree with each other or with the captured bytes (also a
 * datagram cut by the snap length) is counted as truncated and skipped, so a
 * decoder never sees a partial export packet.  Every frame is counted in
 * exactly one of datagrams, not_udp, fragments, truncated.
 *
 * Ownership: capture_open() returns a handle the caller frees with
 * capture_close().  The datagram returned by capture_next() points into the
 * handle and is valid until the next call.  Single-threaded per handle.
 */
#ifndef CF_CAPTURE_CAPTURE_H
#define CF_CAPTURE_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct capture capture;

typedef struct capture_datagram {
    const uint8_t *payload; /* UDP payload */
    size_t len;             /* its length (UDP length - 8; Ethernet padding excluded) */
    uint8_t src_addr[16];   /* IP source, IPv4-mapped for IPv4 (as flow_record) */
    uint8_t dst_addr[16];   /* IP destination */
    uint16_t src_port;      /* UDP source port */
    uint16_t dst_port;      /* UDP destination port */
    uint64_t time_ms;       /* capture timestamp, ms since the epoch */
    uint64_t frame;         /* 1-based frame number in the file */
} capture_datagram;

typedef struct capture_stats {
    uint64_t frames;      /* frames read */
    uint64_t datagrams;   /* UDP datagrams returned */
    uint64_t not_udp;     /* frames that are not IP/UDP (skipped) */
    uint64_t fragments;   /* IP fragments (skipped, not reassembled) */
    uint64_t truncated;   /* frames cut short by the snap length or malformed headers (skipped) */
} capture_stats;

/* Opens path.  CF_ERR_IO (cannot open, message in errbuf) or CF_ERR_MALFORMED
 * (not a capture, or an unsupported link type); errbuf gets a message naming
 * the file either way. */
cf_err capture_open(const char *path, capture **out, char *errbuf, size_t errlen);

/* The next UDP datagram.  CF_OK; CF_ERR_EOF at the end; CF_ERR_CORRUPT when
 * the file is damaged (what was read so far stays valid). */
cf_err capture_next(capture *c, capture_datagram *out);

void capture_get_stats(const capture *c, capture_stats *out);

void capture_close(capture *c);

#endif
