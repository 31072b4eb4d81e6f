/*
 * collect/listener.h - UDP sockets, receive threads and the decode thread;
 * optional forwarding and IPFIX over TCP.
 *
 * Where it sits: the entry of the data path.
 *
 *   socket k of every address --> receive thread k --> ring k --\
 *   (SO_REUSEPORT group)          (recvmmsg batches,             +--> decode thread --> pipeline
 *   TCP connections ------------> TCP thread ----> ring T ------/     (ONE producer)
 *
 * A listener binds `threads` sockets per configured UDP address, all with
 * SO_REUSEPORT on the same address, and runs one receive thread per socket
 * index.  The kernel spreads datagrams over the sockets of a group by a hash
 * of the source address and port, so one exporter always lands on the same
 * thread.  A receive thread only receives (recvmmsg, up to 64 datagrams at
 * once), forwards (see below) and copies each datagram with its sender into
 * its own single-producer ring (a byte ring, `ring_bytes` long).  ONE decode
 * thread takes the datagrams out of every ring and hands them to the
 * pipeline (collect/pipeline.h), which therefore keeps its single-producer
 * contract: the exporter table and every exporter's template state are only
 * ever touched by that thread, so templates stay consistent whichever
 * socket or thread a packet came through (goflow2#314, pmacct#272).
 *
 * Back-pressure, never silent loss: decoding and storing never run in a
 * receive thread.  When a ring is full (the decoder is behind), its receive
 * thread stops reading its socket until there is room: datagrams wait in the
 * kernel socket buffer (rcvbuf), and what the kernel has to drop when that
 * is full is counted per socket (SO_RXQ_OVFL) and in total (kernel_drops).
 *
 * Addresses: "[::]:2055" is one IPv6 socket with IPV6_V6ONLY off, so it also
 * receives IPv4, whose senders appear as ::ffff:a.b.c.d (the form of
 * flow_record addresses).  When the host has no IPv6, "[::]:P" falls back to
 * "0.0.0.0:P" (logged).  IPv4 senders on IPv4 sockets are mapped the same way.
 *
 * Receive buffer: SO_RCVBUFFORCE is tried first (works as root, beyond
 * net.core.rmem_max), then SO_RCVBUF; the effective size is logged.
 *
 * Wake-ups: a receive thread that found less than half a batch waits 3 ms
 * before looking again (when the kernel granted its sockets at least 8 MB
 * of buffer: 3 ms of a 10 Gbit/s burst is 3.75 MB), so at low and moderate rates the receive and decode
 * threads wake a few hundred times a second, not once per datagram; at
 * high rates every recvmmsg returns a full batch and nothing waits.  A
 * record is delayed by at most those 3 ms.
 *
 * Allow-list (collect/acl.h): when set, datagrams (and TCP messages)
 * from other addresses are not decoded; they are counted (refused) and
 * logged, rate limited.  It can be replaced while running
 * (collect_listener_set_allow, used on SIGHUP).
 *
 * Forwarding: every datagram received is also sent, unchanged (same UDP
 * payload), to each forward target from a socket of this host, like
 * nfcapd -R or samplicator without spoofing.  A send that fails is counted
 * (forward_errors); forwarding never slows receiving down (MSG_DONTWAIT).
 *
 * IPFIX over TCP (RFC 7011 section 10.4): on each tcp address a TCP
 * listener accepts exporters; the stream is cut into messages by the
 * message length field (bytes 2-3 of each IPFIX header).  A stream that is
 * not IPFIX (version != 10, length < 16) is closed and counted
 * (tcp_bad_streams); other connections are not affected.  The exporter of a
 * TCP message is the connection's source address and port.
 *
 * Ownership / threads: collect_listener_open() in the main thread;
 * collect_listener_start() starts the threads; collect_listener_stop() (any
 * other thread) stops them within ~100 ms after the decode thread has
 * handed every received datagram to the pipeline and pushed its last batch;
 * collect_listener_close() frees.  collect_listener_get_stats() and
 * collect_listener_set_allow() may be called from any thread.
 */
#ifndef CF_COLLECT_LISTENER_H
#define CF_COLLECT_LISTENER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "collect/acl.h"
#include "collect/pipeline.h"
#include "core/error.h"

#define COLLECT_DEFAULT_PORT 2055
#define COLLECT_MAX_RX_THREADS 64

/*
 * Parses a listen address: "[V6]:PORT", "V4:PORT", "[V6]", "V4", ":PORT",
 * "*:PORT" or "PORT" (the last three: any address, i.e. [::]:PORT).  A
 * missing port is default_port.  Returns CF_OK or CF_ERR_USAGE; *out and
 * *out_len untouched on failure.
 */
