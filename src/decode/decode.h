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
 * Returns CF_OK; CF_ERR_VERSION when the version is not one we decode;
 * CF_ERR_TRUNCATED or CF_ERR_MALFORMED for a bad packet.  Every packet is
 * counted in ex->stats, a bad one under its decode_reason.
 */
cf_err decode_packet(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                     decode_emit_fn emit, void *ctx);

/* The NetFlow v5 decoder alone (decode_packet dispatches to it). */
cf_err decode_netflow5(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                       decode_emit_fn emit, void *ctx);

#endif
