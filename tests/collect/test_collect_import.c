/* tests/collect/test_collect_import.c - `cloudflow import` stores exactly the
 * records of a real capture; unreadable files exit 2. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctest_util.h"
#include "testutil.h"

#define CAPTURE "pcap/softflowd/wrapped-logstash_softflowd_v5.pcap"
#define EXPECTED "expected/wrapped-logstash_softflowd_v5.tsv"

static void test_import_stores_every_record(void **state)
{
    (void)state;
    char pcap[4096], exp_path[4096];
    tu_testdata(CAPTURE, pcap, sizeof(pcap));
    tu_testdata(EXPECTED, exp_path, sizeof(exp_path));
    /* what the capture holds, from the shared expected-fields table */
    tu_tsv exp;
    assert_int_equal(tu_tsv_load(exp_path, &exp), 0);
    int c_pk = tu_tsv_col(&exp, "packets"), c_by = tu_tsv_col(&exp, "bytes");
    assert_true(c_pk >= 0 && c_by >= 0);
    uint64_t want_flows = 0, want_packets = 0, want_bytes = 0;
    for (size_t i = 1; i < exp.n_rows; i++) {
        want_flows++;
        want_packets += strtoull(exp.rows[i][c_pk], NULL, 10);
        want_bytes += strtoull(exp.rows[i][c_by], NULL, 10);
    }
    tu_tsv_free(&exp);
    assert_int_equal(want_flows, 30);

    char *dir = tu_mkdtemp("import");
    assert_non_null(dir);
    char cmd[9000], *out = NULL, line[64];
    snprintf(cmd, sizeof(cmd), "'%s' import '%s' --data '%s/data'", tu_binary(), pcap, dir);
    assert_int_equal(tu_run(cmd, &out), 0);
    snprintf(line, sizeof(line), "records stored: %llu\n", (unsigned long long)want_flows);
    assert_non_null(strstr(out, line));
    assert_non_null(strstr(out, "malformed: short=0 version=0"));
    free(out);

    char data[4200];
    snprintf(data, sizeof(data), "%s/data", dir);
    ct_store_sum sum;
    assert_int_equal(ct_store_read(data, &sum), 0);
    assert_int_equal(sum.errors, 0);
    assert_int_equal(sum.unsealed, 0);
    assert_int_equal(sum.flows, want_flows);
    assert_int_equal(sum.packets, want_packets);
    assert_int_equal(sum.bytes, want_bytes);

    /* importing the same file again adds the same records once more */
    assert_int_equal(tu_run(cmd, NULL), 0);
    assert_int_equal(ct_store_read(data, &sum), 0);
    assert_int_equal(sum.flows, 2 * want_flows);
    tu_rm_rf(dir);
    free(dir);
}

static void test_import_unreadable_file_exits_2(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("import-bad");
    assert_non_null(dir);
    char cmd[4400], notpcap[4200];
    snprintf(cmd, sizeof(cmd), "'%s' import '%s/missing.pcap' --data '%s/data' 2>/dev/null", tu_binary(), dir, dir);
    assert_int_equal(tu_run(cmd, NULL), 2);
    snprintf(notpcap, sizeof(notpcap), "%s/not.pcap", dir);
    FILE *f = fopen(notpcap, "w");
    assert_non_null(f);
    fputs("this is not a capture file\n", f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "'%s' import '%s' --data '%s/data' 2>/dev/null", tu_binary(), notpcap, dir);
    assert_int_equal(tu_run(cmd, NULL), 2);
    snprintf(cmd, sizeof(cmd), "'%s' import 2>/dev/null", tu_binary());
    assert_int_equal(tu_run(cmd, NULL), 2);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_stores_every_record),
        cmocka_unit_test(test_import_unreadable_file_exits_2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
