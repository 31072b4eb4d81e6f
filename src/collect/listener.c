/* collect/listener.c - UDP sockets (IPv4/IPv6, dual stack, SO_REUSEPORT
 * groups), receive threads, the decode thread, forwarding and IPFIX over
 * TCP (contract in listener.h). */
#include "collect/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collect/forward.h"
#include "collect/rxring.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "flow/flow.h"

#define RX_BATCH 64            /* datagrams per recvmmsg */
#define RX_BUF_LEN 65536       /* largest UDP payload fits: nothing is ever truncated */
/* Datagrams are received straight into ring slots of RX_SLOT bytes (the
 * largest UDP payload of a 1500-byte IPv4 packet); a longer one's remainder
 * lands in the thread's overflow buffer and the datagram is then copied in
 * whole.  After a batch with a longer datagram (a jumbo-frame exporter) the
 * thread receives RX_COPY_BATCHES batches into its buffers and copies each
 * datagram once, as it would without slots, then tries slots again. */
#define RX_SLOT 1472
#define RX_COPY_BATCHES 64
#define RX_ROUNDS 16           /* recvmmsg calls per socket per wake-up (fairness) */
#define RX_POLL_MS 100         /* stop is noticed within this */
/* Receive coalescing: after a wake-up that found less than half a batch,
 * the receive thread waits RX_COALESCE_US before looking again, so that at
 * low and moderate rates it (and the decode thread it wakes) wakes a few
 * hundred times a second instead of once per datagram.  Only when the
 * kernel granted every socket of the thread a buffer of at least
 * RX_COALESCE_MIN_BUF usable bytes: 3 ms of a 10 Gbit/s burst is 3.75 MB. */
#define RX_COALESCE_US 3000
#define RX_COALESCE_MIN_BUF (8u << 20)
#define RX_MAX_BATCH_AGE_MS 50 /* records wait at most this long in a partial batch */
#define RX_CTRL_LEN 64         /* room for the SO_RXQ_OVFL control message */
#define RX_DEFAULT_RING (16u * 1024u * 1024u)
#define DEC_IDLE_MS 10         /* the decode thread sleeps at most this long */
#define TCP_PORT 4739          /* IANA port of IPFIX */
#define TCP_MAX_CONN 256       /* connections at once (further ones are refused) */
#define TCP_BUF 65536          /* an IPFIX message is at most 65535 bytes */
#define MAX_ADDRS 16

/* One bound UDP socket. */
typedef struct rx_socket {
    int fd;
    struct sockaddr_storage local;
    socklen_t local_len;
    _Atomic uint64_t kernel_drops; /* last SO_RXQ_OVFL value seen */
    uint64_t rcvbuf;               /* receive buffer the kernel granted (as it reports it: twice the usable) */
} rx_socket;

/* One receive thread: one socket of every address, a ring, a forwarder. */
typedef struct rx_thread {
    struct collect_listener *l;
    uint32_t index;
    pthread_t thread;
    int started;
    rxring ring;
    collect_forwarder fwd;
    struct mmsghdr msgs[RX_BATCH];
    struct iovec iov[2 * RX_BATCH]; /* per datagram: its ring slot, then its overflow buffer */
    struct sockaddr_storage from[RX_BATCH];
    uint8_t ctrl[RX_BATCH][RX_CTRL_LEN];
    uint8_t *bufs; /* RX_BATCH * RX_BUF_LEN: datagram i's bytes past RX_SLOT at i * RX_BUF_LEN + RX_SLOT */
    uint32_t copy_batches; /* batches still to receive into bufs (copied), not into slots */
} rx_thread;

/* One IPFIX-over-TCP connection. */
typedef struct tcp_conn {
    int fd;
    uint8_t addr[16];
    uint16_t port;
    uint8_t *buf; /* TCP_BUF bytes */
    size_t have;  /* bytes of the current message so far */
} tcp_conn;

struct collect_listener {
    collect_listener_options opt;
    size_t n_addrs;
    uint32_t threads;
    rx_socket *socks;          /* n_addrs * threads; address a, thread t at a * threads + t */
    rx_thread *rx;             /* threads */
    collect_pipeline *pipe;
    atomic_bool stop;          /* receive and TCP threads stop */
    atomic_bool rx_done;       /* ... and have stopped: the decoder drains and stops */
    /* decode thread */
    pthread_t dec_thread;
    int dec_started;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    atomic_int dec_sleeping;
    collect_acl *acl;                 /* in use by the decode thread */
    _Atomic(collect_acl *) acl_next;  /* handed over by set_allow */
    int acl_swap_pending;
    /* TCP */
    int tcp_fd[MAX_ADDRS];
    struct sockaddr_storage tcp_local[MAX_ADDRS];
    socklen_t tcp_local_len[MAX_ADDRS];
    size_t n_tcp;
    rxring tcp_ring;
    pthread_t tcp_thread;
    int tcp_started;
    /* counters */
    _Atomic uint64_t refused, ring_full_waits, tcp_connections, tcp_messages, tcp_bad_streams;
    cf_ratelimit rl_refused, rl_tcp;
};

