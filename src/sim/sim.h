/*
 * sim/sim.h - a simulated exporter: realistic flows, export encoders, a sender.
 *
 * Where it sits: outside the data path.  `cloudflow send`, the collector's
 * --demo mode, the tests and the benchmarks use it to produce the traffic a
 * router would send: sim_gen makes flow_record values, a sim_encoder packs
 * them into export packets of one protocol, and sim_send_run() sends those
 * packets over UDP at a bounded rate.
 *
 * Traffic model (sim_gen): internal hosts in 10.0.0.0/12 (fd00:10::/44 for
 * IPv6) and external servers in public space, both drawn by Zipf popularity,
 * so a few hosts carry most flows; services drawn by Zipf from a list of
 * popular ports (443, 80, 53, 22, ...); clients use ephemeral ports
 * 32768..60999; about half of the flows run server -> client (responses,
 * larger packets); ~3% scan noise (one SYN from a random outside address to
 * a random inside port).  Packets per flow are Pareto (alpha 1.1, capped),
 * durations exponential (mean 8 s, capped at 10 min).  The map from
 * popularity rank to address is fixed (independent of the seed), so the host
 * universe is the same in every run.  A fixed seed and the same sequence of
 * end times give an identical sequence of records.
 *
 * Every record sim_gen produces is representable in NetFlow v5 when it is
 * IPv4 (16-bit interfaces and AS numbers, 32-bit counters), so a v5 round
 * trip through the decoder gives the same record back.
 *
 * Encoders: one sim_encoder_ops table per protocol (sim_v5.c), looked up by
 * name with sim_encoder_open(); adding v9/IPFIX/sFlow means adding a table
 * and one row in sim_encoder.c's registry.
 *
 * Thread safety: a sim_gen or sim_encoder is used by one thread at a time;
 * different instances are independent (no global state).
 */
#ifndef CF_SIM_SIM_H
#define CF_SIM_SIM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/error.h"
#include "flow/flow.h"

/* ---- flow generator ------------------------------------------------------ */

typedef struct sim_gen_options {
    uint64_t seed;          /* RNG seed; same seed -> same records (default 1) */
    uint32_t v6_pct;        /* percent of IPv6 flows, 0..100 (default 0) */
    uint32_t scan_permille; /* scan noise per mille of flows, 0..1000 (default 30) */
} sim_gen_options;

void sim_gen_options_default(sim_gen_options *o);

typedef struct sim_gen sim_gen;

/* Allocates a generator (about 3 MB of Zipf tables).  CF_ERR_NOMEM, or
 * CF_ERR_RANGE when an option is out of range; *out untouched on failure. */
cf_err sim_gen_open(const sim_gen_options *o, sim_gen **out);

/*
 * Fills *out with the next flow, whose last packet is at last_ms (the caller
 * chooses the timeline: wall clock or virtual).  first_ms <= last_ms.  Sets
 * the fields an exporter measures (addresses, family, ports, proto,
 * tcp_flags, tos, packets, bytes, interfaces, AS numbers, masks, next hop,
 * times); every other field is zero.  last_ms must be > 600000 (the longest
 * duration) so that first_ms does not underflow.
 */
void sim_gen_next(sim_gen *g, uint64_t last_ms, flow_record *out);

/* Frees g; NULL is a no-op. */
void sim_gen_close(sim_gen *g);

/* ---- encoders ------------------------------------------------------------ */

typedef struct sim_encoder_options {
    uint8_t engine_type;        /* NetFlow v5 engine type */
    uint8_t engine_id;          /* NetFlow v5 engine id (also v9 source id / IPFIX domain later) */
    uint64_t boot_ms;           /* when the exporter "booted" (sysUptime 0), ms since the epoch;
                                 * every export time and flow time must lie within 49 days after it */
    uint16_t sampling_interval; /* announced sampling interval (0: none) */
    uint8_t no_templates;       /* v9/IPFIX: never send (options) templates, only data sets; as
                                 * an exporter whose collector restarted between two template
                                 * refreshes (tests template persistence) */
} sim_encoder_options;

/*
 * One export protocol.  The functions are called through sim_encoder_*; an
 * implementation MUST encode deterministically (same state and input -> same
 * bytes) and MUST NOT write past cap.
 */
