/*
 * decode/decode.h - export packets in, flow records out.
 *
 * Where it sits: the collector (or `cloudflow import`) hands every UDP
 * payload it receives to decode_packet() together with the state of the
 * exporter it came from.  The decoder recognises the protocol by the version
 * field, checks every length against the bytes it has, and hands each flow
 * record it decodes to the caller: to an emit callback (decode_packet), or,
 * on the fast paths, straight into the columns of the caller's flow_batch
 * (decode_packet_out, which the collector uses).  Decoders never write
 * files and never allocate per packet.
 *
 * Ownership: the caller owns the decode_exporter (one per exporter address
 * and source port) and keeps it across packets: it holds the sequence
 * tracking, the statistics and (v9/IPFIX) the template cache, which it
 * MUST release with decode_exporter_free() before dropping the exporter.
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
#include "flow/batch.h"
#include "flow/flow.h"
#include "flow/names.h"

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

/* ---- NetFlow v9 / IPFIX: configuration and counters (template.c) ------- */

/* Limits of the per-exporter template state.  A zero member means its
 * default (in parentheses).  Plain value; copy it into an exporter with
 * decode_exporter_set_config(). */
typedef struct decode_config {
    uint32_t max_templates;     /* templates + options templates per exporter (512) */
    uint32_t max_fields;        /* fields per template (128) */
    uint32_t max_domains;       /* v9 source ids / IPFIX observation domains tracked (64) */
    uint32_t max_samplers;      /* sampler / selector entries per exporter (256) */
    uint32_t pending_max_bytes; /* data sets kept while their template is unknown (65536) */
    uint32_t pending_max_ms;    /* how long such a data set is kept, ms (600000) */
    uint32_t sampling_default;  /* rate for records whose exporter announced none (0: none:
                                 * rate 1, FLOW_F_SAMPLING_UNKNOWN, counted) */
    uint32_t sampling_override; /* rate applied to every record, whatever was announced (0: off) */
    uint32_t max_names;         /* application + interface names per exporter (4096) */
} decode_config;

#define DECODE_DEFAULT_MAX_TEMPLATES 512u
#define DECODE_DEFAULT_MAX_FIELDS 128u
#define DECODE_DEFAULT_MAX_DOMAINS 64u
#define DECODE_DEFAULT_MAX_SAMPLERS 256u
#define DECODE_DEFAULT_PENDING_BYTES 65536u
#define DECODE_DEFAULT_PENDING_MS 600000u
#define DECODE_DEFAULT_MAX_NAMES FLOW_NAMES_DEFAULT_MAX

/* What the v9/IPFIX template machinery did and refused, per exporter.
 * Written by the decoding thread (relaxed atomics); read a copy with
 * decode_tpl_stats_snapshot(). */
typedef struct decode_tpl_stats {
    uint64_t templates_added;     /* new (options) template definitions */
    uint64_t templates_replaced;  /* an id redefined with different fields */
    uint64_t templates_refreshed; /* an id resent unchanged */
    uint64_t templates_withdrawn; /* IPFIX withdrawals (each template removed) */
    uint64_t refused_full;        /* new template refused: max_templates reached */
    uint64_t refused_fields;      /* template refused: more than max_fields fields */
    uint64_t bad_template_id;     /* template id < 256 in a (options) template set */
    uint64_t bad_template;        /* template whose fields do not fit its set, or empty records */
    uint64_t bad_set_id;          /* set id 2..255 other than the template set ids (skipped) */
    uint64_t bad_data_sets;       /* data sets whose records do not parse through their template */
    uint64_t unknown_template;    /* data sets that arrived before their template */
    uint64_t pending_decoded;     /* ... of which decoded later, when the template came */
    uint64_t pending_expired;     /* ... of which dropped after pending_max_ms */
    uint64_t pending_overflow;    /* ... of which dropped: no room within pending_max_bytes */
    uint64_t refused_domains;     /* packets of a domain beyond max_domains (no seq/sampling state) */
    uint64_t refused_samplers;    /* sampler announcements beyond max_samplers */
    uint64_t options_records;     /* options data records read (not emitted) */
    uint64_t enterprise_fields;   /* enterprise-specific field values skipped */
    uint64_t biflow_records;      /* records with RFC 5103 reverse elements (forward half emitted) */
    uint64_t sampling_unknown;    /* records emitted with FLOW_F_SAMPLING_UNKNOWN */
    uint64_t frame_sections;      /* records whose addresses came from dataLinkFrameSection */
    uint64_t names_records;       /* options records that named an application or interface */
    uint64_t refused_names;       /* names of new keys beyond max_names (not kept) */
    uint64_t bad_names;           /* names without their key (no 95 for 96/94, no 10/14 or v9
                                   * interface scope for 82/83), or with no text at all */
} decode_tpl_stats;