void collect_listener_options_default(collect_listener_options *o)
{
    memset(o, 0, sizeof(*o));
}

static int parse_port(const char *s, uint16_t *port)
{
    if (!*s || strlen(s) > 5)
        return -1;
    unsigned v = 0;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9')
            return -1;
        v = v * 10 + (unsigned)(*c - '0');
    }
    if (v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

cf_err collect_addr_parse(const char *text, uint16_t default_port, struct sockaddr_storage *out,
                          socklen_t *out_len)
{
    char host[128];
    uint16_t port = default_port;
    const char *colon = strrchr(text, ':');
    size_t tlen = strlen(text);
    if (tlen == 0 || tlen >= sizeof(host))
        return CF_ERR_USAGE;
    if (parse_port(text, &port) == 0) {
        strcpy(host, "::");
    } else if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || (close[1] != '\0' && (close[1] != ':' || parse_port(close + 2, &port) != 0)))
            return CF_ERR_USAGE;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
    } else if (colon && strchr(text, ':') == colon) {
        /* exactly one colon: HOST:PORT, ":PORT" or "*:PORT" */
        if (parse_port(colon + 1, &port) != 0)
            return CF_ERR_USAGE;
        size_t hl = (size_t)(colon - text);
        memcpy(host, text, hl);
        host[hl] = '\0';
        if (hl == 0 || strcmp(host, "*") == 0)
            strcpy(host, "::");
    } else {
        memcpy(host, text, tlen + 1); /* a bare address */
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        *out_len = sizeof(*s4);
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        *out_len = sizeof(*s6);
    } else {
        return CF_ERR_USAGE;
    }
    *out = ss;
    return CF_OK;
}

void collect_addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
        snprintf(buf, len, "%s:%u", a, (unsigned)ntohs(s4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
        snprintf(buf, len, "[%s]:%u", a, (unsigned)ntohs(s6->sin6_port));
    } else {
        snprintf(buf, len, "?");
    }
}

/* Sets the receive buffer and logs what the kernel granted. */
static void set_rcvbuf(int fd, uint64_t want, const char *name)
{
    int v = want > INT32_MAX / 2 ? INT32_MAX / 2 : (int)want;
    const char *how = "SO_RCVBUFFORCE";
    if (want > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) != 0) {
        how = "SO_RCVBUF";
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) != 0)
            CF_WARN("%s: cannot set the receive buffer: %s", name, strerror(errno));
    }
    int eff = 0;
    socklen_t sl = sizeof(eff);
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &eff, &sl);
    if (want == 0) {
        CF_INFO("listening on %s (receive buffer: system default, %d bytes)", name, eff);
        return;
    }
    /* Linux reports twice the size asked for (bookkeeping overhead) */
    CF_INFO("listening on %s (receive buffer: asked %llu bytes, effective %d bytes via %s)", name,
            (unsigned long long)want, eff, how);
    if ((uint64_t)eff < want)
        CF_WARN("%s: receive buffer is smaller than asked; raise net.core.rmem_max or run as root", name);
}


