/*
 * decode/decode.h - export packets in, flow records out.
 *
 * Where it sits: the collector (or `cloudflow import`) hands every UDP
 * payload it receives to decode_packet() together with the state of the
 * exporter it came from.  The decoder recognises the protocol by the version
 * field, checks every length against the bytes it has, and hands each flow
 * record it decodes to the caller's emit callback.  Decoders never write
 * files and never allocate per packet.
 *
 * Ownership: the caller owns the decode_exporter (one per exporter address
 * and source port) and keeps it across packets: it holds the sequence
 * tracking and the statistics (later also the template cache).
 *
 * Thread safety: one decode_exporter must be used by one thread at a time;
 * different exporters may be decoded in parallel.  The statistics are plain
 * counters written by that thread; a reader in another thread takes a copy
 * with decode_stats_snapshot(), which reads each counter atomically.
 */
#ifndef CF_DECODE_DECODE_H
#define CF_DECODE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/log.h"
#include "flow/flow.h"

/* Why a packet (or part of it) was not decoded; counted per exporter. */
typedef enum decode_reason {
    DECODE_BAD_SHORT = 0,   /* shorter than its protocol header */
    DECODE_BAD_VERSION = 1, /* version field is not one we decode */
    DECODE_BAD_COUNT = 2,   /* record count is zero, too large, or does not fit the packet */
    DECODE_BAD_LENGTH = 3,  /* a length field disagrees with the packet */
    DECODE_BAD_RECORD = 4,  /* a record's content violates the format */
    DECODE_N_REASONS = 5,
} decode_reason;

/* Stable short names for the reasons ("short", "version", ...), for stats. */
const char *decode_reason_name(decode_reason r);

typedef struct decode_stats {
    uint64_t packets;      /* export packets handed to the decoder */
    uint64_t bytes;        /* their UDP payload bytes */
    uint64_t records;      /* flow records emitted */
    uint64_t lost;         /* records (v5, IPFIX) or packets (v9) missing per sequence numbers */
    uint64_t seq_resets;   /* sequence jumps too large to be loss (exporter restart) */
    uint64_t malformed[DECODE_N_REASONS]; /* packets rejected, by reason */
    uint64_t last_seen_ms; /* receive time of the last packet */
    uint64_t sampling;     /* last sampling interval announced (0: none yet) */
} decode_stats;

/*
 * Sequence accounting (NetFlow v5).  Each (engine_type, engine_id) of an
 * exporter numbers its flow records: flow_sequence in a packet's header is
 * the number of records that engine exported before this packet.  After a
 * valid packet with sequence s and count n the decoder expects s + n (mod
 * 2^32) next.  When the next valid packet carries sequence t:
 *   - t == expected: nothing is counted;
 *   - t is ahead by d = t - expected (mod 2^32), 0 < d <= DECODE_SEQ_MAX_GAP:
 *     d records were lost, stats.lost += d;
 *   - t is ahead by more than DECODE_SEQ_MAX_GAP, or behind (d >= 2^31, a
 *     backwards jump, e.g. an exporter restart or a reordered packet):
 *     stats.seq_resets += 1 and nothing is added to lost.
 * In every case the expectation restarts from t + count.  The first packet
 * of an engine only sets the expectation.  Malformed packets do not touch the
 * sequence state.  At most DECODE_V5_MAX_ENGINES engines are tracked per
 * exporter; a further engine takes over the last slot (its predecessor then
 * starts afresh when it comes back, without counting loss or a reset).
 */
#define DECODE_SEQ_MAX_GAP 1000000u

/* Sequence tracking of one NetFlow v5 engine (type, id) of an exporter. */
typedef struct decode_v5_seq {
    uint16_t engine;   /* engine_type << 8 | engine_id */
    uint8_t valid;     /* next is meaningful */
    uint32_t next;     /* flow_sequence expected in the next packet */
} decode_v5_seq;

#define DECODE_V5_MAX_ENGINES 8

/* Everything the decoder keeps about one exporter (address + source port). */
typedef struct decode_exporter {
    uint8_t addr[16];   /* exporter address (IPv4-mapped for IPv4) */
    uint16_t port;      /* exporter's UDP source port */
    decode_stats stats;
    decode_v5_seq v5_seq[DECODE_V5_MAX_ENGINES];
    uint8_t n_v5_seq;
    cf_ratelimit log_rl; /* limits the warnings about this exporter's bad packets */
} decode_exporter;

/* Initialises ex for the exporter at addr (16 bytes, as in flow_record) and port. */
void decode_exporter_init(decode_exporter *ex, const uint8_t addr[16], uint16_t port);

/* Copies ex->stats into out, reading each counter atomically (relaxed). */
void decode_stats_snapshot(const decode_exporter *ex, decode_stats *out);

