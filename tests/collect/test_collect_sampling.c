/* tests/collect/test_collect_sampling.c - the sampling-default and
 * sampling-override keys: per exporter (by address prefix), first match. */
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
#include "testutil.h"

/* Runs the collector with one extra option, sends 300 v5 flows (whose
 * headers announce no sampling) from 127.0.0.1 and returns the packets
 * stored, with what `send` put in the records in *sent_packets. */
static uint64_t stored_packets(const char *opt, const char *value, uint64_t *sent_packets)
{
    char *dir = tu_mkdtemp("sampling");
    char data[4200], log[4200], listen[64];
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/collect.log", dir);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", ct_free_port(4));
    const char *argv[] = {"collect", "--listen", listen, "--data", data, "--flush", "100", opt, value, NULL};
    pid_t pid = ct_spawn(argv, log);
    assert_true(pid > 0);
    assert_true(ct_wait_for(log, "collecting into", 5000));
    ct_sent sent;
    assert_int_equal(ct_send(listen, "--count 300 --rate 3000", &sent), 0);
    assert_int_equal(ct_stop(pid, SIGTERM, 10000), 0);
    ct_store_sum sum;
    assert_int_equal(ct_store_read(data, &sum), 0);
    assert_int_equal(sum.flows, sent.flows);
    *sent_packets = sent.rec_packets;
    tu_rm_rf(dir);
    free(dir);
    return sum.packets;
}

static void test_default_applies_when_nothing_is_announced(void **state)
{
    (void)state;
    uint64_t sent;
    uint64_t stored = stored_packets("--sampling-default", "10", &sent);
    assert_int_equal(stored, sent * 10);
}

static void test_override_by_prefix(void **state)
{
    (void)state;
    uint64_t sent;
    uint64_t stored = stored_packets("--sampling-override", "127.0.0.0/8=100", &sent);
    assert_int_equal(stored, sent * 100);
    /* a rule for other exporters leaves these alone */
    stored = stored_packets("--sampling-override", "10.0.0.0/8=100", &sent);
    assert_int_equal(stored, sent);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_applies_when_nothing_is_announced),
        cmocka_unit_test(test_override_by_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
