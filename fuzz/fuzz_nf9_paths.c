/*
 * fuzz/fuzz_nf9_paths.c - differential libFuzzer target for the NetFlow v9 /
 * IPFIX record decoders: the fast plan (template_fast.c), the compiled ops
 * and the field-by-field reference must give the same records, field by
 * field, the same return codes and the same counters for every input.
 *
 * Input: one selector byte (even: NetFlow v9, odd: IPFIX), then messages for
 * ONE exporter framed as in fuzz_templates.h (fuzz_next_message) ([2-byte big-endian length]
 * [bytes], the rest is the last message; the version is forced).  Each
 * message goes to three exporters, one per path (decode_tpl_state.
 * test_path); any difference aborts.  Seeds: fuzz/corpus/nf9_paths, the v9
 * and IPFIX seeds with their selector byte.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "decode/decode.h"
#include "decode/template.h"
#include "fuzz_templates.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_PATHS 3
#define MAX_RECS 4096 /* records kept per message and path; more are counted only */

typedef struct sink {
    flow_record *recs;
    size_t n;
} sink;

static void keep(void *ctx, const flow_record *rec)
{
    sink *s = ctx;
    if (s->n < MAX_RECS)
        s->recs[s->n] = *rec;
    s->n++;
}

static void same_records(const flow_record *a, const flow_record *b)
{
    for (size_t f = 0; f < flow_n_fields; f++) {
        const flow_field *fd = &flow_fields[f];
        if (memcmp((const uint8_t *)a + fd->offset, (const uint8_t *)b + fd->offset, fd->width) != 0)
            abort();
    }
}

static void same_stats(const decode_exporter *a, const decode_exporter *b)
{
    decode_stats sa, sb;
    decode_tpl_stats ta, tb;
    decode_stats_snapshot(a, &sa);
    decode_stats_snapshot(b, &sb);
    decode_tpl_stats_snapshot(a, &ta);
    decode_tpl_stats_snapshot(b, &tb);
    if (memcmp(&sa, &sb, sizeof(sa)) != 0 || memcmp(&ta, &tb, sizeof(ta)) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t addr[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    static const uint8_t paths[N_PATHS] = {TPL_PATH_NORMAL, TPL_PATH_NO_FAST, TPL_PATH_FIELDS};
    if (size < 1)
        return 0;
    uint16_t version = (data[0] & 1) ? 10 : 9;
    data++, size--;
    cf_log_set_level(CF_LOG_ERROR);
    decode_config cfg = {.max_templates = 16, .max_fields = 64, .max_domains = 4,
                         .max_samplers = 8, .pending_max_bytes = 4096, .pending_max_ms = 1000};
    decode_exporter ex[N_PATHS];
    sink got[N_PATHS];
    for (int i = 0; i < N_PATHS; i++) {
        decode_exporter_init(&ex[i], addr, 2055);
        decode_exporter_set_config(&ex[i], &cfg);
        struct decode_tpl_state *st;
        if (tpl_state(&ex[i], &st) != CF_OK)
            abort();
        st->test_path = paths[i];
        got[i].recs = malloc(MAX_RECS * sizeof(flow_record));
        if (!got[i].recs)
            abort();
    }
    uint64_t now = 1700000000000ull;
    while (size > 0) {
        size_t len = fuzz_next_message(&data, &size);
        cf_err err[N_PATHS];
        for (int i = 0; i < N_PATHS; i++) {
            /* exactly len heap bytes, so that ASan catches any over-read */
            uint8_t *buf = malloc(len ? len : 1);
            if (!buf)
                abort();
            if (len)
                memcpy(buf, data, len);
            if (len >= 2) {
                buf[0] = (uint8_t)(version >> 8);
                buf[1] = (uint8_t)version;
            }
            got[i].n = 0;
            err[i] = decode_packet(&ex[i], buf, len, now, keep, &got[i]);
            free(buf);
        }
        for (int i = 1; i < N_PATHS; i++) {
            if (err[i] != err[0] || got[i].n != got[0].n)
                abort();
            size_t kept = got[0].n < MAX_RECS ? got[0].n : MAX_RECS;
            for (size_t k = 0; k < kept; k++)
                same_records(&got[0].recs[k], &got[i].recs[k]);
            same_stats(&ex[0], &ex[i]);
        }
        data += len, size -= len;
        now += 300;
    }
    for (int i = 0; i < N_PATHS; i++) {
        decode_exporter_free(&ex[i]);
        free(got[i].recs);
    }
    return 0;
}