struct decode_tpl_state; /* template cache and per-domain state; template.h */

/* ---- sFlow v5: counters, interface counters, per-exporter state (sflow5.c) ----
 * Layout and rules: see the sFlow v5 block at the end of this file. */

/* What the sFlow decoder read, skipped and inferred, per exporter.  Written
 * by the decoding thread (relaxed atomics); read a copy with
 * decode_sflow_stats_snapshot(). */
typedef struct decode_sflow_stats {
    uint64_t datagrams;       /* valid sFlow datagrams decoded */
    uint64_t flow_samples;    /* flow samples decoded (one flow_record each) */
    uint64_t counter_samples; /* counter samples decoded */
    uint64_t counters_emitted; /* decode_counters passed to the counter sink */
    uint64_t drops;           /* packets the agents dropped for lack of resources (increase of
                               * the flow samples' drops counters, per data source) */
    uint64_t unknown_samples; /* samples of an unknown enterprise/format, skipped by length */
    uint64_t unknown_records; /* flow or counter records of an unknown format, skipped by length */
    uint64_t hdr_truncated;   /* raw packet headers that end inside a header we parse */
    uint64_t hdr_unparsed;    /* raw packet headers without an IP header we parse (other
                               * header protocol, non-IP ethertype) */
} decode_sflow_stats;

/*
 * The interface counters of one sFlow counter sample (generic interface
 * counters, record 1, and/or Ethernet counters, record 2), as passed to the
 * counter sink.  All counters are the agent's running totals (not deltas);
 * a field of a record the sample did not carry is zero (see has_*).
 */
typedef struct decode_counters {
    uint64_t time_ms;        /* receive time of the datagram (recv_ms), ms since the epoch */
    uint8_t exporter[16];    /* UDP source of the datagram (as flow_record.exporter) */
    uint8_t agent[16];       /* agent address (IPv4-mapped for IPv4; zero when unknown) */
    uint32_t sub_agent;      /* sub-agent id */
    uint32_t uptime_ms;      /* agent uptime when the datagram was sent */
    uint32_t sample_seq;     /* sequence number of the counter sample */
    uint32_t source_type;    /* data source type (0 ifIndex, 1 smonVlanDataSource, 2 entPhysical) */
    uint32_t source_index;   /* data source index */
    uint8_t has_generic;     /* 1: the generic interface record was present */
    uint8_t has_ethernet;    /* 1: the Ethernet record was present */
    /* generic interface counters (RFC 2233 ifTable / ifXTable) */
    uint32_t if_index;
    uint32_t if_type;        /* IANAifType, 6 = ethernetCsmacd */
    uint64_t if_speed;       /* bits per second */
    uint32_t if_direction;   /* 0 unknown, 1 full-duplex, 2 half-duplex, 3 in, 4 out */
    uint32_t if_status;      /* bit 0 ifAdminStatus up, bit 1 ifOperStatus up */
    uint64_t in_octets;
    uint64_t in_packets;     /* ifInUcastPkts + ifInMulticastPkts + ifInBroadcastPkts */
    uint32_t in_errors;
    uint32_t in_discards;
    uint32_t in_unknown_protos;
    uint64_t out_octets;
    uint64_t out_packets;    /* ifOutUcastPkts + ifOutMulticastPkts + ifOutBroadcastPkts */
    uint32_t out_errors;
    uint32_t out_discards;
    uint32_t promiscuous;    /* ifPromiscuousMode: 1 true, 2 false */
    /* Ethernet counters (RFC 2358 dot3StatsTable) */
    uint32_t eth_alignment_errors;
    uint32_t eth_fcs_errors;
    uint32_t eth_single_collisions;
    uint32_t eth_multiple_collisions;
    uint32_t eth_sqe_test_errors;
    uint32_t eth_deferred_transmissions;
    uint32_t eth_late_collisions;
    uint32_t eth_excessive_collisions;
    uint32_t eth_internal_mac_tx_errors;
    uint32_t eth_carrier_sense_errors;
    uint32_t eth_frame_too_longs;
    uint32_t eth_internal_mac_rx_errors;
    uint32_t eth_symbol_errors;
} decode_counters;