/* Same as set_rcvbuf for the further sockets of a group, without the log. */
static void set_rcvbuf_quiet(int fd, uint64_t want)
{
    int v = want > INT32_MAX / 2 ? INT32_MAX / 2 : (int)want;
    if (want > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}

/* Stands for "no list" in a hand-over (NULL there means "nothing new"). */
static collect_acl acl_allow_all;
#define COLLECT_ACL_ALLOW_ALL (&acl_allow_all)

static void collect_acl_free_owned(collect_acl *acl)
{
    if (acl != COLLECT_ACL_ALLOW_ALL)
        free(acl);
}

static void add(_Atomic uint64_t *c, uint64_t v) { atomic_fetch_add_explicit(c, v, memory_order_relaxed); }

/* Creates and binds one socket for ss; -1 with errno on failure. */
static int bind_socket(const struct sockaddr_storage *ss, socklen_t len, int type, int reuseport)
{
    int fd = socket(ss->ss_family, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int zero = 0, one = 1;
    if (ss->ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) != 0)
        CF_WARN("cannot turn IPV6_V6ONLY off: %s (IPv4 may not be received)", strerror(errno));
    if (type == SOCK_DGRAM && setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) != 0)
        cf_log(CF_LOG_DEBUG, "SO_RXQ_OVFL unavailable: kernel drops are not counted");
    if (type == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (bind(fd, (const struct sockaddr *)ss, len) != 0 || (type == SOCK_STREAM && listen(fd, 64) != 0)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Binds ss (falling back from [::] to 0.0.0.0 without IPv6); fd or -1. */
static int bind_with_fallback(struct sockaddr_storage *ss, socklen_t *len, int type, int reuseport,
                              const char *text)
{
    int fd = bind_socket(ss, *len, type, reuseport);
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (fd < 0 && ss->ss_family == AF_INET6 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL) &&
        IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr)) {
        uint16_t port = s6->sin6_port;
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        memset(ss, 0, sizeof(*ss));
        s4->sin_family = AF_INET;
        s4->sin_port = port;
        s4->sin_addr.s_addr = htonl(INADDR_ANY);
        *len = sizeof(*s4);
        CF_WARN("IPv6 is not available: listening on 0.0.0.0:%u instead of %s", (unsigned)ntohs(port), text);
        fd = bind_socket(ss, *len, type, reuseport);
    }
    return fd;
}

/* Binds the `threads` sockets of address a (an SO_REUSEPORT group; the
 * first bind fixes the port when 0 was asked). */
static cf_err open_group(collect_listener *l, size_t a, const char *text, char *errbuf, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (collect_addr_parse(text, COLLECT_DEFAULT_PORT, &ss, &len) != CF_OK) {
        snprintf(errbuf, errlen, "listen: '%s' is not an address [ADDR]:PORT", text);
        return CF_ERR_USAGE;
    }
    int reuse = l->threads > 1;
    for (uint32_t t = 0; t < l->threads; t++) {
        rx_socket *rs = &l->socks[a * l->threads + t];
        int fd = t == 0 ? bind_with_fallback(&ss, &len, SOCK_DGRAM, reuse, text)
                        : bind_socket(&ss, len, SOCK_DGRAM, reuse);
        if (fd < 0) {
            snprintf(errbuf, errlen, "listen %s: %s", text, strerror(errno));
            return CF_ERR_IO;
        }
        rs->fd = fd;
        rs->local_len = sizeof(rs->local);
        if (getsockname(fd, (struct sockaddr *)&rs->local, &rs->local_len) != 0) {
            rs->local = ss;
            rs->local_len = len;
        }
        ss = rs->local; /* same address and (real) port for the rest of the group */
        len = rs->local_len;
        char name[80];
        collect_addr_format((const struct sockaddr *)&rs->local, name, sizeof(name));
        if (t == 0)
            set_rcvbuf(fd, l->opt.rcvbuf, name);
        else
            set_rcvbuf_quiet(fd, l->opt.rcvbuf);
        int eff = 0;
        socklen_t sl = sizeof(eff);
        rs->rcvbuf = getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &eff, &sl) == 0 && eff > 0 ? (uint64_t)eff : 0;
    }
    if (l->threads > 1) {
        char name[80];
        collect_addr_format((const struct sockaddr *)&l->socks[a * l->threads].local, name, sizeof(name));
        CF_INFO("%s: %u sockets (SO_REUSEPORT), one receive thread each", name, l->threads);
    }
    return CF_OK;
}

static cf_err open_tcp(collect_listener *l, size_t i, const char *text, char *errbuf, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (collect_addr_parse(text, TCP_PORT, &ss, &len) != CF_OK) {
        snprintf(errbuf, errlen, "tcp-listen: '%s' is not an address [ADDR]:PORT", text);
        return CF_ERR_USAGE;
    }
    int fd = bind_with_fallback(&ss, &len, SOCK_STREAM, 0, text);
    if (fd < 0) {
        snprintf(errbuf, errlen, "tcp-listen %s: %s", text, strerror(errno));
        return CF_ERR_IO;
    }
    l->tcp_fd[i] = fd;
    l->tcp_local_len[i] = sizeof(l->tcp_local[i]);
    if (getsockname(fd, (struct sockaddr *)&l->tcp_local[i], &l->tcp_local_len[i]) != 0) {
        l->tcp_local[i] = ss;
        l->tcp_local_len[i] = len;
    }
    char name[80];
    collect_addr_format((const struct sockaddr *)&l->tcp_local[i], name, sizeof(name));
    CF_INFO("listening for IPFIX over TCP on %s", name);
    return CF_OK;
}

static uint32_t default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > COLLECT_MAX_RX_THREADS ? COLLECT_MAX_RX_THREADS : (uint32_t)n;
}

/* Allocates l's parts after l->opt, n_addrs and threads are set. */
static cf_err alloc_parts(collect_listener *l, char *errbuf, size_t errlen)
{
    size_t ring = l->opt.ring_bytes ? l->opt.ring_bytes : RX_DEFAULT_RING;
    l->socks = calloc(l->n_addrs * l->threads, sizeof(*l->socks));
    l->rx = calloc(l->threads, sizeof(*l->rx));
    if (!l->socks || !l->rx)
        goto nomem;
    for (size_t i = 0; i < l->n_addrs * l->threads; i++)
        l->socks[i].fd = -1;
    for (uint32_t t = 0; t < l->threads; t++) {
        rx_thread *rt = &l->rx[t];
        rt->l = l;
        rt->index = t;
        rt->fwd.fd4 = rt->fwd.fd6 = -1;
        if (rxring_init(&rt->ring, ring) != CF_OK || !(rt->bufs = malloc((size_t)RX_BATCH * RX_BUF_LEN)))
            goto nomem;
        cf_err err = collect_forward_open(&rt->fwd, l->opt.forward, l->opt.n_forward, errbuf, errlen);
        if (err)
            return err;
    }
    if (l->opt.n_tcp && rxring_init(&l->tcp_ring, ring) != CF_OK)
        goto nomem;
    return CF_OK;
nomem:
    snprintf(errbuf, errlen, "out of memory");
    return CF_ERR_NOMEM;
}

