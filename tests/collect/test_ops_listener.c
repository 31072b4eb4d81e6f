/*
 * tests/collect/test_ops_listener.c - the listener in production: the
 * receive ring, the allow-list, SO_REUSEPORT receive threads, forwarding
 * (bytes identical) and IPFIX over TCP (messages split at odd boundaries, a
 * broken stream closes only its connection).  Loopback only, bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "collect/acl.h"
#include "collect/listener.h"
#include "collect/pipeline.h"
#include "collect/rxring.h"
#include "sim/sim.h"
#include "testutil.h"

#define T0 UINT64_C(1704067200000)

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* n packets of proto (30 flows each for v5) into bufs; returns flows. */
static uint64_t make_packets(const char *proto, int n, uint8_t (*bufs)[SIM_MAX_PACKET], size_t *lens)
{
    sim_gen_options go;
    sim_gen_options_default(&go);
    sim_gen *g = NULL;
    assert_int_equal(sim_gen_open(&go, &g), CF_OK);
    sim_encoder_options eo = {.boot_ms = T0 - 86400000u};
    sim_encoder *e = NULL;
    assert_int_equal(sim_encoder_open(proto, &eo, &e), CF_OK);
    uint64_t flows = 0;
    for (int i = 0; i < n; i++) {
        flow_record recs[30];
        for (int k = 0; k < 30; k++)
            sim_gen_next(g, T0 + (uint64_t)(i * 30 + k) * 10, &recs[k]);
        size_t used;
        assert_int_equal(sim_encoder_encode(e, recs, 30, recs[29].last_ms, bufs[i], SIM_MAX_PACKET, &lens[i], &used),
                         CF_OK);
        flows += used;
    }
    sim_encoder_close(e);
    sim_gen_close(g);
    return flows;
}

static collect_pipeline *open_pipeline(const char *dir)
{
    collect_pipeline_options o;
    collect_pipeline_options_default(&o);
    o.data_dir = dir;
    o.log_interval_ms = 0;
    collect_pipeline *p = NULL;
    char err[512];
    assert_int_equal(collect_pipeline_open(&o, &p, err, sizeof(err)), CF_OK);
    return p;
}

static collect_listener *open_listener(collect_listener_options *o)
{
    const char *addr[] = {"127.0.0.1:0"};
    if (!o->addrs) {
        o->addrs = addr;
        o->n_addrs = 1;
    }
    collect_listener *l = NULL;
    char err[512];
    cf_err e = collect_listener_open_opts(o, &l, err, sizeof(err));
    if (e)
        fprintf(stderr, "open: %s\n", err);
    assert_int_equal(e, CF_OK);
    return l;
}

static int udp_to(const collect_listener *l, struct sockaddr_storage *to, socklen_t *len)
{
    collect_listener_local(l, 0, to, len);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    return fd;
}

/* Records decoded so far, waiting up to 20 s for want (sanitizer builds on a loaded machine are slow). */
static uint64_t wait_records(collect_pipeline *p, uint64_t want)
{
    uint64_t got = 0;
    for (int i = 0; i < 2000; i++) {
        collect_snapshot s;
        assert_int_equal(collect_pipeline_get_snapshot(p, &s), CF_OK);
        got = s.totals.records;
        collect_snapshot_free(&s);
        if (got >= want)
            break;
        sleep_ms(10);
    }
    return got;
}

static void test_ring_wraps(void **state)
{
    (void)state;
    rxring r;
    assert_int_equal(rxring_init(&r, 1), CF_OK); /* rounded up to the minimum */
    uint8_t data[3000], addr[16] = {0};
    size_t next_put = 0, next_get = 0;
    for (int round = 0; round < 400; round++) {
        for (int k = 0; k < 7; k++, next_put++) {
            size_t len = 1 + (next_put * 331) % sizeof(data);
            memset(data, (int)(next_put & 0xff), len);
            addr[15] = (uint8_t)next_put;
            if (!rxring_put(&r, addr, (uint16_t)next_put, next_put, data, len))
                break;
        }
        rxring_publish(&r);
        rxring_msg m;
        for (int k = 0; k < 5 && rxring_peek(&r, &m); k++, next_get++) {
            assert_int_equal(m.len, 1 + (next_get * 331) % sizeof(data));
            assert_int_equal(m.port, (uint16_t)next_get);
            assert_int_equal(m.recv_ms, next_get);
            assert_int_equal(m.addr[15], (uint8_t)next_get);
            assert_int_equal(m.data[0], (uint8_t)next_get);
            assert_int_equal(m.data[m.len - 1], (uint8_t)next_get);
        }
        rxring_release(&r);
    }
    assert_true(next_put > 1000); /* wrapped several times */
    rxring_free(&r);
}