/* Called once per counter sample that carries a generic interface or
 * Ethernet record; c is valid only during the call.  Called from the thread
 * that decodes the exporter, after the whole datagram was validated. */
typedef void (*decode_counter_fn)(void *ctx, const decode_counters *c);

#define DECODE_SFLOW_MAX_AGENTS 8   /* (agent, sub-agent) sequences tracked per exporter */
#define DECODE_SFLOW_MAX_SOURCES 32 /* data sources whose drop counters are tracked */

/* Datagram sequence tracking of one (agent, sub-agent). */
typedef struct decode_sflow_seq {
    uint8_t agent[16];
    uint32_t sub_agent;
    uint32_t next;  /* datagram sequence number expected next */
    uint8_t valid;
} decode_sflow_seq;

/* The last drops counter of one data source of one (agent, sub-agent). */
typedef struct decode_sflow_drops {
    uint32_t source_id; /* type << 24 | index (low 24 bits) */
    uint32_t drops;     /* last value seen */
    uint8_t agent_slot; /* index into decode_sflow_state.seq */
} decode_sflow_drops;

/* Per-exporter sFlow state (inside decode_exporter; zeroed by init). */
typedef struct decode_sflow_state {
    decode_counter_fn counter_fn; /* counter sink, NULL: counters only counted */
    void *counter_ctx;
    uint8_t last_agent[16];       /* agent address of the last valid datagram */
    uint32_t last_sub_agent;      /* its sub-agent id */
    decode_sflow_seq seq[DECODE_SFLOW_MAX_AGENTS];
    uint8_t n_seq;
    decode_sflow_drops drops[DECODE_SFLOW_MAX_SOURCES];
    uint8_t n_drops;
} decode_sflow_state;

