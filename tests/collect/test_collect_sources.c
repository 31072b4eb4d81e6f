/* tests/collect/test_collect_sources.c - the `source` key (nfcapd -n):
 * exporters stored under DATADIR/<name> by address prefix, the rest under
 * DATADIR/default; `cloudflow query -R DATADIR` reads them all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <cmocka.h>

#include "ctest_util.h"
#include "testutil.h"

static void test_exporters_go_to_their_source(void **state)
{
    (void)state;
    if (!ct_have_ipv6()) {
        fprintf(stderr, "SKIP: no IPv6 on loopback\n");
        skip();
    }
    char *dir = tu_mkdtemp("sources");
    char data[4200], log[4200], listen[64], to6[64], to4[64], sub[4300];
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/collect.log", dir);
    uint16_t port = ct_free_port(4);
    snprintf(listen, sizeof(listen), "[::]:%u", port);
    /* -n as nfcapd takes it (its flow directory is ignored), and the key */
    const char *argv[] = {"collect", "--listen", listen, "--data", data, "--flush", "100",
                          "-n", "lab6,::1,/ignored", "--source", "nothing=192.0.2.0/24", NULL};
    pid_t pid = ct_spawn(argv, log);
    assert_true(pid > 0);
    assert_true(ct_wait_for(log, "collecting into", 5000));
    ct_sent a, b;
    snprintf(to6, sizeof(to6), "[::1]:%u", port);
    snprintf(to4, sizeof(to4), "127.0.0.1:%u", port);
    assert_int_equal(ct_send(to6, "--count 700 --rate 20000 --seed 2", &a), 0);
    assert_int_equal(ct_send(to4, "--count 400 --rate 20000 --seed 3", &b), 0);
    usleep(300000);
    assert_int_equal(ct_stop(pid, SIGTERM, 10000), 0);

    ct_store_sum s6, s4, all;
    snprintf(sub, sizeof(sub), "%s/lab6", data);
    assert_int_equal(ct_store_read(sub, &s6), 0);
    snprintf(sub, sizeof(sub), "%s/default", data);
    assert_int_equal(ct_store_read(sub, &s4), 0);
    assert_int_equal(ct_store_read(data, &all), 0);
    assert_int_equal(s6.flows, a.flows);
    assert_int_equal(s4.flows, b.flows);
    assert_int_equal(all.flows, a.flows + b.flows);
    assert_int_equal(s6.errors + s4.errors, 0);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exporters_go_to_their_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