/* Slots reserved for receiving and copied entries, mixed, wrapping: every
 * entry comes out in order with its bytes; unused reserved slots are not
 * entries. */
static void test_ring_slots(void **state)
{
    (void)state;
    rxring r;
    assert_int_equal(rxring_init(&r, 1), CF_OK);
    enum { SLOT = 2048 };
    uint8_t data[5000], addr[16] = {0};
    static size_t lens[8000];
    size_t next_put = 0, next_get = 0, wraps = 0;
    uint64_t last_wpos = 0;
    for (int round = 0; round < 600; round++) {
        size_t n = 0;
        uint8_t *s = rxring_reserve(&r, SLOT, 1 + (size_t)round % 9, &n);
        size_t use = n ? (size_t)round % (n + 1) : 0; /* sometimes fewer than reserved */
        for (size_t k = 0; k < use; k++, next_put++) {
            size_t len = lens[next_put] = 1 + (next_put * 331) % SLOT;
            memset(s + k * (RXRING_HDR + SLOT), (int)(next_put & 0xff), len);
            addr[15] = (uint8_t)next_put;
            rxring_commit(&r, SLOT, addr, (uint16_t)next_put, next_put, len);
        }
        if (round % 4 == 0) { /* then a copied one, possibly longer than a slot */
            size_t len = lens[next_put] = 1 + (next_put * 331) % sizeof(data);
            memset(data, (int)(next_put & 0xff), len);
            addr[15] = (uint8_t)next_put;
            if (rxring_put(&r, addr, (uint16_t)next_put, next_put, data, len))
                next_put++;
        }
        rxring_publish(&r);
        wraps += r.wpos / r.cap != last_wpos / r.cap;
        last_wpos = r.wpos;
        rxring_msg m;
        for (int k = 0; k < 4 && rxring_peek(&r, &m); k++, next_get++) {
            assert_int_equal(m.len, lens[next_get]);
            assert_int_equal(m.port, (uint16_t)next_get);
            assert_int_equal(m.recv_ms, next_get);
            assert_int_equal(m.addr[15], (uint8_t)next_get);
            assert_int_equal(m.data[0], (uint8_t)next_get);
            assert_int_equal(m.data[m.len - 1], (uint8_t)next_get);
        }
        rxring_release(&r);
    }
    rxring_msg m;
    while (rxring_peek(&r, &m))
        next_get++;
    assert_int_equal(next_get, next_put);
    assert_true(next_put < sizeof(lens) / sizeof(lens[0]));
    assert_true(wraps > 3);
    assert_null(rxring_reserve(&r, SLOT, 0, &next_get)); /* nothing asked: nothing reserved */
    assert_int_equal(next_get, 0);
    /* a full ring reserves nothing */
    rxring_release(&r);
    size_t n = 1;
    while (rxring_reserve(&r, SLOT, 64, &n)) {
        for (size_t k = 0; k < n; k++)
            rxring_commit(&r, SLOT, addr, 0, 0, 1);
    }
    assert_int_equal(n, 0);
    rxring_free(&r);
}

static void test_acl(void **state)
{
    (void)state;
    const char *e[] = {"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"};
    collect_acl *acl = NULL;
    char err[256];
    assert_int_equal(collect_acl_parse(e, 3, &acl, err, sizeof(err)), CF_OK);
    uint8_t a[16];
    flow_addr_from_v4(a, 0x0a010203u);
    assert_true(collect_acl_allows(acl, a));
    flow_addr_from_v4(a, 0x0b010203u);
    assert_false(collect_acl_allows(acl, a));
    flow_addr_from_v4(a, 0xc0000207u);
    assert_true(collect_acl_allows(acl, a));
    flow_addr_from_v4(a, 0xc0000208u);
    assert_false(collect_acl_allows(acl, a));
    assert_int_equal(inet_pton(AF_INET6, "2001:db8:1::5", a), 1);
    assert_true(collect_acl_allows(acl, a));
    assert_int_equal(inet_pton(AF_INET6, "2001:db9::5", a), 1);
    assert_false(collect_acl_allows(acl, a));
    assert_true(collect_acl_allows(NULL, a));
    free(acl);
    const char *bad[] = {"10.0.0.0/33"};
    assert_int_equal(collect_acl_parse(bad, 1, &acl, err, sizeof(err)), CF_ERR_USAGE);
    assert_int_equal(collect_acl_check("fe80::/129"), CF_ERR_USAGE);
    assert_int_equal(collect_acl_check("host"), CF_ERR_USAGE);
}