/* Everything the decoder keeps about one exporter (address + source port). */
typedef struct decode_exporter {
    uint8_t addr[16];   /* exporter address (IPv4-mapped for IPv4) */
    uint16_t port;      /* exporter's UDP source port */
    decode_stats stats;
    decode_v5_seq v5_seq[DECODE_V5_MAX_ENGINES];
    uint8_t n_v5_seq;
    cf_ratelimit log_rl; /* limits the warnings about this exporter's bad packets */
    /* ---- NetFlow v9 / IPFIX (template.c, netflow9.c, ipfix.c) ---- */
    struct decode_tpl_state *tpl; /* owned; NULL until the first v9/IPFIX packet;
                                   * freed by decode_exporter_free() */
    decode_config cfg;            /* limits; zero members = defaults */
    decode_tpl_stats tpl_stats;
    /* ---- sFlow v5 (sflow5.c) ---- */
    decode_sflow_state sflow;     /* sequences, drop counters, counter sink */
    decode_sflow_stats sflow_stats;
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
 * NetFlow v5, v9 and IPFIX are decoded; other versions are counted under
 * DECODE_BAD_VERSION.  A packet shorter than 2 bytes is
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
 * Where decode_packet_out() puts records.  The general decoders hand each
 * record as a row to emit; the fast ones (NetFlow v5, v9/IPFIX data sets of
 * fixed-length templates) write runs of records straight into the columns
 * of the batch that room returns (flow_batch_run()), so that a record costs
 * only the bytes of the columns it varies in.  Records keep their order
 * across both ways: the caller puts every row it was handed before the
 * free rows of the batch room returns.
 *
 *   room(ctx)       a batch with at least one free row (the caller queues
 *                   a full one and returns an empty one); never NULL;
 *   emit(ctx, rec)  one record as a row.
 *
 * Both NULL: records are only counted.  Both or neither must be set.
 * Records written into a batch carry received_ms = the packet's recv_ms.
 */
typedef struct decode_out {
    decode_emit_fn emit;
    flow_batch *(*room)(void *ctx);
    void *ctx;
} decode_out;

/* decode_packet() with records delivered as *out says (same rules, same
 * return values).  decode_packet() is this with a small batch of its own
 * whose rows it hands to emit. */
cf_err decode_packet_out(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                         const decode_out *out);

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

/* ==== NetFlow v9 (RFC 3954) and IPFIX (RFC 7011/7012) ======================
 *
 * Owner: netflow9.c, ipfix.c, template.c, template_record.c, template_save.c.
 *
 * NetFlow v9 header, 20 bytes:          IPFIX message header, 16 bytes:
 *   OFFSET SIZE MEANING                   OFFSET SIZE MEANING
 *    0      2   version, 9                 0      2   version, 10
 *    2      2   count: records (all sets)  2      2   length of the message
 *    4      4   sysUptime, ms              4      4   export time, s since epoch
 *    8      4   unix_secs                  8      4   sequence: data records before
 *   12      4   sequence: packets before  12      4   observation domain id
 *   16      4   source id
 * then sets ("flowsets"): set id (2), set length (2, incl. this header),
 * content.  Set ids: v9 0 template, 1 options template; IPFIX 2 template,
 * 3 options template; >= 256 data records of that template.
 *
 * Acceptance (whole message; nothing is applied or emitted when it fails):
 *   - shorter than the header: SHORT, CF_ERR_TRUNCATED;
 *   - IPFIX length < 16 or > the datagram: LENGTH, CF_ERR_TRUNCATED
 *     (bytes after `length` are ignored);
 *   - a set header or set length that runs past the message, or a set
 *     length < 4: LENGTH, CF_ERR_TRUNCATED / CF_ERR_MALFORMED.  In v9 a set
 *     id 0 with length 0 ends the packet (the rest is padding), as some
 *     exporters pad that way;
 *   - v9: fewer records than the header's count while every data set could
 *     be counted (all their templates known): COUNT, CF_ERR_TRUNCATED (a
 *     packet cut at a flowset boundary).  More records than count is
 *     accepted (several exporters count only data records);
 *   - a template record that does not fit its set (field count, scope
 *     length), a template id < 256, or a template whose records would be
 *     empty: RECORD, CF_ERR_MALFORMED (also counted in tpl_stats).
 * Within an accepted message, sets are applied in order: templates are
 * added, replaced or withdrawn; data sets decoded through their template.
 * A data set whose records do not parse (a variable length past its end) is
 * skipped alone and counted in tpl_stats.bad_data_sets; a template that is
 * refused by a limit (max_templates, max_fields) is counted and skipped.
 *
 * Template cache: keyed by (protocol, source id / domain, template id), per
 * decode_exporter (i.e. exporter address + source port).  A template resent
 * with the same fields is refreshed; with different fields it replaces the
 * old one.  IPFIX withdrawal: a template record with field count 0 removes
 * that id; id 2 in a template set (3 in an options template set) removes all
 * templates (options templates) of the domain.
 *
 * Data before template: a data set whose template is not known is copied
 * (with its message's header times) into a per-exporter buffer of at most
 * pending_max_bytes and decoded as soon as its template arrives; what waits
 * longer than pending_max_ms or does not fit is dropped and counted.
 *
 * Records: every flow_record field comes from its IANA element (see
 * template_record.c for the table).  Counters take the first present of
 * packetDeltaCount(2) / initiatorPackets(298) / postPacketDeltaCount(24) /
 * packetTotalCount(86) and octetDeltaCount(1) / initiatorOctets(231) /
 * postOctetDeltaCount(23) / octetTotalCount(85) / layer2OctetDeltaCount(352).
 * Unsigned integers in any reduced size (1..8 bytes) are accepted.  When an
 * element occurs more than once in a record, the first occurrence is used.
 * Enterprise elements are skipped (counted); RFC 5103 reverse elements (PEN
 * 29305) are skipped, so a biflow yields its forward half (counted in
 * biflow_records).  Times, in order of preference for first (last alike):
 * flowStartMilliseconds(152), Seconds(150), Microseconds(154),
 * Nanoseconds(156), DeltaMicroseconds(158), flowStartSysUpTime(22: v9 as
 * unix_secs * 1000 + (int32)(t - sysUptime), i.e. the signed distance
 * modulo 2^32, so a time just after sysUptime stays just after the export
 * time; IPFIX from systemInitTimeMilliseconds
 * (160) of the record or of options data, or when none was sent, from an
 * estimate of it: the smallest export time - sysUpTime of a flow end seen
 * for the domain); else observationTime*(322-325);
 * else the export time.  When only one end is known, the other equals it.
 * A record with only a dataLinkFrameSection (315) gets its addresses,
 * ports and protocol from the outermost IPv4/IPv6 header inside the frame.
 *
 * Sampling: the interval of a record is, in order: samplingInterval(34) /
 * samplerRandomInterval(50) / samplingPacketInterval(305)+Space(306) /
 * samplingPopulation(310)/samplingSize(309) in the record itself; else the
 * options-data entry of its sampler id (48 flowSamplerId, 302 selectorId);
 * else the domain's entry without a sampler id, or its only entry.  Known
 * interval r > 1: counters multiplied by r, FLOW_F_SAMPLED, sampling = r.
 * Unknown: sampling = 1, FLOW_F_SAMPLING_UNKNOWN, tpl_stats.sampling_unknown.
 *
 * Names (options records only; data records never look at these elements):
 * an options record with applicationName(96) and/or applicationDescription
 * (94) names the application of its applicationId(95), keyed exactly as
 * flow_record.app_id (engine << 24 | the selector's last 3 bytes); one with
 * interfaceName(82) and/or interfaceDescription(83) names the interface of
 * its ingressInterface(10), else egressInterface(14), else (v9) its
 * Interface scope field.  Strings may be fixed-length (NUL padded) or, in
 * IPFIX, variable-length; they are sanitised (flow_names_sanitize: printable
 * ASCII, bounded).  A string element absent from the template keeps what
 * the entry had; a present one replaces it.  Kept in a per-exporter
 * flow_names table of at most max_names entries: a new key beyond it is
 * counted in tpl_stats.refused_names and dropped; a name without its key,
 * or with every string empty, in bad_names; every record with names in
 * names_records.
 *
 * Sequence accounting per (protocol, domain), as for v5 (DECODE_SEQ_MAX_GAP):
 * v9 numbers packets (expected next = sequence + 1); IPFIX numbers data
 * records (expected next = sequence + data records in this message; a
 * message with a data set that could not be counted, e.g. waiting for its
 * template, makes the next message only set the expectation).
 */

/* Fills c with the defaults (DECODE_DEFAULT_*). */
void decode_config_default(decode_config *c);

/* Sets ex's limits (zero members: defaults).  Applies to what is added from
 * now on; what is already cached stays. */
void decode_exporter_set_config(decode_exporter *ex, const decode_config *c);

/* Frees the v9/IPFIX state of ex (templates, samplers, pending data) and
 * resets it to "none yet"; ex stays usable.  The owner of a decode_exporter
 * MUST call this before freeing or forgetting it.  Safe on an exporter that
 * never saw v9/IPFIX, and twice. */
void decode_exporter_free(decode_exporter *ex);

/* Copies ex->tpl_stats into out, each counter read atomically (relaxed). */
void decode_tpl_stats_snapshot(const decode_exporter *ex, decode_tpl_stats *out);

/* The application and interface names ex announced (see "Names" above),
 * or NULL before the first.  Valid until the next decode of ex. */
const flow_names *decode_names(const decode_exporter *ex);

/* Adds the entries of src (e.g. a names file read at start) to ex's
 * table, as if announced (max_names applies; refused entries are counted
 * in refused_names).  CF_OK, CF_ERR_FULL (some refused), CF_ERR_NOMEM. */
cf_err decode_names_restore(decode_exporter *ex, const flow_names *src);

/* Templates and options templates cached for ex (0 when none). */
size_t decode_template_count(const decode_exporter *ex);

/* The NetFlow v9 and IPFIX decoders alone (decode_packet dispatches to
 * them); contract as decode_packet.  May allocate (template state) and then
 * return CF_ERR_NOMEM. */
cf_err decode_netflow9(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                       decode_emit_fn emit, void *ctx);
cf_err decode_ipfix(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                    decode_emit_fn emit, void *ctx);

/*
 * Template persistence, so that a restarted collector decodes data at once.
 *
 * decode_templates_save() serialises every template and options template of
 * ex into a malloc'ed buffer (*out, *out_len; the caller frees it).  Format
 * version 1, big endian:
 *
 *   OFFSET SIZE MEANING
 *    0      4   magic "CFTP"
 *    4      2   format version, 1
 *    6      2   reserved, 0
 *    8      4   n: number of templates
 *   12      ..  n template entries:
 *                 1 protocol (9 or 10), 1 options (0/1), 2 template id,
 *                 4 domain, 2 scope field count, 2 field count k,
 *                 k * (2 element id, 2 length, 4 enterprise number)
 *   end-4   4   CRC-32 (IEEE) of every byte before it
 *
 * Returns CF_OK (also with 0 templates), CF_ERR_NOMEM.
 *
 * decode_templates_load() checks the whole buffer first (magic, version,
 * CRC, every count and length against the bytes left and the limits of
 * ex->cfg) and only then adds the templates to ex (replacing equal keys).
 * Returns CF_OK; CF_ERR_CORRUPT (bad magic, CRC, layout), CF_ERR_VERSION,
 * CF_ERR_FULL (more templates than max_templates allows; nothing added),
 * CF_ERR_NOMEM.  On failure ex is unchanged.
 */
cf_err decode_templates_save(const decode_exporter *ex, uint8_t **out, size_t *out_len);
cf_err decode_templates_load(decode_exporter *ex, const uint8_t *buf, size_t len);

/* ==== sFlow v5 (sflow.org/sflow_version_5.txt) ==============================
 *
 * Owner: sflow5.c (datagrams, samples, records), decode_pkthdr.c (sampled
 * packet headers).  XDR: every number is a big-endian 32-bit word unless
 * noted; opaque data is padded to a multiple of 4 bytes.
 *
 * Datagram header:
 *   OFFSET SIZE MEANING
 *    0      4   version, 5
 *    4      4   agent address type: 1 IPv4, 2 IPv6 (0 unknown: no address)
 *    8     4/16 agent address
 *    +0     4   sub-agent id            (-> flow_record.obs_domain)
 *    +4     4   datagram sequence number, per (agent, sub-agent)
 *    +8     4   agent uptime, ms
 *    +12    4   number of samples
 * then the samples, each: 4 data format (enterprise << 12 | format),
 * 4 length, length bytes.  Enterprise 0 formats decoded:
 *   1 flow sample:         sequence, source id (type << 24 | index), sampling
 *                          rate, sample pool, drops, input, output (compact:
 *                          format << 30 | value), number of records  (32 bytes)
 *   2 counter sample:      sequence, source id, number of records     (12 bytes)
 *   3 expanded flow:       sequence, source type, source index, rate, pool,
 *                          drops, input format, input value, output format,
 *                          output value, number of records            (44 bytes)
 *   4 expanded counters:   sequence, source type, source index, number (16 bytes)
 * followed by records: 4 data format, 4 length, length bytes.
 * Flow records (enterprise 0):
 *   1 raw packet header:   header protocol (1 Ethernet, 11 IPv4, 12 IPv6),
 *                          frame length, stripped, header length, header bytes
 *   2 Ethernet frame:      length, src MAC (8, padded), dst MAC (8), type
 *   3 sampled IPv4:        length, protocol, src, dst, src port, dst port,
 *                          TCP flags, TOS                          (32 bytes)
 *   4 sampled IPv6:        length, protocol, src (16), dst (16), src port,
 *                          dst port, TCP flags, priority           (56 bytes)
 *   1001 extended switch:  src VLAN, src priority, dst VLAN, dst priority
 *   1002 extended router:  next hop (type + address), src mask, dst mask
 *   1003 extended gateway: BGP next hop (type + address), router AS, src AS,
 *                          src peer AS, number of path segments, each: type,
 *                          n, n AS numbers; (communities, local pref: skipped)
 * Counter records (enterprise 0): 1 generic interface (88 bytes), 2 Ethernet
 * (52 bytes); see decode_counters.
 *
 * Acceptance (whole datagram; a rejected one emits nothing, touches no
 * sequence state and counts nothing in sflow_stats but its reason):
 *   - shorter than its header: SHORT, CF_ERR_TRUNCATED;
 *   - version != 5: VERSION; agent address type not 0/1/2: RECORD, MALFORMED;
 *   - a sample or record count larger than the 8-byte headers that fit in
 *     the bytes left: COUNT, CF_ERR_TRUNCATED (so no count ever sizes or
 *     bounds anything beyond the bytes present; nothing is allocated);
 *   - a sample or record whose length runs past its container: LENGTH,
 *     CF_ERR_TRUNCATED;
 *   - a known sample/record shorter than its fixed fields, a raw header
 *     length larger than its record, an address type not 0/1/2 in a
 *     router/gateway record, an AS path longer than its record: RECORD,
 *     CF_ERR_MALFORMED.
 * Bytes after the last sample (and inside a sample or record after what is
 * read) are ignored.  Unknown samples and records are skipped by length and
 * counted (sflow_stats.unknown_samples / unknown_records).  The sampled
 * packet inside a raw header is other people's traffic, not the agent's
 * output: a header that is cut short or not IP is never a reason to reject;
 * it is counted (hdr_truncated / hdr_unparsed) and the sample is emitted
 * with what could be read.
 *
 * One flow_record per flow sample:
 *   packets = sampling rate; bytes = frame length * sampling rate, where the
 *   frame length is that of the first raw packet header record (the
 *   original frame incl. layer 2 and FCS, as sfcapd/nfdump store it), else
 *   the length of a sampled IPv4/IPv6 record, else of an Ethernet frame
 *   record; sampling = rate (0 is taken as 1 with FLOW_F_SAMPLING_UNKNOWN);
 *   FLOW_F_SAMPLED when rate > 1; FLOW_F_SFLOW always;
 *   first_ms = last_ms = recv_ms; exporter = ex->addr; obs_domain =
 *   sub-agent id; exporter_proto FLOW_PROTO_SFLOW5;
 *   in_if/out_if: the compact form's raw 32-bit value as sent (format bits
 *   included: 0x40000000|reason = discarded, 0x80000000|n = n interfaces,
 *   0x3fffffff = internal); the expanded form's value when its format is 0,
 *   else format << 30 | (value & 0x3fffffff), the compact encoding;
 *   family, addresses, proto, tos, ports, tcp_flags, icmp type/code: from
 *   the outermost IP header of the first raw packet header (ports of a
 *   non-first fragment are 0; IPv6 extension headers are skipped, so proto
 *   is the upper layer), else from a sampled IPv4/IPv6 record;
 *   src/dst MAC: Ethernet header of the raw header, else Ethernet frame record;
 *   src/dst VLAN: extended switch, else the outer 802.1Q tag (both);
 *   next hop, masks: extended router; BGP next hop, src AS, dst AS (last AS
 *   of the last path segment, 0 for an empty path): extended gateway.
 *
 * Sequence accounting per (agent, sub-agent), at most DECODE_SFLOW_MAX_AGENTS
 * per exporter (a further one takes over the last slot): datagram sequence
 * numbers count datagrams, so after sequence s the next expected is s + 1;
 * gaps go to stats.lost (datagrams), jumps beyond DECODE_SEQ_MAX_GAP or
 * backwards to stats.seq_resets, as for v5.  Drops: for each data source
 * (at most DECODE_SFLOW_MAX_SOURCES) the increase of its drops counter
 * since the previous sample is added to sflow_stats.drops (the first value
 * only sets the baseline; a decrease restarts it).
 *
 * Counter samples: each with a generic interface or Ethernet record (first
 * of each kind) becomes one decode_counters passed to the counter sink.
 */

/* Registers the counter sink of ex (fn NULL: none).  Call after
 * decode_exporter_init(), which clears it. */
void decode_set_counter_sink(decode_exporter *ex, decode_counter_fn fn, void *ctx);

/* Copies ex->sflow_stats into out, each counter read atomically (relaxed). */
void decode_sflow_stats_snapshot(const decode_exporter *ex, decode_sflow_stats *out);

/* Agent address and sub-agent id of the last valid sFlow datagram of ex
 * (zero before the first). */
void decode_sflow_last_agent(const decode_exporter *ex, uint8_t agent[16], uint32_t *sub_agent);

/* The sFlow v5 decoder alone (decode_packet dispatches to it); contract as
 * decode_packet.  Allocates nothing. */
#define DECODE_SFLOW_MIN_HEADER 28 /* header with an IPv4 agent address */
cf_err decode_sflow5(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                     decode_emit_fn emit, void *ctx);

#endif