cf_err collect_listener_open_opts(const collect_listener_options *o, collect_listener **out, char *errbuf,
                                  size_t errlen)
{
    if (o->n_addrs == 0 || o->n_addrs > MAX_ADDRS || o->n_tcp > MAX_ADDRS || o->threads > COLLECT_MAX_RX_THREADS ||
        (o->ring_bytes && o->ring_bytes < (1u << 20))) {
        snprintf(errbuf, errlen, o->n_addrs == 0 ? "no listen address" : "listener options out of range");
        collect_acl_free_owned(o->allow);
        return CF_ERR_USAGE;
    }
    collect_listener *l = calloc(1, sizeof(*l));
    if (!l) {
        collect_acl_free_owned(o->allow);
        return CF_ERR_NOMEM;
    }
    l->opt = *o;
    l->n_addrs = o->n_addrs;
    l->threads = o->threads ? o->threads : default_threads();
    l->acl = o->allow;
    atomic_init(&l->acl_next, NULL);
    atomic_init(&l->stop, false);
    atomic_init(&l->rx_done, false);
    for (size_t i = 0; i < MAX_ADDRS; i++)
        l->tcp_fd[i] = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->wake, NULL);
    cf_err err = alloc_parts(l, errbuf, errlen);
    l->opt.allow = NULL; /* held in l->acl */
    for (size_t a = 0; !err && a < o->n_addrs; a++)
        err = open_group(l, a, o->addrs[a], errbuf, errlen);
    for (size_t i = 0; !err && i < o->n_tcp; i++) {
        err = open_tcp(l, i, o->tcp[i], errbuf, errlen);
        l->n_tcp = err ? i : i + 1;
    }
    if (err) {
        collect_listener_close(l);
        return err;
    }
    if (o->n_forward)
        CF_INFO("forwarding every datagram to %zu target(s)", o->n_forward);
    *out = l;
    return CF_OK;
}

cf_err collect_listener_open(const char *const *addrs, size_t n, uint64_t rcvbuf, collect_listener **out,
                             char *errbuf, size_t errlen)
{
    collect_listener_options o;
    collect_listener_options_default(&o);
    o.addrs = addrs;
    o.n_addrs = n;
    o.rcvbuf = rcvbuf;
    o.threads = 1;
    return collect_listener_open_opts(&o, out, errbuf, errlen);
}

size_t collect_listener_count(const collect_listener *l) { return l->n_addrs; }

uint32_t collect_listener_threads(const collect_listener *l) { return l->threads; }

void collect_listener_local(const collect_listener *l, size_t i, struct sockaddr_storage *out, socklen_t *len)
{
    *out = l->socks[i * l->threads].local;
    *len = l->socks[i * l->threads].local_len;
}

cf_err collect_listener_tcp_local(const collect_listener *l, size_t i, struct sockaddr_storage *out,
                                  socklen_t *len)
{
    if (i >= l->n_tcp)
        return CF_ERR_NOT_FOUND;
    *out = l->tcp_local[i];
    *len = l->tcp_local_len[i];
    return CF_OK;
}

/* The sender of a datagram as a flow_record address and port. */
static void sender_of(const struct sockaddr_storage *ss, uint8_t addr[16], uint16_t *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        flow_addr_from_v4(addr, ntohl(s4->sin_addr.s_addr));
        *port = ntohs(s4->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        memcpy(addr, &s6->sin6_addr, 16);
        *port = ntohs(s6->sin6_port);
    } else {
        memset(addr, 0, 16);
        *port = 0;
    }
}

/* The SO_RXQ_OVFL counter carried by msg, if any. */
static void read_drops(struct msghdr *msg, rx_socket *rs)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL &&
            cm->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
            uint32_t v;
            memcpy(&v, CMSG_DATA(cm), sizeof(v));
            atomic_store_explicit(&rs->kernel_drops, v, memory_order_relaxed);
        }
}

/* Wakes the decode thread when it sleeps. */
static void wake_decoder(collect_listener *l)
{
    if (atomic_load(&l->dec_sleeping)) {
        pthread_mutex_lock(&l->mu);
        pthread_cond_signal(&l->wake);
        pthread_mutex_unlock(&l->mu);
    }
}

/* Puts one datagram into ring, waiting (ring full: the decoder is behind)
 * until there is room or the listener stops.  False when stopped. */
static bool ring_put_wait(collect_listener *l, rxring *ring, const uint8_t addr[16], uint16_t port,
                          uint64_t now, const uint8_t *data, size_t len)
{
    bool waited = false;
    while (!rxring_put(ring, addr, port, now, data, len)) {
        if (!waited)
            add(&l->ring_full_waits, 1);
        waited = true;
        rxring_publish(ring);
        wake_decoder(l);
        if (atomic_load_explicit(&l->stop, memory_order_relaxed))
            return false;
        struct timespec ms = {0, 500000};
        nanosleep(&ms, NULL);
    }
    return true;
}