typedef struct sim_encoder_ops {
    const char *name; /* "v5" */
    /* Allocates the per-exporter state (sequence numbers). */
    cf_err (*open)(const sim_encoder_options *o, void **state);
    /* Largest number of records one packet may carry. */
    size_t (*max_records)(const void *state);
    /* Packs recs[0 .. k) with k = min(n, max_records) into buf (cap bytes);
     * sets *len and *n_used = k.  CF_ERR_RANGE when a record cannot be
     * represented (nothing written), CF_ERR_FULL when cap is too small. */
    cf_err (*encode)(void *state, const flow_record *recs, size_t n, uint64_t export_ms,
                     uint8_t *buf, size_t cap, size_t *len, size_t *n_used);
    void (*close)(void *state);
} sim_encoder_ops;

/* The NetFlow v5 encoder (sim_v5.c). */
extern const sim_encoder_ops sim_encoder_v5;

/* The encoder named name ("v5"), or NULL when there is none. */
const sim_encoder_ops *sim_encoder_find(const char *name);
/* Comma-separated names of the encoders, for help texts. */
const char *sim_encoder_names(void);

typedef struct sim_encoder sim_encoder;

/* Opens an encoder of protocol name.  CF_ERR_USAGE when name is unknown,
 * CF_ERR_NOMEM; *out untouched on failure.  Free with sim_encoder_close(). */
cf_err sim_encoder_open(const char *name, const sim_encoder_options *o, sim_encoder **out);
size_t sim_encoder_max_records(const sim_encoder *e);
/* See sim_encoder_ops.encode; export_ms is the packet's export time. */
cf_err sim_encoder_encode(sim_encoder *e, const flow_record *recs, size_t n, uint64_t export_ms,
                          uint8_t *buf, size_t cap, size_t *len, size_t *n_used);
void sim_encoder_close(sim_encoder *e);

/* Largest packet any encoder produces. */
#define SIM_MAX_PACKET 1500

/* ---- sender -------------------------------------------------------------- */

typedef struct sim_send_options {
    struct sockaddr_storage to; /* destination (IPv4 or IPv6) */
    socklen_t to_len;
    const char *proto;     /* encoder name (default "v5") */
    uint64_t count;        /* flows to send; 0 = until *stop is set */
    double rate;           /* flows per second; 0 = as fast as possible */
    uint32_t exporters;    /* simulated exporters, one socket (source port) each; default 1 */
    uint64_t start_ms;     /* 0: flows end "now" (wall clock); else virtual time of the first flow */
    uint64_t span_ms;      /* with start_ms: last times spread evenly over [start, start + span) */
    double max_seconds;    /* wall-clock bound (0: none) */
    uint16_t src_port;     /* 0: any; else exporter i sends from UDP port src_port + i */
    uint8_t no_templates;  /* v9/IPFIX: send data sets only (sim_encoder_options.no_templates) */
    sim_gen_options gen;
} sim_send_options;

void sim_send_options_default(sim_send_options *o);

typedef struct sim_send_result {
    uint64_t flows;       /* flow records sent */
    uint64_t packets;     /* export packets (UDP datagrams) sent */
    uint64_t udp_bytes;   /* their payload bytes */
    uint64_t rec_packets; /* sum of the packet counters in the records sent */
    uint64_t rec_bytes;   /* sum of the byte counters in the records sent */
    uint64_t send_errors; /* datagrams that could not be sent (not counted above) */
    double elapsed_s;     /* wall time of the run */
} sim_send_result;

/*
 * Generates and sends flows until count is reached, *stop becomes true (may be
 * NULL), or max_seconds elapse.  Sends never block for long: a datagram the
 * kernel refuses (ENOBUFS, EAGAIN) is retried briefly, then counted in
 * send_errors.  *res always describes what was sent, also on failure.
 * Returns CF_OK; CF_ERR_USAGE (unknown proto, bad option; message in errbuf),
 * CF_ERR_IO (socket could not be created), CF_ERR_NOMEM.
 */
cf_err sim_send_run(const sim_send_options *o, const atomic_bool *stop, sim_send_result *res,
                    char *errbuf, size_t errlen);

#endif
