/* tests/collect/test_collect_e2e.c - `cloudflow collect` end to end on
 * loopback: what `cloudflow send` sends is what the store holds; malformed
 * packets are counted in DATADIR/stats.tsv; IPv6 and dual-stack listeners
 * receive; --demo produces data. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collect/stats.h"
#include "ctest_util.h"
#include "flow/flow.h"
#include "testutil.h"

/* Sends n datagrams of len bytes starting with version `version` to 127.0.0.1:port. */
static void send_junk(uint16_t port, uint16_t version, size_t len, int n)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    uint8_t buf[64];
    memset(buf, 0, sizeof(buf));
    buf[0] = (uint8_t)(version >> 8);
    buf[1] = (uint8_t)version;
    buf[3] = 1; /* count 1 */
    assert_true(len <= sizeof(buf));
    for (int i = 0; i < n; i++)
        assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)len);
    close(fd);
}

static void test_v4_counts_match_sender(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("e2e4");
    assert_non_null(dir);
    char data[4200], log[4200], listen[64], to[64];
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/collect.log", dir);
    uint16_t port = ct_free_port(4);
    assert_true(port != 0);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    const char *argv[] = {"collect", "--listen", listen, "--data", data, "--rcvbuf", "8M", "--flush", "200", NULL};
    pid_t pid = ct_spawn(argv, log);
    assert_true(pid > 0);
    assert_true(ct_wait_for(log, "collecting into", 5000));

    snprintf(to, sizeof(to), "127.0.0.1:%u", port);
    ct_sent sent;
    assert_int_equal(ct_send(to, "--count 20000 --rate 20000 --seed 11", &sent), 0);
    assert_int_equal(sent.flows, 20000);
    assert_int_equal(sent.send_errors, 0);
    send_junk(port, 5, 10, 3);  /* shorter than the v5 header */
    send_junk(port, 7, 24, 2);  /* a version nobody decodes */
    usleep(300000);
    assert_int_equal(ct_stop(pid, SIGTERM, 10000), 0);

    ct_store_sum sum;
    assert_int_equal(ct_store_read(data, &sum), 0);
    assert_int_equal(sum.errors, 0);
    assert_int_equal(sum.unsealed, 0);
    assert_int_equal(sum.flows, sent.flows);
    assert_int_equal(sum.packets, sent.rec_packets);
    assert_int_equal(sum.bytes, sent.rec_bytes);

    assert_int_equal(ct_stat(data, "total", "datagrams"), sent.packets + 5);
    assert_int_equal(ct_stat(data, "total", "records"), sent.flows);
    assert_int_equal(ct_stat(data, "total", "store_written"), sent.flows);
    assert_int_equal(ct_stat(data, "total", "malformed_short"), 3);
    assert_int_equal(ct_stat(data, "total", "malformed_version"), 2);
    assert_int_equal(ct_stat(data, "total", "queue_drop_records"), 0);
    assert_int_equal(ct_stat(data, "total", "lost_sequence"), 0);

    char *out = NULL, cmd[4400];
    snprintf(cmd, sizeof(cmd), "'%s' stats -w '%s'", tu_binary(), data);
    assert_int_equal(tu_run(cmd, &out), 0);
    assert_non_null(strstr(out, "records stored"));
    free(out);
    char *logtext = tu_read_file(log, NULL);
    assert_non_null(strstr(logtext, "final stats"));
    free(logtext);
    tu_rm_rf(dir);
    free(dir);
}

/* The exporter of s whose address is want (16 bytes), or NULL. */
static const collect_exporter_stats *find_exporter(const collect_snapshot *s, const uint8_t want[16])
{
    for (size_t i = 0; i < s->n_exporters; i++)
        if (memcmp(s->exporters[i].addr, want, 16) == 0)
            return &s->exporters[i];
    return NULL;
}

