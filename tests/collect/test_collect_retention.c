/* tests/collect/test_collect_retention.c - `cloudflow collect` applies
 * retention (retention-age, retention-size) to its sources by itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <cmocka.h>

#include "ctest_util.h"
#include "store/store.h"
#include "testutil.h"

/* softflowd's capture holds 30 flows of 2015: an old segment in a data dir. */
static void import_old_flows(const char *data)
{
    char pcap[4096], cmd[9000];
    tu_testdata("pcap/softflowd/wrapped-logstash_softflowd_v5.pcap", pcap, sizeof(pcap));
    snprintf(cmd, sizeof(cmd), "'%s' import '%s' --data '%s' >/dev/null 2>&1", tu_binary(), pcap, data);
    assert_int_equal(tu_run(cmd, NULL), 0);
}

static size_t n_segments(const char *data)
{
    store_segment *segs = NULL;
    size_t n = 0;
    if (store_list(data, 0, UINT64_MAX, &segs, &n) != CF_OK)
        return 0;
    store_segments_free(segs, n);
    return n;
}

static void run_collector(const char *dir, const char *data, const char *opt, const char *value)
{
    char log[4200], listen[64];
    snprintf(log, sizeof(log), "%s/collect.log", dir);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", ct_free_port(4));
    const char *argv[] = {"collect", "--listen", listen, "--data", data, opt, value, NULL};
    pid_t pid = ct_spawn(argv, log);
    assert_true(pid > 0);
    /* retention runs when the writer starts, then every minute */
    assert_true(ct_wait_for(log, "retention: source default: removed 1 segments", 10000));
    ct_sent sent;
    assert_int_equal(ct_send(listen, "--count 500 --rate 5000", &sent), 0);
    assert_int_equal(ct_stop(pid, SIGTERM, 10000), 0);
    assert_int_equal(ct_stat(data, "total", "retention_segments"), 1);
    assert_true(ct_stat(data, "total", "retention_bytes") > 0);
    /* the new flows (now) stay */
    ct_store_sum sum;
    assert_int_equal(ct_store_read(data, &sum), 0);
    assert_int_equal(sum.flows, sent.flows);
}

static void test_retention_age_removes_old_segments(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("ret-age");
    char data[4200];
    snprintf(data, sizeof(data), "%s/data", dir);
    import_old_flows(data);
    assert_int_equal(n_segments(data), 1);
    run_collector(dir, data, "--retention-age", "30d");
    tu_rm_rf(dir);
    free(dir);
}

static void test_retention_size_removes_oldest_segments(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("ret-size");
    char data[4200];
    snprintf(data, sizeof(data), "%s/data", dir);
    import_old_flows(data);
    /* 1 byte: every sealed segment goes when the collector starts */
    run_collector(dir, data, "--retention-size", "1");
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retention_age_removes_old_segments),
        cmocka_unit_test(test_retention_size_removes_oldest_segments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