/* Puts datagrams first .. k of the latest batch into the ring, copying
 * each whole from its buffer of bufs.  Received into slots (slots not
 * NULL), they did not all fit theirs: each slot part is first copied in
 * front of the rest in the overflow buffer, all before any is put, since
 * the puts reuse the slots. */
static bool put_whole(rx_thread *rt, rx_socket *rs, const uint8_t *slots, size_t first, size_t k, uint64_t now)
{
    for (size_t i = first; slots && i < k; i++) {
        size_t len = rt->msgs[i].msg_len;
        memcpy(rt->bufs + i * RX_BUF_LEN, slots + i * (RXRING_HDR + RX_SLOT), len < RX_SLOT ? len : RX_SLOT);
    }
    for (size_t i = first; i < k; i++) {
        uint8_t addr[16];
        uint16_t port;
        sender_of(&rt->from[i], addr, &port);
        read_drops(&rt->msgs[i].msg_hdr, rs);
        if (!ring_put_wait(rt->l, &rt->ring, addr, port, now, rt->bufs + i * RX_BUF_LEN, rt->msgs[i].msg_len))
            return false;
    }
    return true;
}

/* Reserves ring slots for a batch, waiting (ring full: the decoder is
 * behind) until there is room for at least one or the listener stops.
 * Returns how many (0: stopped). */
static size_t reserve_wait(collect_listener *l, rx_thread *rt, uint8_t **slots)
{
    bool waited = false;
    size_t n;
    while (!(*slots = rxring_reserve(&rt->ring, RX_SLOT, RX_BATCH, &n))) {
        if (!waited)
            add(&l->ring_full_waits, 1);
        waited = true;
        rxring_publish(&rt->ring);
        wake_decoder(l);
        if (atomic_load_explicit(&l->stop, memory_order_relaxed))
            return 0;
        struct timespec ms = {0, 500000};
        nanosleep(&ms, NULL);
    }
    return n;
}

/* Sets up the receive buffers of up to room datagrams: the ring slots from
 * slots (NULL: each datagram whole into its buffer of bufs, to be copied). */
static void prepare_batch(rx_thread *rt, uint8_t *slots, size_t room)
{
    for (size_t i = 0; i < room; i++) {
        struct msghdr *h = &rt->msgs[i].msg_hdr;
        uint8_t *buf = rt->bufs + i * RX_BUF_LEN;
        /* at most 65535 bytes in all (rxring_put's limit; UDP carries fewer) */
        if (slots) {
            rt->iov[2 * i] = (struct iovec){slots + i * (RXRING_HDR + RX_SLOT), RX_SLOT};
            rt->iov[2 * i + 1] = (struct iovec){buf + RX_SLOT, RX_BUF_LEN - 1 - RX_SLOT};
        } else {
            rt->iov[2 * i] = (struct iovec){buf, RX_BUF_LEN - 1};
            rt->iov[2 * i + 1] = (struct iovec){buf + RX_BUF_LEN - 1, 0};
        }
        memset(h, 0, sizeof(*h));
        h->msg_iov = &rt->iov[2 * i];
        h->msg_iovlen = 2;
        h->msg_name = &rt->from[i];
        h->msg_namelen = sizeof(rt->from[i]);
        h->msg_control = rt->ctrl[i];
        h->msg_controllen = RX_CTRL_LEN;
    }
}

/* Reads socket rs until it is empty (or RX_ROUNDS batches were read),
 * straight into ring slots (or, after long datagrams, through bufs). */
static size_t drain_socket(rx_thread *rt, rx_socket *rs)
{
    collect_listener *l = rt->l;
    size_t got = 0;
    for (int round = 0; round < RX_ROUNDS; round++) {
        uint8_t *slots = NULL;
        size_t room = RX_BATCH;
        if (rt->copy_batches == 0 && (room = reserve_wait(l, rt, &slots)) == 0)
            return got;
        prepare_batch(rt, slots, room);
        int k = recvmmsg(rs->fd, rt->msgs, (unsigned)room, MSG_DONTWAIT, NULL);
        if (k <= 0) {
            if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                CF_WARN("recvmmsg: %s", strerror(errno));
            return got;
        }
        got += (size_t)k;
        uint64_t now = cf_time_now_ms();
        bool any_long = false;
        for (int i = 0; i < k; i++) {
            size_t len = rt->msgs[i].msg_len;
            any_long |= len > RX_SLOT;
            if (rt->fwd.n) { /* what each buffer holds, for forwarding */
                size_t first = slots && len > RX_SLOT ? RX_SLOT : len;
                rt->iov[2 * i].iov_len = first;
                rt->iov[2 * i + 1].iov_len = len - first;
            }
        }
        if (rt->fwd.n)
            collect_forward_send(&rt->fwd, rt->iov, 2, (size_t)k);
        if (!slots) {
            if (!any_long)
                rt->copy_batches--;
            if (!put_whole(rt, rs, NULL, 0, (size_t)k, now))
                return got;
        } else {
            for (int i = 0; i < k; i++) {
                if (rt->msgs[i].msg_len > RX_SLOT) {
                    rt->copy_batches = RX_COPY_BATCHES;
                    if (!put_whole(rt, rs, slots, (size_t)i, (size_t)k, now))
                        return got;
                    break;
                }
                uint8_t addr[16];
                uint16_t port;
                sender_of(&rt->from[i], addr, &port);
                read_drops(&rt->msgs[i].msg_hdr, rs);
                rxring_commit(&rt->ring, RX_SLOT, addr, port, now, rt->msgs[i].msg_len);
            }
        }
        rxring_publish(&rt->ring);
        wake_decoder(l);
        if ((size_t)k < room)
            return got;
    }
    return got;
}