/* Several SO_REUSEPORT threads, several exporters: every record arrives. */
static void test_reuseport_threads(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("ops-rp");
    collect_pipeline *p = open_pipeline(dir);
    collect_listener_options o;
    collect_listener_options_default(&o);
    o.threads = 3;
    collect_listener *l = open_listener(&o);
    assert_int_equal(collect_listener_threads(l), 3);
    assert_int_equal(collect_listener_start(l, p), CF_OK);
    static uint8_t bufs[20][SIM_MAX_PACKET];
    size_t lens[20];
    uint64_t flows = make_packets("v5", 20, bufs, lens);
    struct sockaddr_storage to;
    socklen_t tl;
    for (int ex = 0; ex < 6; ex++) { /* six exporters: six source ports */
        int fd = udp_to(l, &to, &tl);
        for (int i = 0; i < 20; i++)
            assert_true(sendto(fd, bufs[i], lens[i], 0, (struct sockaddr *)&to, tl) == (ssize_t)lens[i]);
        close(fd);
    }
    assert_int_equal(wait_records(p, 6 * flows), 6 * flows);
    collect_listener_stop(l);
    collect_snapshot s;
    assert_int_equal(collect_pipeline_close(p, &s), CF_OK);
    assert_int_equal(s.totals.exporters, 6);
    assert_int_equal(s.totals.store_written, 6 * flows);
    assert_int_equal(s.totals.queue_drop_records, 0);
    collect_snapshot_free(&s);
    collect_listener_close(l);
    free(dir);
}

/* Exporters outside the allow-list are refused and counted; a new list
 * handed over while running takes effect. */
static void test_allow_list(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("ops-acl");
    collect_pipeline *p = open_pipeline(dir);
    const char *e[] = {"10.0.0.0/8"};
    collect_acl *acl = NULL;
    char err[256];
    assert_int_equal(collect_acl_parse(e, 1, &acl, err, sizeof(err)), CF_OK);
    collect_listener_options o;
    collect_listener_options_default(&o);
    o.threads = 1;
    o.allow = acl;
    collect_listener *l = open_listener(&o);
    assert_int_equal(collect_listener_start(l, p), CF_OK);
    static uint8_t bufs[4][SIM_MAX_PACKET];
    size_t lens[4];
    uint64_t flows = make_packets("v5", 4, bufs, lens);
    struct sockaddr_storage to;
    socklen_t tl;
    int fd = udp_to(l, &to, &tl);
    for (int i = 0; i < 2; i++)
        sendto(fd, bufs[i], lens[i], 0, (struct sockaddr *)&to, tl);
    collect_listener_stats ls;
    for (int i = 0; i < 2000; i++) {
        collect_listener_get_stats(l, &ls);
        if (ls.refused == 2)
            break;
        sleep_ms(10);
    }
    assert_int_equal(ls.refused, 2);
    const char *e2[] = {"127.0.0.0/8"};
    assert_int_equal(collect_acl_parse(e2, 1, &acl, err, sizeof(err)), CF_OK);
    collect_listener_set_allow(l, acl);
    sleep_ms(500); /* the decode thread takes the new list up at its next loop */
    for (int i = 2; i < 4; i++)
        sendto(fd, bufs[i], lens[i], 0, (struct sockaddr *)&to, tl);
    close(fd);
    uint64_t half = flows / 2;
    assert_int_equal(wait_records(p, half), half);
    collect_listener_stop(l);
    collect_listener_get_stats(l, &ls);
    assert_int_equal(ls.refused, 2);
    assert_int_equal(collect_pipeline_close(p, NULL), CF_OK);
    collect_listener_close(l);
    free(dir);
}

/* A UDP socket on a free loopback port (4 MB of buffer, as much as the
 * system grants) to forward to; target gets its "127.0.0.1/PORT". */
static int forward_sink(char *target, size_t len)
{
    int sink = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(sink, (struct sockaddr *)&sa, sizeof(sa)), 0);
    int big = 4 << 20;
    setsockopt(sink, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    socklen_t sl = sizeof(sa);
    getsockname(sink, (struct sockaddr *)&sa, &sl);
    snprintf(target, len, "127.0.0.1/%u", (unsigned)ntohs(sa.sin_port));
    return sink;
}