/* Called once per decoded record; rec is valid only during the call. */
typedef void (*decode_emit_fn)(void *ctx, const flow_record *rec);

/*
 * Decodes one export packet (a UDP payload) from exporter ex, received at
 * recv_ms (ms since the epoch, used when the protocol carries no time).
 *
 * Every record is passed to emit(ctx, rec) with the exporter address, the
 * protocol and the sampling interval filled in.  Records are emitted only
 * after the whole packet has been validated, so a malformed packet emits
 * nothing.
 *
 * Recognition: a packet whose first 32 bits are 5 is sFlow v5; otherwise
 * the first 16 bits are the version: 5 NetFlow v5, 9 NetFlow v9, 10 IPFIX.
 * Only NetFlow v5 is decoded so far; the others (and any other version) are
 * counted under DECODE_BAD_VERSION.  A packet shorter than 2 bytes is
 * DECODE_BAD_SHORT.
 *
 * Returns CF_OK; CF_ERR_VERSION when the version is not one we decode;
 * CF_ERR_TRUNCATED or CF_ERR_MALFORMED for a bad packet.  Every packet is
 * counted in ex->stats (packets, bytes, last_seen_ms), a bad one also under
 * its decode_reason (and logged, rate limited per exporter).  emit may be
 * NULL (records are then only counted).
 */
cf_err decode_packet(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                     decode_emit_fn emit, void *ctx);

/*
 * NetFlow v5 (Cisco), all numbers big-endian.  Header, 24 bytes:
 *
 *   OFFSET SIZE MEANING
 *    0      2   version, 5
 *    2      2   count: records in this packet
 *    4      4   sysUptime: ms since the exporter booted, at export
 *    8      4   unix_secs: export time, seconds since the epoch
 *   12      4   unix_nsecs: its residual nanoseconds
 *   16      4   flow_sequence: records exported by this engine before
 *   20      1   engine_type
 *   21      1   engine_id
 *   22      2   sampling: top 2 bits mode, low 14 bits interval
 *
 * followed by count records of 48 bytes:
 *
 *   OFFSET SIZE MEANING
 *    0      4   srcaddr          24      4   First (sysUptime at first packet)
 *    4      4   dstaddr          28      4   Last (sysUptime at last packet)
 *    8      4   nexthop          32      2   srcport
 *   12      2   input ifIndex    34      2   dstport (ICMP: type*256+code)
 *   14      2   output ifIndex   36      1   pad
 *   16      4   dPkts            37      1   tcp_flags
 *   20      4   dOctets          38      1   prot
 *                                39      1   tos
 *   40      2   src_as           44      1   src_mask
 *   42      2   dst_as           45      1   dst_mask
 *                                46      2   pad
 *
 * Acceptance rule (DECODE_BAD_* reason, return value):
 *   - len < 24: SHORT, CF_ERR_TRUNCATED.
 *   - count == 0: COUNT, CF_ERR_MALFORMED.
 *   - count <= DECODE_V5_MAX_COUNT (30, Cisco's limit) and
 *     len < 24 + 48 * count: COUNT, CF_ERR_TRUNCATED.  Trailing bytes beyond
 *     the last record are ignored (as nfdump and Wireshark do).
 *   - count > 30 is accepted only when the packet is exactly 24 + 48 * count
 *     bytes (a self-consistent export from a non-conforming exporter);
 *     otherwise COUNT, CF_ERR_MALFORMED.  A garbled header (e.g. count 55582
 *     in a 1464-byte packet, logstash's netflow5_test_invalid0x) is thus
 *     rejected whole, although tshark decodes as many records as fit.
 * Times: First/Last are converted to ms since the epoch as
 *   unix_secs * 1000 + unix_nsecs / 10^6 - (uint32)(sysUptime - First)
 * where the difference is taken modulo 2^32 (so a First just before a
 * sysUptime wrap, or 0xffffffff right after boot, stays close); a result
 * before the epoch is clamped to 0.
 * Sampling: when the interval is > 1, packets and bytes are multiplied by it,
 * FLOW_F_SAMPLED is set and `sampling` is the interval; otherwise 1.
 * ICMP (prot 1): dst_port is kept as sent and icmp_type/icmp_code are set
 * from its high/low byte.
 */
#define DECODE_V5_HEADER_LEN 24
#define DECODE_V5_RECORD_LEN 48
#define DECODE_V5_MAX_COUNT 30

/* The NetFlow v5 decoder alone (decode_packet dispatches to it); counts the
 * packet in ex->stats exactly as decode_packet does. */
cf_err decode_netflow5(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                       decode_emit_fn emit, void *ctx);

#endif