static void *rx_main(void *arg)
{
    rx_thread *rt = arg;
    collect_listener *l = rt->l;
    struct pollfd pfd[MAX_ADDRS];
    size_t n = l->n_addrs;
    for (size_t a = 0; a < n; a++)
        pfd[a] = (struct pollfd){.fd = l->socks[a * l->threads + rt->index].fd, .events = POLLIN};
    /* coalescing only when every socket of this thread got the buffer it
     * needs (Linux reports twice the usable size) */
    bool coalesce = true;
    for (size_t a = 0; a < n; a++)
        coalesce &= l->socks[a * l->threads + rt->index].rcvbuf >= 2 * (uint64_t)RX_COALESCE_MIN_BUF;
    while (!atomic_load_explicit(&l->stop, memory_order_relaxed)) {
        int r = poll(pfd, (nfds_t)n, RX_POLL_MS);
        if (r < 0 && errno != EINTR) {
            CF_ERROR("poll: %s", strerror(errno));
            break;
        }
        size_t got = 0;
        for (size_t a = 0; r > 0 && a < n; a++)
            if (pfd[a].revents & POLLIN)
                got += drain_socket(rt, &l->socks[a * l->threads + rt->index]);
        if (coalesce && got > 0 && got < RX_BATCH / 2) {
            const struct timespec ts = {0, RX_COALESCE_US * 1000L};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

/* ---- decode thread ------------------------------------------------------- */

/* Hands at most max datagrams of ring to the pipeline; returns how many. */
static size_t decode_ring(collect_listener *l, rxring *ring, size_t max)
{
    rxring_msg m;
    size_t done = 0;
    while (done < max && rxring_peek(ring, &m)) {
        done++;
        if (!collect_acl_allows(l->acl, m.addr)) {
            char name[80];
            add(&l->refused, 1);
            collect_exporter_name(m.addr, m.port, name, sizeof(name));
            cf_log_limited(&l->rl_refused, CF_LOG_WARN, "refused a packet from %s (not in the allow-list)", name);
            continue;
        }
        collect_pipeline_packet(l->pipe, m.addr, m.port, m.data, m.len, m.recv_ms);
    }
    rxring_release(ring);
    return done;
}

static uint64_t sum_kernel_drops(collect_listener *l)
{
    uint64_t drops = 0;
    for (size_t i = 0; i < l->n_addrs * l->threads; i++)
        drops += atomic_load_explicit(&l->socks[i].kernel_drops, memory_order_relaxed);
    return drops;
}

/* The counters the pipeline's snapshots carry (stats.tsv). */
static void publish_counts(collect_listener *l)
{
    collect_listener_counts c;
    memset(&c, 0, sizeof(c));
    c.kernel_drops = sum_kernel_drops(l);
    c.refused = atomic_load_explicit(&l->refused, memory_order_relaxed);
    c.ring_full_waits = atomic_load_explicit(&l->ring_full_waits, memory_order_relaxed);
    c.tcp_connections = atomic_load_explicit(&l->tcp_connections, memory_order_relaxed);
    c.tcp_messages = atomic_load_explicit(&l->tcp_messages, memory_order_relaxed);
    c.tcp_bad_streams = atomic_load_explicit(&l->tcp_bad_streams, memory_order_relaxed);
    for (uint32_t t = 0; t < l->threads; t++) {
        c.forwarded += atomic_load_explicit(&l->rx[t].fwd.sent, memory_order_relaxed);
        c.forward_errors += atomic_load_explicit(&l->rx[t].fwd.errors, memory_order_relaxed);
    }
    collect_pipeline_set_listener_counts(l->pipe, &c);
}

static bool rings_empty(collect_listener *l)
{
    for (uint32_t t = 0; t < l->threads; t++)
        if (!rxring_empty(&l->rx[t].ring))
            return false;
    return !l->opt.n_tcp || rxring_empty(&l->tcp_ring);
}

static void dec_sleep(collect_listener *l, int ms)
{
    atomic_store(&l->dec_sleeping, 1);
    if (rings_empty(l) && !atomic_load(&l->rx_done)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_mutex_lock(&l->mu);
        pthread_cond_timedwait(&l->wake, &l->mu, &ts);
        pthread_mutex_unlock(&l->mu);
    }
    atomic_store(&l->dec_sleeping, 0);
}

static void *dec_main(void *arg)
{
    collect_listener *l = arg;
    for (;;) {
        collect_acl *next = atomic_exchange(&l->acl_next, NULL);
        if (next) {
            collect_acl_free_owned(l->acl == next ? NULL : l->acl);
            l->acl = next == COLLECT_ACL_ALLOW_ALL ? NULL : next;
        }
        bool done = atomic_load(&l->rx_done); /* read before the rings: nothing comes after */
        size_t got = 0;
        for (uint32_t t = 0; t < l->threads; t++)
            got += decode_ring(l, &l->rx[t].ring, 4096);
        if (l->opt.n_tcp)
            got += decode_ring(l, &l->tcp_ring, 4096);
        publish_counts(l);
        int due = collect_pipeline_push_aged(l->pipe, RX_MAX_BATCH_AGE_MS);
        if (got == 0) {
            if (done)
                break;
            dec_sleep(l, due < 0 || due > DEC_IDLE_MS ? DEC_IDLE_MS : (due < 1 ? 1 : due));
        }
    }
    publish_counts(l);
    collect_pipeline_push(l->pipe);
    return NULL;
}

/* ---- IPFIX over TCP ------------------------------------------------------ */

static void tcp_close_conn(tcp_conn *c)
{
    close(c->fd);
    free(c->buf);
    c->fd = -1;
    c->buf = NULL;
}

static void tcp_accept(collect_listener *l, int lfd, tcp_conn *conns, size_t *n_conns)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    uint8_t addr[16];
    uint16_t port;
    sender_of(&ss, addr, &port);
    char name[80];
    collect_exporter_name(addr, port, name, sizeof(name));
    if (*n_conns == TCP_MAX_CONN) {
        cf_log_limited(&l->rl_tcp, CF_LOG_WARN, "IPFIX/TCP: too many connections, refused %s", name);
        close(fd);
        return;
    }
    tcp_conn *c = &conns[(*n_conns)++];
    c->fd = fd;
    memcpy(c->addr, addr, 16);
    c->port = port;
    c->have = 0;
    c->buf = malloc(TCP_BUF);
    if (!c->buf) {
        close(fd);
        (*n_conns)--;
        return;
    }
    add(&l->tcp_connections, 1);
    CF_INFO("IPFIX/TCP: connection from %s", name);
}

/* Reads what conn c has; queues every whole message.  False when the
 * connection is to be closed (end of stream, error, bad header). */
static bool tcp_read(collect_listener *l, tcp_conn *c)
{
    for (;;) {
        size_t want = 16; /* the IPFIX message header */
        if (c->have >= 4) {
            unsigned version = (unsigned)c->buf[0] << 8 | c->buf[1];
            unsigned mlen = (unsigned)c->buf[2] << 8 | c->buf[3];
            if (version != 10 || mlen < 16) {
                char name[80];
                add(&l->tcp_bad_streams, 1);
                collect_exporter_name(c->addr, c->port, name, sizeof(name));
                cf_log_limited(&l->rl_tcp, CF_LOG_WARN,
                               "IPFIX/TCP %s: bad message header (version %u, length %u): connection closed", name,
                               version, mlen);
                return false;
            }
            want = mlen;
        }
        if (c->have == want && want >= 16) {
            if (!ring_put_wait(l, &l->tcp_ring, c->addr, c->port, cf_time_now_ms(), c->buf, c->have))
                return false;
            rxring_publish(&l->tcp_ring);
            wake_decoder(l);
            add(&l->tcp_messages, 1);
            c->have = 0;
            continue;
        }
        ssize_t r = read(c->fd, c->buf + c->have, want - c->have);
        if (r > 0) {
            c->have += (size_t)r;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return true;
        return false; /* end of stream or error: a partial message is dropped */
    }
}

static void *tcp_main(void *arg)
{
    collect_listener *l = arg;
    tcp_conn *conns = calloc(TCP_MAX_CONN, sizeof(*conns));
    struct pollfd *pfd = calloc(MAX_ADDRS + TCP_MAX_CONN, sizeof(*pfd));
    size_t n_conns = 0;
    while (conns && pfd && !atomic_load_explicit(&l->stop, memory_order_relaxed)) {
        size_t n = 0;
        for (size_t i = 0; i < l->n_tcp; i++)
            pfd[n++] = (struct pollfd){.fd = l->tcp_fd[i], .events = POLLIN};
        for (size_t i = 0; i < n_conns; i++)
            pfd[n++] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
        int r = poll(pfd, (nfds_t)n, RX_POLL_MS);
        if (r <= 0)
            continue;
        for (size_t i = 0; i < n_conns; i++) {
            if (!(pfd[l->n_tcp + i].revents & (POLLIN | POLLHUP | POLLERR)) || tcp_read(l, &conns[i]))
                continue;
            char name[80];
            collect_exporter_name(conns[i].addr, conns[i].port, name, sizeof(name));
            CF_INFO("IPFIX/TCP: connection from %s closed", name);
            tcp_close_conn(&conns[i]);
        }
        size_t k = 0; /* compact, keeping the order of the survivors */
        for (size_t i = 0; i < n_conns; i++)
            if (conns[i].fd >= 0)
                conns[k++] = conns[i];
        n_conns = k;
        for (size_t i = 0; i < l->n_tcp; i++)
            if (pfd[i].revents & POLLIN)
                tcp_accept(l, l->tcp_fd[i], conns, &n_conns);
    }
    for (size_t i = 0; i < n_conns; i++)
        tcp_close_conn(&conns[i]);
    free(conns);
    free(pfd);
    return NULL;
}

/* ---- start / stop -------------------------------------------------------- */

cf_err collect_listener_start(collect_listener *l, collect_pipeline *p)
{
    if (l->dec_started)
        return CF_ERR_USAGE;
    l->pipe = p;
    atomic_store(&l->stop, false);
    atomic_store(&l->rx_done, false);
    if (pthread_create(&l->dec_thread, NULL, dec_main, l) != 0)
        return CF_ERR_NOMEM;
    pthread_setname_np(l->dec_thread, "cf-decode"); /* names shown by top -H, ps -L */
    l->dec_started = 1;
    for (uint32_t t = 0; t < l->threads; t++) {
        if (pthread_create(&l->rx[t].thread, NULL, rx_main, &l->rx[t]) != 0) {
            collect_listener_stop(l);
            return CF_ERR_NOMEM;
        }
        l->rx[t].started = 1;
        char name[16];
        snprintf(name, sizeof(name), "cf-recv-%u", (unsigned)(t % 1000));
        pthread_setname_np(l->rx[t].thread, name);
    }
    if (l->n_tcp) {
        if (pthread_create(&l->tcp_thread, NULL, tcp_main, l) != 0) {
            collect_listener_stop(l);
            return CF_ERR_NOMEM;
        }
        l->tcp_started = 1;
        pthread_setname_np(l->tcp_thread, "cf-tcp");
    }
    return CF_OK;
}

void collect_listener_set_allow(collect_listener *l, collect_acl *acl)
{
    collect_acl *old = atomic_exchange(&l->acl_next, acl ? acl : COLLECT_ACL_ALLOW_ALL);
    collect_acl_free_owned(old); /* a list handed over before and never taken up */
    if (!l->dec_started) {       /* no decode thread: take it now */
        collect_acl *next = atomic_exchange(&l->acl_next, NULL);
        collect_acl_free_owned(l->acl);
        l->acl = next == COLLECT_ACL_ALLOW_ALL ? NULL : next;
    }
}

void collect_listener_get_stats(collect_listener *l, collect_listener_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->kernel_drops = sum_kernel_drops(l);
    out->refused = atomic_load(&l->refused);
    out->ring_full_waits = atomic_load(&l->ring_full_waits);
    out->tcp_connections = atomic_load(&l->tcp_connections);
    out->tcp_messages = atomic_load(&l->tcp_messages);
    out->tcp_bad_streams = atomic_load(&l->tcp_bad_streams);
    for (uint32_t t = 0; t < l->threads; t++) {
        out->forwarded += atomic_load(&l->rx[t].fwd.sent);
        out->forward_errors += atomic_load(&l->rx[t].fwd.errors);
    }
    out->n_sockets = l->n_addrs * l->threads;
    for (size_t i = 0; i < out->n_sockets && i < sizeof(out->socket_drops) / sizeof(out->socket_drops[0]); i++)
        out->socket_drops[i] = atomic_load(&l->socks[i].kernel_drops);
}

void collect_listener_stop(collect_listener *l)
{
    if (!l || !l->dec_started)
        return;
    atomic_store(&l->stop, true);
    for (uint32_t t = 0; t < l->threads; t++)
        if (l->rx[t].started) {
            pthread_join(l->rx[t].thread, NULL);
            l->rx[t].started = 0;
        }
    if (l->tcp_started) {
        pthread_join(l->tcp_thread, NULL);
        l->tcp_started = 0;
    }
    atomic_store(&l->rx_done, true);
    pthread_mutex_lock(&l->mu);
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->dec_thread, NULL);
    l->dec_started = 0;
}

void collect_listener_close(collect_listener *l)
{
    if (!l)
        return;
    collect_listener_stop(l);
    for (size_t i = 0; l->socks && i < l->n_addrs * l->threads; i++)
        if (l->socks[i].fd >= 0)
            close(l->socks[i].fd);
    for (size_t i = 0; i < MAX_ADDRS; i++)
        if (l->tcp_fd[i] >= 0)
            close(l->tcp_fd[i]);
    for (uint32_t t = 0; l->rx && t < l->threads; t++) {
        rxring_free(&l->rx[t].ring);
        collect_forward_close(&l->rx[t].fwd);
        free(l->rx[t].bufs);
    }
    if (l->opt.n_tcp)
        rxring_free(&l->tcp_ring);
    collect_acl_free_owned(l->acl);
    collect_acl_free_owned(atomic_load(&l->acl_next));
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->wake);
    free(l->socks);
    free(l->rx);
    free(l);
}