/* A listener of threads receive threads forwarding to target. */
static collect_listener *open_forwarding_listener(uint32_t threads, const char *target)
{
    static const char *fwd[1];
    fwd[0] = target;
    collect_listener_options o;
    collect_listener_options_default(&o);
    o.threads = threads;
    o.forward = fwd;
    o.n_forward = 1;
    return open_listener(&o);
}

/* The next n datagrams on sink are the n sent, in order (one sender: its
 * datagrams reach one socket and one receive thread): datagram i is the
 * lens[i] bytes at base + i * stride. */
static void expect_forwarded(int sink, const uint8_t *base, size_t stride, const size_t *lens, size_t n)
{
    static uint8_t got[65536];
    for (size_t i = 0; i < n; i++) {
        struct pollfd pfd = {.fd = sink, .events = POLLIN};
        assert_int_equal(poll(&pfd, 1, 3000), 1);
        ssize_t r = recv(sink, got, sizeof(got), 0);
        assert_int_equal(r, (ssize_t)lens[i]);
        assert_memory_equal(got, base + i * stride, lens[i]);
    }
}

/* Every datagram is repeated unchanged to the forward target. */
static void test_forward_identical(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("ops-fwd");
    char target[64];
    int sink = forward_sink(target, sizeof(target));
    collect_pipeline *p = open_pipeline(dir);
    collect_listener *l = open_forwarding_listener(2, target);
    assert_int_equal(collect_listener_start(l, p), CF_OK);
    static uint8_t bufs[10][SIM_MAX_PACKET];
    size_t lens[10];
    make_packets("v9", 10, bufs, lens);
    struct sockaddr_storage to;
    socklen_t tl;
    int fd = udp_to(l, &to, &tl);
    for (int i = 0; i < 10; i++)
        assert_true(sendto(fd, bufs[i], lens[i], 0, (struct sockaddr *)&to, tl) == (ssize_t)lens[i]);
    expect_forwarded(sink, bufs[0], SIM_MAX_PACKET, lens, 10);
    close(fd);
    close(sink);
    collect_listener_stop(l);
    collect_listener_stats ls;
    collect_listener_get_stats(l, &ls);
    assert_int_equal(ls.forwarded, 10);
    assert_int_equal(ls.forward_errors, 0);
    assert_int_equal(collect_pipeline_close(p, NULL), CF_OK);
    collect_listener_close(l);
    free(dir);
}

/* Datagrams longer than a receive slot (IPFIX messages of about 12 KB,
 * each the sets of several ordinary ones, between ordinary ones) are
 * stored in order, and forwarded whole. */
#define SMALL 240
#define BIG_CAP 40000

static void test_datagrams_longer_than_a_slot(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("ops-big");
    char target[64];
    int sink = forward_sink(target, sizeof(target));
    collect_pipeline *p = open_pipeline(dir);
    collect_listener *l = open_forwarding_listener(1, target);
    static uint8_t small[SMALL][SIM_MAX_PACKET];
    size_t small_len[SMALL];
    uint64_t flows = make_packets("ipfix", SMALL, small, small_len);
    /* messages of 1, 25 and 4 of those in turn: one header (the first's,
     * length fixed), then every set of each */
    static uint8_t bufs[SMALL / 10][BIG_CAP];
    size_t lens[SMALL / 10], n = 0, longest = 0;
    static const int group[3] = {1, 25, 4};
    for (size_t i = 0; i < SMALL; n++) {
        size_t len = 16;
        memcpy(bufs[n], small[i], 16);
        for (int g = 0; g < group[n % 3] && i < SMALL; g++, i++) {
            assert_true(len + small_len[i] - 16 <= BIG_CAP);
            memcpy(bufs[n] + len, small[i] + 16, small_len[i] - 16);
            len += small_len[i] - 16;
        }
        bufs[n][2] = (uint8_t)(len >> 8);
        bufs[n][3] = (uint8_t)len;
        lens[n] = len;
        longest = len > longest ? len : longest;
    }
    assert_true(longest > 4 * 2048); /* several receive slots' worth */
    struct sockaddr_storage to;
    socklen_t tl;
    int fd = udp_to(l, &to, &tl);
    /* the first half sent before the receive thread starts (about 70 KB:
     * within the default socket buffer), so that one batch holds datagrams
     * of every size, a long one after short ones; the second half once
     * that batch is read: received whole into the thread's buffers then */
    for (size_t i = 0; i < n / 2; i++)
        assert_true(sendto(fd, bufs[i], lens[i], 0, (struct sockaddr *)&to, tl) == (ssize_t)lens[i]);
    assert_int_equal(collect_listener_start(l, p), CF_OK);
    sleep_ms(300);
    for (size_t i = n / 2; i < n; i++)
        assert_true(sendto(fd, bufs[i], lens[i], 0, (struct sockaddr *)&to, tl) == (ssize_t)lens[i]);
    assert_int_equal(wait_records(p, flows), flows);
    expect_forwarded(sink, bufs[0], BIG_CAP, lens, n);
    close(fd);
    close(sink);
    collect_listener_stop(l);
    collect_snapshot s;
    assert_int_equal(collect_pipeline_close(p, &s), CF_OK);
    assert_int_equal(s.totals.store_written, flows);
    for (int r = 0; r < DECODE_N_REASONS; r++)
        assert_int_equal(s.totals.malformed[r], 0);
    assert_int_equal(s.totals.lost_sequence, 0);
    assert_int_equal(s.totals.kernel_drops, 0);
    collect_snapshot_free(&s);
    collect_listener_close(l);
    free(dir);
}