static void test_ipv6_and_dual_stack(void **state)
{
    (void)state;
    if (!ct_have_ipv6()) {
        fprintf(stderr, "no IPv6 on loopback: skipped\n");
        skip();
    }
    char *dir = tu_mkdtemp("e2e6");
    assert_non_null(dir);
    char data[4200], log[4200], l6[64], lany[64], to6[64], to4[64];
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/collect.log", dir);
    uint16_t p6 = ct_free_port(6), pany = ct_free_port(4);
    assert_true(p6 && pany && p6 != pany);
    snprintf(l6, sizeof(l6), "[::1]:%u", p6);
    snprintf(lany, sizeof(lany), "[::]:%u", pany);
    const char *argv[] = {"collect", "--listen", l6, "--listen", lany, "--data", data, "--flush", "200", NULL};
    pid_t pid = ct_spawn(argv, log);
    assert_true(pid > 0);
    assert_true(ct_wait_for(log, "collecting into", 5000));

    ct_sent a, b;
    snprintf(to6, sizeof(to6), "[::1]:%u", p6);
    snprintf(to4, sizeof(to4), "127.0.0.1:%u", pany); /* IPv4 into the dual-stack [::] socket */
    assert_int_equal(ct_send(to6, "--count 3000 --rate 20000 --seed 2", &a), 0);
    assert_int_equal(ct_send(to4, "--count 2000 --rate 20000 --seed 3", &b), 0);
    usleep(300000);
    assert_int_equal(ct_stop(pid, SIGTERM, 10000), 0);

    ct_store_sum sum;
    assert_int_equal(ct_store_read(data, &sum), 0);
    assert_int_equal(sum.errors, 0);
    assert_int_equal(sum.flows, a.flows + b.flows);
    assert_int_equal(sum.bytes, a.rec_bytes + b.rec_bytes);

    collect_snapshot s;
    char path[4300], err[512];
    snprintf(path, sizeof(path), "%s/stats.tsv", data);
    assert_int_equal(collect_stats_read(path, &s, err, sizeof(err)), CF_OK);
    uint8_t v6lo[16] = {0}, v4lo[16];
    v6lo[15] = 1;
    flow_addr_from_v4(v4lo, 0x7f000001u); /* ::ffff:127.0.0.1, as flow records hold it */
    const collect_exporter_stats *e6 = find_exporter(&s, v6lo), *e4 = find_exporter(&s, v4lo);
    assert_non_null(e6);
    assert_non_null(e4);
    assert_int_equal(e6->s.records, a.flows);
    assert_int_equal(e4->s.records, b.flows);
    collect_snapshot_free(&s);
    tu_rm_rf(dir);
    free(dir);
}

static void test_demo_mode_stores_flows(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("demo");
    assert_non_null(dir);
    char data[4200], log[4200], listen[64];
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/collect.log", dir);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", ct_free_port(4));
    const char *argv[] = {"collect", "--listen", listen, "--data", data, "--demo", "--flush", "200", NULL};
    pid_t pid = ct_spawn(argv, log);
    assert_true(pid > 0);
    assert_true(ct_wait_for(log, "demo mode is on", 5000));
    usleep(1500000);
    assert_int_equal(ct_stop(pid, SIGTERM, 10000), 0);
    ct_store_sum sum;
    assert_int_equal(ct_store_read(data, &sum), 0);
    assert_int_equal(sum.errors, 0);
    assert_true(sum.flows >= 100); /* ~200 flows/s for 1.5 s */
    assert_int_equal(ct_stat(data, "total", "store_written"), sum.flows);
    tu_rm_rf(dir);
    free(dir);
}

static void test_demo_stops_when_a_real_exporter_sends(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("demo-stop");
    assert_non_null(dir);
    char data[4200], log[4200], listen[64];
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/collect.log", dir);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", ct_free_port(4));
    const char *argv[] = {"collect", "--listen", listen, "--data", data, "--demo", "--flush", "200", NULL};
    pid_t pid = ct_spawn(argv, log);
    assert_true(pid > 0);
    assert_true(ct_wait_for(log, "demo mode is on", 5000));
    ct_sent sent;
    assert_int_equal(ct_send(listen, "--count 300 --rate 3000", &sent), 0);
    assert_true(ct_wait_for(log, "the demo feed is stopped", 5000));
    /* after the demo stopped, only the real exporter's flows arrive */
    ct_store_sum sum;
    usleep(500000);
    assert_int_equal(ct_stop(pid, SIGTERM, 10000), 0);
    assert_int_equal(ct_store_read(data, &sum), 0);
    uint64_t demo_flows = sum.flows - sent.flows;
    char *text = tu_read_file(log, NULL);
    assert_non_null(text);
    unsigned long long demo_sent = 0;
    const char *line = strstr(text, "demo exporter sent ");
    assert_non_null(line);
    assert_int_equal(sscanf(line, "demo exporter sent %llu flows", &demo_sent), 1);
    assert_int_equal(demo_flows, demo_sent);
    free(text);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v4_counts_match_sender),
        cmocka_unit_test(test_ipv6_and_dual_stack),
        cmocka_unit_test(test_demo_mode_stores_flows),
        cmocka_unit_test(test_demo_stops_when_a_real_exporter_sends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
