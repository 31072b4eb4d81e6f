/* tests/collect/test_collect_crash.c - kill -9 of the collector mid-stream:
 * every segment still reads back without error, at most the records of the
 * last flush window are lost, and a restarted collector seals the segments. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctest_util.h"
#include "testutil.h"

#define RATE 10000      /* flows per second sent */
#define COUNT 40000     /* 4 s of traffic */
#define FLUSH_MS 1000   /* the collector's flush interval */

static void test_kill9_loses_at_most_one_flush_window(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("crash");
    assert_non_null(dir);
    char data[4200], log[4200], log2[4200], listen[64], to[64], count[64];
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/collect.log", dir);
    snprintf(log2, sizeof(log2), "%s/collect2.log", dir);
    uint16_t port = ct_free_port(4);
    assert_true(port != 0);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    snprintf(to, sizeof(to), "127.0.0.1:%u", port);
    const char *argv[] = {"collect", "--listen", listen, "--data", data, "--flush", "1000", "--rotate", "60", NULL};
    pid_t pid = ct_spawn(argv, log);
    assert_true(pid > 0);
    assert_true(ct_wait_for(log, "collecting into", 5000));

    /* the stream ends and the collector is killed at once: whatever it still
     * buffers (up to FLUSH_MS of records) is lost, the rest must be on disk */
    ct_sent sent;
    snprintf(count, sizeof(count), "--count %d --rate %d --seed 5", COUNT, RATE);
    assert_int_equal(ct_send(to, count, &sent), 0);
    assert_int_equal(sent.flows, COUNT);
    assert_int_equal(ct_stop(pid, SIGKILL, 5000), 128 + SIGKILL);

    ct_store_sum sum;
    assert_int_equal(ct_store_read(data, &sum), 0);
    assert_int_equal(sum.errors, 0);
    assert_true(sum.segments >= 1);
    assert_true(sum.unsealed >= 1); /* it really died with a segment open */
    assert_true(sum.flows <= sent.flows);
    uint64_t lost = sent.flows - sum.flows;
    /* bound: one flush window of records at the send rate, plus the 100 ms the
     * writer may take to notice (tick) and 100 ms of batching in the receive path */
    uint64_t bound = (uint64_t)RATE * (FLUSH_MS + 200) / 1000;
    fprintf(stderr, "sent %llu, on disk after kill -9: %llu, lost %llu (bound %llu)\n",
            (unsigned long long)sent.flows, (unsigned long long)sum.flows, (unsigned long long)lost,
            (unsigned long long)bound);
    assert_true(lost <= bound);

    /* restart on the same directory: it seals what the crash left open */
    pid = ct_spawn(argv, log2);
    assert_true(pid > 0);
    assert_true(ct_wait_for(log2, "collecting into", 5000));
    assert_int_equal(ct_stop(pid, SIGTERM, 10000), 0);
    ct_store_sum after;
    assert_int_equal(ct_store_read(data, &after), 0);
    assert_int_equal(after.errors, 0);
    assert_int_equal(after.unsealed, 0);
    assert_int_equal(after.torn, 0);
    assert_int_equal(after.flows, sum.flows);
    assert_int_equal(after.bytes, sum.bytes);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_loses_at_most_one_flush_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