static int tcp_connect(const collect_listener *l)
{
    struct sockaddr_storage to;
    socklen_t tl;
    assert_int_equal(collect_listener_tcp_local(l, 0, &to, &tl), CF_OK);
    int fd = socket(to.ss_family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&to, tl), 0);
    return fd;
}

static void wait_tcp(collect_listener *l, uint64_t messages, uint64_t bad, collect_listener_stats *ls)
{
    for (int i = 0; i < 2000; i++) {
        collect_listener_get_stats(l, ls);
        if (ls->tcp_messages >= messages && ls->tcp_bad_streams >= bad)
            return;
        sleep_ms(10);
    }
}

/* IPFIX over TCP: messages split at odd boundaries are framed by their
 * length; a broken stream closes only its own connection. */
static void test_ipfix_tcp(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("ops-tcp");
    collect_pipeline *p = open_pipeline(dir);
    const char *tcp[] = {"127.0.0.1:0"};
    collect_listener_options o;
    collect_listener_options_default(&o);
    o.threads = 1;
    o.tcp = tcp;
    o.n_tcp = 1;
    collect_listener *l = open_listener(&o);
    assert_int_equal(collect_listener_start(l, p), CF_OK);
    static uint8_t bufs[6][SIM_MAX_PACKET];
    size_t lens[6];
    uint64_t flows = make_packets("ipfix", 6, bufs, lens);
    static uint8_t stream[6 * SIM_MAX_PACKET];
    size_t total = 0;
    for (int i = 0; i < 5; i++) {
        memcpy(stream + total, bufs[i], lens[i]);
        total += lens[i];
    }
    int good = tcp_connect(l);
    static const size_t cuts[] = {1, 2, 3, 7, 13, 101, 499, 1021};
    for (size_t off = 0, k = 0; off < total; k++) {
        size_t n = cuts[k % 8];
        n = n > total - off ? total - off : n;
        assert_int_equal(send(good, stream + off, n, 0), (ssize_t)n);
        off += n;
        if (k % 5 == 0)
            sleep_ms(1); /* let the reads see partial headers */
    }
    collect_listener_stats ls;
    wait_tcp(l, 5, 0, &ls);
    assert_int_equal(ls.tcp_messages, 5);
    /* a second connection sends a bad header: closed, counted */
    int bad = tcp_connect(l);
    static const uint8_t junk[16] = {0, 9, 0, 16};
    assert_int_equal(send(bad, junk, sizeof(junk), 0), 16);
    wait_tcp(l, 5, 1, &ls);
    assert_int_equal(ls.tcp_bad_streams, 1);
    /* the first connection still works */
    assert_int_equal(send(good, bufs[5], lens[5], 0), (ssize_t)lens[5]);
    wait_tcp(l, 6, 1, &ls);
    assert_int_equal(ls.tcp_messages, 6);
    assert_int_equal(ls.tcp_connections, 2);
    assert_int_equal(wait_records(p, flows), flows);
    close(good);
    close(bad);
    collect_listener_stop(l);
    collect_snapshot s;
    assert_int_equal(collect_pipeline_close(p, &s), CF_OK);
    assert_int_equal(s.totals.store_written, flows);
    collect_snapshot_free(&s);
    collect_listener_close(l);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_wraps),         cmocka_unit_test(test_acl),
        cmocka_unit_test(test_reuseport_threads),  cmocka_unit_test(test_allow_list),
        cmocka_unit_test(test_forward_identical),  cmocka_unit_test(test_datagrams_longer_than_a_slot),
        cmocka_unit_test(test_ring_slots),  cmocka_unit_test(test_ipfix_tcp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