cf_err collect_addr_parse(const char *text, uint16_t default_port, struct sockaddr_storage *out,
                          socklen_t *out_len);

/* "[ADDR]:PORT" / "ADDR:PORT" of sa into buf (len >= 64). */
void collect_addr_format(const struct sockaddr *sa, char *buf, size_t len);

typedef struct collect_listener collect_listener;

typedef struct collect_listener_options {
    const char *const *addrs; /* UDP addresses, as collect_addr_parse takes them */
    size_t n_addrs;           /* 1 .. 16 */
    uint64_t rcvbuf;          /* socket receive buffer, bytes (0: system default) */
    uint32_t threads;         /* receive threads = sockets per address (0: online cores, at most 64) */
    const char *const *forward; /* targets "HOST/PORT", "V4:PORT" or "[V6]:PORT" */
    size_t n_forward;         /* 0 .. 16 */
    const char *const *tcp;   /* IPFIX-over-TCP listen addresses (default port 4739) */
    size_t n_tcp;             /* 0 .. 16 */
    uint32_t ring_bytes;      /* per receive thread (0: 16 MiB); >= 1 MiB.  A datagram of up to
                               * 1472 bytes takes 1504 of it (a receive slot), a longer one its
                               * length + 32: 16 MiB hold at least 11,000 datagrams */
    collect_acl *allow;       /* allow-list, owned by the listener from now on; NULL: everyone */
} collect_listener_options;

void collect_listener_options_default(collect_listener_options *o);

/* Counters of the listener (totals since open). */
typedef struct collect_listener_stats {
    uint64_t kernel_drops;    /* sum over sockets of SO_RXQ_OVFL */
    uint64_t refused;         /* datagrams / TCP connections refused by the allow-list */
    uint64_t ring_full_waits; /* times a receive thread paused for a full ring */
    uint64_t forwarded;       /* datagrams forwarded (per target) */
    uint64_t forward_errors;  /* forwards that failed (per target) */
    uint64_t tcp_connections; /* TCP connections accepted */
    uint64_t tcp_messages;    /* IPFIX messages received over TCP */
    uint64_t tcp_bad_streams; /* TCP connections closed for a bad message header */
    size_t n_sockets;         /* UDP sockets */
    uint64_t socket_drops[COLLECT_MAX_RX_THREADS * 16]; /* per UDP socket, index = addr * threads + thread */
} collect_listener_stats;

/*
 * Binds every socket and prepares the threads.  Returns CF_OK; CF_ERR_USAGE
 * (bad address or option), CF_ERR_IO (socket/bind failed), CF_ERR_NOMEM;
 * errbuf names the address.  *out untouched on failure (sockets closed, the
 * allow-list freed).
 */
cf_err collect_listener_open_opts(const collect_listener_options *o, collect_listener **out, char *errbuf,
                                  size_t errlen);

/* The same with one receive thread, no forwarding, no TCP, no allow-list. */
cf_err collect_listener_open(const char *const *addrs, size_t n, uint64_t rcvbuf, collect_listener **out,
                             char *errbuf, size_t errlen);

/* Number of UDP addresses, and the address address i is bound to (the real
 * port when 0 was asked). */
size_t collect_listener_count(const collect_listener *l);
void collect_listener_local(const collect_listener *l, size_t i, struct sockaddr_storage *out, socklen_t *len);
/* The address TCP listener i is bound to; CF_ERR_NOT_FOUND when there is none. */
cf_err collect_listener_tcp_local(const collect_listener *l, size_t i, struct sockaddr_storage *out,
                                  socklen_t *len);
/* Receive threads in use. */
uint32_t collect_listener_threads(const collect_listener *l);

/* Starts every thread, feeding p.  CF_ERR_NOMEM when one cannot start (the
 * others are stopped again). */
cf_err collect_listener_start(collect_listener *l, collect_pipeline *p);

/* Replaces the allow-list (NULL: everyone); the listener owns acl from now
 * on and frees the old one.  Takes effect within ~10 ms. */
void collect_listener_set_allow(collect_listener *l, collect_acl *acl);

void collect_listener_get_stats(collect_listener *l, collect_listener_stats *out);

/* Stops every thread (returns once the decode thread has pushed its last batch). */
void collect_listener_stop(collect_listener *l);

/* Stops if needed, closes the sockets, frees l.  NULL is a no-op. */
void collect_listener_close(collect_listener *l);

#endif
