/*
 * fuzz/fuzz_filter.c - libFuzzer target for the filter compiler.
 *
 * The input is taken as filter text (a NUL-terminated copy).  When it
 * compiles, the filter is evaluated over a few fixed records both as columns
 * and record by record, the two answers must agree, and block pruning must
 * not reject a block holding a match.  When it does not compile, the error
 * must point inside the text and format without overflowing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flow/flow.h"
#include "query/filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_ROWS 4

static void make_records(flow_record *r)
{
    memset(r, 0, N_ROWS * sizeof(*r));
    flow_set_v4(&r[0], 0x0a010203u, 0xc0a80101u);
    r[0].proto = 6, r[0].src_port = 1234, r[0].dst_port = 443, r[0].tcp_flags = 0x12;
    r[0].packets = 10, r[0].bytes = 5000, r[0].first_ms = 1000, r[0].last_ms = 3000, r[0].src_as = 65001;
    flow_set_v4(&r[1], 0xc0a80101u, 0x0a010203u);
    r[1].proto = 17, r[1].src_port = 53, r[1].dst_port = 53, r[1].packets = 1, r[1].bytes = 60;
    r[1].in_if = 3, r[1].src_vlan = 7, r[1].src_mac = 0x001122334455;
    flow_addr_parse("2001:db8::1", r[2].src_addr, &r[2].family);
    flow_addr_parse("2001:db8:1::2", r[2].dst_addr, NULL);
    r[2].proto = 58, r[2].icmp_type = 128, r[2].packets = 1000000, r[2].bytes = 1500000000;
    r[2].last_ms = 1000;
    flow_set_v4(&r[3], 0, 0xffffffffu);
    r[3].proto = 47, r[3].sampling = 100, r[3].tos = 0xb8;
    for (int i = 0; i < N_ROWS; i++)
        if (!r[i].sampling)
            r[i].sampling = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    query_filter *f = NULL;
    query_filter_error err;
    cf_err e = query_filter_compile(text, &f, &err);
    if (e) {
        if (e == CF_ERR_USAGE) {
            char buf[1024];
            if (err.pos > strlen(text) || memchr(err.msg, '\0', sizeof(err.msg)) == NULL)
                abort();
            query_filter_error_format(text, &err, buf, sizeof(buf));
        }
        free(text);
        return 0;
    }
    flow_record recs[N_ROWS];
    make_records(recs);
    const void *cols[FLOW_FIELD_MAX_ID + 1] = {0};
    uint8_t *owned[FLOW_FIELD_MAX_ID + 1] = {0};
    uint64_t min[FLOW_FIELD_MAX_ID + 1], max[FLOW_FIELD_MAX_ID + 1];
    _Bool has[FLOW_FIELD_MAX_ID + 1] = {0};
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *fd = &flow_fields[i];
        owned[fd->id] = malloc(N_ROWS * fd->width);
        if (!owned[fd->id])
            goto out;
        for (int k = 0; k < N_ROWS; k++)
            memcpy(owned[fd->id] + k * fd->width, (const uint8_t *)&recs[k] + fd->offset, fd->width);
        cols[fd->id] = owned[fd->id];
        has[fd->id] = fd->type != FLOW_T_ADDR;
        min[fd->id] = UINT64_MAX, max[fd->id] = 0;
        for (int k = 0; has[fd->id] && k < N_ROWS; k++) {
            uint64_t v = flow_get_uint(&recs[k], fd);
            min[fd->id] = v < min[fd->id] ? v : min[fd->id];
            max[fd->id] = v > max[fd->id] ? v : max[fd->id];
        }
    }
    uint8_t sel[N_ROWS];
    size_t n = query_filter_eval(f, cols, N_ROWS, sel);
    size_t again = 0;
    for (int k = 0; k < N_ROWS; k++) {
        int m = query_filter_match(f, &recs[k]);
        if (m != sel[k])
            abort();
        again += (size_t)m;
    }
    if (n != again || (n > 0 && !query_filter_may_match(f, min, max, has)))
        abort();
    if (query_filter_is_any(f) && n != N_ROWS)
        abort();
out:
    for (int i = 0; i <= FLOW_FIELD_MAX_ID; i++)
        free(owned[i]);
    query_filter_free(f);
    free(text);
    return 0;
}
